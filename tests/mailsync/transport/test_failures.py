"""mail_errors: what sockets, TLS, imaplib and smtplib raise, named by the catalogue with the
server's words, on real connections to the test servers (the exceptions are the real ones)."""

import smtplib
import socket
import ssl

import pytest

from mailsync.errors import MailError
from mailsync.transport.credentials import Password, XOAuth2
from mailsync.transport.failures import (
    CONNECT,
    NOT_SMTP,
    SIGN_IN,
    STARTTLS,
    TLS_HANDSHAKE,
    mail_errors,
)


def raised(block, stage="tcp", **kwargs) -> MailError:
    with pytest.raises(MailError) as error, mail_errors(stage, **kwargs):
        block()
    return error.value


def test_a_refused_connection_names_the_server_where_a_port_is_given(closed_port):
    def connect():
        socket.create_connection((closed_port.host, closed_port.port), timeout=2)

    error = raised(connect, during=CONNECT, host=closed_port.host, port=closed_port.port)
    assert (error.code, error.stage) == ("connection_refused", "tcp")
    assert error.server_words == f"{closed_port.host}:{closed_port.port}: Connection refused"

    error = raised(connect, "imap_login", during=CONNECT, host=closed_port.host)
    assert (error.code, error.stage) == ("connection_refused", "imap_login")
    assert error.server_words == "[Errno 111] Connection refused"


def test_a_name_that_does_not_resolve_is_dns_not_found():
    error = raised(
        lambda: socket.getaddrinfo("nowhere.invalid", 993), during=CONNECT, host="nowhere.invalid"
    )
    assert error.code == "dns_not_found"
    assert error.server_words.startswith("nowhere.invalid: ")


def test_no_answer_in_time_says_how_long_it_waited(silent_server):
    def wait_for_a_greeting():
        with socket.create_connection((silent_server.host, silent_server.port)) as sock:
            sock.settimeout(0.2)
            sock.recv(1)

    error = raised(
        wait_for_a_greeting,
        during=CONNECT,
        host=silent_server.host,
        port=silent_server.port,
        timeout=0.2,
    )
    assert error.code == "connection_timeout"
    assert error.server_words == f"{silent_server.host}:{silent_server.port}: no answer in 0.2 s"

    error = raised(wait_for_a_greeting, "tls", during=TLS_HANDSHAKE, timeout=0.2)
    assert (error.code, error.server_words) == (
        "connection_timeout",
        "no answer during the TLS handshake",
    )


def test_a_certificate_that_does_not_verify_is_named_by_what_is_wrong(tls_self_signed):
    def handshake():
        sock = socket.create_connection((tls_self_signed.host, tls_self_signed.port), timeout=5)
        ssl.create_default_context().wrap_socket(sock, server_hostname="localhost").close()

    error = raised(handshake, "imap_login", during=CONNECT)
    assert (error.code, error.stage) == ("tls_untrusted_certificate", "imap_login")
    assert "self-signed" in error.server_words


def test_an_smtp_greeting_that_is_not_220_is_never_quoted(imap_without_starttls):
    def connect():
        smtplib.SMTP(imap_without_starttls.host, imap_without_starttls.port, timeout=5)

    error = raised(connect, "smtp_connect", during=CONNECT, host="x", port=1, timeout=5)
    assert (error.code, error.server_words) == ("server_error", NOT_SMTP)


def test_starttls_to_a_certificate_we_do_not_trust(smtpd):
    client = smtplib.SMTP(smtpd.host, smtpd.starttls_port, timeout=5)
    try:
        error = raised(
            lambda: client.starttls(context=ssl.create_default_context()),
            "smtp_tls",
            during=STARTTLS,
        )
    finally:
        client.close()
    assert (error.code, error.stage) == ("tls_untrusted_certificate", "smtp_tls")


@pytest.mark.parametrize(
    "credentials, code",
    [
        (Password("rep@ourco.example", "wrong"), "smtp_auth_failed"),
        (XOAuth2("rep@ourco.example", lambda: "t", provider="google"), "oauth_reconnect_required"),
    ],
)
def test_a_refused_smtp_sign_in_is_named_by_the_kind_of_credentials(smtpd, credentials, code):
    client = smtplib.SMTP_SSL(smtpd.host, smtpd.ssl_port, context=smtpd.client_context())
    try:
        error = raised(
            lambda: client.login("rep@ourco.example", "wrong"),
            "smtp_login",
            during=SIGN_IN,
            credentials=credentials,
        )
    finally:
        client.close()
    assert (error.code, error.stage) == (code, "smtp_login")
    assert error.server_words.startswith("535 ")


def test_a_mail_error_inside_keeps_its_code_and_words_and_gets_the_stage_it_lacked():
    def fail():
        raise MailError("oauth_reconnect_required", "invalid_grant")

    error = raised(fail, "imap_login", during=SIGN_IN)
    assert (error.code, error.server_words, error.stage) == (
        "oauth_reconnect_required",
        "invalid_grant",
        "imap_login",
    )

    def fail_at_tls():
        raise MailError("tls_untrusted_certificate", "pinned", stage="tls")

    assert raised(fail_at_tls, "imap_login", during=CONNECT).stage == "tls"


def test_what_it_cannot_name_is_raised_as_it_is():
    with pytest.raises(KeyError), mail_errors("sync", during=CONNECT):
        {}["missing"]
    with pytest.raises(ValueError, match="unknown step"), mail_errors("sync", during="later"):
        raise OSError("anything")
