"""The only module that speaks SMTP, always over verified TLS: the staged connection test of the
sending side (smtp_connect, smtp_tls, smtp_login), and `connect`, the same three steps in one
call for whoever sends. Both sign in with the account's credentials (a password, or XOAUTH2)."""

import smtplib
from collections.abc import Iterator

from mailsync.errors import MailError
from mailsync.transport.credentials import (
    Credentials,
    Password,
    XOAuth2,
    XOAuth2Exchange,
    credentials_or_password,
    xoauth2_sign_in,
)
from mailsync.transport.failures import CONNECT, SIGN_IN, STARTTLS, mail_errors
from mailsync.transport.hosts import open_socket, resolve
from mailsync.transport.imap import POP3_PORTS, Server
from mailsync.transport.stages import StageResult, run_stages
from mailsync.transport.tls import check_pin, client_context


class _CheckedSMTP(smtplib.SMTP):
    """smtplib's client, connecting to the addresses mailsync.hosts checked instead of resolving
    the name again (STARTTLS still verifies the certificate against the name)."""

    def __init__(self, host: str, port: int, *, timeout: float, context, addresses: list):
        self._addresses = addresses  # read by _get_socket, which __init__ calls
        self.starttls_context = context
        super().__init__(host, port, timeout=timeout)

    def _get_socket(self, host, port, timeout):
        return open_socket(self._addresses, timeout)


class _CheckedSMTP_SSL(smtplib.SMTP_SSL):  # noqa: N801 (smtplib's name)
    def __init__(self, host: str, port: int, *, timeout: float, context, addresses: list):
        self._addresses = addresses
        super().__init__(host, port, timeout=timeout, context=context)

    def _get_socket(self, host, port, timeout):
        sock = open_socket(self._addresses, timeout)
        return self.context.wrap_socket(sock, server_hostname=self._host)


def _connect(server: Server, *, pin: str, timeout: float) -> smtplib.SMTP:
    """smtp_connect: a connection to a checked address, TLS verified if implicit, greeted 220."""
    if server.port in POP3_PORTS:
        raise MailError(
            "pop3_not_supported", f"port {server.port} is a POP3 port", stage="smtp_connect"
        )
    addresses = resolve(server.host, server.port, stage="smtp_connect")
    context = client_context(pin=pin)
    with mail_errors(
        "smtp_connect", during=CONNECT, host=server.host, port=server.port, timeout=timeout
    ):
        if server.security == "ssl":
            client = _CheckedSMTP_SSL(
                server.host, server.port, timeout=timeout, context=context, addresses=addresses
            )
            check_pin(client.sock, pin)
        else:
            client = _CheckedSMTP(
                server.host, server.port, timeout=timeout, context=context, addresses=addresses
            )
    return client


def _starttls(client: smtplib.SMTP, server: Server, *, pin: str) -> None:
    """smtp_tls: STARTTLS on a plain port (implicit TLS was verified while connecting)."""
    if server.security == "ssl":
        return
    with mail_errors("smtp_tls", during=STARTTLS):
        client.ehlo()
        if not client.has_extn("starttls"):
            raise MailError(
                "starttls_unavailable", "the server does not offer STARTTLS", stage="smtp_tls"
            )
        client.starttls(context=client.starttls_context)
        check_pin(client.sock, pin)
        # Say EHLO again over TLS, or a later 503 would be taken for a successful login.
        client.ehlo()


def _sign_in(client: smtplib.SMTP, credentials: Credentials) -> None:
    """smtp_login: AUTH PLAIN/LOGIN with a password (smtplib picks), AUTH XOAUTH2 with a token."""
    with mail_errors("smtp_login", during=SIGN_IN, credentials=credentials):
        client.ehlo_or_helo_if_needed()
        if not client.has_extn("auth"):
            raise MailError("smtp_auth_disabled", "the server offers no AUTH", stage="smtp_login")
        if isinstance(credentials, Password):
            client.login(credentials.login, credentials.password)
            return
        assert isinstance(credentials, XOAuth2), credentials
        if "XOAUTH2" not in client.esmtp_features.get("auth", "").upper().split():
            raise MailError(
                "smtp_auth_disabled", "the server does not offer XOAUTH2", stage="smtp_login"
            )
        # The initial response goes with AUTH (RFC 4954); after an error challenge smtplib
        # sends the empty response that XOAuth2Exchange gives, and the server's 535 follows.
        xoauth2_sign_in(
            credentials,
            lambda initial_response: client.auth("XOAUTH2", XOAuth2Exchange(initial_response)),
            refused=(smtplib.SMTPAuthenticationError,),
        )


def _close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def connect(
    server: Server, *, credentials: Credentials, pin: str = "", timeout: float = 30
) -> smtplib.SMTP:
    """A signed-in SMTP client over verified TLS, for sending; or a MailError saying why not
    (with the stage of the connection test that failed). The caller quits it."""
    client = _connect(server, pin=pin, timeout=timeout)
    try:
        _starttls(client, server, pin=pin)
        _sign_in(client, credentials)
    except BaseException:
        _close(client)
        raise
    return client


def check_smtp(
    server: Server,
    *,
    credentials: Credentials | None = None,
    pin: str = "",
    timeout: float = 15,
    login: str | None = None,
    password: str | None = None,
) -> Iterator[StageResult]:
    """The staged SMTP test: smtp_connect, smtp_tls, smtp_login. `login` and `password` are a
    shorthand for `credentials=Password(login, password)`."""
    credentials = credentials_or_password(credentials, login=login, password=password)
    state: dict = {}

    def connect():
        state["client"] = _connect(server, pin=pin, timeout=timeout)

    try:
        yield from run_stages(
            [
                ("smtp_connect", connect),
                ("smtp_tls", lambda: _starttls(state["client"], server, pin=pin)),
                ("smtp_login", lambda: _sign_in(state["client"], credentials)),
            ]
        )
    finally:
        client = state.get("client")
        if client is not None:
            _close(client)
