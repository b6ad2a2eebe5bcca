"""The candidates list: addresses in a rep's own synced mail that no lead or contact has yet.

Reads only. A page costs a fixed number of queries: the rep's and teammates' addresses, the
count, the page of addresses, and the latest subjects of the addresses on the page.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Max, Q, QuerySet

from crm.models import Contact, EmailAddress, Lead, User
from crm.selectors import owners_visible_to
from mailsync.errors import BLOCKED
from mailsync.models import MailAccount, Message, Participant, SkipEntry
from mailsync.selectors.directory import ignored_addresses

# Machines, not people: their mail is never a lead.
MACHINE_PREFIXES = (
    "noreply@",
    "no-reply@",
    "no_reply@",
    "donotreply@",
    "do-not-reply@",
    "mailer-daemon@",
    "postmaster@",
)
SUBJECTS_PER_CANDIDATE = 3


@dataclass
class Candidate:
    address: str
    name: str
    messages: int
    last_date: datetime | None
    subjects: list[str] = field(default_factory=list)


def known_addresses_q(user: User) -> QuerySet:
    """Addresses of the leads and contacts the rep can see (a subquery)."""
    visible = owners_visible_to(user)
    return EmailAddress.objects.filter(
        Q(contact__in=Contact.objects.filter(visible).values("pk"))
        | Q(lead__in=Lead.objects.filter(visible).values("pk"))
    ).values("address")


def candidates_for(*, user: User) -> QuerySet:
    """One row per candidate address: address, name, messages, last_date; most recent first."""
    account = MailAccount.objects.filter(user=user).first()
    if account is None:
        return Participant.objects.none().values("address")
    machines = Q()
    for prefix in MACHINE_PREFIXES:
        machines |= Q(address__startswith=prefix)
    own_mail = (
        # Mail kept as headers only (a mass mailing over the recipient limit) names no one the
        # rep wrote to: its hundreds of recipients are no candidates.
        Message.objects.filter(sightings__account=account, headers_only=False)
        .exclude(
            pk__in=SkipEntry.objects.filter(
                account=account, code=BLOCKED, message__isnull=False
            ).values("message")
        )
        .values("pk")
    )
    return (
        Participant.objects.filter(message__in=own_mail)
        .exclude(address="")
        .exclude(address__in=ignored_addresses(user=user))
        .exclude(address__in=known_addresses_q(user))
        .exclude(machines)
        .values("address")
        .annotate(
            name=Max("name"),
            messages=Count("message", distinct=True),
            last_date=Max("message__date"),
        )
        .order_by("-last_date", "address")
    )


def candidates_page(*, user: User, rows) -> list[Candidate]:
    """Turn a page of `candidates_for` rows into Candidates, with a few subjects each."""
    candidates = [Candidate(**row) for row in rows]
    by_address = {c.address: c for c in candidates}
    if not by_address:
        return candidates
    account = MailAccount.objects.filter(user=user).values("pk")
    seen = {address: set() for address in by_address}
    for address, subject in (
        Participant.objects.filter(address__in=by_address, message__sightings__account__in=account)
        .order_by("-message__date")
        .values_list("address", "message__subject")
    ):
        candidate = by_address[address]
        if len(candidate.subjects) < SUBJECTS_PER_CANDIDATE and subject not in seen[address]:
            seen[address].add(subject)
            candidate.subjects.append(subject)
    return candidates


def is_candidate(*, user: User, address: str) -> bool:
    return candidates_for(user=user).filter(address=address).exists()
