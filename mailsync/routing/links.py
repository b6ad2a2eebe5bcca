"""Writes that put mail on records: linking synced messages, removing and adding links by hand,
choosing a thread's deal, and linking existing mail when a record gets a new address or a block
entry is removed.

Decisions are `matching.decide()`'s; this module gathers what it needs with a fixed number of
queries per batch of messages and writes the links it returns.
"""

from collections import defaultdict
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.models import Company, CompanyDomain, Contact, Deal, EmailAddress, Lead, User
from crm.selectors import owners_visible_to, team_members
from mailsync.models import (
    BlockEntry,
    LinkRemoval,
    MailAccount,
    Message,
    MessageLink,
    Participant,
    SkipEntry,
    ThreadDealChoice,
)
from mailsync.routing import blocking, matching
from mailsync.routing.matching import COMPANY, CONTACT, DEAL, LEAD, Directory, Ref, ThreadState
from mailsync.selectors.directory import ignored_addresses


def _directory(user: User, addresses: set[str]) -> Directory:
    visible = owners_visible_to(user)
    directory = Directory(ignored=ignored_addresses(user=user))
    # Only records the rep can see: mail never lands on another team's records.
    people = (
        EmailAddress.objects.filter(address__in=addresses)
        .filter(
            Q(contact__in=Contact.objects.filter(visible).values("pk"))
            | Q(lead__in=Lead.objects.filter(visible).values("pk"))
        )
        .select_related("contact")
    )
    contact_ids, lead_ids = set(), set()
    for email in people:
        if email.contact_id:
            ref = Ref(CONTACT, email.contact_id)
            contact_ids.add(email.contact_id)
            if email.contact.company_id:
                directory.company_of[ref] = email.contact.company_id
        else:
            ref = Ref(LEAD, email.lead_id)
            lead_ids.add(email.lead_id)
        directory.by_address.setdefault(email.address, []).append(ref)
    domains = {matching.domain_of(a) for a in addresses}
    for company_id, domain in CompanyDomain.objects.filter(
        domain__in=domains, company__in=Company.objects.filter(visible)
    ).values_list("company_id", "domain"):
        directory.by_domain.setdefault(domain, []).append(Ref(COMPANY, company_id))
    open_deals = Deal.objects.filter(visible, status=Deal.Status.OPEN)
    for deal_id, contact_id in open_deals.filter(contacts__in=contact_ids).values_list(
        "pk", "contacts"
    ):
        directory.open_deals_of.setdefault(Ref(CONTACT, contact_id), []).append(deal_id)
    for deal_id, lead_id in open_deals.filter(lead__in=lead_ids).values_list("pk", "lead"):
        directory.open_deals_of.setdefault(Ref(LEAD, lead_id), []).append(deal_id)
    return directory


def _thread_states(thread_ids: set[int]) -> dict[int, ThreadState]:
    states = defaultdict(ThreadState)
    for thread_id, deal_id in MessageLink.objects.filter(
        message__thread__in=thread_ids, deal__status=Deal.Status.OPEN
    ).values_list("message__thread", "deal"):
        states[thread_id].deals.add(deal_id)
    # A rep's choice follows the same rule as thread links: only an open deal collects new mail.
    # Once the chosen deal is won or lost, the messages already on it stay, and the thread's next
    # messages go by the normal rules, as a new thread's would: an open deal already on the
    # thread, else its people's only open deal, else (several) the queue again with the current
    # candidates. So the spent choice is released here, when the thread gets mail to decide, not
    # when the deal closes (that would fill the queue with threads nobody writes to any more).
    # A reopened deal collects again either way: the thread's earlier messages are on it.
    spent = []
    for choice_id, thread_id, deal_id, status in ThreadDealChoice.objects.filter(
        thread__in=thread_ids, deal__isnull=False
    ).values_list("pk", "thread", "deal", "deal__status"):
        if status == Deal.Status.OPEN:
            states[thread_id].chosen_deal = deal_id
        else:
            spent.append(choice_id)
    if spent:
        ThreadDealChoice.objects.filter(pk__in=spent).delete()
    for removal in LinkRemoval.objects.filter(thread__in=thread_ids, message__isnull=True):
        states[removal.thread_id].removed.add(Ref(*removal.record_key))
    return states


