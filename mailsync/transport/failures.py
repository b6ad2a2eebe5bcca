"""What went wrong on a connection, as the catalogue names it (shared/ERRORS.md).

Every connection the transport makes runs its I/O inside `mail_errors(stage, during=...)`, which
turns the exceptions of sockets, TLS, imaplib, imap_tools and smtplib into a MailError: the code
that tells the rep what to do, and the server's own words. The same failure is thus named alike
by the connection test, the sync and (later) sending.

`during` says which step of a connection the block is, because the same exception means
different things in each: a timeout while connecting is `connection_timeout`, while signing in
it is the server's error; an imaplib error while connecting is a greeting imaplib refused, while
signing in it is a refused sign-in.
"""

import contextlib
import imaplib
import re
import smtplib
import socket
import ssl
from collections.abc import Iterator

from imap_tools.errors import ImapToolsError, MailboxLoginError, MailboxStarttlsError

from mailsync.errors import MailError
from mailsync.transport.credentials import Credentials, XOAuth2
from mailsync.transport.stages import SMTP_STAGES
from mailsync.transport.tls import error_from_ssl

CONNECT = "connect"  # reaching the server: DNS, TCP, TLS, its greeting, IMAP's STARTTLS
TLS_HANDSHAKE = "tls_handshake"  # the connection test's own TLS stage (IMAP)
STARTTLS = "starttls"  # SMTP's STARTTLS and second EHLO
SIGN_IN = "sign_in"  # IMAP LOGIN or AUTHENTICATE, SMTP AUTH
COMMAND = "command"  # what a signed-in IMAP session asks: LIST, EXAMINE, SEARCH, FETCH

# What the rep sees instead of the first line of something that is not an IMAP or SMTP server:
# its banner (SSH, HTTP, a database) would tell whoever asked what runs on the network.
NOT_IMAP = "the server on this port does not speak IMAP"
POP3_NOT_IMAP = "the server on this port speaks POP3, not IMAP"
NOT_SMTP = "the server on this port does not speak SMTP"


@contextlib.contextmanager
def mail_errors(
    stage: str,
    *,
    during: str,
    host: str = "",
    port: int | None = None,
    timeout: float | None = None,
    credentials: Credentials | None = None,
) -> Iterator[None]:
    """Raise what fails inside the block as a MailError of `stage`.

    `host` and `port` name the server in the words of network failures ("imap.example.com:993:
    Connection refused"); without `port` the words are the system's alone. `timeout` is quoted
    when there was no answer in time. `credentials` say how a SIGN_IN block signs in: a refused
    OAuth token means connecting again, a refused password means checking it.
    A MailError raised inside the block keeps its code and words (and gets `stage` if it had
    none); an exception nothing here names is raised as it is.
    """
    try:
        yield
    except MailError as error:
        if not error.stage:
            error.stage = stage
        raise
    except Exception as error:
        where = _Where(stage, host, port, timeout)
        if during in (CONNECT, TLS_HANDSHAKE):
            mapped = _connecting(error, where, handshake=during == TLS_HANDSHAKE)
        elif during == STARTTLS:
            mapped = _starting_tls(error, where)
        elif during == SIGN_IN:
            mapped = _signing_in(error, where, token=isinstance(credentials, XOAuth2))
        elif during == COMMAND:
            mapped = _commanding(error, where)
        else:
            raise ValueError(f"unknown step {during!r}") from error
        if mapped is None:
            raise
        raise mapped from None


class _Where:
    def __init__(self, stage: str, host: str, port: int | None, timeout: float | None):
        self.stage, self.host, self.timeout = stage, host, timeout
        self.peer = f"{host}:{port}" if port is not None else ""
        self.smtp = stage in SMTP_STAGES

    def words(self, text: str) -> str:
        return f"{self.peer}: {text}" if self.peer else text


def _connecting(error: Exception, where: _Where, *, handshake: bool) -> MailError | None:
    stage = where.stage
    # Subclasses first: SSLError, gaierror, TimeoutError and smtplib's errors are all OSErrors.
    if isinstance(error, ssl.SSLError):
        return error_from_ssl(error, stage)
    if isinstance(error, socket.gaierror):
        return MailError("dns_not_found", f"{where.host}: {error.strerror}", stage=stage)
    if isinstance(error, ConnectionRefusedError):
        words = where.words(error.strerror) if where.peer else str(error)
        return MailError("connection_refused", words, stage=stage)
    if isinstance(error, TimeoutError | smtplib.SMTPServerDisconnected):
        if handshake:
            return MailError(
                "connection_timeout", "no answer during the TLS handshake", stage=stage
            )
        return MailError(
            "connection_timeout", where.words(f"no answer in {where.timeout:g} s"), stage=stage
        )
    if isinstance(error, smtplib.SMTPResponseException):
        # Any greeting but 220 (smtplib quotes it, and it may be anything's banner).
        return MailError("server_error", NOT_SMTP, stage=stage)
    if isinstance(error, imaplib.IMAP4.error):
        return _greeting_failure(error, stage)
    if isinstance(error, MailboxStarttlsError):
        return MailError("starttls_unavailable", imap_words(error), stage=stage)
    if isinstance(error, OSError):
        words = where.words(error.strerror or str(error)) if where.peer else str(error)
        return MailError("connection_refused", words, stage=stage)
    return None


