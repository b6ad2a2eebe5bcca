"""Signing in by the credentials' kind: a password (LOGIN, AUTH PLAIN/LOGIN) or an OAuth access
token (AUTHENTICATE XOAUTH2, AUTH XOAUTH2), on the test Dovecot (its oauth2 passdb asks a local
token introspection endpoint), on aiosmtpd, and on a scripted server that answers as Gmail."""

import pytest

from mailsync.errors import MailError
from mailsync.transport import smtp
from mailsync.transport.credentials import Password, XOAuth2
from mailsync.transport.imap import ImapSession, Server, check_imap
from mailsync.transport.smtp import check_smtp
from mailsync.transport.stages import IMAP_STAGES, SMTP_STAGES
from tests.support.servers import (
    GMAIL_XOAUTH2_REFUSAL,
    ImapXOAuth2,
    imap_tls_server,
)

pytestmark = pytest.mark.django_db


class Tokens:
    """A token source as the OAuth module will hand one over: it counts when it is asked."""

    def __init__(self, *tokens: str):
        self.tokens = list(tokens)
        self.asked = 0

    def __call__(self) -> str:
        self.asked += 1
        return self.tokens[min(self.asked, len(self.tokens)) - 1]


def google(login: str, token) -> XOAuth2:
    return XOAuth2(login, token, provider="google")


def failure(results):
    failed = [r for r in results if not r.ok]
    assert len(failed) == 1 and failed[0] is results[-1], results
    return failed[0]


def dovecot_server(dovecot, security: str) -> Server:
    port = dovecot.ssl_port if security == "ssl" else dovecot.starttls_port
    return Server(dovecot.host, port, security)


def smtp_server(smtpd, security: str) -> Server:
    return Server(
        smtpd.host, smtpd.ssl_port if security == "ssl" else smtpd.starttls_port, security
    )


@pytest.fixture
def gmail_imap(mail_ca):
    """Makes IMAP-over-TLS servers with Gmail's XOAUTH2 (see ImapXOAuth2)."""
    servers = []

    def make(**kwargs):
        script = ImapXOAuth2(**kwargs)
        server = imap_tls_server("xoauth2", mail_ca.server_context(), mail_ca.ca_file, script)
        servers.append(server)
        return server, script

    yield make
    for server in servers:
        server.stop()


# -- IMAP -------------------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_every_imap_stage_passes_with_an_xoauth2_token(dovecot, mail_user, security):
    dovecot.add_token(mail_user.login, "ya29.good-token")
    tokens = Tokens("ya29.good-token")

    results = list(
        check_imap(dovecot_server(dovecot, security), credentials=google(mail_user.login, tokens))
    )

    assert [r.stage for r in results] == IMAP_STAGES and all(r.ok for r in results), results
    assert tokens.asked == 1  # once, when signing in
    assert "ya29.good-token" in dovecot.oauth.requests  # Dovecot had the provider check it


def test_a_revoked_token_means_connecting_again(dovecot, mail_user):
    dovecot.add_token(mail_user.login, "ya29.revoked")
    dovecot.revoke_token("ya29.revoked")

    failed = failure(
        list(
            check_imap(
                dovecot_server(dovecot, "ssl"),
                credentials=google(mail_user.login, Tokens("ya29.revoked")),
            )
        )
    )

    assert (failed.stage, failed.code) == ("imap_login", "oauth_reconnect_required")
    assert "AUTHENTICATIONFAILED" in failed.detail, failed.detail  # Dovecot's words


def test_the_same_refusal_of_a_password_asks_to_check_the_password(dovecot, mail_user):
    failed = failure(
        list(
            check_imap(
                dovecot_server(dovecot, "ssl"), credentials=Password(mail_user.login, "wrong")
            )
        )
    )
    assert (failed.stage, failed.code) == ("imap_login", "imap_auth_failed")


def test_the_sync_session_signs_in_with_a_token_and_reads_folders(dovecot, mail_user):
    dovecot.add_token(mail_user.login, "ya29.session")
    credentials = google(mail_user.login, Tokens("ya29.session"))

    with ImapSession.open(dovecot_server(dovecot, "ssl"), credentials=credentials) as session:
        folders = session.folders()
        session.examine(folders.inbox)

    assert (folders.inbox, folders.sent) == ("INBOX", "Sent")


