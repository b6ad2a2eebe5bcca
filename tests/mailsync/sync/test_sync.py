"""Syncing a real Dovecot mailbox: Inbox and Sent only, read-only, nothing lost, nothing twice."""

from datetime import UTC, datetime, timedelta

import pytest

from mailsync.accounts.services import account_disconnect
from mailsync.models import MailAccount, MailFolder, Message, Participant, Sighting, SkipEntry
from mailsync.selectors.due import accounts_due
from mailsync.selectors.messages import raw_bytes
from mailsync.sync.run import account_claim, account_sync
from tests.support.mail import make_message

pytestmark = pytest.mark.django_db


def sync(account):
    result = account_sync(account=account)
    account.refresh_from_db()
    return result


def all_flags(dovecot, login):
    return {folder: dovecot.flags(login, folder) for folder in ("INBOX", "Sent", "Archive")}


def test_first_sync_imports_inbox_and_sent_and_changes_nothing_on_the_server(
    dovecot, mail_user, account
):
    login = mail_user.login
    dovecot.append(login, "INBOX", make_message(subject="Unread question"))
    dovecot.append(login, "INBOX", make_message(subject="Read question"), flags=["\\Seen"])
    dovecot.append(
        login, "Sent", make_message(subject="My answer", sender=login, to="bob@customer.example")
    )
    dovecot.append(login, "Archive", make_message(subject="Archived: never synced"))
    before = all_flags(dovecot, login)

    result = sync(account)

    assert result.error is None, result
    assert (result.imported, result.duplicates, result.skipped) == (3, 0, {})
    assert sorted(Message.objects.values_list("subject", flat=True)) == [
        "My answer",
        "Read question",
        "Unread question",
    ]
    assert all_flags(dovecot, login) == before  # \Seen not set, nothing moved or deleted
    assert account.status == MailAccount.Status.CONNECTED and account.last_success_at
    assert account.next_sync_at > account.last_sync_at
    inbox = account.folders.get(role="inbox")
    assert inbox.uidvalidity == dovecot.uidvalidity(login, "INBOX") and inbox.last_uid == 2
    assert account.folders.get(role="sent").name == "Sent"


def test_a_second_sync_with_nothing_new_stores_nothing(dovecot, mail_user, account):
    dovecot.append(mail_user.login, "INBOX", make_message())
    sync(account)
    result = sync(account)
    assert (result.imported, result.duplicates) == (0, 0)
    assert Message.objects.count() == 1 and Sighting.objects.count() == 1


def test_new_mail_between_syncs_is_picked_up(dovecot, mail_user, account):
    dovecot.append(mail_user.login, "INBOX", make_message(subject="First"))
    sync(account)
    dovecot.append(mail_user.login, "INBOX", make_message(subject="Second"))
    dovecot.append(mail_user.login, "Sent", make_message(subject="Reply", sender=mail_user.login))
    result = sync(account)
    assert result.imported == 2
    assert Message.objects.count() == 3


def test_a_message_is_parsed_into_participants_bodies_and_a_thread(dovecot, mail_user, account):
    first = make_message(
        subject="Quote", message_id="<q1@customer.example>", cc=["Carol <Carol@Customer.example>"]
    )
    reply = make_message(
        subject="Re: Quote",
        sender=mail_user.login,
        to="bob@customer.example",
        message_id="<r1@ourco.example>",
        in_reply_to="<q1@customer.example>",
        html="<p>Thanks <script>alert(1)</script></p>",
    )
    dovecot.append(mail_user.login, "INBOX", first)
    dovecot.append(mail_user.login, "Sent", reply)
    sync(account)
    quote = Message.objects.get(message_id="q1@customer.example")
    answer = Message.objects.get(message_id="r1@ourco.example")
    assert answer.thread == quote.thread
    assert quote.from_address == "bob@customer.example"
    roles = set(Participant.objects.filter(message=quote).values_list("role", "address"))
    assert ("cc", "carol@customer.example") in roles and ("to", "alice@ourco.example") in roles
    assert "Tuesday" in quote.text and quote.snippet
    assert b"Subject: Quote" in raw_bytes(quote)


