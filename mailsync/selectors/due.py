"""Which accounts a sync may take: due ones, and those a dead worker left behind."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from mailsync.models import (
    MailAccount,
)

log = logging.getLogger(__name__)


# never synced, whatever job was queued for it before.
SYNCABLE = ("connected", "error", "syncing")


def stale_claim() -> timedelta:
    """A worker renews its claim after every batch; a claim not renewed for this long belongs to
    a worker that died (killed, machine lost), and the next sync may take over."""
    return timedelta(seconds=settings.MAILSYNC_STALE_CLAIM_SECONDS)


def accounts_due():
    """Accounts whose next sync is due, and accounts that a dead worker left `syncing` with a
    claim nobody renews: without the second, a killed worker would strand its account for good
    (the schedule would never queue it again)."""
    now = timezone.now()
    return accounts_claimable(now).filter(
        Q(
            status__in=[MailAccount.Status.CONNECTED, MailAccount.Status.ERROR],
            next_sync_at__lte=now,
        )
        | Q(status=MailAccount.Status.SYNCING)
    )


def accounts_claimable(now):
    """Accounts a sync may claim now: not disabled or disconnected, with a secret, and no live
    claim of another worker."""
    return (
        MailAccount.objects.filter(status__in=SYNCABLE)
        .exclude(secret_ciphertext="")
        .filter(Q(sync_claimed_at__isnull=True) | Q(sync_claimed_at__lt=now - stale_claim()))
    )