def test_a_refused_token_is_answered_with_an_empty_response_and_gmails_words_are_shown(
    gmail_imap,
):
    server, script = gmail_imap()

    failed = failure(
        list(
            check_imap(
                Server(server.host, server.port, "ssl"),
                credentials=google("rep@gmail.example", Tokens("ya29.expired")),
                timeout=5,
            )
        )
    )

    assert (failed.stage, failed.code) == ("imap_login", "oauth_reconnect_required")
    assert failed.detail == GMAIL_XOAUTH2_REFUSAL.decode().removeprefix("NO ")
    # After the JSON error challenge the client sends an empty response, not the token again
    # (Google's XOAUTH2 protocol; RFC 7628 3.2.3 says the same of OAUTHBEARER).
    assert script.answers_to_error == [b""]


def test_the_xoauth2_response_is_googles_format(gmail_imap):
    server, script = gmail_imap()
    script.add_token("rep@gmail.example", "ya29.fresh")

    results = list(
        check_imap(
            Server(server.host, server.port, "ssl"),
            credentials=google("rep@gmail.example", Tokens("ya29.fresh")),
            timeout=5,
        )
    )

    assert all(r.ok for r in results), results
    assert script.responses == ["user=rep@gmail.example\x01auth=Bearer ya29.fresh\x01\x01"]


def test_imap_turned_off_is_told_apart_from_a_refused_token(gmail_imap):
    server, _ = gmail_imap(
        refusal=b"NO [ALERT] Your account is not enabled for IMAP use. (Failure)"
    )
    failed = failure(
        list(
            check_imap(
                Server(server.host, server.port, "ssl"),
                credentials=google("rep@gmail.example", Tokens("ya29.any")),
                timeout=5,
            )
        )
    )
    assert (failed.stage, failed.code) == ("imap_login", "imap_disabled")


def test_a_server_without_xoauth2_is_refused_before_a_token_is_asked_for(gmail_imap):
    server, script = gmail_imap(advertise=False)
    tokens = Tokens("ya29.unused")

    failed = failure(
        list(
            check_imap(
                Server(server.host, server.port, "ssl"),
                credentials=google("rep@gmail.example", tokens),
                timeout=5,
            )
        )
    )

    assert (failed.stage, failed.code) == ("imap_login", "imap_auth_failed")
    assert failed.detail == "the server does not offer XOAUTH2 sign-in"
    assert tokens.asked == 0 and script.responses == []


def test_a_token_source_that_fails_stops_the_sign_in_with_its_own_error(dovecot, mail_user):
    def revoked() -> str:
        raise MailError("oauth_reconnect_required", "invalid_grant: Token has been revoked.")

    failed = failure(
        list(
            check_imap(dovecot_server(dovecot, "ssl"), credentials=google(mail_user.login, revoked))
        )
    )

    assert (failed.stage, failed.code) == ("imap_login", "oauth_reconnect_required")
    assert failed.detail == "invalid_grant: Token has been revoked."


def test_the_token_is_not_asked_for_when_the_server_cannot_be_reached(closed_port):
    tokens = Tokens("ya29.unused")
    failed = failure(
        list(
            check_imap(
                Server(closed_port.host, closed_port.port, "ssl"),
                credentials=google("rep@gmail.example", tokens),
            )
        )
    )
    assert failed.code == "connection_refused" and tokens.asked == 0


@pytest.mark.parametrize("token", ["", "ya29.one\r\nA2 LOGOUT", "ya29\x01auth=Bearer other"])
def test_a_token_that_would_change_the_exchange_is_never_sent(gmail_imap, token):
    server, script = gmail_imap()
    failed = failure(
        list(
            check_imap(
                Server(server.host, server.port, "ssl"),
                credentials=google("rep@gmail.example", Tokens(token)),
                timeout=5,
            )
        )
    )
    assert (failed.stage, failed.code) == ("imap_login", "oauth_reconnect_required")
    assert script.responses == []


def test_the_older_login_and_password_keywords_are_a_password(dovecot, mail_user):
    results = list(
        check_imap(
            dovecot_server(dovecot, "ssl"), login=mail_user.login, password=mail_user.password
        )
    )
    assert all(r.ok for r in results), results
    with pytest.raises(TypeError):
        list(
            check_imap(
                dovecot_server(dovecot, "ssl"),
                credentials=Password(mail_user.login, mail_user.password),
                password=mail_user.password,
            )
        )


def test_credentials_never_show_their_secrets():
    assert "hunter2" not in repr(Password("rep@ourco.example", "hunter2"))
    shown = repr(XOAuth2("rep@ourco.example", Tokens("t"), provider="google", secret="grant"))
    assert "grant" not in shown and "Tokens" not in shown


