"""Which mail servers the CRM may connect to.

A rep types a host name and the CRM connects to it from inside the installation's network.
Without this check the connection test would scan that network for anyone signed in: loopback,
private, link-local and other non-public addresses, showing whatever answers. Every address a
name resolves to is checked, so a public name pointing at 127.0.0.1 is refused too. An operator
whose mail server is on the internal network sets MAILSYNC_ALLOW_PRIVATE_HOSTS=true.
"""

import ipaddress
import socket

from django.conf import settings

from mailsync.errors import MailError


def resolve(host: str, port: int, *, stage: str) -> list:
    """The addresses of `host`, or a MailError: `dns_not_found`, or `host_not_allowed` when
    one of them is not a public address (unless the operator allows private hosts)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        words = getattr(error, "strerror", None) or str(error)
        raise MailError("dns_not_found", f"{host}: {words}", stage=stage) from None
    if settings.MAILSYNC_ALLOW_PRIVATE_HOSTS:
        return infos
    for *_rest, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            raise MailError(
                "host_not_allowed",
                f"{host} is {address}, an address inside a private network",
                stage=stage,
            )
    return infos
