"""The only module that speaks IMAP. Read-only: folders are EXAMINEd, messages fetched with
BODY.PEEK[], and nothing is ever flagged, moved, expunged or deleted.

Two uses: the staged connection test (`check_imap`, one result per named stage, stopping at the
first failure), and `ImapSession`, which the sync uses to walk a folder by UID.
"""

import contextlib
import imaplib
import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from imap_tools import MailBox, MailBoxStartTls
from imap_tools.errors import ImapToolsError, MailboxLoginError, MailboxStarttlsError
from imap_tools.imap_utf7 import utf7_encode

from mailsync.errors import MailError
from mailsync.transport.hosts import open_socket, resolve
from mailsync.transport.stages import StageResult, run_stages
from mailsync.transport.tls import check_pin, client_context, error_from_ssl

POP3_PORTS = {110, 995}

# Sent folders by name, for servers without RFC 6154 special-use flags. Compared lower-case,
# with the hierarchy prefix ("INBOX.", "[Gmail]/") removed.
SENT_NAMES = [
    "sent",
    "sent items",
    "sent mail",
    "sent messages",
    "posta inviata",
    "inviata",
    "inviati",
    "elementi inviati",
    "messaggi inviati",
    "posta in uscita inviata",
    "gesendet",
    "gesendete objekte",
    "gesendete elemente",
    "envoyés",
    "éléments envoyés",
    "messages envoyés",
    "enviados",
    "elementos enviados",
    "enviadas",
    "verzonden",
    "verzonden items",
    "skickat",
    "skickade objekt",
    "sendt",
    "sendte elementer",
    "wysłane",
    "odeslané",
]


@dataclass
class Server:
    host: str
    port: int
    security: str  # "ssl" or "starttls"


@dataclass
class Folders:
    inbox: str
    sent: str
    others: list[str] = field(default_factory=list)


def _words(error: BaseException) -> str:
    text = " ".join(
        str(arg.decode(errors="replace") if isinstance(arg, bytes) else arg) for arg in error.args
    )
    return re.sub(r"\s+", " ", text or str(error)).strip()[:500]


def classify_login_failure(words: str) -> str:
    lowered = words.lower()
    if (
        "application-specific password" in lowered
        or "app password" in lowered
        or "web login required" in lowered
    ):
        return "app_password_required"
    if "imap" in lowered and any(w in lowered for w in ("disabled", "not enabled", "turned off")):
        return "imap_disabled"
    return "imap_auth_failed"


def _after_login_failure(words: str) -> str:
    """Microsoft 365 and Outlook.com accept the sign-in of a mailbox whose IMAP access is off,
    then answer every command with "User is authenticated but not connected"."""
    return "imap_disabled" if "authenticated but not connected" in words.lower() else "server_error"


# What the rep sees instead of the first line of something that is not an IMAP server: its
# banner (SSH, HTTP, a database) would tell whoever asked what runs on the network.
NOT_IMAP = "the server on this port does not speak IMAP"
POP3_NOT_IMAP = "the server on this port speaks POP3, not IMAP"


def _tcp(host: str, port: int, addresses: list, timeout: float) -> socket.socket:
    try:
        return open_socket(addresses, timeout)
    except ConnectionRefusedError as error:
        raise MailError(
            "connection_refused", f"{host}:{port}: {error.strerror}", stage="tcp"
        ) from None
    except TimeoutError:
        raise MailError(
            "connection_timeout", f"{host}:{port}: no answer in {timeout:g} s", stage="tcp"
        ) from None
    except OSError as error:
        raise MailError(
            "connection_refused", f"{host}:{port}: {error.strerror or error}", stage="tcp"
        ) from None