def messages_link(*, account: MailAccount, messages: Iterable[Message]) -> int:
    """Link messages from `account` to the records they concern; returns the links made."""
    messages = [m for m in messages if not m.headers_only]
    if not messages:
        return 0
    participants = defaultdict(list)
    for message_id, address in Participant.objects.filter(message__in=messages).values_list(
        "message", "address"
    ):
        participants[message_id].append(address)
    addresses = {a for values in participants.values() for a in values}
    directory = _directory(account.user, addresses)
    # The owner's block list: such mail goes to the ledger as `blocked`, on no record.
    block_list = blocking.blocked_values(user=account.user)
    blocked = {}
    for message in messages:
        entry = blocking.entry_matching(participants[message.pk], block_list, directory.ignored)
        if entry:
            blocked[message.pk] = entry
    blocking.ledger_blocked(account=account, blocked=blocked)
    messages = [m for m in messages if m.pk not in blocked]
    states = _thread_states({m.thread_id for m in messages if m.thread_id})
    kept_off = defaultdict(set)  # message -> records a rep took that one message off
    for removal in LinkRemoval.objects.filter(message__in=messages):
        kept_off[removal.message_id].add(Ref(*removal.record_key))
    existing = set(
        MessageLink.objects.filter(message__in=messages).values_list(
            "message", *MessageLink.RECORD_FIELDS
        )
    )
    links, queued = [], {}
    for message in sorted(messages, key=lambda m: (m.date is None, m.date, m.pk)):
        state = states[message.thread_id] if message.thread_id else ThreadState()
        decision = matching.decide(participants[message.pk], directory, state)
        for ref, origin in decision.links.items():
            if ref in kept_off[message.pk]:
                continue
            if ref.kind == DEAL and origin != matching.CHOSEN:
                state.deals.add(ref.pk)  # the next message of the thread follows it
            key = (
                message.pk,
                *(ref.pk if ref.kind == f else None for f in MessageLink.RECORD_FIELDS),
            )
            if key not in existing:
                existing.add(key)
                links.append(
                    MessageLink(message=message, origin=origin, **{f"{ref.kind}_id": ref.pk})
                )
        if decision.deal_choices and message.thread_id:
            queued.setdefault(message.thread_id, decision.deal_choices)
    MessageLink.objects.bulk_create(links, ignore_conflicts=True)
    for thread_id, candidates in queued.items():
        ThreadDealChoice.objects.get_or_create(
            thread_id=thread_id, defaults={"candidates": candidates}
        )
    return len(links)


@transaction.atomic
def thread_remove_from_record(*, thread, record, user: User) -> None:
    """Take a whole thread off a record, and remember it: later replies stay off too."""
    kind = record._meta.model_name
    MessageLink.objects.filter(message__thread=thread, **{kind: record}).delete()
    LinkRemoval.objects.get_or_create(
        thread=thread, **{kind: record}, defaults={"removed_by": user}
    )


@transaction.atomic
def message_remove_from_record(*, message: Message, record, user: User) -> None:
    """Take one message off a record, and remember it; the rest of its thread stays."""
    kind = record._meta.model_name
    MessageLink.objects.filter(message=message, **{kind: record}).delete()
    LinkRemoval.objects.get_or_create(
        thread_id=message.thread_id,
        message=message,
        **{kind: record},
        defaults={"removed_by": user},
    )


@transaction.atomic
def message_add_to_record(*, message: Message, record, user: User) -> None:
    """Put one message on a record by hand; this clears an earlier removal of that message."""
    kind = record._meta.model_name
    LinkRemoval.objects.filter(message=message, **{kind: record}).delete()
    MessageLink.objects.get_or_create(
        message=message,
        **{kind: record},
        defaults={"origin": MessageLink.Origin.MANUAL, "created_by": user},
    )


@transaction.atomic
def thread_add_to_record(*, thread, record, user: User) -> None:
    """Put a whole thread on a record by hand; this also clears an earlier removal."""
    kind = record._meta.model_name
    LinkRemoval.objects.filter(thread=thread, **{kind: record}).delete()  # message-level too
    MessageLink.objects.bulk_create(
        [
            MessageLink(
                message=message, origin=MessageLink.Origin.MANUAL, created_by=user, **{kind: record}
            )
            for message in thread.messages.all()
        ],
        ignore_conflicts=True,
    )


