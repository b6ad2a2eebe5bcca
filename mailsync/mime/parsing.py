"""Raw RFC 822 bytes -> ParsedMessage. Pure: no database, no network, no Django models.

Mail in a rep's mailbox is whatever the world sent, so every read here is defensive:

- The message is parsed with `email.policy.default`, but each header is read from the raw source
  (`raw_items()`) and decoded by our own helpers; where the policy's structured parsers are used
  (address lists) they sit inside try/except with a compat32-style fallback, because some hostile
  values still raise there (see STACK-NOTES "Parsing"). For speed, the policy's MIME header
  objects are cached (`_CachingPolicy`) and simple address lists skip its address parser
  (`_simple_address_list`); both give the results the full path would.
- A malformed message never raises: what went wrong goes into `defects` and parsing goes on.
  `ParseError` is raised only when there is nothing usable (empty input, no header block, an
  Outlook .msg file).
- Every string handed out is valid Unicode without NUL characters (PostgreSQL refuses NUL in text,
  and lone surrogates cannot be encoded to UTF-8).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import html as html_lib
import io
import mimetypes
import quopri
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email import policy as email_policy
from email.errors import InvalidHeaderDefect
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesParser
from email.policy import EmailPolicy
from email.utils import parsedate_tz
from functools import lru_cache
from html.parser import HTMLParser

__all__ = [
    "Address",
    "ParseError",
    "ParsedAttachment",
    "ParsedMessage",
    "content_hash",
    "extract_message_ids",
    "html_to_text",
    "message_key",
    "parse_headers_only",
    "parse_message",
    "clean_text",
]

# MIME trees deeper than this are not walked further (a defect is recorded). Real mail rarely goes
# past 5; the corpora have torture tests in the thousands.
MAX_MIME_DEPTH = 32
# A header block larger than this is cut when only the headers are wanted (parse_headers_only).
MAX_HEADER_BLOCK = 1024 * 1024
# Address headers longer than this skip email.policy.default's parser, which takes ~0.5 s on a
# 135 KB To (mimekit stack-overflow.txt); the forgiving splitter below is linear.
MAX_STRUCTURED_ADDRESS_HEADER = 64 * 1024
MAX_FILENAME_LENGTH = 255
MAX_DEFECTS = 50
SNIPPET_LENGTH = 200

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Compound File Binary: Outlook .msg, old .doc


# --------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Address:
    name: str  # display name, decoded ("" if none)
    address: str  # trimmed, lower-case; never ""


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    content_id: str = ""
    inline: bool = False
    payload: bytes = b""
    size: int = 0


@dataclass
class ParsedMessage:
    message_id: str = ""
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    subject: str = ""
    date: datetime | None = None
    from_: list[Address] = field(default_factory=list)
    sender: Address | None = None
    reply_to: list[Address] = field(default_factory=list)
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    bcc: list[Address] = field(default_factory=list)
    text: str = ""
    html: str = ""
    attachments: list[ParsedAttachment] = field(default_factory=list)
    headers: dict[str, list[str]] = field(default_factory=dict)
    size: int = 0
    defects: list[str] = field(default_factory=list)
    auto_submitted: bool = False
    is_delivery_report: bool = False

    @property
    def recipients(self) -> list[Address]:
        return _dedupe_addresses([*self.to, *self.cc, *self.bcc])

    @property
    def participants(self) -> list[Address]:
        sender = [self.sender] if self.sender else []
        return _dedupe_addresses([*self.from_, *sender, *self.reply_to, *self.recipients])

    @property
    def snippet(self) -> str:
        collapsed = " ".join(self.text.split())
        if len(collapsed) <= SNIPPET_LENGTH:
            return collapsed
        cut = collapsed[:SNIPPET_LENGTH]
        space = cut.rfind(" ")
        if space > SNIPPET_LENGTH * 3 // 4:
            cut = cut[:space]
        return cut.rstrip() + "…"


class ParseError(Exception):
    """The bytes are not an email message we can read; `reason` is a short English explanation."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _dedupe_addresses(addresses: list[Address]) -> list[Address]:
    seen: set[str] = set()
    result = []
    for item in addresses:
        if item.address not in seen:
            seen.add(item.address)
            result.append(item)
    return result


# --------------------------------------------------------------------------------------------
# Parsing policy

# The MIME headers asked for again and again: by the parser itself (Content-Type several times per
# part) and by the builder. Short values only, and not many: a parsed header is ~10 KB of objects.
_CACHED_HEADERS = frozenset({"content-type", "content-transfer-encoding", "content-disposition"})
_MAX_CACHED_HEADER_VALUE = 128
_HEADER_CACHE_SIZE = 256


class _CachingPolicy(EmailPolicy):
    """email.policy.default, remembering the MIME header objects it builds.

    The stock policy parses a header again on every `Message.get`, and the same Content-Type
    values recur across parts and messages ("text/plain; charset=utf-8"). Header objects are
    immutable, so the one built for a (name, value) pair can be handed out again: the result is
    the same as the stock policy's.
    """

    def header_fetch_parse(self, name, value):
        if (
            type(value) is str
            and len(value) <= _MAX_CACHED_HEADER_VALUE
            and name.lower() in _CACHED_HEADERS
        ):
            return _cached_header(self, name, value)
        return super().header_fetch_parse(name, value)


@lru_cache(maxsize=_HEADER_CACHE_SIZE)
def _cached_header(policy: EmailPolicy, name: str, value: str):
    return EmailPolicy.header_fetch_parse(policy, name, value)


_POLICY = _CachingPolicy()


