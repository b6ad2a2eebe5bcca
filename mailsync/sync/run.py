"""One sync of one account: claim it, read Inbox and Sent read-only, store batch by batch.

Slow I/O (IMAP) happens outside transactions; each batch of messages is stored in its own
transaction, and the folder's position (last UID) moves with it, so a worker killed in the middle
of a sync loses nothing and stores nothing twice when the next one picks up.
"""

import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mailsync.accounts.services import account_credentials, clear_error
from mailsync.errors import MailError
from mailsync.ingest import DATABASE_UNAVAILABLE, Envelope, ImapSource, message_ingest
from mailsync.models import (
    MailAccount,
    MailFolder,
    Sighting,
    SyncRun,
)
from mailsync.selectors.due import accounts_claimable
from mailsync.transport.imap import ImapSession, Server

log = logging.getLogger(__name__)

# Failures that retrying cannot fix: the rep must act (new password, re-consent, enable IMAP).
NEEDS_THE_REP = {
    "imap_auth_failed",
    "app_password_required",
    "imap_disabled",
    "smtp_auth_failed",
    "smtp_auth_disabled",
    "oauth_consent_required",
    "oauth_reconnect_required",
    "pop3_not_supported",
    "sent_folder_not_found",
    "tls_untrusted_certificate",
    "tls_certificate_expired",
    "tls_hostname_mismatch",
}
# Accounts a sync may claim: an account disabled by an operator or disconnected by its rep is


@dataclass
class SyncResult:
    imported: int = 0
    duplicates: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    error: MailError | None = None
    claimed: bool = True
    aborted: bool = False  # stopped early (claim lost, or the process told to stop)

    def __str__(self):
        if not self.claimed:
            return "not synced: disabled, disconnected, or another worker is syncing it"
        skipped = ", ".join(f"{code} {n}" for code, n in sorted(self.skipped.items())) or "none"
        text = f"imported {self.imported}, duplicates {self.duplicates}, skipped: {skipped}"
        if self.aborted:
            text += "; stopped before the end"
        return f"{text}; error {self.error.code}: {self.error.server_words}" if self.error else text


class SyncAborted(Exception):
    """The run lost its claim: the account was disabled or disconnected meanwhile, or another
    worker took it over. The run stops and saves no outcome on the account."""


def account_claim(*, account: MailAccount) -> str | None:
    """Claim the account for one sync with a conditional UPDATE, so two workers never sync it
    at once. Returns the claim token, or None when the account cannot sync (disabled,
    disconnected) or another worker holds a live claim.

    Taking over a stale claim closes the run its dead worker left open, as interrupted."""
    token = uuid.uuid4().hex
    now = timezone.now()
    with transaction.atomic():
        claimed = (
            accounts_claimable(now)
            .filter(pk=account.pk)
            .update(sync_claimed_at=now, sync_claim=token, status=MailAccount.Status.SYNCING)
        )
        if claimed:
            SyncRun.objects.filter(account_id=account.pk, outcome=SyncRun.Outcome.RUNNING).update(
                outcome=SyncRun.Outcome.INTERRUPTED,
                finished_at=now,
                error_detail="The worker stopped before the sync ended; the next sync took over.",
            )
    return token if claimed else None


def account_sync(*, account: MailAccount, progress=None) -> SyncResult:
    """Sync the Inbox and Sent folders of one account. Never raises for a server's failure, nor
    for a crash of our own: each is recorded on the account and its run with a code (the
    traceback of a crash goes to the log)."""
    token = account_claim(account=account)
    if token is None:
        return SyncResult(claimed=False)
    run = SyncRun.objects.create(account=account, worker=f"{socket.gethostname()}:{os.getpid()}")
    result = SyncResult()

    def heartbeat():
        """Renew the claim, or stop: a run saves nothing once its claim is gone."""
        renewed = MailAccount.objects.filter(
            pk=account.pk, sync_claim=token, status=MailAccount.Status.SYNCING
        ).update(sync_claimed_at=timezone.now())
        if not renewed:
            raise SyncAborted

    try:
        account.refresh_from_db()  # the settings and secret as they are now, not when queued
        _sync_folders(account, result, run, progress, heartbeat)
    except SyncAborted:
        result.aborted = True
    except MailError as error:
        result.error = error
    except DATABASE_UNAVAILABLE as error:
        # The batch in hand was rolled back with the folder's position: the next sync reads it
        # again. Recording the outcome needs the database too; should it still be down, the
        # claim goes stale and the next sync takes the account over.
        log.warning("the database failed during the sync of mail account %s: %s", account.pk, error)
        words = f"{type(error).__name__}: {error}"[:500]
        result.error = MailError("database_unavailable", words, stage="sync")
    except Exception as error:  # noqa: BLE001 - a bug or an outage is a failed run, never a success
        log.exception("the sync of mail account %s crashed", account.pk)
        words = f"{type(error).__name__}: {error}"[:500]
        result.error = MailError("internal_error", words, stage="sync")
    except BaseException:
        # SIGTERM or Ctrl-C (SystemExit, KeyboardInterrupt): the run ended early, not well.
        result.aborted = True
        _finish(account, run, result, token)
        raise
    _finish(account, run, result, token)
    return result


