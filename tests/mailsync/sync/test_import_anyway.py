""" "Import anyway": a message kept as headers only because it is over a limit is fetched again
from the server (read-only), stored in full, linked, and taken out of the ledger."""

import pytest
from django.urls import reverse

from mailsync.models import Message, SkipEntry
from mailsync.selectors.messages import raw_bytes
from mailsync.sync.run import account_sync
from tests.support.mail import make_message

pytestmark = pytest.mark.django_db


def skipped(dovecot, mail_user, account, **kwargs):
    dovecot.append(mail_user.login, "INBOX", make_message(**kwargs))
    result = account_sync(account=account)
    assert result.error is None and result.skipped, result
    return SkipEntry.objects.get(account=account)


def test_a_message_with_too_many_recipients_is_imported_in_full_with_one_click(
    alice_client, dovecot, mail_user, account, ann
):
    crowd = [f"p{i}@list.example" for i in range(120)]
    entry = skipped(
        dovecot,
        mail_user,
        account,
        sender="ann@acme.com",
        to=crowd,
        subject="Our offer for the fair",
        message_id="<crowd1@acme.com>",
        body="The whole offer, in full.\n",
    )
    message = entry.message
    assert message.headers_only and not message.links.exists()
    page = alice_client.get(reverse("mailsync:mailbox_skipped"))
    assert b"Import anyway" in page.content
    before = dovecot.flags(mail_user.login, "INBOX")

    response = alice_client.post(reverse("mailsync:mailbox_skipped_import", args=[entry.pk]))

    assert response.status_code == 302
    assert response["Location"] == reverse("mail:message", args=[message.pk])
    message.refresh_from_db()
    assert not message.headers_only and message.skip_code == ""
    assert "The whole offer" in message.text
    assert message.links.filter(contact=ann).exists()
    assert not SkipEntry.objects.exists()
    assert Message.objects.count() == 1 and message.sightings.count() == 1
    assert message.participants.filter(role="to").count() == 120
    assert dovecot.flags(mail_user.login, "INBOX") == before  # nothing changed on the server


def test_an_oversized_message_is_fetched_whole_past_the_size_limit(
    alice_client, dovecot, mail_user, account, settings
):
    settings.MAILSYNC_MAX_MESSAGE_BYTES = 2048
    entry = skipped(dovecot, mail_user, account, body="x" * 5000, message_id="<big1@x.example>")
    assert entry.code == "oversized"

    alice_client.post(reverse("mailsync:mailbox_skipped_import", args=[entry.pk]))

    message = Message.objects.get()
    assert not message.headers_only and len(message.text) >= 5000
    assert len(raw_bytes(message)) > 5000  # the whole raw message now, not the headers
    assert not SkipEntry.objects.exists()


def test_a_message_that_left_the_server_stays_in_the_ledger_with_a_reason(
    alice_client, dovecot, mail_user, account
):
    entry = skipped(dovecot, mail_user, account, to=[f"p{i}@x.example" for i in range(101)])
    dovecot.doveadm("expunge", "-u", mail_user.login, "mailbox", "INBOX", "all")

    response = alice_client.post(
        reverse("mailsync:mailbox_skipped_import", args=[entry.pk]), follow=True
    )

    assert b"no longer in INBOX" in response.content
    assert SkipEntry.objects.filter(pk=entry.pk).exists()
    assert Message.objects.get().headers_only


def test_the_message_is_found_by_message_id_after_the_folder_was_renumbered(
    alice_client, dovecot, mail_user, account
):
    entry = skipped(
        dovecot,
        mail_user,
        account,
        to=[f"p{i}@x.example" for i in range(101)],
        message_id="<renumbered@x.example>",
    )
    dovecot.append(mail_user.login, "INBOX", make_message(subject="another one"))
    dovecot.reset_uidvalidity(mail_user.login, "INBOX")

    alice_client.post(reverse("mailsync:mailbox_skipped_import", args=[entry.pk]))

    assert not Message.objects.get(message_id="renumbered@x.example").headers_only


def test_only_the_owner_of_the_ledger_can_import_anyway(
    charlie_client, dovecot, mail_user, account
):
    entry = skipped(dovecot, mail_user, account, to=[f"p{i}@x.example" for i in range(101)])
    response = charlie_client.post(reverse("mailsync:mailbox_skipped_import", args=[entry.pk]))
    assert response.status_code == 404
    assert Message.objects.get().headers_only


def test_other_skips_cannot_be_imported_anyway(alice_client, alice, account):
    entry = SkipEntry.objects.create(
        account=account, source="imap", code="unparseable", detail="no header"
    )
    response = alice_client.post(reverse("mailsync:mailbox_skipped_import", args=[entry.pk]))
    assert response.status_code == 404