# --------------------------------------------------------------------------------------------
# Public entry points


def parse_message(raw: bytes) -> ParsedMessage:
    raw = _check_raw(raw)
    source, repaired = _repair_obsolete_header_names(_skip_leading_blank_lines(raw))
    try:
        msg = BytesParser(policy=_POLICY).parsebytes(source)
    except RecursionError:
        # The stdlib parser recurses once per MIME level; a pathological tree is still a message
        # whose headers we can keep.
        parsed = parse_headers_only(raw)
        parsed.defects.append("MIME structure too deep to parse: body and attachments skipped")
        return parsed
    builder = _Builder(msg, raw)
    if len(source) != len(raw):
        builder.defect(_LEADING_BLANK_LINES_DEFECT)
    if repaired:
        builder.defect(_OBSOLETE_HEADER_NAME_DEFECT)
    builder.read_headers()
    body = msg
    if _has_unsplit_multipart(msg):
        # email.policy.default stops an unquoted boundary at "=" or other tspecials
        # ("boundary=----=_Part_1"), which mailers do send; compat32 reads such values whole.
        try:
            legacy = BytesParser(policy=email_policy.compat32).parsebytes(source)
        except RecursionError:
            legacy = None
        if legacy is not None and not _has_unsplit_multipart(legacy):
            builder.defect("multipart boundary only readable with the compat32 parser")
            body = legacy
    builder.read_body(body)
    return builder.result


def _has_unsplit_multipart(msg: Message) -> bool:
    """Whether a multipart/* part (outside attached messages) was left unsplit by the parser."""
    stack = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        if depth > MAX_MIME_DEPTH:
            continue
        try:
            is_multipart = part.is_multipart()
            maintype = _content_type(part).split("/", 1)[0]
            children = part.get_payload() if is_multipart else None
        except Exception:
            continue
        if maintype == "multipart" and not is_multipart:
            return True
        if maintype == "multipart" and isinstance(children, list):
            stack.extend((child, depth + 1) for child in children if isinstance(child, Message))
    return False


def parse_headers_only(raw: bytes) -> ParsedMessage:
    """The header fields of `raw` without bodies or attachments; reads only the header block."""
    raw = _check_raw(raw)
    source = _skip_leading_blank_lines(raw)
    block, truncated = _header_block(source)
    block, repaired = _repair_obsolete_header_names(block)
    msg = BytesParser(policy=_POLICY).parsebytes(block, headersonly=True)
    builder = _Builder(msg, raw)
    if len(source) != len(raw):
        builder.defect(_LEADING_BLANK_LINES_DEFECT)
    if repaired:
        builder.defect(_OBSOLETE_HEADER_NAME_DEFECT)
    if truncated:
        builder.defect(f"header block larger than {MAX_HEADER_BLOCK} bytes: cut")
    builder.read_headers()
    return builder.result


def content_hash(raw: bytes) -> str:
    """SHA-256 of a canonical form of `raw`, stable when the same message is fetched twice.

    Line endings are normalised to LF (IMAP servers hand out CRLF, files on disk are often LF,
    old Mac exports CR) and trailing whitespace at the end is dropped.
    """
    canonical = bytes(raw).replace(b"\r\n", b"\n").replace(b"\r", b"\n").rstrip()
    return hashlib.sha256(canonical).hexdigest()


def message_key(parsed: ParsedMessage, raw: bytes) -> str:
    if parsed.message_id:
        return f"mid:{parsed.message_id.lower()}"
    return f"sha256:{content_hash(raw)}"


_MESSAGE_ID_RE = re.compile(r"<([^<>\s]+)>")


def extract_message_ids(value: str) -> list[str]:
    """Every `<id>` in a Message-ID / In-Reply-To / References value, without brackets, in order."""
    return _MESSAGE_ID_RE.findall(value or "")


# --------------------------------------------------------------------------------------------
# Input checks


def _check_raw(raw: bytes) -> bytes:
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"raw must be bytes, not {type(raw).__name__}")
    raw = bytes(raw)
    if not raw.strip():
        raise ParseError("empty message")
    if raw.startswith(OLE_MAGIC):
        raise ParseError("not a MIME message (Outlook .msg file)")
    return raw


# The end of the header block: the first empty line, whatever the line endings (CRLF, LF, CR).
_LINE_END = rb"(?:\r\n|\n|\r(?!\n))"
_HEADER_END_RE = re.compile(_LINE_END + _LINE_END)


def _header_block(raw: bytes) -> tuple[bytes, bool]:
    if raw[:1] in (b"\n", b"\r"):  # an empty first line: no headers at all
        return b"", False
    match = _HEADER_END_RE.search(raw, 0, MAX_HEADER_BLOCK)
    if match:
        return raw[: match.end()], False
    if len(raw) <= MAX_HEADER_BLOCK:
        return raw, False
    cut = raw[:MAX_HEADER_BLOCK]
    last_newline = max(cut.rfind(b"\n"), cut.rfind(b"\r"))
    return (cut[: last_newline + 1] if last_newline > 0 else cut), True


_LEADING_BLANK_LINES_DEFECT = "blank lines before the header block: skipped"


def _skip_leading_blank_lines(raw: bytes) -> bytes:
    """Broken exports and mbox splitters leave blank lines in front of the headers; strictly the
    message would then have no headers at all, which helps nobody."""
    return raw.lstrip(b"\r\n")


# RFC 5322 4.5 (obs-optional) allows spaces before the colon ("Subject  : hi", RFC 2822 A.6.3);
# Python's parser takes such a line for the start of the body and loses every header after it.
_OBSOLETE_HEADER_NAME_RE = re.compile(rb"^([!-9;-~]+)[ \t]+:", re.MULTILINE)
_OBSOLETE_HEADER_NAME_DEFECT = "obsolete header syntax: space before the colon"


