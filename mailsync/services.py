"""Writes of the mail integration: connecting an account, syncing it, storing messages.

Slow I/O (IMAP) happens outside transactions; each batch of messages is stored in its own
transaction, and the folder's position (last UID) moves with it, so a worker killed in the middle
of a sync loses nothing and stores nothing twice when the next one picks up.
"""

import gzip
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from mailsync import blocking, bulk, links, matching, parsing
from mailsync.errors import MailError
from mailsync.imap import FetchedMessage, ImapSession, Server, check_imap
from mailsync.models import (
    Attachment,
    MailAccount,
    MailFolder,
    Message,
    MessageRaw,
    Participant,
    Sighting,
    SkipEntry,
    SyncRun,
    Thread,
)
from mailsync.smtp import check_smtp
from mailsync.stages import StageResult

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
# never synced, whatever job was queued for it before.
SYNCABLE = ("connected", "error", "syncing")


def stale_claim() -> timedelta:
    """A worker renews its claim after every batch; a claim not renewed for this long belongs to
    a worker that died (killed, machine lost), and the next sync may take over."""
    return timedelta(seconds=settings.MAILSYNC_STALE_CLAIM_SECONDS)


@dataclass
class ConnectionSettings:
    email: str
    login: str
    password: str
    imap: Server
    smtp: Server
    history_days: int = 90
    pin: str = ""

    @classmethod
    def from_account(cls, account: MailAccount) -> "ConnectionSettings":
        """The saved settings of an account, for testing its connection again."""
        return cls(
            email=account.email,
            login=account.login,
            password=account.secret,
            imap=Server(account.imap_host, account.imap_port, account.imap_security),
            smtp=Server(account.smtp_host, account.smtp_port, account.smtp_security),
            history_days=account.history_days,
            pin=account.tls_pin_sha256,
        )


def connection_check(conn: ConnectionSettings):
    """The staged test: IMAP stages, then SMTP stages; stops at the first failure."""
    timeout = settings.MAILSYNC_TIMEOUT
    failed = False
    for result in check_imap(
        conn.imap, login=conn.login, password=conn.password, pin=conn.pin, timeout=timeout
    ):
        failed = failed or not result.ok
        yield result
    if failed:
        return
    yield from check_smtp(
        conn.smtp, login=conn.login, password=conn.password, pin=conn.pin, timeout=timeout
    )


def account_connect(
    *, user, conn: ConnectionSettings
) -> tuple[MailAccount | None, list[StageResult]]:
    """Run the staged test and, only if every stage passed, save the account (one per rep)."""
    results = list(connection_check(conn))
    if not results or not all(r.ok for r in results):
        return None, results
    return account_save(user=user, conn=conn), results


def account_save(*, user, conn: ConnectionSettings) -> MailAccount:
    """Save the rep's account from settings that have just passed the staged test (callers run
    `connection_check` first: account_connect does, and the mailbox page streams it)."""
    with transaction.atomic():
        account = MailAccount.objects.select_for_update().filter(user=user).first() or MailAccount(
            user=user
        )
        changed_mailbox = account.pk is not None and (
            account.email != conn.email.lower() or account.imap_host != conn.imap.host
        )
        account.email = conn.email.strip().lower()
        account.auth = MailAccount.Auth.PASSWORD
        account.login = conn.login
        account.imap_host, account.imap_port, account.imap_security = (
            conn.imap.host,
            conn.imap.port,
            conn.imap.security,
        )
        account.smtp_host, account.smtp_port, account.smtp_security = (
            conn.smtp.host,
            conn.smtp.port,
            conn.smtp.security,
        )
        account.secret = conn.password
        account.history_days = conn.history_days
        if conn.pin:
            account.tls_pin_sha256 = conn.pin
        account.status = MailAccount.Status.CONNECTED
        _clear_error(account)
        account.next_sync_at = timezone.now()
        account.full_clean(exclude=["user"])
        account.save()
        if changed_mailbox:
            # Another mailbox: its folders start from scratch. Mail already stored stays.
            account.folders.all().delete()
        transaction.on_commit(lambda: enqueue_sync(account.pk))
    return account


