"""The "choose a deal" queue: threads waiting for a rep to pick their deal."""

from dataclasses import dataclass

from django.db.models import F

from mailsync.selectors.access import NONE, SUBJECT, message_access, messages_visible_q
from mailsync.selectors.directory import ignored_addresses
from mailsync.selectors.timeline import THREADS_PER_PAGE


@dataclass
class DealChoiceWaiting:
    """A thread waiting for a rep to choose its deal, as one viewer may see it."""

    thread: object
    message: object  # the newest message of the thread the viewer may open
    show_subject: bool
    people: list  # Participants outside the viewer's team, one per address
    last_date: object
    deals: list  # the candidate deals the viewer may see


def _deal_choices_waiting(user):
    from django.db.models import Exists, OuterRef

    from mailsync.models import Message, ThreadDealChoice

    # Starting from the waiting choices (few) and asking for one visible message each keeps
    # this cheap however large the mailboxes are: it runs on every page, for the top bar.
    visible = Message.objects.filter(thread_id=OuterRef("thread_id")).filter(
        messages_visible_q(user)
    )
    return ThreadDealChoice.objects.filter(deal__isnull=True).filter(Exists(visible))


def deal_choices_waiting_count(*, user) -> int:
    """How many threads wait for `user` to choose a deal (one query, for the top bar)."""
    return _deal_choices_waiting(user).count()


def deal_choices_waiting(*, user, page=None):
    """The threads in the "choose a deal" queue that `user` may see, newest first, 25 a page.

    A thread is there when its contacts have several open deals and nobody has chosen one yet;
    another team's threads and a teammate's private ones never are. Each comes as a
    DealChoiceWaiting: its subject only where the viewer may see it, and only the candidate
    deals the viewer may see. A fixed number of queries, whatever the number of messages.
    """
    from django.core.paginator import Paginator

    from crm.models import Deal
    from crm.selectors import record_choices
    from mailsync.models import Message, Participant

    waiting = (
        _deal_choices_waiting(user)
        .select_related("thread")
        .order_by(F("thread__last_message_at").desc(nulls_last=True), "-thread_id")
    )
    current = Paginator(waiting, THREADS_PER_PAGE).get_page(page)
    choices = list(current.object_list)
    rows = list(
        Message.objects.filter(thread__in=[c.thread_id for c in choices]).only(
            "pk", "thread_id", "date"
        )
    )
    access = message_access(user=user, messages=rows)
    visible: dict = {}
    for message in rows:
        if access[message.pk] > NONE:
            visible.setdefault(message.thread_id, []).append(message)
    for messages in visible.values():
        messages.sort(key=lambda m: (m.date is None, m.date, m.pk))
    ours = ignored_addresses(user=user)
    people: dict = {}
    for p in Participant.objects.filter(
        message__in=[m.pk for messages in visible.values() for m in messages],
        role__in=[Participant.Role.FROM, Participant.Role.TO, Participant.Role.CC],
    ).order_by("message_id", "pk"):
        if p.address.lower() not in ours:
            people.setdefault(p.message_id, []).append(p)
    candidate_ids = {pk for c in choices for pk in c.candidates}
    deals = {d.pk: d for d in record_choices(model=Deal, user=user).filter(pk__in=candidate_ids)}
    result = []
    for choice in choices:
        messages = visible.get(choice.thread_id)
        if not messages:  # gone between the two queries
            continue
        seen: dict = {}
        for message in messages:
            for p in people.get(message.pk, []):
                seen.setdefault(p.address.lower(), p)
        result.append(
            DealChoiceWaiting(
                thread=choice.thread,
                message=messages[-1],
                show_subject=max(access[m.pk] for m in messages) >= SUBJECT,
                people=list(seen.values()),
                last_date=messages[-1].date,
                deals=sorted(
                    (deals[pk] for pk in choice.candidates if pk in deals),
                    key=lambda d: (d.name.lower(), d.pk),
                ),
            )
        )
    current.object_list = result
    return current
