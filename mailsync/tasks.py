"""django-q2 entry points: a few lines each, calling a service."""

from mailsync import services
from mailsync.models import MailAccount


def sync_account(account_id: int) -> str:
    account = MailAccount.objects.get(id=account_id)
    return str(services.account_sync(account=account))


def enqueue_due_syncs() -> int:
    """Run every minute by the schedule: queue a sync for each account that is due."""
    due = list(services.accounts_due().values_list("pk", flat=True))
    for account_id in due:
        services.enqueue_sync(account_id)
    return len(due)


def import_blocked_again(account_id: int, entry_ids: list[int]) -> str:
    """Queued when a block entry is removed: the mail it kept out is fetched again."""
    account = MailAccount.objects.select_related("user").get(id=account_id)
    imported = services.blocked_import_again(account=account, entry_ids=entry_ids)
    return f"imported {imported}"
