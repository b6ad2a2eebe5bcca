"""The one ingest pipeline: every route's envelopes, their sources, and a database that fails.

The database failures are real: a trigger on the message table makes the database itself raise,
as it would for a deadlock or a lost server (OperationalError), or refuse one message's values
(IntegrityError), at the very statement that stores the messages.
"""

import pytest
from django.db import OperationalError, connection

from mailsync.ingest import (
    DATABASE_UNAVAILABLE,
    Envelope,
    ImapSource,
    InboundSource,
    OutboxSource,
    message_ingest,
)
from mailsync.models import MailFolder, Message, Sighting, SkipEntry, SyncRun
from mailsync.selectors.messages import raw_bytes
from mailsync.sync.run import account_sync
from tests.support.mail import make_message

pytestmark = pytest.mark.django_db


def inbound(raw, esp_id="esp-1"):
    return Envelope(raw, InboundSource("alice-bcc@in.crm.example", "anymail:mailgun", esp_id))


def test_an_inbound_message_records_its_address_route_and_esp_id(account, ann):
    raw = make_message(sender="ann@acme.com", to="alice@ourco.example", message_id="<i1@acme>")
    [outcome] = message_ingest(account=account, envelopes=[inbound(raw)])
    assert outcome.code == "imported"
    sighting = Sighting.objects.get(message_id=outcome.message_pk)
    assert (sighting.source, sighting.inbound_address, sighting.inbound_route) == (
        "inbound",
        "alice-bcc@in.crm.example",
        "anymail:mailgun",
    )
    assert (sighting.route_message_id, sighting.folder_id, sighting.uid) == ("esp-1", None, None)
    assert Message.objects.get(pk=outcome.message_pk).links.filter(contact=ann).exists()

    # The ESP delivers the same message again (a webhook retried): one sighting, no new message.
    again = message_ingest(account=account, envelopes=[inbound(raw), inbound(raw)])
    assert [o.code for o in again] == ["duplicate", "duplicate"]
    assert {o.message_pk for o in again} == {outcome.message_pk}
    assert Sighting.objects.count() == 1


def test_the_same_place_twice_in_one_batch_is_stored_once(account):
    raw = make_message(message_id="<twice@acme>")
    outcomes = message_ingest(account=account, envelopes=[inbound(raw), inbound(raw)])
    assert [o.code for o in outcomes] == ["imported", "duplicate"]
    assert outcomes[0].message_pk == outcomes[1].message_pk
    assert Sighting.objects.count() == 1


def test_inbound_mail_without_an_esp_id_is_a_new_sighting_each_time(account):
    raw = make_message(message_id="<noid@acme>")
    first = message_ingest(account=account, envelopes=[inbound(raw, esp_id="")])
    second = message_ingest(account=account, envelopes=[inbound(raw, esp_id="")])
    assert [first[0].code, second[0].code] == ["imported", "duplicate"]
    assert Sighting.objects.filter(source="inbound").count() == 2
    assert Message.objects.count() == 1


def test_an_outbox_message_records_the_outgoing_message(account):
    raw = make_message(sender="alice@ourco.example", to="ann@acme.com", message_id="<o1@ourco>")
    [outcome] = message_ingest(account=account, envelopes=[Envelope(raw, OutboxSource(41))])
    assert outcome.code == "imported"
    sighting = Sighting.objects.get()
    assert (sighting.source, sighting.outgoing_id, sighting.inbound_route) == ("outbox", 41, "")
    [again] = message_ingest(account=account, envelopes=[Envelope(raw, OutboxSource(41))])
    assert again.code == "duplicate"


def test_the_ledger_records_the_source_of_a_skipped_message(account, settings):
    settings.MAILSYNC_MAX_RECIPIENTS = 2
    raw = make_message(to=", ".join(f"p{i}@acme.com" for i in range(3)), message_id="<many@a>")
    [outcome] = message_ingest(account=account, envelopes=[inbound(raw, esp_id="esp-9")])
    assert outcome.code == "too_many_recipients"
    entry = SkipEntry.objects.get()
    assert (entry.source, entry.inbound_route, entry.route_message_id, entry.uid) == (
        "inbound",
        "anymail:mailgun",
        "esp-9",
        None,
    )
    assert entry.message_id == outcome.message_pk


def test_the_same_message_by_two_routes_is_stored_once_with_two_sightings(account):
    raw = make_message(message_id="<both@acme>")
    folder = MailFolder.objects.create(account=account, role="inbox", name="INBOX")
    first = message_ingest(account=account, envelopes=[Envelope(raw, ImapSource(folder, 7, 1))])
    second = message_ingest(account=account, envelopes=[inbound(raw)])
    assert (first[0].code, second[0].code) == ("imported", "duplicate")
    assert sorted(Sighting.objects.values_list("source", flat=True)) == ["imap", "inbound"]


