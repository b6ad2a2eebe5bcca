"""Who sees what of the mail: the one place that decides, for every view and selector."""

from django.db.models import Q

from mailsync.models import MailFolder, Sighting, Thread
from mailsync.selectors.directory import ignored_addresses

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


def message_direction_sent(*, user, messages) -> set[int]:
    """The messages the viewer's side sent: seen in a Sent folder of the viewer's own mailbox,
    or from one of the team's addresses."""
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


def thread_is_owned_by(*, thread: Thread, user) -> bool:
    """Whether the thread's mail came from `user`'s mailbox: only they say who else sees it."""
    return Sighting.objects.filter(account__user=user, message__thread=thread).exists()


def message_is_owned_by(*, message, user) -> bool:
    """Whether the message came from `user`'s mailbox (theirs to download as it was received)."""
    return Sighting.objects.filter(account__user=user, message=message).exists()


def messages_visible_q(user) -> Q:
    """The SQL form of message_access(...) > NONE, for filtering long lists in the database."""
    own = Q(sightings__account__user=user)
    if not user.team_id:
        return own
    shared = Q(sightings__account__user__team_id=user.team_id) & ~Q(thread__visibility="private")
    shared &= ~Q(sightings__account__sharing="private") | Q(thread__visibility="shared")
    return own | shared