def _greeting_failure(error: imaplib.IMAP4.error, stage: str) -> MailError:
    """Name what went wrong after an IMAP greeting (imap._GreetingChecked judged the greeting):
    STARTTLS refused, or capabilities imaplib cannot use. A line imaplib could not parse is
    still not quoted."""
    words = imap_words(error)
    if any(w in words for w in ("STARTTLS", "TLS not supported", "TLS session")):
        return MailError("starttls_unavailable", words, stage=stage)
    if isinstance(error, imaplib.IMAP4.abort) and not words.startswith("socket error"):
        return MailError("server_error", NOT_IMAP, stage=stage)
    return MailError("server_error", words, stage=stage)


def _starting_tls(error: Exception, where: _Where) -> MailError | None:
    stage = where.stage
    if isinstance(error, ssl.SSLError):
        return error_from_ssl(error, stage)
    if isinstance(error, smtplib.SMTPResponseException):
        return MailError("starttls_unavailable", smtp_words(error), stage=stage)
    if isinstance(error, OSError):  # smtplib.SMTPException too
        return MailError("server_error", str(error), stage=stage)
    return None


def _signing_in(error: Exception, where: _Where, *, token: bool) -> MailError | None:
    stage = where.stage
    if isinstance(error, MailboxLoginError):
        words = _login_error_words(error)
        return MailError(imap_sign_in_code(words, token=token), words, stage=stage)
    if isinstance(error, imaplib.IMAP4.abort):  # the connection broke: not a refusal
        return MailError("server_error", imap_words(error), stage=stage)
    if isinstance(error, imaplib.IMAP4.error):  # AUTHENTICATE's NO, or a BAD to LOGIN
        words = imap_words(error)
        return MailError(imap_sign_in_code(words, token=token), words, stage=stage)
    if isinstance(error, smtplib.SMTPAuthenticationError):
        words = smtp_words(error)
        return MailError(smtp_sign_in_code(words, token=token), words, stage=stage)
    if isinstance(error, smtplib.SMTPResponseException):
        return MailError("server_error", smtp_words(error), stage=stage)
    if isinstance(error, smtplib.SMTPException):  # no mechanism in common, for one
        return MailError("smtp_auth_failed", str(error), stage=stage)
    if isinstance(error, OSError):
        words = str(error) if where.smtp else imap_words(error)
        return MailError("server_error", words, stage=stage)
    return None


def _commanding(error: Exception, where: _Where) -> MailError | None:
    if isinstance(error, imaplib.IMAP4.error | ImapToolsError | OSError):
        words = imap_words(error)
        return MailError(after_sign_in_code(words), words, stage=where.stage)
    return None


# -- the server's words, and the codes they lead to ----------------------------------------------


def imap_words(error: BaseException) -> str:
    text = " ".join(
        str(arg.decode(errors="replace") if isinstance(arg, bytes) else arg) for arg in error.args
    )
    return re.sub(r"\s+", " ", text or str(error)).strip()[:500]


def _login_error_words(error: MailboxLoginError) -> str:
    # MailboxLoginError carries the server's (typ, data) answer.
    command_result = getattr(error, "command_result", None)
    if command_result and len(command_result) > 1:
        return " ".join(
            part.decode(errors="replace") if isinstance(part, bytes) else str(part)
            for part in command_result[1] or []
        ).strip()[:500]
    return imap_words(error)


def smtp_words(error: smtplib.SMTPResponseException) -> str:
    message = error.smtp_error
    if isinstance(message, bytes):
        message = message.decode(errors="replace")
    return f"{error.smtp_code} {message}".strip()


def imap_sign_in_code(words: str, *, token: bool = False) -> str:
    """The code of a refused IMAP sign-in, from the server's words. A refused OAuth token means
    the grant no longer works (the OAuth module refreshes a token before handing it out)."""
    lowered = words.lower()
    if not token and (
        "application-specific password" in lowered
        or "app password" in lowered
        or "web login required" in lowered
    ):
        return "app_password_required"
    if "imap" in lowered and any(w in lowered for w in ("disabled", "not enabled", "turned off")):
        return "imap_disabled"
    return "oauth_reconnect_required" if token else "imap_auth_failed"


def after_sign_in_code(words: str) -> str:
    """Microsoft 365 and Outlook.com accept the sign-in of a mailbox whose IMAP access is off,
    then answer every command with "User is authenticated but not connected"."""
    return "imap_disabled" if "authenticated but not connected" in words.lower() else "server_error"


def smtp_sign_in_code(words: str, *, token: bool = False) -> str:
    """The code of a refused SMTP AUTH. Microsoft 365 refuses OAuth tokens too while its tenant
    has SMTP AUTH turned off ("SmtpClientAuthentication is disabled for the Tenant")."""
    lowered = words.lower()
    if not token and ("application-specific password" in lowered or "app password" in lowered):
        return "app_password_required"
    # 5.7.139 is the enhanced status code Microsoft 365 gives for it, whatever its text.
    if (
        "5.7.139" in lowered
        or "smtpclientauthentication is disabled" in lowered
        or "authentication is disabled" in lowered
    ):
        return "smtp_auth_disabled"
    return "oauth_reconnect_required" if token else "smtp_auth_failed"
