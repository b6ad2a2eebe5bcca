"""Reads of the mail integration."""

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


# -- who sees what ----------------------------------------------------------------------------

NONE, METADATA, SUBJECT, FULL = 0, 1, 2, 3
LEVELS = {"private": NONE, "metadata": METADATA, "subject": SUBJECT, "full": FULL}


def message_access(*, user, messages) -> dict[int, int]:
    """How much of each message `user` may see: NONE, METADATA, SUBJECT or FULL.

    The rep whose mailbox a message came from sees all of it. A teammate sees what the owner's
    mailbox shares, unless the thread was made private (nothing) or shared (everything).
    Anyone else sees nothing. One query for the whole list.
    """
    from mailsync.models import Sighting, Thread

    messages = list(messages)
    access = {m.pk: NONE for m in messages}
    if not messages:
        return access
    threads = {m.pk: m.thread_id for m in messages}
    visibility = dict(
        Thread.objects.filter(pk__in={t for t in threads.values() if t}).values_list(
            "pk", "visibility"
        )
    )
    rows = Sighting.objects.filter(message__in=access, account__isnull=False).values_list(
        "message", "account__user", "account__user__team", "account__sharing"
    )
    for message_id, owner_id, team_id, sharing in rows:
        if owner_id == user.pk:
            level = FULL
        elif team_id is None or team_id != user.team_id:
            level = NONE
        else:
            thread_visibility = visibility.get(threads[message_id], "")
            if thread_visibility == "private":
                level = NONE
            elif thread_visibility == "shared":
                level = FULL
            else:
                level = LEVELS[sharing]
        access[message_id] = max(access[message_id], level)
    return access
