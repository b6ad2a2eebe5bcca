"""The only module that speaks SMTP. For now: the staged connection test of the sending side
(smtp_connect, smtp_tls, smtp_login), always over verified TLS."""

import smtplib
import socket
import ssl
from collections.abc import Iterator

from mailsync.errors import MailError
from mailsync.transport.hosts import open_socket, resolve
from mailsync.transport.imap import POP3_PORTS, Server
from mailsync.transport.stages import StageResult, run_stages
from mailsync.transport.tls import check_pin, client_context, error_from_ssl

# Shown instead of a greeting that is not SMTP's 220: whatever else answered (an SSH or HTTP
# banner) must not be read out to the rep who typed the address.
NOT_SMTP = "the server on this port does not speak SMTP"


class _CheckedSMTP(smtplib.SMTP):
    """smtplib's client, connecting to the addresses mailsync.hosts checked instead of resolving
    the name again (STARTTLS still verifies the certificate against the name)."""

    def __init__(self, host: str, port: int, *, timeout: float, addresses: list):
        self._addresses = addresses  # read by _get_socket, which __init__ calls
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


def _words(error: smtplib.SMTPResponseException) -> str:
    message = error.smtp_error
    if isinstance(message, bytes):
        message = message.decode(errors="replace")
    return f"{error.smtp_code} {message}".strip()


def classify_auth_failure(error: smtplib.SMTPResponseException) -> str:
    words = _words(error).lower()
    if "application-specific password" in words or "app password" in words:
        return "app_password_required"
    if "smtpclientauthentication is disabled" in words or "authentication is disabled" in words:
        return "smtp_auth_disabled"
    return "smtp_auth_failed"


def check_smtp(
    server: Server, *, login: str, password: str, pin: str = "", timeout: float = 15
) -> Iterator[StageResult]:
    state: dict = {}

    def connect():
        if server.port in POP3_PORTS:
            raise MailError(
                "pop3_not_supported", f"port {server.port} is a POP3 port", stage="smtp_connect"
            )
        addresses = resolve(server.host, server.port, stage="smtp_connect")
        context = client_context(pin=pin)
        try:
            if server.security == "ssl":
                client = _CheckedSMTP_SSL(
                    server.host, server.port, timeout=timeout, context=context, addresses=addresses
                )
                check_pin(client.sock, pin)
            else:
                client = _CheckedSMTP(
                    server.host, server.port, timeout=timeout, addresses=addresses
                )
            state["client"] = client
            state["context"] = context
        except ssl.SSLError as error:
            raise error_from_ssl(error, "smtp_connect") from None
        except socket.gaierror as error:
            raise MailError(
                "dns_not_found", f"{server.host}: {error.strerror}", stage="smtp_connect"
            ) from None
        except ConnectionRefusedError as error:
            raise MailError(
                "connection_refused",
                f"{server.host}:{server.port}: {error.strerror}",
                stage="smtp_connect",
            ) from None
        except (TimeoutError, smtplib.SMTPServerDisconnected):
            raise MailError(
                "connection_timeout",
                f"{server.host}:{server.port}: no answer in {timeout:g} s",
                stage="smtp_connect",
            ) from None
        except smtplib.SMTPResponseException:
            # Any greeting but 220 (smtplib quotes it, and it may be anything's banner).
            raise MailError("server_error", NOT_SMTP, stage="smtp_connect") from None
        except OSError as error:
            raise MailError("connection_refused", str(error), stage="smtp_connect") from None

    def tls():
        client = state["client"]
        if server.security == "ssl":
            return  # implicit TLS: verified while connecting
        try:
            client.ehlo()
            if not client.has_extn("starttls"):
                raise MailError(
                    "starttls_unavailable", "the server does not offer STARTTLS", stage="smtp_tls"
                )
            client.starttls(context=state["context"])
            check_pin(client.sock, pin)
            # Say EHLO again over TLS, or a later 503 would be taken for a successful login.
            client.ehlo()
        except ssl.SSLError as error:
            raise error_from_ssl(error, "smtp_tls") from None
        except smtplib.SMTPResponseException as error:
            raise MailError("starttls_unavailable", _words(error), stage="smtp_tls") from None
        except (smtplib.SMTPException, OSError) as error:
            raise MailError("server_error", str(error), stage="smtp_tls") from None

    def authenticate():
        client = state["client"]
        try:
            client.ehlo_or_helo_if_needed()
            if not client.has_extn("auth"):
                raise MailError(
                    "smtp_auth_disabled", "the server offers no AUTH", stage="smtp_login"
                )
            client.login(login, password)
        except smtplib.SMTPAuthenticationError as error:
            raise MailError(
                classify_auth_failure(error), _words(error), stage="smtp_login"
            ) from None
        except smtplib.SMTPResponseException as error:
            raise MailError("server_error", _words(error), stage="smtp_login") from None
        except smtplib.SMTPException as error:
            raise MailError("smtp_auth_failed", str(error), stage="smtp_login") from None
        except OSError as error:
            raise MailError("server_error", str(error), stage="smtp_login") from None

    try:
        yield from run_stages(
            [("smtp_connect", connect), ("smtp_tls", tls), ("smtp_login", authenticate)]
        )
    finally:
        client = state.get("client")
        if client is not None:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