def _readline(sock, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    try:
        while not data.endswith(b"\n") and len(data) < 4096:
            chunk = sock.recv(1)
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        if not data:
            raise MailError(
                "connection_timeout", "the server sent no greeting", stage="greeting"
            ) from None
    return data


def _check_greeting(line: bytes, stage: str) -> None:
    """An IMAP greeting, or a MailError. What something else sent (an SSH or HTTP banner) is
    never shown: the connection test must not read out the services of a network."""
    text = line.decode(errors="replace").strip()
    if text.startswith("+OK"):
        raise MailError("pop3_not_supported", POP3_NOT_IMAP, stage=stage)
    if not text:
        raise MailError(
            "server_error", "the server closed the connection without a greeting", stage=stage
        )
    if text.startswith("* BYE"):
        raise MailError("server_error", text[:300], stage=stage)  # an IMAP server's own words
    if not text.startswith("* OK") and not text.startswith("* PREAUTH"):
        raise MailError("server_error", NOT_IMAP, stage=stage)


def check_imap(
    server: Server, *, login: str, password: str, pin: str = "", timeout: float = 15
) -> Iterator[StageResult]:
    """The staged IMAP test: dns, tcp, tls, imap_greeting, imap_login, folders."""
    state: dict = {}

    def pop3_port():
        if server.port in POP3_PORTS:
            raise MailError("pop3_not_supported", f"port {server.port} is a POP3 port", stage="tcp")

    def dns():
        # Every later stage connects to these checked addresses, never to the name again.
        state["addresses"] = resolve(server.host, server.port, stage="dns")

    def tcp():
        pop3_port()
        state["sock"] = _tcp(server.host, server.port, state["addresses"], timeout)

    def tls():
        sock = state.pop("sock")
        context = client_context(pin=pin)
        try:
            if server.security == "starttls":
                _check_greeting(_readline(sock, timeout), "tls")
                sock.sendall(b"a1 CAPABILITY\r\n")
                capabilities = b""
                while not capabilities.startswith(b"a1 ") and b"\na1 " not in capabilities:
                    line = _readline(sock, timeout)
                    if not line:
                        break
                    capabilities += line
                if b"STARTTLS" not in capabilities.upper():
                    raise MailError(
                        "starttls_unavailable",
                        capabilities.decode(errors="replace").strip()[:300],
                        stage="tls",
                    )
                sock.sendall(b"a2 STARTTLS\r\n")
                answer = _readline(sock, timeout)
                if not answer.upper().startswith(b"A2 OK"):
                    raise MailError(
                        "starttls_unavailable", answer.decode(errors="replace").strip(), stage="tls"
                    )
            secure = context.wrap_socket(sock, server_hostname=server.host)
            check_pin(secure, pin)
            state["sock"] = secure
        except ssl.SSLError as error:
            raise error_from_ssl(error) from None
        except TimeoutError:
            raise MailError(
                "connection_timeout", "no answer during the TLS handshake", stage="tls"
            ) from None
        finally:
            if "sock" not in state:
                sock.close()

    def greeting():
        sock = state.pop("sock")
        try:
            if server.security == "ssl":
                _check_greeting(_readline(sock, timeout), "imap_greeting")
        finally:
            sock.close()

    def imap_login():
        state["mailbox"] = connect(
            server,
            login=login,
            password=password,
            pin=pin,
            timeout=timeout,
            addresses=state["addresses"],
        )

    def folders():
        mailbox = state["mailbox"]
        try:
            state["folders"] = discover_folders(mailbox)
        finally:
            logout(mailbox)

    try:
        yield from run_stages(
            [
                ("dns", dns),
                ("tcp", tcp),
                ("tls", tls),
                ("imap_greeting", greeting),
                ("imap_login", imap_login),
                ("folders", folders),
            ]
        )
    finally:
        if "mailbox" in state and "folders" not in state:
            logout(state["mailbox"])


class _GreetingChecked:
    """For imaplib's clients: a greeting imaplib refuses is named by `_check_greeting`, which
    shows no bytes of what something other than an IMAP server sent (imaplib would quote it, or
    take POP3's "+OK" for a continuation and say nothing useful)."""

    _first_line: bytes | None = None

    def _get_line(self) -> bytes:
        line = super()._get_line()
        if self._first_line is None:
            self._first_line = line
        return line

    def _connect(self) -> None:
        try:
            super()._connect()
        except imaplib.IMAP4.error:
            _check_greeting(self._first_line or b"", "imap_login")  # raises unless IMAP's
            raise


class _CheckedIMAP4(_GreetingChecked, imaplib.IMAP4):
    """imaplib's client, connecting to addresses already checked (mailsync.hosts) instead of
    resolving the name again; TLS still verifies the certificate against the name."""

    def __init__(self, host: str, port: int, timeout: float, *, addresses: list):
        self._addresses = addresses
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout):
        return open_socket(self._addresses, timeout)


