"""Storing a batch of envelopes with a fixed number of queries (COPY on PostgreSQL).

Parse, apply the limits, leave out what the owner's block list catches, store each message once
per key (Message-ID, or the content's hash), thread, record the sighting and the ledger, link.
`mailsync.ingest.pipeline` calls this inside a transaction and falls back to one message at a time.
"""

import gzip
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile

from mailsync.ingest import bulk
from mailsync.ingest.envelopes import SOURCE_COLUMNS, Envelope, Outcome, source_columns
from mailsync.ingest.threads import threads_assign
from mailsync.mime import parsing
from mailsync.models import (
    Attachment,
    MailAccount,
    Message,
    MessageRaw,
    Participant,
    Sighting,
    SkipEntry,
    Source,
)
from mailsync.routing import blocking, links
from mailsync.selectors.directory import ignored_addresses


@dataclass
class _Prepared:
    index: int  # the envelope's position in the batch
    envelope: Envelope
    parsed: object | None  # parsing.ParsedMessage, or None when it could not be parsed
    key: str
    skip_code: str = ""
    detail: str = ""
    message: Message | None = None


def prepare(index: int, envelope: Envelope) -> _Prepared:
    """Parse one message and decide whether it is kept in full (pure: no database)."""
    raw = envelope.raw
    try:
        parsed = (
            parsing.parse_headers_only(raw) if envelope.headers_only else parsing.parse_message(raw)
        )
    except parsing.ParseError as error:
        key = "sha256:" + parsing.content_hash(raw)
        return _Prepared(index, envelope, None, key, "unparseable", error.reason)
    prepared = _Prepared(index, envelope, parsed, parsing.message_key(parsed, raw))
    limit = settings.MAILSYNC_MAX_RECIPIENTS
    if envelope.headers_only:
        prepared.skip_code = "oversized"
        prepared.detail = (
            f"{envelope.real_size} bytes; the limit is {settings.MAILSYNC_MAX_MESSAGE_BYTES}"
        )
    elif len(parsed.recipients) > limit:
        prepared.skip_code = "too_many_recipients"
        prepared.detail = f"{len(parsed.recipients)} recipients; the limit is {limit}"
    return prepared


def ingest_batch(account: MailAccount, envelopes: list[Envelope]) -> list[Outcome]:
    """Store a batch; one Outcome per envelope, in order. Call inside a transaction."""
    outcomes: dict[int, Outcome] = {}
    seen = already_seen(account, [e.source for e in envelopes])
    first_at: dict[tuple, int] = {}  # a place given twice in the batch is stored once
    again: dict[int, int] = {}
    for i, envelope in enumerate(envelopes):
        place = envelope.source.place()
        if place is not None and place in seen:
            outcomes[i] = Outcome(envelope, "duplicate", seen[place])
        elif place is not None and place in first_at:
            again[i] = first_at[place]
        elif place is not None:
            first_at[place] = i
    batch = [prepare(i, e) for i, e in enumerate(envelopes) if i not in outcomes and i not in again]

    # The owner's block list, before anything is stored: a rep blocks personal mail to keep it
    # out of the CRM, so only what the ledger needs is kept (sender, date, the block).
    blocked = _blocked_in(account, batch)
    if blocked:
        SkipEntry.objects.bulk_create(
            (
                SkipEntry.entry(
                    account=account,
                    code=blocking.BLOCKED,
                    detail=blocking.block_detail(value),
                    parsed=p.parsed,
                    **source_columns(p.envelope.source),
                )
                for p, value in blocked
            ),
            ignore_conflicts=True,  # already in the ledger from an earlier, interrupted run
        )
        for p, _value in blocked:
            outcomes[p.index] = Outcome(p.envelope, blocking.BLOCKED)
        batch = [p for p in batch if p.index not in outcomes]

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
    for p in batch:
        if p.key in stored:
            p.message = stored[p.key]
            code = "duplicate"
        else:
            p.message = stored[p.key] = _new_message(p)
            new.append(p)
            code = p.skip_code or "imported"
        outcomes[p.index] = Outcome(p.envelope, code, None)

    # On PostgreSQL these go by COPY, with the messages' and threads' keys taken beforehand.
    threads_assign(new)
    bulk.insert(Message, [p.message for p in new])
    bulk.insert_values(
        MessageRaw,
        ["message", "data", "size"],
        (
            (p.message.pk, gzip.compress(p.envelope.raw, compresslevel=6), len(p.envelope.raw))
            for p in new
        ),
    )
    bulk.insert_values(
        Participant,
        ["message", "role", "address", "name", "position"],
        (row for p in new if p.parsed is not None for row in participant_rows(p.message, p.parsed)),
    )
    for p in new:
        if p.parsed is not None and not p.skip_code and p.parsed.attachments:
            attachments_store(p.message, p.parsed)
    bulk.insert_values(
        Sighting,
        ["message", "account", *SOURCE_COLUMNS],
        ((p.message.pk, account.pk, *source_columns(p.envelope.source).values()) for p in batch),
    )
    SkipEntry.objects.bulk_create(
        (
            SkipEntry.entry(
                account=account,
                code=p.skip_code,
                detail=p.detail,
                message=p.message,
                **source_columns(p.envelope.source),
            )
            for p in batch
            if p.skip_code
        ),
        ignore_conflicts=True,  # already in the ledger from an earlier, interrupted run
    )
    # Put the mail on the records it concerns (a message another rep's mailbox brought in
    # first may concern this rep's records too).
    links.messages_link(account=account, messages=[p.message for p in batch if not p.skip_code])

    for p in batch:
        outcomes[p.index] = Outcome(p.envelope, outcomes[p.index].code, p.message.pk)
    for i, first in again.items():
        outcomes[i] = Outcome(envelopes[i], "duplicate", outcomes[first].message_pk)
    return [outcomes[i] for i in range(len(envelopes))]