def account_disconnect(*, account: MailAccount) -> None:
    """Forget the secrets and stop syncing. Mail already in the CRM stays."""
    account.secret_ciphertext = ""
    account.status = MailAccount.Status.DISCONNECTED
    account.next_sync_at = None
    _clear_error(account)
    account.save()


def account_request_sync(*, account: MailAccount) -> None:
    """ "Sync now": due immediately, and a job queued for it."""
    MailAccount.objects.filter(pk=account.pk).update(next_sync_at=timezone.now())
    transaction.on_commit(lambda: enqueue_sync(account.pk))


def account_resync_from_scratch(*, account: MailAccount) -> None:
    """Read every synced folder again from the start (operators). Messages are stored by
    Message-ID or content, so nothing already in the CRM is stored twice."""
    with transaction.atomic():
        account.folders.update(uidvalidity=None, last_uid=0)
        account_request_sync(account=account)


def account_disable(*, account: MailAccount) -> None:
    """Stop syncing the account (operators) until it is enabled again; nothing is deleted."""
    account.status = MailAccount.Status.DISABLED
    account.next_sync_at = None
    account.save(update_fields=["status", "next_sync_at", "updated_at"])


def account_enable(*, account: MailAccount) -> bool:
    """Undo account_disable: sync again now. An account without a password (disconnected) cannot
    be enabled: its rep must connect it again. Returns whether it was enabled."""
    if not account.secret_ciphertext:
        return False
    account.status = MailAccount.Status.CONNECTED
    account.failures = 0
    account.save(update_fields=["status", "failures", "updated_at"])
    account_request_sync(account=account)
    return True


def enqueue_sync(account_id: int) -> None:
    from django_q.tasks import async_task

    async_task("mailsync.tasks.sync_account", account_id, task_name=f"sync-account-{account_id}")


def accounts_due():
    """Accounts whose next sync is due, and accounts that a dead worker left `syncing` with a
    claim nobody renews: without the second, a killed worker would strand its account for good
    (the schedule would never queue it again)."""
    now = timezone.now()
    return _claimable(now).filter(
        Q(
            status__in=[MailAccount.Status.CONNECTED, MailAccount.Status.ERROR],
            next_sync_at__lte=now,
        )
        | Q(status=MailAccount.Status.SYNCING)
    )


def _claimable(now):
    """Accounts a sync may claim now: not disabled or disconnected, with a secret, and no live
    claim of another worker."""
    return (
        MailAccount.objects.filter(status__in=SYNCABLE)
        .exclude(secret_ciphertext="")
        .filter(Q(sync_claimed_at__isnull=True) | Q(sync_claimed_at__lt=now - stale_claim()))
    )


def _clear_error(account: MailAccount) -> None:
    account.error_code = ""
    account.error_detail = ""
    account.error_stage = ""
    account.error_since = None
    account.failures = 0


# -- sync -------------------------------------------------------------------------------------


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
            _claimable(now)
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


def account_release(*, account: MailAccount, token: str) -> None:
    MailAccount.objects.filter(pk=account.pk, sync_claim=token).update(
        sync_claimed_at=None, sync_claim=""
    )


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


def _session(account: MailAccount) -> ImapSession:
    server = Server(account.imap_host, account.imap_port, account.imap_security)
    return ImapSession.open(
        server,
        login=account.login,
        password=account.secret,
        pin=account.tls_pin_sha256,
        timeout=settings.MAILSYNC_TIMEOUT,
    )


def _sync_folders(
    account: MailAccount, result: SyncResult, run: SyncRun, progress, heartbeat
) -> None:
    with _session(account) as session:
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
            outcomes = messages_store(
                account=account, folder=folder, uidvalidity=uidvalidity, items=fetched
            )
            for outcome in outcomes:
                _count(result, outcome)
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
        _clear_error(account)
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


