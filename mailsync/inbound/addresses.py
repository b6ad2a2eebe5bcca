"""Issuing, rotating and finding BCC addresses (mailsync.models.InboundAddress)."""

import base64
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import Deal, User
from mailsync.models import InboundAddress

# 96 random bits (the issue asks for at least 80), written as 20 base32 letters and digits: an
# address nobody guesses, and that survives every mail client's idea of what a local part is.
LOCAL_PART_BYTES = 12


def bcc_address_for(*, user: User) -> InboundAddress | None:
    """The rep's BCC address, issued on first need; None when the installation has no inbound
    domain (MAILSYNC_BCC_DOMAIN)."""
    return _active_or_new(user=user)


def deal_address_for(*, deal: Deal) -> InboundAddress | None:
    """The deal's own address (mail to it links to this deal), issued on first need."""
    return _active_or_new(deal=deal)


@transaction.atomic
def bcc_address_rotate(*, user: User) -> InboundAddress | None:
    """Retire the rep's address (mail to it is refused from now on) and issue a new one."""
    if not settings.MAILSYNC_BCC_DOMAIN:
        return None
    InboundAddress.objects.filter(user=user, active=True).update(
        active=False, retired_at=timezone.now()
    )
    return InboundAddress.objects.create(user=user, local_part=_local_part())


def inbound_address_find(address: str) -> InboundAddress | None:
    """The active address `address` names (case and a +tag ignored), or None: another domain,
    an unknown or a retired address."""
    local, _at, domain = (address or "").strip().strip("<>").lower().rpartition("@")
    if not local or not settings.MAILSYNC_BCC_DOMAIN or domain != settings.MAILSYNC_BCC_DOMAIN:
        return None
    return (
        InboundAddress.objects.filter(local_part=local.split("+", 1)[0], active=True)
        .select_related("user", "deal")
        .first()
    )


def _active_or_new(**owner) -> InboundAddress | None:
    if not settings.MAILSYNC_BCC_DOMAIN:
        return None
    existing = InboundAddress.objects.filter(active=True, **owner).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return InboundAddress.objects.create(local_part=_local_part(), **owner)
    except IntegrityError:  # two first requests at once: the other one issued it
        return InboundAddress.objects.get(active=True, **owner)


def _local_part() -> str:
    return base64.b32encode(secrets.token_bytes(LOCAL_PART_BYTES)).decode().lower().rstrip("=")
