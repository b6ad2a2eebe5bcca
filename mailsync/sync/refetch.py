"""Fetching skipped messages again: 'Import anyway' and mail a removed block kept out."""

import gzip
import logging

from django.conf import settings
from django.db import transaction

from mailsync.ingest import message_ingest
from mailsync.ingest.store import attachments_store, participant_rows
from mailsync.mime import parsing
from mailsync.models import (
    MailAccount,
    MailFolder,
    Message,
    MessageRaw,
    Participant,
    SkipEntry,
)
from mailsync.routing import blocking, links
from mailsync.sync.run import imap_envelopes, session_open

log = logging.getLogger(__name__)

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
    with session_open(account) as session:
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
            outcomes = message_ingest(
                account=account,
                envelopes=imap_envelopes(folder, uidvalidity, [item for _entry, item in pairs]),
            )
        imported += sum(outcome.code == "imported" for outcome in outcomes)
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
            for pk, role, address, name, position in participant_rows(message, parsed)
        )
        if not message.attachments.exists():
            attachments_store(message, parsed)
        # Every ledger (another rep's mailbox may hold it too) and every mailbox's records.
        SkipEntry.objects.filter(message=message, code__in=FULL_IMPORT_CODES).delete()
        for holder in MailAccount.objects.filter(sightings__message=message).distinct():
            links.messages_link(account=holder, messages=[message])
    return message