@dataclass
class _Prepared:
    item: FetchedMessage
    parsed: object | None  # parsing.ParsedMessage, or None when it could not be parsed
    key: str
    skip_code: str = ""
    detail: str = ""
    message: Message | None = None


def messages_store(
    *, account: MailAccount, folder: MailFolder, uidvalidity: int, items: list[FetchedMessage]
) -> list[str]:
    """Store a batch of fetched messages with a fixed number of queries; returns an outcome per
    message: "imported", "duplicate" or a skip code.

    Should the batch fail as a whole (a database refusing some value, say), its messages are
    stored one by one instead, so that one bad message costs only itself.
    """
    try:
        with transaction.atomic():
            return _store_batch(account, folder, uidvalidity, items)
    except Exception:  # noqa: BLE001 - fall back to the careful path, never stop the sync
        log.exception("storing a batch of %s failed: storing its messages one by one", folder)
        return [
            message_store(account=account, folder=folder, uidvalidity=uidvalidity, item=item)
            for item in items
        ]


def _prepare(item: FetchedMessage) -> _Prepared:
    """Parse one message and decide whether it is kept in full (pure: no database)."""
    try:
        if item.headers_only:
            parsed = parsing.parse_headers_only(item.raw)
        else:
            parsed = parsing.parse_message(item.raw)
    except parsing.ParseError as error:
        key = "sha256:" + parsing.content_hash(item.raw)
        return _Prepared(item, None, key, "unparseable", error.reason)
    prepared = _Prepared(item, parsed, parsing.message_key(parsed, item.raw))
    limit = settings.MAILSYNC_MAX_RECIPIENTS
    if item.headers_only:
        prepared.skip_code = "oversized"
        prepared.detail = f"{item.size} bytes; the limit is {settings.MAILSYNC_MAX_MESSAGE_BYTES}"
    elif len(parsed.recipients) > limit:
        prepared.skip_code = "too_many_recipients"
        prepared.detail = f"{len(parsed.recipients)} recipients; the limit is {limit}"
    return prepared


def _store_batch(account, folder, uidvalidity, items: list[FetchedMessage]) -> list[str]:
    seen = set(
        Sighting.objects.filter(
            folder=folder, uidvalidity=uidvalidity, uid__in=[i.uid for i in items]
        ).values_list("uid", flat=True)
    )
    outcomes: dict[int, str] = dict.fromkeys(seen, "duplicate")
    batch = [_prepare(item) for item in items if item.uid not in seen]
    # The owner's block list, before anything is stored: a rep blocks personal mail to keep it
    # out of the CRM, so only what the ledger needs is kept (sender, date, the block).
    blocked = _blocked_in(account, batch)
    if blocked:
        SkipEntry.objects.bulk_create(
            (
                blocking.ledger_entry(account, folder, uidvalidity, p.item.uid, p.parsed, value)
                for p, value in blocked
            ),
            ignore_conflicts=True,  # already in the ledger from an earlier, interrupted run
        )
        for p, _value in blocked:
            outcomes[p.item.uid] = blocking.BLOCKED
        batch = [p for p in batch if p.item.uid not in outcomes]

    stored = {
        m.key: m
        for m in Message.objects.filter(key__in={p.key for p in batch}).only(
            "id",
            "key",
            "message_id",
            "subject",
            "from_address",
            "date",
            "thread_id",
            "headers_only",
        )
    }
    new: list[_Prepared] = []
    for prepared in batch:
        if prepared.key in stored:
            prepared.message = stored[prepared.key]
            outcomes[prepared.item.uid] = "duplicate"
        else:
            prepared.message = _new_message(prepared)
            stored[prepared.key] = prepared.message
            new.append(prepared)
            outcomes[prepared.item.uid] = prepared.skip_code or "imported"

    # On PostgreSQL these go by COPY, with the messages' and threads' keys taken beforehand.
    _assign_threads(new)
    bulk.insert(Message, [p.message for p in new])
    bulk.insert_values(
        MessageRaw,
        ["message", "data", "size"],
        ((p.message.pk, gzip.compress(p.item.raw, compresslevel=6), len(p.item.raw)) for p in new),
    )
    bulk.insert_values(
        Participant,
        ["message", "role", "address", "name", "position"],
        (row for p in new if p.parsed is not None for row in _participants(p.message, p.parsed)),
    )
    for p in new:
        if p.parsed is not None and not p.skip_code and p.parsed.attachments:
            _store_attachments(p.message, p.parsed)
    where = {"account": account, "folder": folder, "uidvalidity": uidvalidity}
    bulk.insert_values(
        Sighting,
        ["message", "account", "folder", "uidvalidity", "uid"],
        ((p.message.pk, account.pk, folder.pk, uidvalidity, p.item.uid) for p in batch),
    )
    SkipEntry.objects.bulk_create(
        (_skip_entry(p, **where) for p in batch if p.skip_code),
        ignore_conflicts=True,  # already in the ledger from an earlier, interrupted run
    )
    # Put the mail on the records it concerns (a message another rep's mailbox brought in
    # first may concern this rep's records too).
    links.messages_link(account=account, messages=[p.message for p in batch if not p.skip_code])
    return [outcomes[item.uid] for item in items]


