"""Real mail servers as pytest fixtures (see servers.py). No mocks. A plugin rather than a
conftest, so that tests/conftest.py can load it for the browser tests too (`pytest_plugins`).

Session-scoped: `mail_ca`, `dovecot`, `dovecot_plain` (no special-use folders, sessions recorded),
`smtp_server`, and the misbehaving servers `tls_self_signed`,
`tls_unknown_ca`, `tls_expired`, `tls_wrong_host`, `pop3_server`, `silent_server`.
Per test: `smtpd` (the session SMTP server, its messages and scripts reset), `closed_port`,
`oauth_provider` (a local Google and Microsoft 365, wired to `dovecot` and `smtpd`),
`mail_user` (a fresh Dovecot user), `plain_user` (a fresh user of `dovecot_plain`).

Verify certificates against `mail_ca.ca_file` (the same file as `dovecot.ca_file`, `smtpd.ca_file`).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from typing import NamedTuple

import pytest

from tests.support.oauth import OAuthProvider
from tests.support.servers import (
    DOVECOT,
    INSTALL_HINT,
    CertAuthority,
    ClosedPort,
    Dovecot,
    LineServer,
    SMTPServer,
    imap_login_refusal,
    imap_plain_server,
    imap_refusing_after_login,
    imap_tls_server,
    pop3_line_server,
    self_signed_context,
)

_serial = itertools.count(1)


class MailUser(NamedTuple):
    login: str
    password: str


def unique_login(prefix: str = "rep") -> str:
    """A login no other test in this session uses (Dovecot lives for the whole session)."""
    return f"{prefix}{os.getpid()}-{next(_serial)}@ourco.example"


@pytest.fixture(scope="session")
def mail_ca(tmp_path_factory) -> CertAuthority:
    """The trustme CA behind Dovecot, SMTP and the expired / wrong-host servers."""
    return CertAuthority(tmp_path_factory.mktemp("mail-ca"), "mail-ca")


@pytest.fixture(scope="session")
def dovecot(mail_ca):
    """A throwaway Dovecot for the session: .host, .ssl_port, .starttls_port, .ca, .ca_file,
    .add_user(), .add_token(), .append(), .flags(), .uidvalidity(), .reset_uidvalidity(),
    .create_folder(), .folders(), .status(), .mailbox(), .maildir()."""
    if not os.access(DOVECOT, os.X_OK):
        pytest.fail(f"Dovecot is not installed ({DOVECOT} missing): {INSTALL_HINT}.", pytrace=False)
    server = Dovecot(mail_ca)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def dovecot_plain(mail_ca):
    """A second Dovecot whose users have INBOX only and no special-use flags at all (a server that
    names its Sent folder "Sent Items" or "Posta inviata"), recording every IMAP session
    (`commands()`, `rawlog_clear()`). Otherwise like `dovecot`."""
    if not os.access(DOVECOT, os.X_OK):
        pytest.fail(f"Dovecot is not installed ({DOVECOT} missing): {INSTALL_HINT}.", pytrace=False)
    server = Dovecot(mail_ca, special_use_defaults=False, rawlog=True)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def plain_user(dovecot_plain) -> MailUser:
    """A fresh user of `dovecot_plain`: INBOX and nothing else."""
    login = unique_login("plain")
    user = MailUser(login, f"secret-{login.split('@')[0]}")
    dovecot_plain.add_user(*user)
    return user


@pytest.fixture
def mail_user(dovecot) -> MailUser:
    """A fresh Dovecot user (unique login, password "secret-<n>")."""
    login = unique_login()
    user = MailUser(login, f"secret-{login.split('@')[0]}")
    dovecot.add_user(*user)
    return user


@pytest.fixture(scope="session")
def smtp_server(mail_ca):
    server = SMTPServer(mail_ca).start()
    yield server
    server.stop()


@pytest.fixture
def smtpd(smtp_server) -> SMTPServer:
    """The session's SMTP server with no messages, scripts or auth log left from other tests.
    .host, .starttls_port, .ssl_port, .ca_file, .add_user(), .add_token(), .script(), .messages."""
    smtp_server.reset()
    yield smtp_server
    smtp_server.reset()


def _serve(server: LineServer):
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_self_signed():
    """IMAP over TLS with a self-signed certificate for localhost/127.0.0.1 (verify code 18)."""
    yield from _serve(imap_tls_server("self-signed", self_signed_context(), None))


@pytest.fixture(scope="session")
def tls_unknown_ca(tmp_path_factory):
    """IMAP over TLS, certificate from a second CA nobody trusts (verify code 20); trusting
    its `ca_file` makes it work."""
    other = CertAuthority(tmp_path_factory.mktemp("other-ca"), "other-ca")
    yield from _serve(imap_tls_server("unknown-ca", other.server_context(), other.ca_file))


@pytest.fixture(scope="session")
def tls_expired(mail_ca):
    """IMAP over TLS, certificate from `mail_ca` that expired yesterday (verify code 10)."""
    now = dt.datetime.now(dt.UTC)
    ctx = mail_ca.server_context(
        not_before=now - dt.timedelta(days=90), not_after=now - dt.timedelta(days=1)
    )
    yield from _serve(imap_tls_server("expired", ctx, mail_ca.ca_file))


@pytest.fixture(scope="session")
def tls_wrong_host(mail_ca):
    """IMAP over TLS, certificate from `mail_ca` valid only for mail.other.example."""
    ctx = mail_ca.server_context("mail.other.example")
    yield from _serve(imap_tls_server("wrong-host", ctx, mail_ca.ca_file))


@pytest.fixture
def imap_refusing_login(mail_ca):
    """Makes IMAP-over-TLS servers (certificate from `mail_ca`) that answer LOGIN with the words
    given, verbatim: `imap_refusing_login(b"NO [ALERT] ... (Failure)")`. Stopped after the test."""
    servers: list[LineServer] = []

    def make(words: bytes) -> LineServer:
        server = imap_tls_server(
            "refusing-login", mail_ca.server_context(), mail_ca.ca_file, imap_login_refusal(words)
        )
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def imap_refusing_folders(mail_ca):
    """Makes IMAP-over-TLS servers that accept any LOGIN and then answer LIST, SELECT and
    EXAMINE with the words given: `imap_refusing_folders(b"BAD User is authenticated but not
    connected.")`. Stopped after the test."""
    servers: list[LineServer] = []

    def make(words: bytes) -> LineServer:
        server = imap_tls_server(
            "refusing-folders",
            mail_ca.server_context(),
            mail_ca.ca_file,
            imap_refusing_after_login(words),
        )
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def imap_without_starttls():
    """Plain-text IMAP whose CAPABILITY has no STARTTLS."""
    yield from _serve(imap_plain_server())


@pytest.fixture(scope="session")
def pop3_server():
    """Plain TCP POP3: `+OK POP3 server ready` (someone typed the POP3 port)."""
    yield from _serve(pop3_line_server())


@pytest.fixture(scope="session")
def silent_server():
    """Accepts TCP connections and never sends a byte (nor finishes a TLS handshake)."""
    yield from _serve(LineServer("silent", silent=True))


@pytest.fixture
def closed_port() -> ClosedPort:
    """A loopback port where nothing listens (connections are refused)."""
    return ClosedPort()


@pytest.fixture
def oauth_provider(settings, dovecot, smtpd):
    """The local OAuth provider (tests/support/oauth.py) standing in for Google and Microsoft 365
    alike: the settings point both providers' endpoints at it and their mail hosts at the test
    Dovecot and SMTP server, and every access token it issues is one those servers accept (and
    stop accepting when it is revoked)."""
    provider = OAuthProvider()

    def accept(login: str, token: str) -> None:
        if login in dovecot.passwords:  # a mailbox (a sign-in to the CRM needs none)
            dovecot.add_token(login, token)
        smtpd.add_token(login, token)

    def refuse(token: str) -> None:
        dovecot.revoke_token(token)
        smtpd.tokens.pop(token, None)

    provider.on_access_token = accept
    provider.on_revoke = refuse
    urls = provider.endpoints()
    for name in ("GOOGLE", "MICROSOFT"):
        setattr(settings, f"{name}_OAUTH_CLIENT_ID", provider.client_id)
        setattr(settings, f"{name}_OAUTH_CLIENT_SECRET", provider.client_secret)
        setattr(settings, f"{name}_OAUTH_AUTHORIZE_URL", urls["authorize"])
        setattr(settings, f"{name}_OAUTH_TOKEN_URL", urls["token"])
        setattr(settings, f"{name}_OAUTH_USERINFO_URL", urls["userinfo"])
        setattr(settings, f"{name}_IMAP_HOST", dovecot.host)
        setattr(settings, f"{name}_IMAP_PORT", dovecot.ssl_port)
        setattr(settings, f"{name}_SMTP_HOST", smtpd.host)
        setattr(settings, f"{name}_SMTP_PORT", smtpd.ssl_port)
    settings.GOOGLE_OAUTH_REVOKE_URL = urls["revoke"]
    try:
        yield provider
    finally:
        provider.stop()
