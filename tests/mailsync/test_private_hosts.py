"""The connection test is no port scanner: servers on loopback, private, link-local and other
non-public addresses are refused (after DNS resolution too) unless the operator allows them, and
a banner from something that is not an IMAP or SMTP server is never shown."""

import pytest

from mailsync import services
from mailsync.imap import Server, check_imap
from mailsync.smtp import check_smtp
from tests.mailsync.servers import LineServer

pytestmark = pytest.mark.django_db
SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"


@pytest.fixture
def private_hosts_refused(settings):
    settings.MAILSYNC_ALLOW_PRIVATE_HOSTS = False


def first_failure(results):
    return next(r for r in results if not r.ok)


@pytest.fixture
def ssh_server():
    server = LineServer("ssh", banner=SSH_BANNER, responder=lambda line: None)
    yield server
    server.stop()


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "10.1.2.3", "192.168.1.10", "169.254.169.254", "::1"]
)
def test_private_addresses_are_refused_before_any_connection(private_hosts_refused, host):
    results = list(check_imap(Server(host, 993, "ssl"), login="a", password="b", timeout=2))
    failed = first_failure(results)
    assert (failed.stage, failed.code) == ("dns", "host_not_allowed")
    assert len(results) == 1  # not even TCP was tried


def test_a_name_that_resolves_to_loopback_is_refused_at_the_dns_stage(
    private_hosts_refused, ssh_server
):
    results = list(check_imap(Server("localhost", ssh_server.port, "ssl"), login="a", password="b"))
    assert first_failure(results).code == "host_not_allowed"
    assert ssh_server.connections == 0


def test_smtp_is_refused_the_same_way(private_hosts_refused, smtpd):
    results = list(
        check_smtp(Server(smtpd.host, smtpd.ssl_port, "ssl"), login="a", password="b", timeout=2)
    )
    assert (results[0].stage, results[0].code) == ("smtp_connect", "host_not_allowed")


def test_the_sync_is_refused_too(private_hosts_refused, account):
    result = services.account_sync(account=account)
    assert result.error.code == "host_not_allowed"


def test_the_operator_can_allow_private_hosts(dovecot, mail_user):
    # tests/settings.py sets MAILSYNC_ALLOW_PRIVATE_HOSTS = True, as an operator would.
    results = list(
        check_imap(
            Server(dovecot.host, dovecot.ssl_port, "ssl"),
            login=mail_user.login,
            password=mail_user.password,
        )
    )
    assert all(r.ok for r in results), results


def test_an_ssh_banner_is_never_shown_by_the_imap_test(ssh_server):
    results = list(
        check_imap(Server(ssh_server.host, ssh_server.port, "starttls"), login="a", password="b")
    )
    failed = first_failure(results)
    assert failed.code == "server_error" and "does not speak IMAP" in failed.detail
    assert "SSH" not in failed.detail and "OpenSSH" not in failed.detail


def test_an_ssh_banner_is_never_shown_by_the_sync(account, ssh_server):
    account.imap_port, account.imap_security = ssh_server.port, "starttls"
    account.save()
    result = services.account_sync(account=account)
    assert "SSH" not in result.error.server_words, result.error.server_words


def test_an_ssh_banner_is_never_shown_by_the_smtp_test(ssh_server):
    results = list(
        check_smtp(Server(ssh_server.host, ssh_server.port, "starttls"), login="a", password="b")
    )
    failed = first_failure(results)
    assert "does not speak SMTP" in failed.detail and "SSH" not in failed.detail
