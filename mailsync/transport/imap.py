"""The only module that speaks IMAP. Read-only: folders are EXAMINEd, messages fetched with
BODY.PEEK[], and nothing is ever flagged, moved, expunged or deleted.

Two uses: the staged connection test (`check_imap`, one result per named stage, stopping at the
first failure), and `ImapSession`, which the sync uses to walk a folder by UID.
"""

import contextlib
import imaplib
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from imap_tools import MailBox, MailBoxStartTls
from imap_tools.errors import MailboxStarttlsError
from imap_tools.imap_utf7 import utf7_encode

from mailsync.errors import MailError
from mailsync.transport.credentials import (
    Credentials,
    Password,
    XOAuth2,
    XOAuth2Exchange,
    credentials_or_password,
    xoauth2_sign_in,
)
from mailsync.transport.failures import (
    COMMAND,
    CONNECT,
    NOT_IMAP,
    POP3_NOT_IMAP,
    SIGN_IN,
    TLS_HANDSHAKE,
    mail_errors,
)
from mailsync.transport.hosts import open_socket, resolve
from mailsync.transport.stages import StageResult, run_stages
from mailsync.transport.tls import check_pin, client_context

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


def _tcp(host: str, port: int, addresses: list, timeout: float) -> socket.socket:
    with mail_errors("tcp", during=CONNECT, host=host, port=port, timeout=timeout):
        return open_socket(addresses, timeout)


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


def _starttls(sock: socket.socket, timeout: float) -> None:
    """STARTTLS by hand on the test's own socket (before imaplib is involved), saying which step
    failed: no greeting, no STARTTLS in CAPABILITY, or STARTTLS refused."""
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


def check_imap(
    server: Server,
    *,
    credentials: Credentials | None = None,
    pin: str = "",
    timeout: float = 15,
    login: str | None = None,
    password: str | None = None,
) -> Iterator[StageResult]:
    """The staged IMAP test: dns, tcp, tls, imap_greeting, imap_login, folders. `login` and
    `password` are a shorthand for `credentials=Password(login, password)`."""
    credentials = credentials_or_password(credentials, login=login, password=password)
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
            with mail_errors("tls", during=TLS_HANDSHAKE):
                if server.security == "starttls":
                    _starttls(sock, timeout)
                secure = context.wrap_socket(sock, server_hostname=server.host)
                check_pin(secure, pin)
                state["sock"] = secure
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
            credentials=credentials,
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


def connect(
    server: Server,
    *,
    credentials: Credentials | None = None,
    pin: str = "",
    timeout: float = 30,
    addresses: list | None = None,
    login: str | None = None,
    password: str | None = None,
) -> MailBox:
    """A signed-in MailBox over a verified TLS connection, or a MailError saying why not.

    `addresses` are the server's, as `mailsync.hosts.resolve` checked them (the staged test
    resolves once, at its dns stage); without them the name is resolved and checked here.
    `login` and `password` are a shorthand for `credentials=Password(login, password)`.
    """
    credentials = credentials_or_password(credentials, login=login, password=password)
    if server.port in POP3_PORTS:
        raise MailError(
            "pop3_not_supported", f"port {server.port} is a POP3 port", stage="imap_login"
        )
    if addresses is None:
        addresses = resolve(server.host, server.port, stage="imap_login")
    context = client_context(pin=pin)
    # No port: these words have always named no server (the sync shows the account's beside).
    with mail_errors("imap_login", during=CONNECT, host=server.host, timeout=timeout):
        if server.security == "starttls":
            mailbox = _CheckedMailBoxStartTls(
                server.host, server.port, timeout=timeout, ssl_context=context, addresses=addresses
            )
        else:
            mailbox = _CheckedMailBox(
                server.host, server.port, timeout=timeout, ssl_context=context, addresses=addresses
            )
        check_pin(mailbox.client.sock, pin)
    try:
        with mail_errors("imap_login", during=SIGN_IN, credentials=credentials):
            sign_in(mailbox, credentials)
    except MailError:
        logout(mailbox)
        raise
    return mailbox


def sign_in(mailbox: MailBox, credentials: Credentials) -> None:
    """LOGIN with a password, AUTHENTICATE XOAUTH2 with a token; never a folder selected (imap
    tools SELECTs INBOX read-write after its login unless told not to: the sync opens folders
    itself, with EXAMINE only). Raises imaplib's and imap_tools' errors: call it inside
    `mail_errors(..., during=SIGN_IN)`."""
    if isinstance(credentials, Password):
        mailbox.login(credentials.login, credentials.password, initial_folder=None)
        return
    assert isinstance(credentials, XOAuth2), credentials
    client = mailbox.client
    if "AUTH=XOAUTH2" not in client.capabilities:
        raise MailError("imap_auth_failed", "the server does not offer XOAUTH2 sign-in")

    # imap_tools' xoauth2() would answer the server's error challenge with the token again;
    # Google and Microsoft expect an empty response, then send their NO with the reason.
    # imaplib raises its error on that NO (and sets the AUTH state on OK).
    def attempt(initial_response: str) -> None:
        mailbox.login_result = client.authenticate("XOAUTH2", XOAuth2Exchange(initial_response))

    xoauth2_sign_in(credentials, attempt, refused=(imaplib.IMAP4.error,))


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
    with mail_errors("folders", during=COMMAND):
        listing = list(mailbox.folder.list())
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
    def open(
        cls,
        server: Server,
        *,
        credentials: Credentials | None = None,
        pin: str = "",
        timeout: float = 30,
        login: str | None = None,
        password: str | None = None,
    ) -> "ImapSession":
        """`login` and `password` are a shorthand for `credentials=Password(login, password)`."""
        credentials = credentials_or_password(credentials, login=login, password=password)
        return cls(connect(server, credentials=credentials, pin=pin, timeout=timeout))

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
        with mail_errors("sync", during=COMMAND):
            typ, _data = client.select(_quote(folder), readonly=True)
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
        with mail_errors("sync", during=COMMAND):
            typ, data = self.mailbox.client.uid("SEARCH", criteria)
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
        with mail_errors("sync", during=COMMAND):
            typ, data = self.mailbox.client.uid("FETCH", ",".join(map(str, uids)), items)
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