def already_seen(account: MailAccount, sources) -> dict[tuple, int]:
    """The places among `sources` that a sighting already records (an earlier, interrupted run
    stored them; an ESP delivered the same message twice), with their messages. One query per
    route and folder in the batch."""
    imap: dict[tuple[int, int], list[int]] = {}
    inbound: dict[str, list[str]] = {}
    outbox: list[int] = []
    for source in sources:
        if source.kind == Source.IMAP:
            imap.setdefault((source.folder.pk, source.uidvalidity), []).append(source.uid)
        elif source.kind == Source.INBOUND and source.route_message_id:
            inbound.setdefault(source.route[:40], []).append(source.route_message_id[:255])
        elif source.kind == Source.OUTBOX:
            outbox.append(source.outgoing_id)
    seen: dict[tuple, int] = {}
    for (folder_pk, uidvalidity), uids in imap.items():
        for uid, message_pk in Sighting.objects.filter(
            folder_id=folder_pk, uidvalidity=uidvalidity, uid__in=uids
        ).values_list("uid", "message"):
            seen[(Source.IMAP, folder_pk, uidvalidity, uid)] = message_pk
    for route, ids in inbound.items():
        for route_message_id, message_pk in Sighting.objects.filter(
            account=account, source=Source.INBOUND, inbound_route=route, route_message_id__in=ids
        ).values_list("route_message_id", "message"):
            seen[(Source.INBOUND, route, route_message_id)] = message_pk
    if outbox:
        for outgoing_id, message_pk in Sighting.objects.filter(
            account=account, source=Source.OUTBOX, outgoing_id__in=outbox
        ).values_list("outgoing_id", "message"):
            seen[(Source.OUTBOX, outgoing_id)] = message_pk
    return seen


def _blocked_in(account: MailAccount, batch: list[_Prepared]) -> list[tuple[_Prepared, str]]:
    """The messages of the batch that the owner's block list catches, with the entry that does."""
    values = blocking.blocked_values(user=account.user)
    if not values:
        return []
    ignored = ignored_addresses(user=account.user)
    found = []
    for p in batch:
        if p.parsed is None:
            continue  # nothing can be matched: kept raw and in the ledger as unparseable
        value = blocking.entry_matching([a.address for a in p.parsed.participants], values, ignored)
        if value:
            found.append((p, value))
    return found


def _new_message(prepared: _Prepared) -> Message:
    parsed, raw = prepared.parsed, prepared.envelope.raw
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


def unparseable_store(raw: bytes, reason: str) -> Message:
    """Keep a message that could not be stored the normal way: its raw bytes and the reason."""
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
        MessageRaw.objects.create(
            message=message, data=gzip.compress(raw, compresslevel=6), size=len(raw)
        )
    return message
