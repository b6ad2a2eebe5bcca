"""Threading: which conversation a new message belongs to.

`new` holds the pipeline's prepared messages (each with `parsed` and an unsaved `message`).
"""

from datetime import timedelta

from django.utils import timezone

from mailsync.ingest import bulk
from mailsync.models import Message, Participant, Thread
from mailsync.routing import matching


def threads_assign(new: list) -> None:
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


def _recent_threads_by_subject(new: list) -> dict[str, list[tuple[Thread, set[str]]]]:
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