# -- SMTP -------------------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_every_smtp_stage_passes_with_an_xoauth2_token(smtpd, security):
    smtpd.add_token("rep@ourco.example", "ya29.smtp")
    tokens = Tokens("ya29.smtp")

    results = list(
        check_smtp(smtp_server(smtpd, security), credentials=google("rep@ourco.example", tokens))
    )

    assert [r.stage for r in results] == SMTP_STAGES and all(r.ok for r in results), results
    assert smtpd.authenticated == [("XOAUTH2", "rep@ourco.example")]
    assert tokens.asked == 1


def test_a_refused_smtp_token_means_connecting_again(smtpd):
    failed = failure(
        list(
            check_smtp(
                smtp_server(smtpd, "ssl"),
                credentials=google("rep@ourco.example", Tokens("ya29.expired")),
            )
        )
    )
    assert (failed.stage, failed.code) == ("smtp_login", "oauth_reconnect_required")
    assert failed.detail == "535 5.7.8 Username and Password not accepted"  # Gmail's words


@pytest.mark.parametrize(
    "words",
    [
        "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.",
        # 5.7.139 is Microsoft 365's code for it, whatever the words that come with it.
        "5.7.139 Authentication unsuccessful, basic authentication is not permitted.",
    ],
)
def test_smtp_auth_turned_off_for_the_tenant_refuses_tokens_too(smtpd, words):
    smtpd.script("auth", 535, words)

    failed = failure(
        list(
            check_smtp(
                smtp_server(smtpd, "ssl"),
                credentials=XOAuth2("rep@ourco.example", Tokens("t"), provider="microsoft"),
            )
        )
    )

    assert (failed.stage, failed.code, failed.detail) == (
        "smtp_login",
        "smtp_auth_disabled",
        f"535 {words}",
    )


def test_a_password_still_signs_in_to_smtp(smtpd):
    smtpd.add_user("rep@ourco.example", "pw")
    results = list(
        check_smtp(smtp_server(smtpd, "starttls"), credentials=Password("rep@ourco.example", "pw"))
    )
    assert all(r.ok for r in results), results
    assert smtpd.authenticated[0][1] == "rep@ourco.example"


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_sending_connects_signed_in_with_a_token(smtpd, security):
    smtpd.add_token("rep@ourco.example", "ya29.send")

    client = smtp.connect(
        smtp_server(smtpd, security),
        credentials=google("rep@ourco.example", Tokens("ya29.send")),
        timeout=5,
    )
    try:
        client.sendmail(
            "rep@ourco.example", ["ann@acme.com"], b"Subject: Hello\r\n\r\nFrom the CRM.\r\n"
        )
    finally:
        client.quit()

    assert smtpd.messages[0].rcpt_tos == ["ann@acme.com"]
    assert b"From the CRM." in smtpd.messages[0].data


def test_sending_says_why_it_could_not_sign_in(smtpd):
    with pytest.raises(MailError) as raised:
        smtp.connect(
            smtp_server(smtpd, "ssl"),
            credentials=google("rep@ourco.example", Tokens("ya29.expired")),
            timeout=5,
        )
    assert (raised.value.stage, raised.value.code) == ("smtp_login", "oauth_reconnect_required")


# -- a refused token, renewed once --------------------------------------------------------


def test_a_refused_imap_token_is_renewed_once(dovecot, mail_user):
    dovecot.add_token(mail_user.login, "ya29.renewed")
    first, renewed = Tokens("ya29.stale"), Tokens("ya29.renewed")

    session = ImapSession.open(
        dovecot_server(dovecot, "ssl"),
        credentials=XOAuth2(mail_user.login, first, provider="google", renew=renewed),
        timeout=5,
    )
    session.close()

    assert (first.asked, renewed.asked) == (1, 1)


def test_a_renewed_token_refused_too_means_connecting_again(dovecot, mail_user):
    renewed = Tokens("ya29.still-bad")
    credentials = XOAuth2(mail_user.login, Tokens("ya29.stale"), provider="google", renew=renewed)

    failed = failure(list(check_imap(dovecot_server(dovecot, "ssl"), credentials=credentials)))

    assert (failed.stage, failed.code) == ("imap_login", "oauth_reconnect_required")
    assert renewed.asked == 1  # once, not in a loop


def test_a_refused_smtp_token_is_renewed_once(smtpd):
    smtpd.add_token("rep@ourco.example", "ya29.renewed")
    renewed = Tokens("ya29.renewed")

    client = smtp.connect(
        smtp_server(smtpd, "ssl"),
        credentials=XOAuth2(
            "rep@ourco.example", Tokens("ya29.stale"), provider="google", renew=renewed
        ),
        timeout=5,
    )
    client.quit()

    assert renewed.asked == 1
    assert smtpd.authenticated[-1] == ("XOAUTH2", "rep@ourco.example")