def session_open(account: MailAccount) -> ImapSession:
    """An IMAP session signed in as the connection test signs in: by the account's credentials
    (a password, or an OAuth token source)."""
    server = Server(account.imap_host, account.imap_port, account.imap_security)
    return ImapSession.open(
        server,
        credentials=account_credentials(account),
        pin=account.tls_pin_sha256,
        timeout=settings.MAILSYNC_TIMEOUT,
    )


def _sync_folders(
    account: MailAccount, result: SyncResult, run: SyncRun, progress, heartbeat
) -> None:
    with session_open(account) as session:
        found = session.folders(account.sent_folder_name)
        for role, name in [
            (MailFolder.Role.INBOX, found.inbox),
            (MailFolder.Role.SENT, found.sent),
        ]:
            folder, _ = MailFolder.objects.get_or_create(
                account=account, role=role, defaults={"name": name}
            )
            if folder.name != name:
                folder.name = name
                folder.save(update_fields=["name"])
            _sync_folder(session, account, folder, result, run, progress, heartbeat)


def history_start(account: MailAccount):
    """The first arrival date the rep's chosen history covers (today with no history)."""
    return (timezone.now() - timedelta(days=account.history_days)).date()


def _sync_folder(
    session: ImapSession, account, folder: MailFolder, result, run, progress, heartbeat
) -> None:
    uidvalidity = session.examine(folder.name)
    if folder.uidvalidity is not None and folder.uidvalidity != uidvalidity:
        # The server renumbered the folder (RFC 3501 2.3.1.1): read it again from the start.
        # Messages are stored by Message-ID or content, so nothing is stored twice.
        log.info("UIDVALIDITY of folder %s changed: re-syncing it", folder.pk)
        folder.last_uid = 0
        folder.covered_since = None
    folder.uidvalidity = uidvalidity
    folder.save(update_fields=["uidvalidity", "last_uid", "covered_since"])
    window = history_start(account)
    store = partial(
        _store_uids, session, account, folder, uidvalidity, result, run, progress, heartbeat
    )

    if folder.covered_since is None:
        # The first read of the folder (or one resumed after a worker died): the chosen history
        # only. Until it is done, a resumed run searches the same window.
        if account.history_days == 0 and folder.last_uid == 0:
            # No history: start after the newest message present now.
            existing = session.uids_after(0)
            folder.last_uid = existing[-1] if existing else 0
            folder.before_window = len(existing)
        else:
            store(session.uids_after(folder.last_uid, window), move_position=True)
            folder.before_window = session.count_before(window, up_to=folder.last_uid)
        folder.covered_since = window
    else:
        store(session.uids_after(folder.last_uid), move_position=True)
        if window < folder.covered_since:
            # The rep widened the history: read the older mail once. Read-only like the rest;
            # UIDs already stored are left out before fetching.
            older = session.uids_since(window, up_to=folder.last_uid)
            store(_not_sighted(folder, uidvalidity, older), move_position=False)
            folder.before_window = session.count_before(window, up_to=folder.last_uid)
            folder.covered_since = window
    heartbeat()
    folder.last_synced_at = timezone.now()
    folder.save(update_fields=["last_uid", "last_synced_at", "covered_since", "before_window"])


def _not_sighted(folder: MailFolder, uidvalidity: int, uids: list[int]) -> list[int]:
    seen: set[int] = set()
    for start in range(0, len(uids), 1000):
        chunk = uids[start : start + 1000]
        seen.update(
            Sighting.objects.filter(
                folder=folder, uidvalidity=uidvalidity, uid__in=chunk
            ).values_list("uid", flat=True)
        )
    return [uid for uid in uids if uid not in seen]


def imap_envelopes(folder, uidvalidity: int, fetched) -> list[Envelope]:
    """Messages fetched from a folder (transport.imap.FetchedMessage) as envelopes to ingest."""
    return [
        Envelope(
            item.raw,
            ImapSource(folder, uidvalidity, item.uid),
            headers_only=item.headers_only,
            size=item.size,
        )
        for item in fetched
    ]


