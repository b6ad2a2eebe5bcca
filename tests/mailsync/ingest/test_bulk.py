"""mailsync.bulk: COPY on PostgreSQL, bulk_create elsewhere, the same rows either way."""

from datetime import UTC, datetime

import pytest

from mailsync.ingest import bulk
from mailsync.models import MailFolder, Message, MessageRaw, Participant, Sighting, Thread
from tests.factories import MailAccountFactory

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def test_insert_gives_keys_and_stores_values_as_django_would():
    threads = [Thread(subject="Proposal", last_message_at=WHEN), Thread(subject="")]
    bulk.insert(Thread, threads)
    assert all(t.pk for t in threads) and threads[0].pk != threads[1].pk
    assert not threads[0]._state.adding

    messages = [
        Message(
            key="mid:<a@x>",
            message_id="<a@x>",
            thread=threads[0],
            subject="Proposal ☃",
            date=WHEN,
            in_reply_to=["<z@x>"],
            references=[{"nested": [1, None, True]}],
            size=12,
            headers_only=True,
        ),
        Message(key="sha256:abc", thread=threads[1]),
    ]
    bulk.insert(Message, messages)
    first, second = (Message.objects.get(pk=m.pk) for m in messages)
    assert first.thread_id == threads[0].pk and second.thread_id == threads[1].pk
    assert (first.subject, first.date, first.size, first.headers_only) == (
        "Proposal ☃",
        WHEN,
        12,
        True,
    )
    assert first.in_reply_to == ["<z@x>"] and first.references == [{"nested": [1, None, True]}]
    assert (second.date, second.headers_only, second.in_reply_to, second.text) == (
        None,
        False,
        [],
        "",
    )
    assert first.created_at is not None and messages[0].created_at == first.created_at
    assert Thread.objects.get(pk=threads[1].pk).last_message_at is None

    # The sequence moved past the keys taken: the ORM's next insert does not collide.
    assert Message.objects.create(key="mid:<b@x>").pk > max(m.pk for m in messages)


def test_insert_values_stores_bytes_nulls_and_defaults(account):
    message = Message.objects.create(key="mid:<raw@x>")
    data = bytes(range(256)) * 3 + b"\\N\t\n\r"
    bulk.insert_values(MessageRaw, ["message", "data", "size"], [(message.pk, data, len(data))])
    raw = MessageRaw.objects.get(pk=message.pk)
    assert bytes(raw.data) == data and raw.size == len(data)

    bulk.insert_values(
        Participant,
        ["message", "role", "address", "name"],
        [
            (message.pk, "to", "bob@customer.example", "Bob\tthe \\ buyer\n"),
            (message.pk, 5, "carol@customer.example", ""),  # converted as Django would
        ],
    )
    rows = list(Participant.objects.filter(message=message).values_list("role", "name", "position"))
    assert rows == [("to", "Bob\tthe \\ buyer\n", 0), ("5", "", 0)]

    folder = MailFolder.objects.create(account=account, role="inbox", name="INBOX")
    bulk.insert_values(
        Sighting,
        ["message", "account", "source", "folder", "uidvalidity", "uid", "outgoing_id"],
        [
            (message.pk, account.pk, "imap", folder.pk, 7, 2**40, None),
            (message.pk, None, "outbox", None, None, None, 3),
        ],
    )
    sightings = Sighting.objects.filter(message=message).order_by("pk")
    assert [
        (s.account_id, s.source, s.folder_id, s.uidvalidity, s.uid, s.outgoing_id, s.inbound_route)
        for s in sightings
    ] == [
        (account.pk, "imap", folder.pk, 7, 2**40, None, ""),
        (None, "outbox", None, None, None, 3, ""),
    ]
    assert all(s.seen_at is not None for s in sightings)


def test_nothing_to_insert_runs_no_query(django_assert_num_queries):
    # Not even the nextval() that would reserve keys for COPY, which Django's count would see.
    with django_assert_num_queries(0):
        bulk.insert(Message, [])
        bulk.insert_values(Participant, ["message", "role", "address"], [])


def test_the_sync_fields_go_to_copy_without_djangos_slow_path():
    # The choice of converter depends on the field types only, so it is checked on any database.
    for model in (Thread, Message, MessageRaw, Participant, Sighting):
        for field in model._meta.concrete_fields:
            assert bulk._converter(field).__name__ != "prepared", f"{model.__name__}.{field.name}"


@pytest.fixture
def account(alice):
    return MailAccountFactory(user=alice)
