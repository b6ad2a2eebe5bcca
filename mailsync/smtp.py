"""The only module that speaks SMTP. For now: the staged connection test of the sending side
(smtp_connect, smtp_tls, smtp_login), always over verified TLS."""

import smtplib
import socket
import ssl
from collections.abc import Iterator

from mailsync.errors import MailError
from mailsync.hosts import resolve
from mailsync.imap import POP3_PORTS, Server
from mailsync.stages import StageResult, run_stages
from mailsync.tls import check_pin, client_context, error_from_ssl

NOT_SMTP = "the server on this port does not speak SMTP"


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
        resolve(server.host, server.port, stage="smtp_connect")
        context = client_context(pin=pin)
        try:
            if server.security == "ssl":
                client = smtplib.SMTP_SSL(
                    server.host, server.port, timeout=timeout, context=context
                )
                check_pin(client.sock, pin)
            else:
                client = smtplib.SMTP(server.host, server.port, timeout=timeout)
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
        except smtplib.SMTPResponseException as error:
            # smtplib quotes whatever greeted it; only an SMTP reply (a code) is the server's.
            words = _words(error) if 200 <= error.smtp_code <= 599 else NOT_SMTP
            raise MailError("server_error", words, stage="smtp_connect") from None
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
