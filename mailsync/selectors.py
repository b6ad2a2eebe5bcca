"""Reads of the mail integration."""

from dataclasses import dataclass, field

from django.db.models import Count, F, Q

from mailsync.errors import code_info
from mailsync.models import Attachment, MailAccount, Sighting, SkipEntry, Thread


def account_status(*, account: MailAccount) -> dict:
    """What `mail_status` prints and the mailbox page shows."""
    skipped = dict(
        SkipEntry.objects.filter(account=account)
        .values_list("code")
        .annotate(n=Count("id"))
        .values_list("code", "n")
    )
    # Mail older than the chosen history is never fetched, so it has no ledger rows: the sync
    # counts it per folder instead.
    before_window = sum(account.folders.values_list("before_window", flat=True))
    if before_window:
        skipped["before_sync_window"] = before_window
    imported = (
        Sighting.objects.filter(account=account, message__headers_only=False)
        .values("message")
        .distinct()
        .count()
    )
    error = None
    if account.error_code:
        info = code_info(account.error_code)
        error = {
            "code": account.error_code,
            "category": info.category,
            "title": str(info.title),
            "help": str(info.help),
            "server_words": account.error_detail,
            "stage": account.error_stage,
            "since": account.error_since.isoformat() if account.error_since else None,
        }
    return {
        "email": account.email,
        "user": account.user.get_username(),
        "status": account.status,
        "error": error,
        "last_sync": account.last_sync_at.isoformat() if account.last_sync_at else None,
        "last_success": account.last_success_at.isoformat() if account.last_success_at else None,
        "next_sync": account.next_sync_at.isoformat() if account.next_sync_at else None,
        "folders": [
            {
                "role": folder.role,
                "name": folder.name,
                "uidvalidity": folder.uidvalidity,
                "last_uid": folder.last_uid,
                "last_synced": folder.last_synced_at.isoformat() if folder.last_synced_at else None,
            }
            for folder in account.folders.order_by("role")
        ],
        "imported": imported,
        "skipped": skipped,
    }


def skip_entries_for(*, account: MailAccount, code: str = ""):
    """The skip ledger of one account, newest first: what was not imported in full, and why."""
    entries = SkipEntry.objects.filter(account=account).select_related("folder")
    if code:
        entries = entries.filter(code=code)
    return entries.order_by("-created_at", "-id")


# -- who sees what ----------------------------------------------------------------------------

NONE, METADATA, SUBJECT, FULL = 0, 1, 2, 3
LEVELS = {"private": NONE, "metadata": METADATA, "subject": SUBJECT, "full": FULL}


def message_access(*, user, messages) -> dict[int, int]:
    """How much of each message `user` may see: NONE, METADATA, SUBJECT or FULL.

    The rep whose mailbox a message came from sees all of it. A teammate sees what the owner's
    mailbox shares, unless the thread was made private (nothing) or shared (everything).
    Anyone else sees nothing. One query for the whole list.
    """

    messages = list(messages)
    access = {m.pk: NONE for m in messages}
    if not messages:
        return access
    threads = {m.pk: m.thread_id for m in messages}
    visibility = dict(
        Thread.objects.filter(pk__in={t for t in threads.values() if t}).values_list(
            "pk", "visibility"
        )
    )
    rows = Sighting.objects.filter(message__in=access, account__isnull=False).values_list(
        "message", "account__user", "account__user__team", "account__sharing"
    )
    for message_id, owner_id, team_id, sharing in rows:
        if owner_id == user.pk:
            level = FULL
        elif team_id is None or team_id != user.team_id:
            level = NONE
        else:
            thread_visibility = visibility.get(threads[message_id], "")
            if thread_visibility == "private":
                level = NONE
            elif thread_visibility == "shared":
                level = FULL
            else:
                level = LEVELS[sharing]
        access[message_id] = max(access[message_id], level)
    return access


# -- mail on records --------------------------------------------------------------------------

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


def message_direction_sent(*, user, messages) -> set[int]:
    """The messages the viewer's side sent: seen in a Sent folder of the viewer's own mailbox,
    or from one of the team's addresses."""
    from mailsync.links import ignored_addresses
    from mailsync.models import MailFolder

    messages = list(messages)
    sent = set(
        Sighting.objects.filter(
            message__in=[m.pk for m in messages],
            account__user=user,
            folder__role=MailFolder.Role.SENT,
        ).values_list("message", flat=True)
    )
    ours = ignored_addresses(user=user)
    sent |= {m.pk for m in messages if m.from_address.lower() in ours}
    return sent


def messages_visible_q(user) -> Q:
    """The SQL form of message_access(...) > NONE, for filtering long lists in the database."""
    own = Q(sightings__account__user=user)
    if not user.team_id:
        return own
    shared = Q(sightings__account__user__team_id=user.team_id) & ~Q(thread__visibility="private")
    shared &= ~Q(sightings__account__sharing="private") | Q(thread__visibility="shared")
    return own | shared


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


# -- the "choose a deal" queue ----------------------------------------------------------------


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
    from mailsync.links import ignored_addresses
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