def test_the_same_message_in_inbox_and_sent_is_stored_once(dovecot, mail_user, account):
    raw = make_message(subject="Note to self", sender=mail_user.login, to=mail_user.login)
    dovecot.append(mail_user.login, "INBOX", raw)
    dovecot.append(mail_user.login, "Sent", raw)
    result = sync(account)
    assert (result.imported, result.duplicates) == (1, 1)
    message = Message.objects.get()
    assert set(message.sightings.values_list("folder__role", flat=True)) == {"inbox", "sent"}


def test_messages_without_message_id_are_not_duplicated(dovecot, mail_user, account):
    raw = make_message(subject="No id", message_id=None)
    dovecot.append(mail_user.login, "INBOX", raw)
    dovecot.append(mail_user.login, "Sent", raw)
    sync(account)
    assert Message.objects.count() == 1
    assert Message.objects.get().key.startswith("sha256:")


@pytest.mark.parametrize("count, headers_only", [(100, False), (101, True)])
def test_more_than_100_recipients_keeps_headers_and_says_why(
    dovecot, mail_user, account, count, headers_only
):
    recipients = [f"person{i}@list.example" for i in range(count)]
    dovecot.append(mail_user.login, "INBOX", make_message(subject="Newsletter", to=recipients))
    result = sync(account)
    message = Message.objects.get()
    assert message.headers_only is headers_only
    assert message.recipient_count == count
    if headers_only:
        assert result.skipped == {"too_many_recipients": 1}
        skip = SkipEntry.objects.get()
        assert (skip.code, skip.subject, skip.from_address) == (
            "too_many_recipients",
            "Newsletter",
            "bob@customer.example",
        )
        assert "101 recipients" in skip.detail
        assert message.text == "" and raw_bytes(message)  # the raw message is kept
    else:
        assert result.imported == 1 and not SkipEntry.objects.exists()


def test_the_recipient_limit_is_a_setting(dovecot, mail_user, account, settings):
    settings.MAILSYNC_MAX_RECIPIENTS = 2
    dovecot.append(
        mail_user.login, "INBOX", make_message(to=["a@x.example", "b@x.example", "c@x.example"])
    )
    assert sync(account).skipped == {"too_many_recipients": 1}


def test_a_uidvalidity_change_resyncs_without_duplicates(dovecot, mail_user, account):
    for i in range(3):
        dovecot.append(mail_user.login, "INBOX", make_message(subject=f"m{i}"))
    sync(account)
    new = dovecot.reset_uidvalidity(mail_user.login, "INBOX")
    dovecot.append(mail_user.login, "INBOX", make_message(subject="after the reset"))
    result = sync(account)
    assert (result.imported, result.duplicates) == (1, 3)
    assert Message.objects.count() == 4
    assert account.folders.get(role="inbox").uidvalidity == new


def test_history_none_starts_with_the_next_message(dovecot, mail_user, account):
    account.history_days = 0
    account.save()
    dovecot.append(mail_user.login, "INBOX", make_message(subject="old"))
    assert sync(account).imported == 0
    dovecot.append(mail_user.login, "INBOX", make_message(subject="new"))
    assert sync(account).imported == 1
    assert list(Message.objects.values_list("subject", flat=True)) == ["new"]


def test_history_window_leaves_out_older_mail(dovecot, mail_user, account):
    account.history_days = 30
    account.save()
    old = datetime.now(UTC) - timedelta(days=60)
    dovecot.append(mail_user.login, "INBOX", make_message(subject="old", date=old), date=old)
    dovecot.append(mail_user.login, "INBOX", make_message(subject="recent"))
    sync(account)
    assert list(Message.objects.values_list("subject", flat=True)) == ["recent"]


def test_a_wrong_password_marks_the_account_as_needing_the_rep(dovecot, mail_user, account):
    account.secret = "changed-on-the-server"
    account.save()
    result = sync(account)
    assert result.error.code == "imap_auth_failed"
    assert account.status == MailAccount.Status.ERROR
    assert (account.error_code, account.error_stage) == ("imap_auth_failed", "imap_login")
    assert account.next_sync_at is None  # no retrying until the rep fixes it
    assert account.runs.get().outcome == "error"