def _repair_obsolete_header_names(raw: bytes) -> tuple[bytes, bool]:
    block, _ = _header_block(raw)
    if not _OBSOLETE_HEADER_NAME_RE.search(block):
        return raw, False
    return _OBSOLETE_HEADER_NAME_RE.sub(rb"\1:", block) + raw[len(block) :], True


# --------------------------------------------------------------------------------------------
# Text decoding

# Charset labels seen in the wild that Python does not know or decodes worse than a superset.
_CHARSET_ALIASES = {
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "us-ascii": "utf-8",  # mislabelled 8-bit text is common; UTF-8 is a superset of ASCII
    "ascii": "utf-8",
    "ansi_x3.4-1968": "utf-8",
    "iso-8859-1": "cp1252",  # as browsers do (WHATWG): the C1 range is Windows-1252 in practice
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ks_c_5601-1989": "cp949",
    "euc-kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "big5": "big5hkscs",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "sjis": "shift_jis",
    "windows-31j": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "iso-8859-8-i": "iso-8859-8",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
}
_NO_CHARSET = {"", "x-unknown", "unknown", "unknown-8bit", "x-user-defined", "default", "none"}


def _codec_for(charset: str | None) -> str | None:
    """A Python codec name for a MIME charset label, or None when unknown or meaningless."""
    if not charset:
        return None
    label = charset.strip().strip("\"'").lower()
    label = label.split("*", 1)[0]  # RFC 2231 language suffix: utf-8*en
    if label in _NO_CHARSET:
        return None
    label = _CHARSET_ALIASES.get(label, label)
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    # Only text encodings: "base64" or "zip" are codecs too, but not charsets.
    if not info._is_text_encoding:  # type: ignore[attr-defined]
        return None
    return info.name


def _decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Bytes -> str with the declared charset, falling back to UTF-8, Windows-1252 and Latin-1."""
    if not data:
        return ""
    codec = _codec_for(charset)
    if codec:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
    if codec != "utf-8":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    if codec and codec not in ("utf-8", "cp1252", "iso8859-1", "ascii"):
        # A known multi-byte charset with a few bad bytes reads better than its bytes in cp1252.
        return data.decode(codec, errors="replace")
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def _clean(text: str) -> str:
    """A str safe to store: 8-bit bytes smuggled as surrogates decoded, NUL removed."""
    if not text:
        return ""
    if _SURROGATE_RE.search(text):
        try:
            text = _decode_bytes(text.encode("utf-8", "surrogateescape"))
        except UnicodeEncodeError:
            text = text.encode("utf-8", "replace").decode("utf-8")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text


# RFC 2047 encoded words. Encoded text cannot contain "?", so `[^?]*` never runs across two words;
# spaces are tolerated inside because some mailers put them there.
_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]+)\?([qQbB])\?([^?]*)\?=")
_QP_HEX_RE = re.compile(rb"=([0-9A-Fa-f]{2})")


_BASE64_WORD_RE = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


def _decode_encoded_word(kind: str, text: str) -> bytes | None:
    if kind in "qQ":
        data = text.replace("_", " ").encode("latin-1", "replace")
        return _QP_HEX_RE.sub(lambda m: bytes([int(m.group(1), 16)]), data)
    if not _BASE64_WORD_RE.match(text):
        return None  # not base64: better shown as it came than decoded into noise
    data = text.rstrip("=")
    if len(data) % 4 == 1:
        return None
    data += "=" * (-len(data) % 4)
    try:
        return base64.b64decode(data)
    except (binascii.Error, ValueError):
        return None


def _decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words (leniently) and 8-bit bytes in a header value."""
    value = _clean(value)
    if "=?" not in value:
        return value
    pieces: list[str] = []
    pending: list[bytes] = []  # adjacent encoded words in one charset, decoded together
    pending_charset: str | None = None
    position = 0

    def flush():
        nonlocal pending, pending_charset
        if pending:
            pieces.append(_decode_bytes(b"".join(pending), pending_charset))
        pending, pending_charset = [], None

    last_was_word = False
    for match in _ENCODED_WORD_RE.finditer(value):
        between = value[position : match.start()]
        charset, kind, text = match.groups()
        decoded = _decode_encoded_word(kind, text)
        position = match.end()
        if decoded is None:  # undecodable: keep the word as it was
            flush()
            pieces.append(between + match.group(0))
            last_was_word = False
            continue
        # Whitespace between two encoded words is dropped (RFC 2047 section 6.2).
        if between and not (last_was_word and between.isspace()):
            flush()
            pieces.append(between)
        charset = charset.split("*", 1)[0].lower()
        if pending and charset != pending_charset:
            flush()
        # Adjacent words in one charset are joined before decoding: mailers split multi-byte
        # characters across words.
        pending.append(decoded)
        pending_charset = charset
        last_was_word = True
    flush()
    pieces.append(value[position:])
    return _clean("".join(pieces))


def _unfold(value: str) -> str:
    return re.sub(r"[\r\n]+", "", value)


def _normalise_space(value: str) -> str:
    return " ".join(value.split())


# --------------------------------------------------------------------------------------------
# Dates


_FRACTIONAL_SECONDS_RE = re.compile(r"(\d:\d\d)[.,]\d+")


