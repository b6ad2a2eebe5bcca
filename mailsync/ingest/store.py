"""Storing fetched messages: parse, apply the limits, store once per key, thread, ledger, link."""

import gzip
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from mailsync.ingest import bulk
from mailsync.mime import parsing
from mailsync.models import (
    Attachment,
    MailAccount,
    MailFolder,
    Message,
    MessageRaw,
    Participant,
    Sighting,
    SkipEntry,
    Thread,
)
from mailsync.routing import blocking, links, matching
from mailsync.transport.imap import FetchedMessage

log = logging.getLogger(__name__)


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
        (row for p in new if p.parsed is not None for row in participant_rows(p.message, p.parsed)),
    )
    for p in new:
        if p.parsed is not None and not p.skip_code and p.parsed.attachments:
            attachments_store(p.message, p.parsed)
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


def participant_rows(message: Message, parsed) -> list[tuple]:
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


def attachments_store(message: Message, parsed) -> None:
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
