"""django-q2 entry points: a few lines each, calling a service."""

from mailsync.accounts.services import enqueue_sync
from mailsync.models import MailAccount
from mailsync.oauth.grants import grants_expiring_warn
from mailsync.selectors.due import accounts_due
from mailsync.sync.refetch import blocked_import_again
from mailsync.sync.run import account_sync


def sync_account(account_id: int) -> str:
    account = MailAccount.objects.get(id=account_id)
    return str(account_sync(account=account))


def enqueue_due_syncs() -> int:
    """Run every minute by the schedule: queue a sync for each account that is due."""
    due = list(accounts_due().values_list("pk", flat=True))
    for account_id in due:
        enqueue_sync(account_id)
    return len(due)


def import_blocked_again(account_id: int, entry_ids: list[int]) -> str:
    """Queued when a block entry is removed: the mail it kept out is fetched again."""
    account = MailAccount.objects.select_related("user").get(id=account_id)
    imported = blocked_import_again(account=account, entry_ids=entry_ids)
    return f"imported {imported}"


def warn_expiring_grants() -> str:
    """Run daily by the schedule: warn the reps whose Google or Microsoft access ends soon."""
    return f"warned {grants_expiring_warn()}"