def _blocked_in(account: MailAccount, batch: list[_Prepared]) -> list[tuple[_Prepared, str]]:
    """The messages of the batch that the owner's block list catches, with the entry that does."""
    values = blocking.blocked_values(user=account.user)
    if not values:
        return []
    ignored = links.ignored_addresses(user=account.user)
    found = []
    for p in batch:
        if p.parsed is None:
            continue  # nothing can be matched: kept raw and in the ledger as unparseable
        value = blocking.entry_matching([a.address for a in p.parsed.participants], values, ignored)
        if value:
            found.append((p, value))
    return found


def _new_message(prepared: _Prepared) -> Message:
    parsed, raw = prepared.parsed, prepared.item.raw
    if parsed is None:
        return Message(
            key=prepared.key,
            size=len(raw),
            headers_only=True,
            skip_code="unparseable",
            parse_error=prepared.detail[:2000],
        )
    headers_only = bool(prepared.skip_code)
    from_ = parsed.from_[0] if parsed.from_ else None
    return Message(
        key=prepared.key,
        message_id=parsed.message_id,
        subject=parsed.subject,
        date=parsed.date,
        from_address=from_.address[:254] if from_ else "",
        from_name=from_.name[:300] if from_ else "",
        in_reply_to=parsed.in_reply_to,
        references=parsed.references,
        text="" if headers_only else parsed.text,
        html="" if headers_only else parsed.html,
        snippet="" if headers_only else parsed.snippet[:300],
        size=len(raw),
        recipient_count=len(parsed.recipients),
        headers_only=headers_only,
        skip_code=prepared.skip_code,
    )