def _parse_date(value: str) -> datetime | None:
    value = _normalise_space(value)
    if not value:
        return None
    try:
        parts = parsedate_tz(value)
        if not parts and _FRACTIONAL_SECONDS_RE.search(value):
            parts = parsedate_tz(_FRACTIONAL_SECONDS_RE.sub(r"\1", value))  # "22:23:35.882"
    except Exception:  # the stdlib parser has raised on odd input before
        parts = None
    if parts:
        year, month, day, hour, minute, second = parts[:6]
        offset = parts[9]
        zone = UTC
        if offset is not None and abs(offset) < 24 * 3600:
            zone = timezone(timedelta(seconds=offset))
        try:
            result = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=zone)
        except (ValueError, OverflowError, TypeError):
            result = None
    else:
        # Some API-built messages carry ISO 8601 dates.
        try:
            result = datetime.fromisoformat(value)
        except ValueError:
            result = None
        if result is not None and result.tzinfo is None:
            result = result.replace(tzinfo=UTC)
    if result is None or result.year < 1900:
        return None
    return result


# --------------------------------------------------------------------------------------------
# Addresses

_ADDRESS_HEADERS = {
    "from": "from_",
    "reply-to": "reply_to",
    "to": "to",
    "cc": "cc",
    "bcc": "bcc",
}


_LOCAL_PART_RE = re.compile(r'^(?:[^\s<>()\[\],;:\\"@]+|"(?:[^"\\]|\\.)*")$')
_DOMAIN_RE = re.compile(r"^(?:[^\s<>()\[\],;:\\\"@]+|\[[^\[\]\s\\]+\])$")


def _normalise_address(value: str) -> str:
    """A lower-case addr-spec, or "" for anything that is not one (no "@", stray brackets...)."""
    address = _clean(value).strip().strip("<>").strip().lower()
    if address.startswith("mailto:"):
        address = address[len("mailto:") :]
    if not address or len(address) > 320:
        return ""
    local, at, domain = address.rpartition("@")
    if not at or not _LOCAL_PART_RE.match(local) or not _DOMAIN_RE.match(domain):
        return ""
    return address


_COMMENT_RE = re.compile(r"\((?:[^()\\]|\\.)*\)")


def _split_address_list(value: str) -> list[tuple[str, str]]:
    """A forgiving split of an address list into (display name, address) pairs.

    Commas and semicolons separate entries unless quoted, in a comment or in <...>/[...]; a group
    name ("Team: a@x, b@y;") is dropped. In an entry the last <...> is the address; without one,
    the word containing "@" is.
    """
    entries: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    comment = angle = square = 0
    for char in value:
        if escaped:
            escaped = False
        elif quoted:
            if char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif comment:
            if char == "\\":
                escaped = True
            elif char == "(":
                comment += 1
            elif char == ")":
                comment -= 1
        elif char == '"':
            quoted = True
        elif char == "(":
            comment += 1
        elif char == "<":
            angle += 1
        elif char == ">":
            angle = max(0, angle - 1)
        elif char == "[":
            square += 1
        elif char == "]":
            square = max(0, square - 1)
        elif not angle and not square and char in ",;":
            entries.append("".join(current))
            current = []
            continue
        elif not angle and not square and char == ":":
            current = []  # the name of a group
            continue
        current.append(char)
    entries.append("".join(current))

    pairs = []
    for entry in entries:
        brackets = list(re.finditer(r"<([^<>]*)>", entry))
        if brackets:
            # Usually one; several when a mailer forgot the commas ("A <a@x> B <b@y>").
            start = 0
            for bracket in brackets:
                name = _normalise_space(_COMMENT_RE.sub(" ", entry[start : bracket.start()]))
                pairs.append((_unquote(name), bracket.group(1).strip().strip("'\"")))
                start = bracket.end()
            continue
        words = _COMMENT_RE.sub(" ", entry).split()
        address = next((word for word in words if "@" in word), "")
        name = " ".join(word for word in words if word != address)
        if not name:
            comments = _COMMENT_RE.findall(entry)
            name = comments[0][1:-1] if comments else ""
        pairs.append((_unquote(_normalise_space(name)), address.strip().strip("'\"")))
    return pairs


# The common, simple address list: "Name <local@domain>" or "local@domain" entries separated by
# commas, with plain atoms for the name and dot-atoms for the address. For these the structured
# parser below has nothing to add (no groups, quotes, comments, encoded words or defects), and it
# costs a fraction of a millisecond per header.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_SIMPLE_ADDR_SPEC = rf"{_DOT_ATOM}@{_DOT_ATOM}"
_SIMPLE_PHRASE = rf"(?:{_ATEXT}+[ \t]+)*{_ATEXT}+"
_SIMPLE_ADDRESS_RE = re.compile(
    rf"[ \t]*(?:({_SIMPLE_PHRASE})?[ \t]*<({_SIMPLE_ADDR_SPEC})>|({_SIMPLE_ADDR_SPEC}))[ \t]*"
)
_MAX_SIMPLE_ADDRESS_HEADER = 2048


def _simple_address_list(values: list[str]) -> list[Address] | None:
    """The addresses of simple address headers, or None when a value is not that simple."""
    result: list[Address] = []
    for value in values:
        if len(value) > _MAX_SIMPLE_ADDRESS_HEADER or not value.isascii() or "=?" in value:
            return None
        value = value.replace("\r", "").replace("\n", "")
        for entry in value.split(","):
            match = _SIMPLE_ADDRESS_RE.fullmatch(entry)
            if not match:
                return None
            name, bracketed, bare = match.groups()
            address = _make_address(name or "", bracketed or bare)
            if address is None:
                return None
            result.append(address)
    return result


