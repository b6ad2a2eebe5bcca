"""Mail on a record's page: threads, as each viewer may see them."""

from dataclasses import dataclass, field

from django.db.models import F

from mailsync.models import Attachment, Thread
from mailsync.selectors.access import (
    FULL,
    NONE,
    SUBJECT,
    message_access,
    message_direction_sent,
    messages_visible_q,
)

THREADS_PER_PAGE = 25


@dataclass
class MailItem:
    """One message as a viewer may see it: `level` says how much (the template shows only that)."""

    message: object
    level: int
    sent: bool
    recipients: list = field(default_factory=list)
    attachments: list = field(default_factory=list)
    links: list = field(default_factory=list)  # this record's MessageLinks ("why is this here?")

    @property
    def show_subject(self) -> bool:
        return self.level >= SUBJECT

    @property
    def show_body(self) -> bool:
        return self.level >= FULL


@dataclass
class MailThread:
    thread: object
    items: list
    last_date: object = None


def mail_threads_for_record(*, record, user, page=None):
    """The threads with mail linked to `record` that `user` may see, newest first, 25 a page.

    Each thread holds its linked messages the user may see (message_access > NONE), oldest
    first, as MailItems. A fixed number of queries, whatever the number of messages.
    """
    from django.core.paginator import Paginator

    from mailsync.models import Message, MessageLink, Participant

    kind = record._meta.model_name
    linked = Message.objects.filter(**{f"links__{kind}": record})
    # Which threads, and in which order, is the database's work: a record may carry thousands
    # of messages, and a page shows 25 threads.
    visible_threads = Thread.objects.filter(
        pk__in=linked.filter(messages_visible_q(user)).values("thread_id")
    ).order_by(F("last_message_at").desc(nulls_last=True), "-pk")
    paginator = Paginator(visible_threads, THREADS_PER_PAGE)
    current = paginator.get_page(page)
    rows = list(
        linked.filter(thread__in=[t.pk for t in current.object_list]).only(
            "pk", "thread_id", "date"
        )
    )
    access = message_access(user=user, messages=rows)
    threads: dict = {t.pk: [] for t in current.object_list}
    for message in rows:
        if access[message.pk] > NONE:
            threads[message.thread_id].append(message)
    current.object_list = [t.pk for t in current.object_list if threads[t.pk]]
    ids = [m.pk for key in current.object_list for m in threads[key]]
    messages = {m.pk: m for m in Message.objects.filter(pk__in=ids).select_related("thread")}
    recipients: dict = {}
    for p in Participant.objects.filter(
        message__in=ids, role__in=[Participant.Role.TO, Participant.Role.CC]
    ):
        recipients.setdefault(p.message_id, []).append(p)
    attachments: dict = {}
    for a in Attachment.objects.filter(message__in=ids, inline=False).order_by("pk"):
        attachments.setdefault(a.message_id, []).append(a)
    links: dict = {}
    for link in MessageLink.objects.filter(message__in=ids, **{kind: record}).select_related(
        "created_by"
    ):
        links.setdefault(link.message_id, []).append(link)
    sent = message_direction_sent(user=user, messages=messages.values())
    result = []
    for key in current.object_list:
        chosen = sorted(
            (messages[m.pk] for m in threads[key]),
            key=lambda m: (m.date is None, m.date, m.pk),
        )
        items = [
            MailItem(
                message=m,
                level=access[m.pk],
                sent=m.pk in sent,
                recipients=recipients.get(m.pk, []),
                attachments=attachments.get(m.pk, []) if access[m.pk] >= FULL else [],
                links=links.get(m.pk, []),
            )
            for m in chosen
        ]
        result.append(MailThread(thread=chosen[0].thread, items=items, last_date=chosen[-1].date))
    current.object_list = result
    return current