def _assign_threads(new: list[_Prepared]) -> None:
    """A reply joins the thread of the message it answers (In-Reply-To, then References, newest
    first), whether that one is already stored or earlier in this batch. A reply from a client
    that drops both ("Re: ..." and nothing else) joins the recent thread with the same subject
    that shares a participant. Anything else starts a thread.
    """
    wanted = {mid for p in new if p.parsed for mid in (*p.parsed.in_reply_to, *p.parsed.references)}
    known = dict(
        Message.objects.filter(message_id__in=wanted, thread__isnull=False).values_list(
            "message_id", "thread"
        )
    )
    threads: dict[int, Thread] = {
        t.pk: t for t in Thread.objects.filter(pk__in=set(known.values()))
    }
    by_subject = _recent_threads_by_subject(new)
    in_batch: dict[str, Thread] = {}
    created: list[Thread] = []
    touched: dict[int, Thread] = {}  # stored threads that get a newer message
    for p in new:
        parents = [*p.parsed.in_reply_to, *reversed(p.parsed.references)] if p.parsed else []
        thread = next(
            (
                in_batch.get(mid) or threads.get(known.get(mid))
                for mid in parents
                if mid in in_batch or mid in known
            ),
            None,
        )
        addresses = {a.address for a in p.parsed.participants} if p.parsed else set()
        key = matching.subject_key(p.message.subject)
        if thread is None and p.parsed and matching.is_reply(p.message.subject):
            thread = next((t for t, people in by_subject.get(key, []) if people & addresses), None)
        if thread is None:
            thread = Thread(subject=(p.message.subject or "")[:1000], subject_key=key)
            created.append(thread)
        elif thread.pk:  # not one created earlier in this batch, which has no key yet
            touched[thread.pk] = thread
        if key:
            by_subject.setdefault(key, []).insert(0, (thread, addresses))
        p.message.thread = thread
        if p.message.message_id:
            in_batch[p.message.message_id] = thread
        if p.message.date and (
            not thread.last_message_at or thread.last_message_at < p.message.date
        ):
            thread.last_message_at = p.message.date
    # Saving the messages picks up the primary keys bulk.insert gives the new threads.
    bulk.insert(Thread, created)
    for thread in touched.values():
        Thread.objects.filter(pk=thread.pk).update(last_message_at=thread.last_message_at)


# How far back a "Re:" without In-Reply-To or References looks for its thread.
SUBJECT_THREADING_DAYS = 60


def _recent_threads_by_subject(new: list[_Prepared]) -> dict[str, list[tuple[Thread, set[str]]]]:
    """Recent threads whose subject matches a prefixed reply of the batch, newest first, with
    the addresses of their participants. Two queries, however many messages."""
    keys = {
        matching.subject_key(p.message.subject)
        for p in new
        if p.parsed and matching.is_reply(p.message.subject)
    }
    keys.discard("")
    if not keys:
        return {}
    since = timezone.now() - timedelta(days=SUBJECT_THREADING_DAYS)
    candidates = list(
        Thread.objects.filter(subject_key__in=keys, last_message_at__gte=since).order_by(
            "-last_message_at"
        )[:500]
    )
    people: dict[int, set[str]] = {t.pk: set() for t in candidates}
    for thread_id, address in Participant.objects.filter(
        message__thread__in=candidates
    ).values_list("message__thread", "address"):
        people[thread_id].add(address)
    found: dict[str, list[tuple[Thread, set[str]]]] = {}
    for thread in candidates:
        found.setdefault(thread.subject_key, []).append((thread, people[thread.pk]))
    return found


def _skip_entry(p: _Prepared, **where) -> SkipEntry:
    message = p.message
    return SkipEntry(
        uid=p.item.uid,
        code=p.skip_code,
        detail=p.detail[:2000],
        message=message,
        header_message_id=(message.message_id or "")[:998],
        subject=(message.subject or "")[:2000],
        from_address=message.from_address or "",
        date=message.date,
        **where,
    )


def message_store(
    *, account: MailAccount, folder: MailFolder, uidvalidity: int, item: FetchedMessage
) -> str:
    """Store one fetched message, the careful way; returns "imported", "duplicate" or the skip
    code. Never raises for a bad message: whatever cannot be stored is kept raw with its reason.
    """
    where = {"folder": folder, "uidvalidity": uidvalidity, "uid": item.uid}
    if Sighting.objects.filter(**where).exists():
        return "duplicate"  # this very copy was stored by an earlier, interrupted run
    try:
        with transaction.atomic():
            return _store_batch(account, folder, uidvalidity, [item])[0]
    except Exception as error:  # noqa: BLE001 - one bad message must never stop a sync
        log.exception("storing UID %s of %s failed", item.uid, folder)
        with transaction.atomic():
            message = _store_unparseable(item.raw, f"{type(error).__name__}: {error}")
            Sighting.objects.get_or_create(message=message, account=account, **where)
            _skip(
                account, folder, uidvalidity, item.uid, "unparseable", message, message.parse_error
            )
        return "unparseable"


