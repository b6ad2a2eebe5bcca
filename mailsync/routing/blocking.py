"""A rep's block list: addresses and domains whose mail stays off the CRM's records.

`links.messages_link` checks the list as it links. Adding an entry (`block_add`) also applies it
to the mail already stored: its mail leaves the records (and goes in the skip ledger as
`blocked`). Removing one is `links.block_remove`, which clears those ledger rows and links the
mail again: linking is links' work, and links imports this module, not the other way round.
"""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from crm.addresses import normalize_domain, normalize_email
from crm.models import User
from mailsync.errors import BLOCKED
from mailsync.models import (
    Attachment,
    BlockEntry,
    MailAccount,
    Message,
    MessageLink,
    Participant,
    Sighting,
    SkipEntry,
    Source,
)
from mailsync.routing.matching import domain_of
from mailsync.selectors.directory import ignored_addresses


def normalize_value(value: str) -> str:
    """An address or a domain, normalised; ValidationError if it is neither."""
    value = (value or "").strip()
    if "@" in value.lstrip("@"):
        return normalize_email(value)
    return normalize_domain(value.lstrip("@"))


def blocked_values(*, user: User) -> frozenset[str]:
    return frozenset(BlockEntry.objects.filter(user=user).values_list("value", flat=True))


def entry_matching(addresses: Iterable[str], values: frozenset[str], ignored=frozenset()):
    """The block entry (value) one of the addresses matches, by address or domain, or None."""
    if not values:
        return None
    for address in addresses:
        if not address or address in ignored:
            continue
        if address in values:
            return address
        if domain_of(address) in values:
            return domain_of(address)
    return None


def _participant_filter(value: str) -> Q:
    if "@" in value:
        return Q(participants__address=value)
    return Q(participants__address__endswith=f"@{value}")


def block_detail(value: str) -> str:
    """The ledger's detail for mail a block entry keeps out (and how unblocking finds it)."""
    return f"block list: {value}"


def ledger_blocked(*, account: MailAccount, blocked: dict[int, str]) -> None:
    """Put messages (id -> the entry that blocks them) in the account's ledger as `blocked`."""
    if not blocked:
        return
    have = set(
        SkipEntry.objects.filter(account=account, code=BLOCKED, message__in=blocked).values_list(
            "message", flat=True
        )
    )
    wanted = {pk: value for pk, value in blocked.items() if pk not in have}
    if not wanted:
        return
    where = {}
    for sighting in Sighting.objects.filter(account=account, message__in=wanted).order_by("pk"):
        where.setdefault(sighting.message_id, sighting)
    rows = []
    for message in Message.objects.filter(pk__in=wanted).only(
        "id", "message_id", "subject", "from_address", "date"
    ):
        sighting = where.get(message.pk)
        rows.append(
            SkipEntry.entry(
                account=account,
                code=BLOCKED,
                detail=block_detail(wanted[message.pk]),
                message=message,
                # Where this mailbox saw it, to fetch it again once unblocked (a message only a
                # teammate's mailbox holds has no place here).
                **(sighting.source_fields() if sighting else {"source": Source.IMAP}),
            )
        )
    SkipEntry.objects.bulk_create(rows, ignore_conflicts=True)


def entry_messages(*, account: MailAccount, value: str) -> list[int]:
    """The messages of `account`'s mailbox that a block entry's value matches (ids)."""
    return list(
        Message.objects.filter(sightings__account=account)
        .filter(_participant_filter(value))
        .values_list("pk", flat=True)
        .distinct()
    )


@transaction.atomic
def block_add(*, user: User, value: str) -> BlockEntry:
    """Block an address or a domain; the rep's mail already linked from it leaves the records."""
    value = normalize_value(value)
    entry, created = BlockEntry.objects.get_or_create(user=user, value=value)
    account = MailAccount.objects.filter(user=user).first()
    if not created or account is None:
        return entry
    ignored = ignored_addresses(user=user)
    participants: dict[int, list[str]] = {}
    for message_id, address in Participant.objects.filter(
        message__in=entry_messages(account=account, value=value)
    ).values_list("message", "address"):
        participants.setdefault(message_id, []).append(address)
    blocked = {
        pk: value
        for pk, addresses in participants.items()
        if entry_matching(addresses, frozenset([value]), ignored)
    }
    # A message another rep's mailbox also holds stays (their block list is theirs), and so
    # does one a rep put on a record by hand: this mailbox's sync links go, the rest stays.
    kept = set(
        Sighting.objects.filter(message__in=blocked, account__isnull=False)
        .exclude(account=account)
        .values_list("message", flat=True)
    )
    kept |= set(
        MessageLink.objects.filter(message__in=blocked, created_by__isnull=False).values_list(
            "message", flat=True
        )
    )
    MessageLink.objects.filter(message__in=blocked, created_by__isnull=True).exclude(
        message__in=kept
    ).delete()
    ledger_blocked(account=account, blocked={pk: v for pk, v in blocked.items() if pk in kept})
    _purge(account, {pk: v for pk, v in blocked.items() if pk not in kept})
    return entry


def _purge(account: MailAccount, blocked: dict[int, str]) -> None:
    """Take mail only this mailbox brought in out of the CRM, as if it had been blocked on
    arrival: the ledger keeps where it is on the server, so unblocking fetches it again."""
    if not blocked:
        return
    # The ledger row names the message until the message goes, below (SET_NULL then).
    rows = [
        SkipEntry.entry(
            account=account,
            code=BLOCKED,
            detail=block_detail(blocked[sighting.message_id]),
            message=sighting.message,
            **sighting.source_fields(),
        )
        for sighting in Sighting.objects.filter(
            account=account, message__in=blocked, folder__isnull=False
        ).select_related("message")
    ]
    SkipEntry.objects.bulk_create(rows, ignore_conflicts=True)
    for attachment in Attachment.objects.filter(message__in=blocked).exclude(file=""):
        attachment.file.delete(save=False)  # the files too: storage is not cleaned by CASCADE
    Message.objects.filter(pk__in=blocked).delete()


def validation_message(error: ValidationError) -> str:
    return " ".join(error.messages)
