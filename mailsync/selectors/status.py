"""What the mailbox page and `mail_status` show of an account: its state and skip ledger."""

from django.db.models import Count

from mailsync.errors import code_info
from mailsync.models import MailAccount, Sighting, SkipEntry


def account_status(*, account: MailAccount) -> dict:
    """What `mail_status` prints and the mailbox page shows."""
    skipped = dict(
        SkipEntry.objects.filter(account=account)
        .values_list("code")
        .annotate(n=Count("id"))
        .values_list("code", "n")
    )
    # Mail older than the chosen history is never fetched, so it has no ledger rows: the sync
    # counts it per folder instead.
    before_window = sum(account.folders.values_list("before_window", flat=True))
    if before_window:
        skipped["before_sync_window"] = before_window
    imported = (
        Sighting.objects.filter(account=account, message__headers_only=False)
        .values("message")
        .distinct()
        .count()
    )
    error = None
    if account.error_code:
        info = code_info(account.error_code)
        error = {
            "code": account.error_code,
            "category": info.category,
            "title": str(info.title),
            "help": str(info.help),
            "server_words": account.error_detail,
            "stage": account.error_stage,
            "since": account.error_since.isoformat() if account.error_since else None,
        }
    return {
        "email": account.email,
        "user": account.user.get_username(),
        "status": account.status,
        "error": error,
        "last_sync": account.last_sync_at.isoformat() if account.last_sync_at else None,
        "last_success": account.last_success_at.isoformat() if account.last_success_at else None,
        "next_sync": account.next_sync_at.isoformat() if account.next_sync_at else None,
        "folders": [
            {
                "role": folder.role,
                "name": folder.name,
                "uidvalidity": folder.uidvalidity,
                "last_uid": folder.last_uid,
                "last_synced": folder.last_synced_at.isoformat() if folder.last_synced_at else None,
            }
            for folder in account.folders.order_by("role")
        ],
        "imported": imported,
        "skipped": skipped,
    }


def skip_entries_for(*, account: MailAccount, code: str = ""):
    """The skip ledger of one account, newest first: what was not imported in full, and why."""
    entries = SkipEntry.objects.filter(account=account).select_related("folder")
    if code:
        entries = entries.filter(code=code)
    return entries.order_by("-created_at", "-id")