def _participants(message: Message, parsed) -> list[tuple]:
    """The rows of a message's participants, as (message, role, address, name, position)."""
    rows, position = [], 0
    roles = [
        (Participant.Role.FROM, parsed.from_),
        (Participant.Role.SENDER, [parsed.sender] if parsed.sender else []),
        (Participant.Role.REPLY_TO, parsed.reply_to),
        (Participant.Role.TO, parsed.to),
        (Participant.Role.CC, parsed.cc),
        (Participant.Role.BCC, parsed.bcc),
    ]
    for role, addresses in roles:
        for address in addresses:
            rows.append(
                (message.pk, role.value, address.address[:254], address.name[:300], position)
            )
            position += 1
    return rows


def _store_attachments(message: Message, parsed) -> None:
    limit = settings.MAILSYNC_MAX_ATTACHMENT_BYTES
    for part in parsed.attachments:
        attachment = Attachment(
            message=message,
            filename=part.filename[:255],
            content_type=part.content_type[:255],
            content_id=part.content_id[:255],
            inline=part.inline,
            size=part.size,
            omitted=part.size > limit,
        )
        if not attachment.omitted:
            attachment.file.save(
                part.filename[:200] or "attachment", ContentFile(part.payload), save=False
            )
        attachment.save()


def _store_raw(message: Message, raw: bytes) -> None:
    MessageRaw.objects.create(
        message=message, data=gzip.compress(raw, compresslevel=6), size=len(raw)
    )


def _store_unparseable(raw: bytes, reason: str) -> Message:
    key = "sha256:" + parsing.content_hash(raw)
    message = Message.objects.filter(key=key).first()
    if message is None:
        message = Message.objects.create(
            key=key,
            size=len(raw),
            headers_only=True,
            skip_code="unparseable",
            parse_error=reason[:2000],
        )
        _store_raw(message, raw)
    return message


def _skip(account, folder, uidvalidity, uid, code, message, detail) -> None:
    try:
        with transaction.atomic():
            SkipEntry.objects.create(
                account=account,
                folder=folder,
                uidvalidity=uidvalidity,
                uid=uid,
                code=code,
                detail=detail[:2000],
                message=message,
                header_message_id=(message.message_id if message else "")[:998],
                subject=(message.subject if message else "")[:2000],
                from_address=message.from_address if message else "",
                date=message.date if message else None,
            )
    except IntegrityError:
        pass  # already in the ledger from an earlier, interrupted run


# -- fetching skipped messages again ----------------------------------------------------------

# Skips a rep may overrule with "Import anyway": the message is only over a limit.
FULL_IMPORT_CODES = ("too_many_recipients", "too_many_bcc_contacts", "oversized")


class NotOnServer(LookupError):
    """The message is no longer where the ledger says (moved or deleted on the server)."""


def _refetch(account: MailAccount, entries, *, max_message_bytes: int):
    """Fetch the messages of ledger entries again from the server, read-only like the sync: at
    their position (folder, UIDVALIDITY, UID), or by Message-ID when the folder was renumbered.
    Yields (folder, uidvalidity, [(entry, FetchedMessage)]) a batch at a time; an entry whose
    message is no longer there is left out."""
    by_folder: dict[int, list[SkipEntry]] = {}
    for entry in entries:
        if entry.folder_id:
            by_folder.setdefault(entry.folder_id, []).append(entry)
    if not by_folder:
        return
    folders = MailFolder.objects.in_bulk(list(by_folder))
    with _session(account) as session:
        for folder_id, group in by_folder.items():
            folder = folders[folder_id]
            uidvalidity = session.examine(folder.name)
            wanted: dict[int, SkipEntry] = {}
            for entry in group:
                if entry.uidvalidity == uidvalidity and entry.uid:
                    wanted[entry.uid] = entry
                elif entry.header_message_id:
                    found = session.uids_with_message_id(entry.header_message_id)
                    if found:
                        wanted[found[0]] = entry
            for _uids, fetched in session.batches(
                sorted(wanted),
                count=settings.MAILSYNC_FETCH_BATCH,
                batch_bytes=settings.MAILSYNC_BATCH_BYTES,
                max_message_bytes=max_message_bytes,
            ):
                if fetched:  # empty when those UIDs were expunged meanwhile
                    yield folder, uidvalidity, [(wanted[item.uid], item) for item in fetched]


