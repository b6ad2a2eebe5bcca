"""How the CRM signs in to a mail server: the one seam between an account and the transport.

Two kinds, for IMAP and SMTP alike:

- `Password`: a user name and a password (or an app password), sent with IMAP LOGIN and SMTP
  AUTH PLAIN/LOGIN, always over verified TLS.
- `XOAuth2`: a user name and an OAuth 2.0 access token, sent with the XOAUTH2 SASL mechanism that
  Google and Microsoft 365 speak (RFC 7628 describes its standard sibling OAUTHBEARER). The token
  comes from a callable that the transport calls only when it signs in, so that whoever owns the
  grant (the OAuth module) can hand out a fresh token and refresh it when it expires.

Each kind also says what the account stores to sign in again (`auth`, `secret`): the transport
never reads those, the account's services save them.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from mailsync.errors import MailError

TokenSource = Callable[[], str]
"""Returns a current access token, or raises MailError (oauth_reconnect_required when the grant
was revoked, for example)."""


@dataclass(frozen=True)
class Password:
    login: str
    password: str = field(repr=False)

    auth: ClassVar[str] = "password"  # MailAccount.Auth

    @property
    def secret(self) -> str:
        return self.password


@dataclass(frozen=True)
class XOAuth2:
    login: str
    token: TokenSource = field(repr=False)
    provider: str  # MailAccount.Auth: "google" or "microsoft"
    # What the account keeps to sign in again (the OAuth grant as the OAuth module stores it).
    secret: str = field(default="", repr=False)
    # A fresh token, asked for once when the server refuses the one `token` gave (it may have
    # expired early, or been revoked and granted again): None to give up at once.
    renew: TokenSource | None = field(default=None, repr=False)

    @property
    def auth(self) -> str:
        return self.provider

    def initial_response(self, *, renewed: bool = False) -> str:
        """The XOAUTH2 client response, `user=<login>^Aauth=Bearer <token>^A^A`, with a token
        asked for now (Google's and Microsoft's XOAUTH2 protocol documents); `renewed`: from
        `renew`, after the server refused the first."""
        token = (self.renew if renewed and self.renew else self.token)()
        # ^A separates the fields and a line break would end the command: either in a token or a
        # login would let it say something else to the server.
        if not isinstance(token, str) or not token or _breaks_sasl(token):
            raise MailError("oauth_reconnect_required", "the provider gave no usable access token")
        if _breaks_sasl(self.login):
            raise MailError("oauth_reconnect_required", "the user name cannot be sent in XOAUTH2")
        return f"user={self.login}\x01auth=Bearer {token}\x01\x01"


Credentials = Password | XOAuth2


def _breaks_sasl(text: str) -> bool:
    return any(c in text for c in "\x01\r\n")


def xoauth2_sign_in(credentials: XOAuth2, attempt, refused: tuple[type[Exception], ...]) -> None:
    """`attempt(initial_response)` signs in; should the server refuse the token (one of
    `refused`), once more with a renewed token when the credentials can renew it."""
    try:
        attempt(credentials.initial_response())
    except refused:
        if credentials.renew is None:
            raise
        attempt(credentials.initial_response(renewed=True))


class XOAuth2Exchange:
    """The client's side of an XOAUTH2 exchange, as smtplib's `auth()` and imaplib's
    `authenticate()` call it: the initial response first; then, should the server refuse the
    token, it sends a challenge (a JSON error such as {"status":"401",...}) to which the client
    must answer with an empty response before the server ends the exchange with its NO or 535.
    `error` keeps that JSON for whoever wants the details."""

    def __init__(self, initial_response: str):
        self._initial = initial_response
        self._sent = False
        self.error = b""

    def __call__(self, challenge: bytes | None = None) -> str:
        if not self._sent:
            self._sent = True
            return self._initial
        self.error = challenge or b""
        return ""


def credentials_or_password(
    credentials: Credentials | None, *, login: str | None, password: str | None
) -> Credentials:
    """The credentials given, or `Password(login, password)` from the older pair of keywords that
    the transport's functions still accept as a shorthand (tests and scripts use it)."""
    if credentials is not None:
        if login is not None or password is not None:
            raise TypeError("give credentials or login and password, not both")
        return credentials
    if login is None or password is None:
        raise TypeError("credentials (or login and password) are required")
    return Password(login, password)
