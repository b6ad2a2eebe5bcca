"""The staged connection test against real servers: each failure gets its own code."""

import pytest

from mailsync.accounts.services import ConnectionSettings, account_connect, connection_check
from mailsync.models import MailAccount
from mailsync.transport.imap import Server, check_imap
from mailsync.transport.smtp import check_smtp
from mailsync.transport.stages import IMAP_STAGES, SMTP_STAGES
from tests.factories import MailAccountFactory

pytestmark = pytest.mark.django_db


def conn_for(dovecot, smtpd, user, *, imap_security="ssl", smtp_security="ssl", password=None):
    smtpd.add_user(user.login, user.password)
    return ConnectionSettings(
        email=user.login,
        login=user.login,
        password=password or user.password,
        imap=Server(
            dovecot.host,
            dovecot.ssl_port if imap_security == "ssl" else dovecot.starttls_port,
            imap_security,
        ),
        smtp=Server(
            smtpd.host,
            smtpd.ssl_port if smtp_security == "ssl" else smtpd.starttls_port,
            smtp_security,
        ),
    )


def failure(results):
    failed = [r for r in results if not r.ok]
    assert len(failed) == 1 and failed[0] is results[-1], results
    return failed[0]


@pytest.mark.parametrize("imap_security, smtp_security", [("ssl", "ssl"), ("starttls", "starttls")])
def test_every_stage_passes_with_implicit_tls_and_with_starttls(
    dovecot, smtpd, mail_user, alice, imap_security, smtp_security
):
    conn = conn_for(
        dovecot, smtpd, mail_user, imap_security=imap_security, smtp_security=smtp_security
    )
    account, results = account_connect(user=alice, conn=conn)
    assert [r.stage for r in results] == IMAP_STAGES + SMTP_STAGES
    assert all(r.ok for r in results), results
    assert account.email == mail_user.login and account.status == MailAccount.Status.CONNECTED


def test_the_password_is_encrypted_at_rest(dovecot, smtpd, mail_user, alice):
    account, _ = account_connect(user=alice, conn=conn_for(dovecot, smtpd, mail_user))
    stored = MailAccount.objects.values_list("secret_ciphertext", flat=True).get()
    assert mail_user.password not in stored
    assert MailAccount.objects.get().secret == mail_user.password


def test_a_wrong_password_saves_nothing_and_says_so(dovecot, smtpd, mail_user, alice):
    conn = conn_for(dovecot, smtpd, mail_user, password="wrong")
    account, results = account_connect(user=alice, conn=conn)
    failed = failure(results)
    assert (failed.stage, failed.code) == ("imap_login", "imap_auth_failed")
    assert "AUTHENTICATIONFAILED" in failed.detail or "failed" in failed.detail.lower()
    assert account is None and not MailAccount.objects.exists()


def test_a_wrong_smtp_password_stops_at_smtp_login(dovecot, smtpd, mail_user):
    smtpd.add_user(mail_user.login, "another")
    conn = conn_for(dovecot, smtpd, mail_user)
    smtpd.add_user(mail_user.login, "another")
    failed = failure(list(connection_check(conn)))
    assert (failed.stage, failed.code) == ("smtp_login", "smtp_auth_failed")
    assert failed.detail.startswith("535")


def server(obj, security="ssl"):
    return Server(obj.host, obj.port, security)


def imap_failure(srv, **kwargs):
    return failure(list(check_imap(srv, login="x", password="y", timeout=2, **kwargs)))


def test_an_untrusted_certificate(tls_self_signed):
    failed = imap_failure(server(tls_self_signed))
    assert (failed.stage, failed.code) == ("tls", "tls_untrusted_certificate")


def test_an_unknown_authority_and_a_ca_bundle_that_fixes_it(tls_unknown_ca, settings):
    failed = imap_failure(server(tls_unknown_ca))
    assert (failed.stage, failed.code) == ("tls", "tls_untrusted_certificate")
    settings.MAILSYNC_CA_FILE = str(tls_unknown_ca.ca_file)
    results = list(check_imap(server(tls_unknown_ca), login="x", password="y", timeout=2))
    assert [r.stage for r in results if r.ok][:4] == ["dns", "tcp", "tls", "imap_greeting"]


def test_an_expired_certificate(tls_expired):
    failed = imap_failure(server(tls_expired))
    assert (failed.stage, failed.code) == ("tls", "tls_certificate_expired")


def test_a_certificate_for_another_host(tls_wrong_host):
    failed = imap_failure(server(tls_wrong_host))
    assert (failed.stage, failed.code) == ("tls", "tls_hostname_mismatch")


def test_a_pinned_certificate_is_trusted_and_only_that_one(tls_self_signed):
    import socket
    import ssl

    from mailsync.transport.tls import fingerprint

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    address = (tls_self_signed.host, tls_self_signed.port)
    with (
        socket.create_connection(address) as raw,
        context.wrap_socket(raw, server_hostname=tls_self_signed.host) as tls,
    ):
        pin = fingerprint(tls.getpeercert(binary_form=True))
    results = list(check_imap(server(tls_self_signed), login="x", password="y", pin=pin, timeout=2))
    assert [r.ok for r in results][:4] == [True, True, True, True]
    failed = imap_failure(server(tls_self_signed), pin="00" * 32)
    assert failed.code == "tls_untrusted_certificate" and "not the pinned one" in failed.detail


def test_ssl_on_a_plain_port_fails_the_handshake(dovecot):
    failed = imap_failure(Server(dovecot.host, dovecot.starttls_port, "ssl"))
    assert (failed.stage, failed.code) == ("tls", "tls_handshake_failed")


def test_pop3_ports_and_servers_are_refused(pop3_server):
    for port in (110, 995):
        failed = imap_failure(Server("127.0.0.1", port, "ssl"))
        assert failed.code == "pop3_not_supported"
    failed = imap_failure(Server(pop3_server.host, pop3_server.port, "starttls"))
    assert failed.code == "pop3_not_supported"
    assert failed.detail == "the server on this port speaks POP3, not IMAP"  # not its banner


def test_nothing_listening(closed_port):
    failed = imap_failure(Server(closed_port.host, closed_port.port, "ssl"))
    assert (failed.stage, failed.code) == ("tcp", "connection_refused")


def test_a_server_that_never_answers(silent_server):
    failed = imap_failure(Server(silent_server.host, silent_server.port, "ssl"))
    assert (failed.stage, failed.code) == ("tls", "connection_timeout")


def test_a_host_name_that_does_not_resolve():
    failed = imap_failure(Server("imap.does-not-exist.invalid", 993, "ssl"))
    assert (failed.stage, failed.code) == ("dns", "dns_not_found")


def test_smtp_over_an_untrusted_certificate(tls_self_signed):
    results = list(check_smtp(server(tls_self_signed), login="x", password="y", timeout=2))
    assert (results[-1].stage, results[-1].code) == ("smtp_connect", "tls_untrusted_certificate")


def test_one_mailbox_per_rep_is_enforced_by_the_database(alice):
    from django.db import IntegrityError

    MailAccountFactory(user=alice, email="a@x.example")
    with pytest.raises(IntegrityError):
        MailAccountFactory(user=alice, email="b@x.example")
