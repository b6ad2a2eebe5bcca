"""Reads of BCC addresses."""

from mailsync.models import InboundAddress


def deal_address_of(*, deal) -> InboundAddress | None:
    """The deal's active address, if one was created (none is, until someone asks)."""
    return InboundAddress.objects.filter(deal=deal, active=True).first()