def blocked_import_again(*, account: MailAccount, entry_ids: list[int]) -> int:
    """A block entry was removed: fetch the mail it kept out and put it through the pipeline
    (another entry of the block list may still catch some). Returns the messages imported."""
    entries = SkipEntry.objects.filter(
        account=account, pk__in=entry_ids, code=blocking.BLOCKED, message__isnull=True
    )
    imported = 0
    for folder, uidvalidity, pairs in _refetch(
        account, list(entries), max_message_bytes=settings.MAILSYNC_MAX_MESSAGE_BYTES
    ):
        with transaction.atomic():
            SkipEntry.objects.filter(pk__in=[entry.pk for entry, _item in pairs]).delete()
            outcomes = messages_store(
                account=account,
                folder=folder,
                uidvalidity=uidvalidity,
                items=[item for _entry, item in pairs],
            )
        imported += outcomes.count("imported")
    return imported


def skipped_import_in_full(*, entry: SkipEntry) -> Message:
    """ "Import anyway" for a message kept as headers only because it is over a limit: fetch it
    again (read-only, whatever its size), store it in full, put it on its records and take it
    out of the ledger. Raises MailError when the server fails, NotOnServer when the message is
    not in its folder any more, parsing.ParseError when it cannot be parsed in full."""
    if entry.code not in FULL_IMPORT_CODES or entry.message_id is None:
        raise ValueError(f"ledger entry {entry.pk} cannot be imported in full")
    account = entry.account
    item = None
    for _folder, _uidvalidity, pairs in _refetch(account, [entry], max_message_bytes=2**62):
        item = pairs[0][1]
    if item is None:
        raise NotOnServer(entry.folder.name if entry.folder else "")
    parsed = parsing.parse_message(item.raw)
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=entry.message_id)
        message.text, message.html = parsed.text, parsed.html
        message.snippet = parsed.snippet[:300]
        message.size, message.recipient_count = len(item.raw), len(parsed.recipients)
        message.headers_only, message.skip_code = False, ""
        message.save()
        MessageRaw.objects.update_or_create(
            message=message,
            defaults={"data": gzip.compress(item.raw, compresslevel=6), "size": len(item.raw)},
        )
        message.participants.all().delete()
        Participant.objects.bulk_create(
            Participant(message_id=pk, role=role, address=address, name=name, position=position)
            for pk, role, address, name, position in _participants(message, parsed)
        )
        if not message.attachments.exists():
            _store_attachments(message, parsed)
        # Every ledger (another rep's mailbox may hold it too) and every mailbox's records.
        SkipEntry.objects.filter(message=message, code__in=FULL_IMPORT_CODES).delete()
        for holder in MailAccount.objects.filter(sightings__message=message).distinct():
            links.messages_link(account=holder, messages=[message])
    return message


def raw_bytes(message: Message) -> bytes:
    return gzip.decompress(bytes(message.raw.data))


def account_set_sharing(*, account: MailAccount, sharing: str) -> MailAccount:
    """What the rep's teammates see of the mail from this mailbox on the CRM's records."""
    if sharing not in MailAccount.Sharing.values:
        raise ValueError(f"unknown sharing: {sharing!r}")
    account.sharing = sharing
    account.save(update_fields=["sharing", "updated_at"])
    return account
