"""Which mail servers the CRM may connect to, and connecting to them.

A rep types a host name and the CRM connects to it from inside the installation's network.
Without this check the connection test would scan that network for anyone signed in: loopback,
private, link-local and other non-public addresses, showing whatever answers. Every address a
name resolves to is checked, so a public name pointing at 127.0.0.1 is refused too, and the
connection then goes to those checked addresses (`open_socket`), never through a second lookup
whose answer an attacker controlling the name's DNS could change in between (DNS rebinding).
An operator whose mail server is on the internal network sets MAILSYNC_ALLOW_PRIVATE_HOSTS=true.
"""

import ipaddress
import socket

from django.conf import settings

from mailsync.errors import MailError

_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the last 32 bits are an IPv4 address


def resolve(host: str, port: int, *, stage: str) -> list:
    """The addresses of `host` as getaddrinfo gives them, or a MailError: `dns_not_found`, or
    `host_not_allowed` when one of them is not a public address (unless the operator allows
    private hosts). Connect to them with `open_socket`, not by the name again."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        words = getattr(error, "strerror", None) or str(error)
        raise MailError("dns_not_found", f"{host}: {words}", stage=stage) from None
    if settings.MAILSYNC_ALLOW_PRIVATE_HOSTS:
        return infos
    for *_rest, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if not is_public(address):
            raise MailError(
                "host_not_allowed",
                f"{host} is {address}, an address inside a private network",
                stage=stage,
            )
    return infos


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A global unicast address. An IPv6 address that carries an IPv4 one (mapped, 6to4,
    NAT64) is judged by the IPv4 address it leads to."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not address.is_multicast


def open_socket(infos: list, timeout: float | None) -> socket.socket:
    """A TCP connection to the first of the checked addresses that answers (as
    socket.create_connection does, but without resolving anything)."""
    last_error: OSError = OSError("no address to connect to")
    for family, kind, proto, _canonname, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
        except OSError as error:
            sock.close()
            last_error = error
            continue
        return sock
    raise last_error
