"""The connection test is no port scanner: servers on loopback, private, link-local and other
non-public addresses are refused (after DNS resolution too) unless the operator allows them, and
a banner from something that is not an IMAP or SMTP server is never shown."""

import contextlib
import ipaddress
import socket
import sys

import pytest

from mailsync.sync.run import account_sync
from mailsync.transport.hosts import is_public
from mailsync.transport.imap import Server, check_imap
from mailsync.transport.smtp import check_smtp
from tests.support.servers import LineServer

pytestmark = pytest.mark.django_db
SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"


class NetworkLog:
    """What this process asked of the network, seen through Python's audit events (the same
    hooks a security monitor uses): every name looked up, every address connected to."""

    def __init__(self):
        self.lookups: list[str] = []
        self.connections: list[tuple] = []
        self.recording = False

    def __call__(self, event: str, args: tuple) -> None:
        if not self.recording:
            return
        if event == "socket.getaddrinfo":
            self.lookups.append(args[0].decode() if isinstance(args[0], bytes) else args[0])
        elif event == "socket.connect":
            self.connections.append(args[1])

    @contextlib.contextmanager
    def record(self):
        self.lookups.clear()
        self.connections.clear()
        self.recording = True
        try:
            yield self
        finally:
            self.recording = False


_network = NetworkLog()
sys.addaudithook(_network)  # audit hooks cannot be removed; it records only inside record()


@pytest.fixture
def network():
    return _network


def addresses_of(host: str, port: int) -> set:
    return {info[4] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}


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
def test_private_addresses_are_refused_before_any_connection(
    private_hosts_refused, ssh_server, network, host
):
    with network.record():
        results = list(check_imap(Server(host, ssh_server.port, "ssl"), login="a", password="b"))
    failed = first_failure(results)
    assert (failed.stage, failed.code) == ("dns", "host_not_allowed")
    assert len(results) == 1  # not even TCP was tried
    assert network.connections == [] and ssh_server.connections == 0


@pytest.mark.parametrize(
    "address",
    [
        "0.0.0.0",  # unspecified
        "::",
        "172.16.0.1",
        "100.64.0.1",  # carrier-grade NAT
        "224.0.0.251",  # multicast
        "ff02::1",
        "240.0.0.1",  # reserved
        "192.0.2.10",  # documentation
        "fd12:3456::1",  # unique local (fc00::/7)
        "fe80::1",  # link-local
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "64:ff9b::a00:1",  # NAT64 to 10.0.0.1
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
    ],
)
def test_every_kind_of_non_public_address_is_refused(private_hosts_refused, address):
    assert not is_public(ipaddress.ip_address(address))
    results = list(check_imap(Server(address, 993, "ssl"), login="a", password="b"))
    assert (results[0].stage, results[0].code) == ("dns", "host_not_allowed")


@pytest.mark.parametrize("address", ["8.8.8.8", "2a00:1450:4001:80b::200e", "64:ff9b::808:808"])
def test_public_addresses_are_allowed(address):
    assert is_public(ipaddress.ip_address(address))


def test_the_connection_test_looks_the_name_up_once_and_connects_only_where_it_checked(
    dovecot, mail_user, network
):
    # A second lookup would let a name's DNS answer a public address to the check and
    # 127.0.0.1 to the connection (DNS rebinding).
    with network.record():
        results = list(
            check_imap(
                Server("localhost", dovecot.ssl_port, "ssl"),
                login=mail_user.login,
                password=mail_user.password,
            )
        )
    assert all(r.ok for r in results), results
    assert network.lookups == ["localhost"]
    assert network.connections and set(network.connections) <= addresses_of(
        "localhost", dovecot.ssl_port
    )


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_the_sync_looks_the_name_up_once_and_connects_only_where_it_checked(
    account, dovecot, network, security
):
    port = dovecot.ssl_port if security == "ssl" else dovecot.starttls_port
    account.imap_host, account.imap_port, account.imap_security = "localhost", port, security
    account.save()

    with network.record():
        result = account_sync(account=account)

    assert result.error is None, result.error
    assert network.lookups == ["localhost"]
    assert network.connections and set(network.connections) <= addresses_of("localhost", port)


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_the_smtp_test_looks_the_name_up_once_and_connects_only_where_it_checked(
    smtpd, network, security
):
    smtpd.add_user("alice@ourco.example", "pw")
    port = smtpd.ssl_port if security == "ssl" else smtpd.starttls_port

    with network.record():
        results = list(
            check_smtp(
                Server("localhost", port, security), login="alice@ourco.example", password="pw"
            )
        )

    assert all(r.ok for r in results), results
    assert network.lookups == ["localhost"]
    assert network.connections and set(network.connections) <= addresses_of("localhost", port)


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
    result = account_sync(account=account)
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
    result = account_sync(account=account)
    assert "SSH" not in result.error.server_words, result.error.server_words


def test_the_greeting_of_something_that_is_not_imap_is_never_shown_by_the_sync(account):
    # imaplib quotes a greeting it does not understand; the sync has no greeting stage of its own.
    banner = b"* MySQL 8.0.36 on db-internal.corp ready\r\n"
    server = LineServer("not-imap", banner=banner, responder=lambda line: None)
    try:
        account.imap_port, account.imap_security = server.port, "starttls"
        account.save()
        result = account_sync(account=account)
    finally:
        server.stop()
    assert result.error.server_words == "the server on this port does not speak IMAP"


def test_a_pop3_greeting_is_recognised_and_not_shown_by_the_sync(account, pop3_server):
    account.imap_port, account.imap_security = pop3_server.port, "starttls"
    account.save()
    result = account_sync(account=account)
    assert result.error.code == "pop3_not_supported"
    assert result.error.server_words == "the server on this port speaks POP3, not IMAP"


def test_an_smtp_greeting_that_is_not_220_is_never_shown(smtp_banner_server):
    server = smtp_banner_server(b"554-db-internal.corp MySQL\r\n554 go away\r\n")
    results = list(
        check_smtp(Server(server.host, server.port, "starttls"), login="a", password="b")
    )
    failed = first_failure(results)
    assert (failed.stage, failed.code) == ("smtp_connect", "server_error")
    assert failed.detail == "the server on this port does not speak SMTP"


@pytest.fixture
def smtp_banner_server():
    servers = []

    def make(banner: bytes) -> LineServer:
        servers.append(LineServer("banner", banner=banner, responder=lambda line: None))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


def test_an_ssh_banner_is_never_shown_by_the_smtp_test(ssh_server):
    results = list(
        check_smtp(Server(ssh_server.host, ssh_server.port, "starttls"), login="a", password="b")
    )
    failed = first_failure(results)
    assert "does not speak SMTP" in failed.detail and "SSH" not in failed.detail