def _store_uids(
    session, account, folder, uidvalidity, result, run, progress, heartbeat, uids, *, move_position
) -> None:
    """Fetch and store `uids` batch by batch. Each batch is one transaction together with the
    folder's new position, and only while this run still holds its claim."""
    done = 0
    for batch, fetched in session.batches(
        uids,
        count=settings.MAILSYNC_FETCH_BATCH,
        batch_bytes=settings.MAILSYNC_BATCH_BYTES,
        max_message_bytes=settings.MAILSYNC_MAX_MESSAGE_BYTES,
    ):
        with transaction.atomic():
            heartbeat()
            outcomes = message_ingest(
                account=account, envelopes=imap_envelopes(folder, uidvalidity, fetched)
            )
            for outcome in outcomes:
                _count(result, outcome.code)
            if move_position:
                folder.last_uid = max(folder.last_uid, batch[-1])
            folder.last_synced_at = timezone.now()
            folder.save(update_fields=["last_uid", "last_synced_at"])
            SyncRun.objects.filter(pk=run.pk).update(
                imported=result.imported,
                duplicates=result.duplicates,
                skipped=sum(result.skipped.values()),
            )
        done += len(batch)
        if progress:
            progress(folder.role, done, len(uids))


def _count(result: SyncResult, outcome: str) -> None:
    if outcome == "imported":
        result.imported += 1
    elif outcome == "duplicate":
        result.duplicates += 1
    else:
        result.skipped[outcome] = result.skipped.get(outcome, 0) + 1


ACCOUNT_OUTCOME_FIELDS = [
    "status",
    "last_sync_at",
    "last_success_at",
    "next_sync_at",
    "error_code",
    "error_detail",
    "error_stage",
    "error_since",
    "failures",
    "sync_claimed_at",
    "sync_claim",
]


def _finish(account: MailAccount, run: SyncRun, result: SyncResult, token: str) -> None:
    """Record the run, and its outcome on the account only while the run still holds its claim
    and nobody disabled or disconnected the account meanwhile."""
    now = timezone.now()
    run.finished_at = now
    run.imported, run.duplicates = result.imported, result.duplicates
    run.skipped = sum(result.skipped.values())
    with transaction.atomic():
        current = MailAccount.objects.select_for_update().get(pk=account.pk)
        ours = current.sync_claim == token
        if not ours or current.status != MailAccount.Status.SYNCING or result.aborted:
            run.outcome = SyncRun.Outcome.INTERRUPTED
            run.error_detail = _why_interrupted(ours, current)
            run.save()
            if ours:
                current.sync_claimed_at, current.sync_claim = None, ""
                if current.status == MailAccount.Status.SYNCING:
                    # Stopped (SIGTERM, Ctrl-C): as it was, and due again at once.
                    current.status = (
                        MailAccount.Status.ERROR
                        if current.error_code
                        else MailAccount.Status.CONNECTED
                    )
                    current.next_sync_at = now
                current.save(update_fields=ACCOUNT_OUTCOME_FIELDS)
            return
        _record_outcome(current, run, result.error, now)
        current.sync_claimed_at, current.sync_claim = None, ""
        run.save()
        current.save(update_fields=ACCOUNT_OUTCOME_FIELDS)
    account.refresh_from_db()


def _why_interrupted(ours: bool, account: MailAccount) -> str:
    if not ours:
        return "Another worker took the account over (this one had stopped renewing its claim)."
    if account.status == MailAccount.Status.DISABLED:
        return "An operator disabled the account during the sync."
    if account.status == MailAccount.Status.DISCONNECTED:
        return "The rep disconnected the mailbox during the sync."
    return "The worker was stopped before the sync ended."


def _record_outcome(account: MailAccount, run: SyncRun, error: MailError | None, now) -> None:
    account.last_sync_at = now
    if error is None:
        run.outcome = SyncRun.Outcome.OK
        account.status = MailAccount.Status.CONNECTED
        account.last_success_at = now
        clear_error(account)
        account.next_sync_at = now + timedelta(minutes=settings.MAILSYNC_SYNC_MINUTES)
        return
    run.outcome = SyncRun.Outcome.ERROR
    run.error_code, run.error_detail = error.code, error.server_words
    account.status = MailAccount.Status.ERROR
    if account.error_code != error.code:
        account.error_since = now
    account.error_code, account.error_detail, account.error_stage = (
        error.code,
        error.server_words,
        error.stage,
    )
    account.failures += 1
    if error.code in NEEDS_THE_REP:
        account.next_sync_at = None  # retrying cannot help: wait for the rep
    else:
        # Temporary: back off 1, 2, 4 ... minutes, at most an hour.
        delay = min(2 ** (account.failures - 1), 60)
        account.next_sync_at = now + timedelta(minutes=delay)


# -- storing messages -------------------------------------------------------------------------