def _unquote(name: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return re.sub(r"\\(.)", r"\1", name[1:-1])
    return name


def _make_address(name: str, address: str) -> Address | None:
    address = _normalise_address(address)
    if not address:
        return None
    name = _normalise_space(_decode_words(name or "")).strip("\"'").strip()
    return Address(name=name, address=address)


# --------------------------------------------------------------------------------------------
# Parts


def _raw_headers(part: Message) -> list[tuple[str, str]]:
    try:
        return list(part.raw_items())
    except Exception:
        return []


def _first_raw(part: Message, name: str) -> str | None:
    for key, value in _raw_headers(part):
        if key.lower() == name:
            return value
    return None


_TOKEN_TYPE_RE = re.compile(r"^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$")


def _memo(part: Message, key: tuple, compute):
    """Remember what was read from a part: under email.policy.default every header access
    parses the header again, and Content-Type is asked for many times per part."""
    cache = part.__dict__.setdefault("_crm_memo", {})
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def _content_type(part: Message) -> str:
    return _memo(part, ("content-type",), lambda: _read_content_type(part))


def _read_content_type(part: Message) -> str:
    try:
        ctype = part.get_content_type().lower()
    except Exception:
        ctype = ""
    if not _TOKEN_TYPE_RE.match(ctype):
        # Unreadable for the policy, or read with junk attached ("multipart/mixed\tboundary=").
        raw = _unfold(_first_raw(part, "content-type") or "").lower()
        match = re.match(r"\s*([a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+)", raw)
        ctype = match.group(1) if match else "text/plain"  # the RFC 2045 default
    return ctype


def _param(part: Message, name: str, header: str = "content-type") -> str:
    return _memo(part, ("param", name, header), lambda: _read_param(part, name, header))


def _read_param(part: Message, name: str, header: str) -> str:
    try:
        value = part.get_param(name, header=header)
    except Exception:
        return ""
    if isinstance(value, tuple):  # RFC 2231 (charset, language, value)
        try:
            value = _decode_bytes(value[2].encode("latin-1", "surrogateescape"), value[0])
        except Exception:
            value = str(value[2])
    return _clean(str(value or "")).strip()


def _disposition(part: Message) -> str:
    raw = _first_raw(part, "content-disposition")
    if raw is None:
        return ""
    return _unfold(raw).split(";", 1)[0].strip().strip("\"'").lower()


def _content_id(part: Message) -> str:
    raw = _first_raw(part, "content-id")
    if raw is None:
        return ""
    value = _clean(_unfold(raw)).strip()
    ids = extract_message_ids(value)
    if ids:
        return ids[0]
    return value.strip("<>").strip()


def _charset(part: Message) -> str | None:
    return _memo(part, ("charset",), lambda: _read_charset(part))


def _read_charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:
        return _param(part, "charset") or None


def _payload_bytes(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    try:
        payload = part.get_payload()
    except Exception:
        return b""
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""


class _RawHeaderGenerator(BytesGenerator):
    """A BytesGenerator that writes headers exactly as they were received.

    The stock generators refold header values through the policy, which changes the bytes and can
    raise on hostile values; an attached message should come out as it came in.
    """

    def _write_headers(self, msg):
        linesep = self.policy.linesep
        for name, value in msg.raw_items():
            line = _LINE_BREAK_RE.sub(linesep, f"{name}: {value}".rstrip("\r\n"))
            self._fp.write((line + linesep).encode("utf-8", "surrogateescape"))
        self._fp.write(linesep.encode("ascii"))

    def clone(self, fp):
        return self.__class__(fp, self._mangle_from_, None, policy=self.policy)


_LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")
_SERIALISE_POLICIES = {
    linesep: email_policy.compat32.clone(linesep=linesep, max_line_length=0)
    for linesep in ("\n", "\r\n")
}


def _serialise(msg: Message, linesep: str = "\n") -> bytes:
    buffer = io.BytesIO()
    policy = _SERIALISE_POLICIES[linesep]
    _RawHeaderGenerator(buffer, mangle_from_=False, policy=policy).flatten(msg)
    return buffer.getvalue()


def _part_body_bytes(part: Message, linesep: str = "\n") -> bytes:
    """The body of a message/* part (its content without the part's own headers)."""
    try:
        payload = part.get_payload()
    except Exception:
        payload = None
    if isinstance(payload, list):
        if len(payload) == 1:
            return _serialise(payload[0], linesep)
        # message/delivery-status: a list of header blocks
        return b"".join(_serialise(block, linesep) for block in payload)
    return _payload_bytes(part)


# --------------------------------------------------------------------------------------------
# Attachment file names

_MIME_TYPES = mimetypes.MimeTypes()  # built-in table only: the same answer on every machine
_EXTENSIONS = {
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "text/csv": ".csv",
    "text/x-vcard": ".vcf",
    "text/vcard": ".vcf",
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/pjpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
    "application/octet-stream": ".bin",
    "application/ms-tnef": ".dat",
    "application/pkcs7-signature": ".p7s",
    "application/x-pkcs7-signature": ".p7s",
    "application/pkcs7-mime": ".p7m",
    "application/x-pkcs7-mime": ".p7m",
    "application/pgp-signature": ".asc",
    "application/pgp-encrypted": ".asc",
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/delivery-status": ".txt",
    "message/global-delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "message/feedback-report": ".txt",
    "text/rfc822-headers": ".txt",
}


def _guess_extension(content_type: str) -> str:
    if content_type in _EXTENSIONS:
        return _EXTENSIONS[content_type]
    return _MIME_TYPES.guess_extension(content_type, strict=False) or ""


_UNSAFE_FILENAME_CHARS = re.compile(r'[<>:"|?*]')


def _sanitise_filename(name: str, content_type: str) -> str:
    name = unicodedata.normalize("NFC", _decode_words(_unfold(name)))
    # Control and format characters (incl. bidi overrides used to disguise ".exe") are dropped.
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf", "Cs"))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]  # keep the base name of a path
    name = _UNSAFE_FILENAME_CHARS.sub("_", name)
    name = _normalise_space(name).strip(" .")
    if not name:
        name = "attachment" + _guess_extension(content_type)
    if len(name) > MAX_FILENAME_LENGTH:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            name = stem[: MAX_FILENAME_LENGTH - len(extension) - 1] + "." + extension
        else:
            name = name[:MAX_FILENAME_LENGTH]
    return name


def _unquoted_param(part: Message, header: str, param: str) -> str:
    """The value of `param` in a raw header, read up to the next ";" when it is not quoted."""
    raw = _first_raw(part, header)
    if not raw:
        return ""
    match = re.search(
        r"(?:^|;)\s*" + param + r'\s*=\s*("([^"]*)"?|[^;]*)', _unfold(raw), re.IGNORECASE
    )
    if not match:
        return ""
    value = match.group(2) if match.group(2) is not None else match.group(1)
    return value.strip()


def _filename(part: Message) -> str:
    if _first_raw(part, "content-disposition") is None:
        ctype = _first_raw(part, "content-type") or ""
        if "=?" not in ctype and "name" not in ctype.lower():
            return ""  # no place for a file name: the common case of a body part
    try:
        name = part.get_filename()
    except Exception:
        name = None
    name = name if isinstance(name, str) else ""
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        if name.strip() and not name.strip().isascii():
            break
        raw_value = _unquoted_param(part, header, param)
        # The policy stops an unquoted value at a space ("name=This is a test.txt"): mailers
        # do not quote, and compat32 reads such values up to the ";".
        if raw_value and (not name.strip() or (raw_value.startswith(name) and raw_value != name)):
            return raw_value
        if name.strip():
            break
    return name


# --------------------------------------------------------------------------------------------
# Building a ParsedMessage

_BODY_TYPES = ("text/plain", "text/html")
# Alternative renderings of a body that are dropped when the plain/HTML one is chosen.
_ALTERNATIVE_RENDERINGS = {"text/enriched", "text/richtext", "text/watch-html", "text/x-amp-html"}
_AUTO_PRECEDENCE = {"bulk", "junk", "list", "auto_reply", "auto-reply"}
# Headers set by auto-responders that do not use RFC 3834 Auto-Submitted.
_AUTOREPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-autogenerated")
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)


class _Builder:
    def __init__(self, msg: Message, raw: bytes):
        self.msg = msg
        self.result = ParsedMessage(size=len(raw))
        # Attached messages are written out with the line endings of the message that carries them.
        self.linesep = "\r\n" if b"\r\n" in raw[:65536] else "\n"
        self.raw_headers: dict[str, list[str]] = {}
        self._text_parts: list[str] = []
        self._html_parts: list[str] = []
        self._attachments: list[tuple[ParsedAttachment, bool]] = []  # (attachment, explicit inline)

    def defect(self, text: str) -> None:
        defects = self.result.defects
        if text not in defects and len(defects) < MAX_DEFECTS:
            defects.append(text)

    def _collect_defects(self, part: Message, where: str = "") -> None:
        for item in getattr(part, "defects", ()) or ():
            self.defect(f"{where}{type(item).__name__}")

    # Headers ------------------------------------------------------------------------------

    def read_headers(self) -> None:
        msg, result = self.msg, self.result
        for name, value in _raw_headers(msg):
            self.raw_headers.setdefault(name.lower().strip(), []).append(value)
        if not self.raw_headers:
            raise ParseError("no header block: the data does not start with e-mail headers")
        self._collect_defects(msg)

        result.headers = {
            name: [_normalise_space(_decode_words(_unfold(v))) for v in values]
            for name, values in self.raw_headers.items()
        }
        headers = result.headers

        result.subject = _normalise_space(headers.get("subject", [""])[0])
        result.date = None
        if "date" in headers:
            result.date = _parse_date(headers["date"][0])
            if result.date is None:
                self.defect("unparseable Date header")

        result.message_id = self._message_id()
        result.in_reply_to = _dedupe(extract_message_ids(" ".join(self._clean_raw("in-reply-to"))))
        result.references = _dedupe(extract_message_ids(" ".join(self._clean_raw("references"))))

        for header, attribute in _ADDRESS_HEADERS.items():
            setattr(result, attribute, self._addresses(header))
        senders = self._addresses("sender")
        result.sender = senders[0] if senders else None

        result.is_delivery_report = self._is_report("delivery-status", "global-delivery-status")
        result.auto_submitted = self._is_auto_submitted()

    def _clean_raw(self, name: str) -> list[str]:
        return [_clean(_unfold(v)) for v in self.raw_headers.get(name, [])]

    def _message_id(self) -> str:
        values = self._clean_raw("message-id")
        if not values:
            return ""
        ids = extract_message_ids(values[0])
        if ids:
            return ids[0]
        # Some mailers omit the angle brackets; accept a lone id-looking token.
        token = values[0].strip()
        if token and "@" in token and not any(c.isspace() or c in "<>" for c in token):
            self.defect("Message-ID without angle brackets")
            return token
        self.defect("invalid Message-ID")
        return ""

    def _addresses(self, name: str) -> list[Address]:
        values = self.raw_headers.get(name)
        if not values:
            return []
        simple = _simple_address_list(values)
        if simple is not None:
            return simple
        parsed: list[Address] = []
        trusted = sum(len(value) for value in values) <= MAX_STRUCTURED_ADDRESS_HEADER
        if not trusted:
            self.defect(f"{name}: address list too long for the structured parser")
        try:
            # email.policy.default understands groups, comments and encoded words in names.
            headers = (self.msg.get_all(name) or []) if trusted else []
            for header in headers:
                for item in header.addresses:
                    address = _make_address(item.display_name, item.addr_spec)
                    if address:
                        parsed.append(address)
                for item in getattr(header, "defects", ()):
                    self.defect(f"{name}: {type(item).__name__}")
                    if isinstance(item, InvalidHeaderDefect):
                        trusted = False
        except Exception as error:
            self.defect(f"{name}: unreadable address list ({type(error).__name__})")
            parsed, trusted = [], False
        if trusted and parsed:
            return parsed
        # The policy gave up on part of the list (e.g. an unquoted "@" in a display name): split
        # it ourselves, trusting the <angle-bracketed> part of each entry.
        salvaged = []
        for value in values:
            for display_name, addr_spec in _split_address_list(_clean(_unfold(value))):
                address = _make_address(display_name, addr_spec)
                if address:
                    salvaged.append(address)
        return salvaged or parsed

    def _is_report(self, *report_types: str) -> bool:
        if _content_type(self.msg) != "multipart/report":
            return False
        return _param(self.msg, "report-type").lower() in report_types

    def _is_auto_submitted(self) -> bool:
        headers = self.result.headers
        for value in headers.get("auto-submitted", []):
            if value.split(";", 1)[0].strip().lower() not in ("", "no"):
                return True
        for value in headers.get("precedence", []) + headers.get("x-precedence", []):
            if value.strip().lower() in _AUTO_PRECEDENCE:
                return True
        if any(name in headers for name in _AUTOREPLY_HEADERS):
            return True
        # Delivery reports, read receipts and abuse reports are machine-made by definition.
        return self.result.is_delivery_report or self._is_report(
            "disposition-notification", "feedback-report"
        )

    # Body ---------------------------------------------------------------------------------

    def read_body(self, body: Message) -> None:
        self._walk(body, depth=0)
        result = self.result
        result.html = "\n".join(self._html_parts)
        result.text = "\n".join(self._text_parts)
        if not result.text.strip() and result.html:
            result.text = html_to_text(result.html)
        html_lower = result.html.lower()
        for attachment, explicit_inline in self._attachments:
            referenced = (
                bool(attachment.content_id)
                and attachment.content_type.startswith("image/")
                and f"cid:{attachment.content_id.lower()}" in html_lower
            )
            attachment.inline = explicit_inline or referenced
            result.attachments.append(attachment)

    def _walk(self, part: Message, depth: int) -> None:
        if depth > MAX_MIME_DEPTH:
            self.defect(f"MIME nesting deeper than {MAX_MIME_DEPTH}: inner parts skipped")
            return
        if depth:
            self._collect_defects(part, "part: ")
        ctype = _content_type(part)
        maintype = ctype.split("/", 1)[0]

        if maintype == "message":
            if ctype in ("message/delivery-status", "message/global-delivery-status"):
                self.result.is_delivery_report = True
                self.result.auto_submitted = True
            self._add_message_attachment(part, ctype)
            return

        try:
            children = part.get_payload() if part.is_multipart() else None
        except Exception:
            children = None
        if isinstance(children, list):
            if ctype == "multipart/alternative":
                self._walk_alternative(children, depth)
            else:
                for child in children:
                    if isinstance(child, Message):
                        self._walk(child, depth + 1)
            return

        if maintype == "multipart":
            # No boundary, or a broken one: the parser left the body as text. Show it as text.
            self.defect(f"{ctype} without readable parts: body kept as text")
            self._add_body("text/plain", part)
            return

        if ctype in _BODY_TYPES and self._is_body(part):
            self._add_body(ctype, part)
        else:
            self._add_attachment(part, ctype)

    def _walk_alternative(self, children: list, depth: int) -> None:
        """multipart/alternative: the first text/plain and the first text/html win."""
        chosen: dict[str, bool] = {}
        for child in children:
            if not isinstance(child, Message):
                continue
            ctype = _content_type(child)
            if ctype in _BODY_TYPES and self._is_body(child):
                if ctype not in chosen:
                    chosen[ctype] = True
                    self._walk(child, depth + 1)
            elif ctype.startswith("multipart/"):
                # e.g. multipart/related (HTML + images) inside the alternative
                if "text/html" in chosen and "text/plain" in chosen:
                    continue
                before_text, before_html = len(self._text_parts), len(self._html_parts)
                self._walk(child, depth + 1)
                if len(self._html_parts) > before_html:
                    chosen["text/html"] = True
                if len(self._text_parts) > before_text:
                    chosen["text/plain"] = True
            elif ctype in _ALTERNATIVE_RENDERINGS:
                continue
            else:
                self._walk(child, depth + 1)  # text/calendar, images ... are kept as attachments

    def _is_body(self, part: Message) -> bool:
        return _disposition(part) != "attachment" and not _filename(part).strip()

    def _add_body(self, ctype: str, part: Message) -> None:
        data = _payload_bytes(part)
        charset = _charset(part)
        if not charset and ctype == "text/html":
            match = _META_CHARSET_RE.search(data[:4096])
            if match:
                charset = match.group(1).decode("ascii", "replace")
        text = _clean(_decode_bytes(data, charset))
        if ctype == "text/html":
            self._html_parts.append(text)
        else:
            self._text_parts.append(text)

    def _add_attachment(self, part: Message, ctype: str) -> None:
        payload = _payload_bytes(part)
        self._attachments.append(
            (
                ParsedAttachment(
                    filename=_sanitise_filename(_filename(part), ctype),
                    content_type=ctype,
                    content_id=_content_id(part),
                    payload=payload,
                    size=len(payload),
                ),
                _disposition(part) == "inline",
            )
        )

    def _add_message_attachment(self, part: Message, ctype: str) -> None:
        try:
            payload = _part_body_bytes(part, self.linesep)
        except RecursionError:
            self.defect("attached message too deeply nested to serialise")
            payload = b""
        except Exception as error:
            self.defect(f"attached message could not be serialised ({type(error).__name__})")
            payload = b""
        encoding = _normalise_space(_first_raw(part, "content-transfer-encoding") or "").lower()
        if encoding in ("base64", "quoted-printable"):
            # RFC 2046 5.2.1 forbids encoding message/rfc822, but mailers do it; the parser then
            # reads the encoded text as a message. Undo that and decode.
            payload = _decode_transfer_encoding(payload.lstrip(b"\r\n"), encoding)
        name = _filename(part)
        if not name and ctype in ("message/rfc822", "message/global"):
            name = (_subject_of(payload) or "message") + ".eml"
        self._attachments.append(
            (
                ParsedAttachment(
                    filename=_sanitise_filename(name, ctype),
                    content_type=ctype,
                    content_id=_content_id(part),
                    payload=payload,
                    size=len(payload),
                ),
                _disposition(part) == "inline",
            )
        )


def _decode_transfer_encoding(data: bytes, encoding: str) -> bytes:
    if encoding == "quoted-printable":
        return quopri.decodestring(data)
    data = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    data = data[: len(data) - len(data) % 4] if len(data) % 4 == 1 else data
    try:
        return base64.b64decode(data + b"=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return data


def _subject_of(message_bytes: bytes) -> str:
    """The decoded Subject of a message given as bytes, reading only its header block."""
    block, _ = _header_block(message_bytes)
    if not block:
        return ""
    try:
        headers = BytesParser(policy=email_policy.compat32).parsebytes(block, headersonly=True)
    except Exception:
        return ""
    subject = _first_raw(headers, "subject") or ""
    return _normalise_space(_decode_words(_unfold(subject)))


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --------------------------------------------------------------------------------------------
# HTML

_SKIP_CONTENT_TAGS = {"script", "style", "title", "template", "noscript", "head"}
# Elements that start a new line, and those that also leave a blank line around them.
_LINE_TAGS = {
    "address", "article", "aside", "center", "dd", "div", "dt", "fieldset", "figcaption",
    "figure", "footer", "form", "header", "hr", "li", "main", "nav", "section", "tr",
}  # fmt: skip
_PARAGRAPH_TAGS = {
    "blockquote", "dl", "h1", "h2", "h3", "h4", "h5", "h6", "ol", "p", "pre", "table", "ul",
}  # fmt: skip


class _TextExtractor(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip: list[str] = []
        self.pre = 0
        self.newlines = 2  # trailing newlines written so far (the start counts as a paragraph)

    def _break(self, count: int) -> None:
        if self.newlines < count:
            self.parts.append("\n" * (count - self.newlines))
            self.newlines = count

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP_CONTENT_TAGS:
            if tag != "head":  # an unclosed <head> must not swallow the whole message
                self.skip.append(tag)
            return
        if tag == "br":
            self.parts.append("\n")
            self.newlines += 1
        elif tag in _PARAGRAPH_TAGS:
            self._break(2)
            if tag == "pre":
                self.pre += 1
        elif tag in _LINE_TAGS:
            self._break(1)
            if tag == "li":
                self.parts.append("- ")
                self.newlines = 0
        elif tag in ("td", "th") and not self.newlines:
            self.parts.append(" ")

    def handle_startendtag(self, tag, attrs):
        if tag not in _SKIP_CONTENT_TAGS:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if self.skip and tag == self.skip[-1]:
            self.skip.pop()
            return
        if tag in _PARAGRAPH_TAGS:
            self._break(2)
            if tag == "pre" and self.pre:
                self.pre -= 1
        elif tag in _LINE_TAGS:
            self._break(1)

    def handle_data(self, data):
        if self.skip:
            return
        if not self.pre:
            data = re.sub(r"[ \t\r\n\f]+", " ", data)
            if self.newlines and data.strip() == "":
                return  # whitespace between block elements
        if data:
            self.parts.append(data)
            stripped = data.rstrip("\n")
            trailing = len(data) - len(stripped)
            self.newlines = trailing if stripped else self.newlines + trailing


def html_to_text(html: str) -> str:
    """A plain-text rendering of an HTML body: no tags, scripts or styles; block elements on
    their own lines; entities unescaped."""
    if not html:
        return ""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
        text = "".join(extractor.parts)
    except Exception:  # html.parser is lenient, but fall back to a crude strip if it is not
        text = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", html)
        text = re.sub(r"(?i)<br\s*/?>|</(p|div|tr|li|h\d)\s*>", "\n", text)
        text = html_lib.unescape(re.sub(r"<[^>]*>", " ", text))
    text = text.replace("\xa0", " ")
    lines = [line.strip() for line in text.splitlines()]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return _clean(text.strip())


def clean_text(text: str) -> str:
    """Valid Unicode without NUL characters, as every string this module hands out."""
    return _clean(text)