class _CheckedIMAP4_SSL(_GreetingChecked, imaplib.IMAP4_SSL):  # noqa: N801 (imaplib's name)
    def __init__(self, host: str, port: int, timeout: float, *, addresses: list, ssl_context):
        self._addresses = addresses
        super().__init__(host, port, ssl_context=ssl_context, timeout=timeout)

    def _create_socket(self, timeout):
        sock = open_socket(self._addresses, timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


class _CheckedMailBox(MailBox):
    def __init__(self, host: str, port: int, *, timeout: float, ssl_context, addresses: list):
        self._addresses = addresses  # read by _get_mailbox_client, called by __init__
        super().__init__(host, port, timeout=timeout, ssl_context=ssl_context)

    def _get_mailbox_client(self) -> imaplib.IMAP4:
        return _CheckedIMAP4_SSL(
            self._host,
            self._port,
            self._timeout,
            addresses=self._addresses,
            ssl_context=self._ssl_context,
        )


class _CheckedMailBoxStartTls(MailBoxStartTls):
    def __init__(self, host: str, port: int, *, timeout: float, ssl_context, addresses: list):
        self._addresses = addresses
        super().__init__(host, port, timeout=timeout, ssl_context=ssl_context)

    def _get_mailbox_client(self) -> imaplib.IMAP4:
        client = _CheckedIMAP4(self._host, self._port, self._timeout, addresses=self._addresses)
        typ, data = client.starttls(self._ssl_context)
        if typ != "OK":
            raise MailboxStarttlsError((typ, data), "OK")
        return client


def _greeting_failure(error: imaplib.IMAP4.error) -> MailError:
    """Name what went wrong after an IMAP greeting (`_GreetingChecked` judged the greeting):
    STARTTLS refused, or capabilities imaplib cannot use. A line imaplib could not parse is
    still not quoted."""
    words = _words(error)
    if any(w in words for w in ("STARTTLS", "TLS not supported", "TLS session")):
        return MailError("starttls_unavailable", words, stage="imap_login")
    if isinstance(error, imaplib.IMAP4.abort) and not words.startswith("socket error"):
        return MailError("server_error", NOT_IMAP, stage="imap_login")
    return MailError("server_error", words, stage="imap_login")


def connect(
    server: Server,
    *,
    login: str,
    password: str,
    pin: str = "",
    timeout: float = 30,
    addresses: list | None = None,
) -> MailBox:
    """A logged-in MailBox over a verified TLS connection, or a MailError saying why not.

    `addresses` are the server's, as `mailsync.hosts.resolve` checked them (the staged test
    resolves once, at its dns stage); without them the name is resolved and checked here.
    """
    if server.port in POP3_PORTS:
        raise MailError(
            "pop3_not_supported", f"port {server.port} is a POP3 port", stage="imap_login"
        )
    if addresses is None:
        addresses = resolve(server.host, server.port, stage="imap_login")
    context = client_context(pin=pin)
    try:
        if server.security == "starttls":
            mailbox = _CheckedMailBoxStartTls(
                server.host, server.port, timeout=timeout, ssl_context=context, addresses=addresses
            )
        else:
            mailbox = _CheckedMailBox(
                server.host, server.port, timeout=timeout, ssl_context=context, addresses=addresses
            )
        check_pin(mailbox.client.sock, pin)
    except ssl.SSLError as error:
        raise error_from_ssl(error, "imap_login") from None
    except socket.gaierror as error:
        raise MailError(
            "dns_not_found", f"{server.host}: {error.strerror}", stage="imap_login"
        ) from None
    except ConnectionRefusedError as error:
        raise MailError("connection_refused", str(error), stage="imap_login") from None
    except TimeoutError:
        raise MailError(
            "connection_timeout", f"no answer in {timeout:g} s", stage="imap_login"
        ) from None
    except imaplib.IMAP4.error as error:
        raise _greeting_failure(error) from None
    except MailboxStarttlsError as error:
        raise MailError("starttls_unavailable", _words(error), stage="imap_login") from None
    except OSError as error:
        raise MailError("connection_refused", str(error), stage="imap_login") from None
    try:
        # imap_tools SELECTs INBOX (read-write) after login unless told not to: the sync opens
        # folders itself, with EXAMINE only.
        mailbox.login(login, password, initial_folder=None)
    except MailboxLoginError as error:
        words = _words_from_login_error(error)
        raise MailError(classify_login_failure(words), words, stage="imap_login") from None
    except (imaplib.IMAP4.abort, OSError) as error:
        raise MailError("server_error", _words(error), stage="imap_login") from None
    return mailbox


def _words_from_login_error(error: MailboxLoginError) -> str:
    # MailboxLoginError carries the server's (typ, data) answer.
    command_result = getattr(error, "command_result", None)
    if command_result and len(command_result) > 1:
        return " ".join(
            part.decode(errors="replace") if isinstance(part, bytes) else str(part)
            for part in command_result[1] or []
        ).strip()[:500]
    return _words(error)


def logout(mailbox: MailBox) -> None:
    with contextlib.suppress(imaplib.IMAP4.error, OSError):  # the connection is gone either way
        mailbox.logout()


def _short_name(name: str, delimiter: str) -> str:
    lowered = name.lower()
    for prefix in ("inbox" + (delimiter or "."), "[gmail]/", "[google mail]/"):
        if lowered.startswith(prefix):
            return lowered[len(prefix) :]
    return lowered


def discover_folders(mailbox: MailBox, sent_name: str = "") -> Folders:
    """INBOX by name (there is no \\Inbox flag), Sent by the \\Sent flag, else by known names."""
    try:
        listing = list(mailbox.folder.list())
    except (imaplib.IMAP4.error, ImapToolsError, OSError) as error:
        words = _words(error)
        raise MailError(_after_login_failure(words), words, stage="folders") from None
    names = [f.name for f in listing]
    inbox = next((n for n in names if n.upper() == "INBOX"), "INBOX")
    sent = ""
    if sent_name and sent_name in names:
        sent = sent_name
    if not sent:
        sent = next((f.name for f in listing if "\\Sent" in f.flags), "")
    if not sent:
        by_name = {_short_name(f.name, f.delim): f.name for f in listing}
        sent = next((by_name[n] for n in SENT_NAMES if n in by_name), "")
    if not sent:
        raise MailError(
            "sent_folder_not_found",
            "folders on the server: " + ", ".join(names)[:400],
            stage="folders",
        )
    return Folders(inbox=inbox, sent=sent, others=[n for n in names if n not in (inbox, sent)])


@dataclass
class FetchedMessage:
    uid: int
    size: int
    raw: bytes
    headers_only: bool  # the body was not fetched (over the size limit)


class ImapSession:
    """A read-only walk through one account's folders, for the sync."""

    def __init__(self, mailbox: MailBox):
        self.mailbox = mailbox

    @classmethod
    def open(cls, server: Server, *, login: str, password: str, pin: str = "", timeout: float = 30):
        return cls(connect(server, login=login, password=password, pin=pin, timeout=timeout))

    def close(self) -> None:
        logout(self.mailbox)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def folders(self, sent_name: str = "") -> Folders:
        return discover_folders(self.mailbox, sent_name)

    def examine(self, folder: str) -> int:
        """Select read-only (EXAMINE) and return the folder's UIDVALIDITY from that response."""
        client = self.mailbox.client
        try:
            typ, _data = client.select(_quote(folder), readonly=True)
        except (imaplib.IMAP4.error, OSError) as error:
            words = _words(error)
            raise MailError(_after_login_failure(words), words, stage="sync") from None
        if typ != "OK":
            raise MailError("server_error", f"EXAMINE {folder}: {_data}", stage="sync")
        values = client.untagged_responses.get("UIDVALIDITY") or [b"0"]
        return int(values[-1])

    def uids_after(self, last_uid: int, since: date | None = None) -> list[int]:
        """UIDs above last_uid (and on or after `since`), ascending.

        `UID SEARCH UID n:*` always includes the highest UID even when it is below n
        (RFC 3501 n:* semantics), so the answer is filtered again here.
        """
        criteria = f"UID {last_uid + 1}:*"
        if since is not None:
            criteria += " SINCE " + _imap_date(since)
        return [u for u in self._search(criteria) if u > last_uid]

    def uids_since(self, since: date, *, up_to: int) -> list[int]:
        """UIDs up to `up_to` that arrived on or after `since`, ascending (widening the history)."""
        if up_to < 1:
            return []
        return self._search(f"UID 1:{up_to} SINCE {_imap_date(since)}", up_to=up_to)

    def count_before(self, before: date, *, up_to: int) -> int:
        """How many messages up to UID `up_to` arrived before `before` (older than the history)."""
        if up_to < 1:
            return 0
        return len(self._search(f"UID 1:{up_to} BEFORE {_imap_date(before)}", up_to=up_to))

    def uids_with_message_id(self, message_id: str) -> list[int]:
        """UIDs of the messages whose Message-ID header is `message_id` (finding a message again
        after the folder was renumbered)."""
        quoted = '"' + message_id.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return self._search(f"HEADER Message-ID {quoted}")

    def _search(self, criteria: str, *, up_to: int | None = None) -> list[int]:
        try:
            typ, data = self.mailbox.client.uid("SEARCH", criteria)
        except (imaplib.IMAP4.error, OSError) as error:
            raise MailError("server_error", _words(error), stage="sync") from None
        if typ != "OK":
            raise MailError("server_error", f"SEARCH: {data}", stage="sync")
        uids = sorted({int(u) for u in (data[0] or b"").split()})
        # Never trust a server to keep to the range asked for: the sync's position depends on it.
        return [u for u in uids if up_to is None or u <= up_to]

    def batches(
        self, uids: list[int], *, count: int, batch_bytes: int, max_message_bytes: int
    ) -> Iterator[tuple[list[int], list[FetchedMessage]]]:
        """Fetch `uids` in batches of at most `count` messages and about `batch_bytes` bytes, so
        that memory stays flat whatever the mailbox holds. Yields (the UIDs of the batch, the
        messages fetched); a UID expunged meanwhile is in the first and not the second.

        Sizes come first; a message over `max_message_bytes` is fetched as headers only, with
        BODY.PEEK so that nothing is marked seen.
        """
        for start in range(0, len(uids), count):
            chunk = uids[start : start + count]
            sizes = self._sizes(chunk)
            group: list[int] = []
            total = 0
            for uid in chunk:
                size = min(sizes.get(uid, 0), max_message_bytes)
                if group and total + size > batch_bytes:
                    yield group, self._fetch(group, sizes, max_message_bytes)
                    group, total = [], 0
                group.append(uid)
                total += size
            if group:
                yield group, self._fetch(group, sizes, max_message_bytes)

    def _fetch(
        self, uids: list[int], sizes: dict[int, int], max_bytes: int
    ) -> list[FetchedMessage]:
        present = [u for u in uids if u in sizes]
        small = [u for u in present if sizes[u] <= max_bytes]
        large = [u for u in present if sizes[u] > max_bytes]
        fetched = {}
        if small:
            fetched.update(self._fetch_parts(small, "BODY.PEEK[]"))
        if large:
            fetched.update(self._fetch_parts(large, "BODY.PEEK[HEADER]"))
        return [
            FetchedMessage(uid, sizes[uid], fetched[uid], uid in large)
            for uid in present
            if uid in fetched
        ]

    def _sizes(self, uids: list[int]) -> dict[int, int]:
        typ, data = self._uid_fetch(uids, "(UID RFC822.SIZE)")
        sizes = {}
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            if not isinstance(line, bytes):
                continue
            uid = re.search(rb"UID (\d+)", line)
            size = re.search(rb"RFC822\.SIZE (\d+)", line)
            if uid and size:
                sizes[int(uid.group(1))] = int(size.group(1))
        return sizes

    def _fetch_parts(self, uids: list[int], part: str) -> dict[int, bytes]:
        typ, data = self._uid_fetch(uids, f"(UID {part})")
        found = {}
        for item in data:
            if isinstance(item, tuple) and len(item) >= 2:
                uid = re.search(rb"UID (\d+)", item[0])
                if uid:
                    found[int(uid.group(1))] = item[1]
        return found

    def _uid_fetch(self, uids: list[int], items: str):
        try:
            typ, data = self.mailbox.client.uid("FETCH", ",".join(map(str, uids)), items)
        except (imaplib.IMAP4.error, OSError) as error:
            raise MailError("server_error", _words(error), stage="sync") from None
        if typ != "OK":
            raise MailError("server_error", f"FETCH: {data}", stage="sync")
        return typ, data


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _imap_date(day: date) -> str:
    """A date as IMAP SEARCH wants it (RFC 3501 date-text: 02-Dec-2026), whatever the locale."""
    month = MONTHS[day.month - 1]
    return f"{day.day:02d}-{month}-{day.year}"


def _quote(folder: str) -> str:
    """A folder name as an IMAP quoted string, in modified UTF-7 (RFC 3501 5.1.3)."""
    encoded = utf7_encode(folder).decode()
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'