def test_a_temporary_failure_is_retried_with_backoff(account, closed_port):
    account.imap_port = closed_port.port
    account.save()
    sync(account)
    first = account.next_sync_at - account.last_sync_at
    sync(account)
    second = account.next_sync_at - account.last_sync_at
    assert account.error_code == "connection_refused" and account.failures == 2
    assert timedelta(seconds=50) < first < second <= timedelta(minutes=60)


def test_two_workers_never_sync_one_account_at_once(account):
    token = account_claim(account=account)
    assert token
    assert account_sync(account=account).claimed is False
    assert account_claim(account=account) is None


def test_disconnecting_removes_the_secret_and_keeps_the_mail(dovecot, mail_user, account):
    dovecot.append(mail_user.login, "INBOX", make_message())
    sync(account)
    account_disconnect(account=account)
    account.refresh_from_db()
    assert account.secret_ciphertext == "" and account.status == "disconnected"
    assert Message.objects.count() == 1
    assert account not in accounts_due()


def test_status_reports_folders_and_counts(dovecot, mail_user, account):
    from mailsync.selectors.status import account_status

    dovecot.append(mail_user.login, "INBOX", make_message())
    dovecot.append(
        mail_user.login, "INBOX", make_message(to=[f"p{i}@x.example" for i in range(120)])
    )
    sync(account)
    status = account_status(account=account)
    assert status["imported"] == 1 and status["skipped"] == {"too_many_recipients": 1}
    assert {f["role"] for f in status["folders"]} == {"inbox", "sent"}
    assert MailFolder.objects.get(account=account, role="inbox").last_uid == 2


def test_batches_are_bounded_by_bytes_as_well_as_count(dovecot, mail_user, account, settings):
    settings.MAILSYNC_FETCH_BATCH = 100
    settings.MAILSYNC_BATCH_BYTES = 3000  # about two of these messages
    for i in range(5):
        dovecot.append(mail_user.login, "INBOX", make_message(subject=f"m{i}", body="x" * 1200))
    seen = []
    account_sync(account=account, progress=lambda role, done, total: seen.append(done))
    assert Message.objects.count() == 5
    assert len(seen) >= 3 and seen[-1] == 5  # several transactions, not one of five


def test_a_reply_without_in_reply_to_finds_its_thread_by_subject_and_participant(
    dovecot, mail_user, account
):
    dovecot.append(
        mail_user.login,
        "INBOX",
        make_message(subject="Quote for ACME", message_id="<o1@x.example>"),
    )
    sync(account)
    original = Message.objects.get(message_id="o1@x.example")
    # A client that drops In-Reply-To and References, from the same person:
    dovecot.append(
        mail_user.login,
        "INBOX",
        make_message(subject="R: Quote for ACME", message_id="<o2@x.example>"),
    )
    # The same subject from someone unrelated, and a new message that is no reply:
    dovecot.append(
        mail_user.login,
        "INBOX",
        make_message(
            subject="Re: Quote for ACME",
            sender="eve@other.example",
            to="zed@other.example",
            message_id="<o3@x.example>",
        ),
    )
    dovecot.append(
        mail_user.login,
        "INBOX",
        make_message(subject="Quote for ACME", message_id="<o4@x.example>"),
    )
    sync(account)
    thread_of = dict(Message.objects.values_list("message_id", "thread"))
    assert thread_of["o2@x.example"] == original.thread_id
    assert thread_of["o3@x.example"] != original.thread_id
    assert thread_of["o4@x.example"] != original.thread_id


def test_a_reply_in_the_same_batch_as_its_original_joins_its_thread(
    dovecot, mail_user, account, caplog
):
    dovecot.append(
        mail_user.login, "INBOX", make_message(subject="Plan", message_id="<b1@x.example>")
    )
    dovecot.append(
        mail_user.login,
        "INBOX",
        make_message(subject="Re: Plan", message_id="<b2@x.example>", in_reply_to="<b1@x.example>"),
    )
    dovecot.append(
        mail_user.login, "INBOX", make_message(subject="Re: Plan", message_id="<b3@x.example>")
    )
    result = sync(account)
    assert result.imported == 3 and not result.skipped
    assert "one by one" not in caplog.text  # stored as one batch, not by the fallback
    assert Message.objects.values("thread").distinct().count() == 1