@transaction.atomic
def thread_choose_deal(*, thread, deal: Deal, user: User) -> None:
    """A rep's choice among several open deals: the whole thread goes on it, now and later."""
    choice, _ = ThreadDealChoice.objects.get_or_create(thread=thread)
    choice.deal, choice.chosen_by, choice.chosen_at = deal, user, timezone.now()
    choice.save()
    LinkRemoval.objects.filter(thread=thread, deal=deal).delete()
    MessageLink.objects.bulk_create(
        [
            MessageLink(message=m, origin=MessageLink.Origin.CHOSEN, created_by=user, deal=deal)
            for m in thread.messages.all()
        ],
        ignore_conflicts=True,
    )


def _link_stored_mail(*, owner: User, participants: Q) -> int:
    """Link again the stored messages whose participants match, for every mailbox of the record
    owner's team (the records a mailbox's mail can land on) that holds some of them.

    Three queries, then `messages_link` once per such mailbox: the decision is per mailbox (its
    owner's block list, who it may put mail on), and it keeps every rule (removals stay removed,
    blocked mail stays off), so linking again what is already linked changes nothing.
    """
    accounts = {
        a.pk: a
        for a in MailAccount.objects.filter(user__in=team_members(owner)).select_related("user")
    }
    if not accounts:
        return 0
    held = defaultdict(set)  # account -> its messages to link again
    for message_id, account_id in (
        Message.objects.filter(
            participants, headers_only=False, sightings__account__in=list(accounts)
        )
        .values_list("pk", "sightings__account")
        .distinct()
    ):
        held[account_id].add(message_id)
    if not held:
        return 0
    # The bodies are not needed to decide where a message goes.
    messages = Message.objects.defer("text", "html").in_bulk(set().union(*held.values()))
    made = 0
    for account_id, ids in sorted(held.items()):
        made += messages_link(account=accounts[account_id], messages=[messages[i] for i in ids])
    return made


def address_link_existing_mail(*, addresses: Iterable[str], owner: User) -> int:
    """A record got new addresses (added, or an existing one edited or moved to it): link the
    mail already stored for them; returns the links made."""
    return _link_stored_mail(owner=owner, participants=Q(participants__address__in=set(addresses)))


def domain_link_existing_mail(*, domain: str, owner: User) -> int:
    """A company got a web domain (added, or an existing one edited or moved to it): link the
    mail already stored from that domain; returns the links made.

    Free-mail domains and the team's own are left out before looking, as matching leaves them
    out: they would read a large part of the mail to link none of it.
    """
    domain = domain.strip().lower()
    if not domain or domain in matching.free_mail_domains():
        return 0
    if domain in {matching.domain_of(a) for a in ignored_addresses(user=owner)}:
        return 0
    # An exact domain after the "@" (bob@mail.acme.com is not acme.com), as matching compares.
    return _link_stored_mail(
        owner=owner, participants=Q(participants__address__endswith=f"@{domain}")
    )


@transaction.atomic
def block_remove(*, entry: BlockEntry) -> int:
    """Remove a block entry: its `blocked` ledger rows go, and its mail is linked again.
    Returns the links made."""
    user, value = entry.user, entry.value
    entry.delete()
    account = MailAccount.objects.filter(user=user).select_related("user").first()
    if account is None:
        return 0
    affected = blocking.entry_messages(account=account, value=value)
    SkipEntry.objects.filter(account=account, code=blocking.BLOCKED, message__in=affected).delete()
    # Mail that was kept out of the CRM altogether is fetched again from the server, in a job
    # (the mailbox may hold a lot of it). The pipeline checks the remaining entries.
    refetch = list(
        SkipEntry.objects.filter(
            account=account,
            code=blocking.BLOCKED,
            message__isnull=True,
            detail=blocking.block_detail(value),
        ).values_list("pk", flat=True)
    )
    if refetch:
        transaction.on_commit(lambda: _enqueue_import_again(account.pk, refetch))
    # messages_link checks the remaining entries: a message another entry blocks goes back in.
    return messages_link(account=account, messages=list(Message.objects.filter(pk__in=affected)))


def _enqueue_import_again(account_id: int, entry_ids: list[int]) -> None:
    from django_q.tasks import async_task

    async_task(
        "mailsync.tasks.import_blocked_again",
        account_id,
        entry_ids,
        task_name=f"unblock-account-{account_id}",
    )