# -- a database that fails --------------------------------------------------------------------


@pytest.fixture
def database_fails():
    """Make the database fail when messages are stored: on PostgreSQL a trigger raises a
    deadlock (SQLSTATE 40P01, an OperationalError); on SQLite a trigger writes to a table that
    does not exist ("no such table", an OperationalError). Reading still works."""

    def fail():
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "CREATE FUNCTION test_fail() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'deadlock detected (test)' USING ERRCODE = '40P01'; "
                    "END $$ LANGUAGE plpgsql"
                )
                cursor.execute(
                    "CREATE TRIGGER test_fail BEFORE INSERT ON mailsync_message "
                    "FOR EACH ROW EXECUTE FUNCTION test_fail()"
                )
            else:
                cursor.execute(
                    "CREATE TRIGGER test_fail BEFORE INSERT ON mailsync_message "
                    "BEGIN INSERT INTO database_gone VALUES (1); END"
                )

    def recover():
        with connection.cursor() as cursor:
            cursor.execute(
                "DROP TRIGGER test_fail ON mailsync_message"
                if connection.vendor == "postgresql"
                else "DROP TRIGGER test_fail"
            )

    fail.recover = recover
    return fail


@pytest.fixture
def database_refuses():
    """Make the database refuse one message's values (its subject is "refused"): a trigger
    raising a check violation on PostgreSQL (SQLSTATE 23514), RAISE(ABORT) on SQLite; both are
    IntegrityErrors, as a value the database will not take is."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION test_refuse() RETURNS trigger AS $$ BEGIN "
                "IF NEW.subject = 'refused' THEN RAISE EXCEPTION 'value refused (test)' "
                "USING ERRCODE = '23514'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER test_refuse BEFORE INSERT ON mailsync_message "
                "FOR EACH ROW EXECUTE FUNCTION test_refuse()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER test_refuse BEFORE INSERT ON mailsync_message "
                "WHEN NEW.subject = 'refused' BEGIN SELECT RAISE(ABORT, 'value refused (test)'); "
                "END"
            )


def test_a_database_failure_raises_and_records_nothing(account, database_fails):
    folder = MailFolder.objects.create(account=account, role="inbox", name="INBOX")
    envelopes = [
        Envelope(make_message(subject=f"Good {uid}"), ImapSource(folder, 7, uid)) for uid in (1, 2)
    ]
    database_fails()
    with pytest.raises(DATABASE_UNAVAILABLE) as raised:
        message_ingest(account=account, envelopes=envelopes)
    assert isinstance(raised.value, OperationalError)
    # Not turned into "unparseable" messages, and nothing in the ledger or sightings.
    assert not Message.objects.exists()
    assert not SkipEntry.objects.exists()
    assert not Sighting.objects.exists()


def test_a_database_outage_during_a_sync_does_not_move_the_folder_position(
    dovecot, mail_user, account, database_fails
):
    for i in range(3):
        dovecot.append(mail_user.login, "INBOX", make_message(subject=f"Deal update {i}"))
    database_fails()

    result = account_sync(account=account)
    account.refresh_from_db()
    assert result.error.code == "database_unavailable"
    assert "OperationalError" in result.error.server_words
    assert account.status == "error" and account.next_sync_at is not None  # retried, backing off
    run = SyncRun.objects.get()
    assert (run.outcome, run.error_code) == ("error", "database_unavailable")
    inbox = account.folders.get(role="inbox")
    assert inbox.last_uid == 0  # the batch will be read again
    assert not Message.objects.exists() and not SkipEntry.objects.exists()

    database_fails.recover()
    result = account_sync(account=account)
    assert result.error is None
    assert (result.imported, result.skipped) == (3, {})
    assert account.folders.get(role="inbox").last_uid == 3
    assert not SkipEntry.objects.exists()


def test_a_message_the_database_refuses_costs_only_itself(
    dovecot, mail_user, account, database_refuses
):
    for subject in ("Before", "refused", "After"):
        dovecot.append(mail_user.login, "INBOX", make_message(subject=subject))

    result = account_sync(account=account)
    assert result.error is None
    assert result.imported == 2 and result.skipped == {"unparseable": 1}
    assert account.folders.get(role="inbox").last_uid == 3
    kept = Message.objects.get(skip_code="unparseable")
    assert "IntegrityError" in kept.parse_error and "value refused" in kept.parse_error
    assert b"Subject: refused" in raw_bytes(kept)  # kept raw, nothing lost
    entry = SkipEntry.objects.get()
    assert (entry.code, entry.source, entry.uid, entry.message_id) == (
        "unparseable",
        "imap",
        2,
        kept.pk,
    )
