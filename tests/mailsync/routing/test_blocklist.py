"""A rep's block list: blocked mail is not imported (only the ledger knows it, as `blocked`:
sender, date, the block); removing the entry fetches it again from the server."""

import pytest
from django.urls import reverse

from mailsync.models import BlockEntry, Message, MessageLink, MessageRaw, SkipEntry
from mailsync.routing import blocking, links
from mailsync.sync.run import account_sync
from tests.factories import MailAccountFactory
from tests.support.mail import deliver, make_message

pytestmark = pytest.mark.django_db

URL = reverse("mailsync:blocklist")


def blocked_rows(account):
    return SkipEntry.objects.filter(account=account, code="blocked")


def stored(message_id):
    return Message.objects.filter(message_id=message_id.strip("<>")).first()


def test_blocking_an_address_keeps_its_mail_out_and_removing_brings_it_back(
    alice_client, dovecot, mail_user, account, ann, django_capture_on_commit_callbacks
):
    old = deliver(
        dovecot,
        mail_user,
        account,
        sender="ann@acme.com",
        message_id="<b1@acme.com>",
        subject="Personal: dinner on Friday",
    )
    assert old.links.filter(contact=ann).exists()

    response = alice_client.post(URL, {"value": " Ann@Acme.com "})
    assert response.status_code == 302
    entry = BlockEntry.objects.get(user=account.user)
    assert entry.value == "ann@acme.com"
    # Mail only this mailbox brought in leaves the CRM altogether: body, raw, attachments.
    assert stored("<b1@acme.com>") is None and not MessageRaw.objects.exists()
    row = blocked_rows(account).get()
    assert (row.message, row.uid, row.from_address) == (None, 1, "ann@acme.com")
    assert (row.source, row.header_message_id) == ("imap", "b1@acme.com") and row.date
    assert row.subject == "" and "ann@acme.com" in row.detail

    dovecot.append(
        mail_user.login, "INBOX", make_message(sender="ann@acme.com", message_id="<b2@acme.com>")
    )
    result = account_sync(account=account)
    assert result.skipped == {"blocked": 1} and result.imported == 0
    assert stored("<b2@acme.com>") is None  # not imported: nothing but the ledger row
    new_row = blocked_rows(account).get(uid=2)
    assert new_row.message is None and new_row.subject == "" and new_row.date
    assert new_row.header_message_id == "b2@acme.com" and new_row.folder is not None
    # Other senders are still linked.
    other = deliver(dovecot, mail_user, account, sender="bo@acme.com", message_id="<b3@acme.com>")
    assert other.links.filter(company=ann.company).exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("mailsync:block_remove", args=[entry.pk]))
    assert response.status_code == 302
    assert not BlockEntry.objects.exists()
    assert not blocked_rows(account).exists()
    # Fetched again from the server (the job runs inline in the tests), in full, and linked.
    for message_id in ("<b1@acme.com>", "<b2@acme.com>"):
        message = stored(message_id)
        assert message is not None and message.text and not message.headers_only
        assert message.links.filter(contact=ann).exists()
        assert message.links.filter(company=ann.company).exists()
    assert stored("<b1@acme.com>").subject == "Personal: dinner on Friday"


def test_blocking_a_domain(
    alice, dovecot, mail_user, account, ann, django_capture_on_commit_callbacks
):
    deliver(dovecot, mail_user, account, sender="ann@acme.com", message_id="<d1@acme.com>")
    entry = blocking.block_add(user=alice, value="https://www.Acme.com/about")
    assert entry.value == "acme.com" and entry.is_domain
    assert stored("<d1@acme.com>") is None
    dovecot.append(
        mail_user.login,
        "INBOX",
        make_message(
            sender="someone@else.example", cc=["ann@acme.com"], message_id="<d2@else.example>"
        ),
    )
    account_sync(account=account)
    assert stored("<d2@else.example>") is None  # a recipient is enough
    assert blocked_rows(account).count() == 2
    assert "acme.com" in blocked_rows(account).get(uid=2).detail

    with django_capture_on_commit_callbacks(execute=True):
        links.block_remove(entry=entry)
    assert not blocked_rows(account).exists()
    assert stored("<d1@acme.com>").links.filter(contact=ann).exists()
    assert stored("<d2@else.example>").links.filter(contact=ann).exists()


def test_a_message_blocked_twice_stays_blocked_until_both_entries_go(
    alice, dovecot, mail_user, account, ann, django_capture_on_commit_callbacks
):
    deliver(dovecot, mail_user, account, sender="ann@acme.com", message_id="<t1@acme.com>")
    by_address = blocking.block_add(user=alice, value="ann@acme.com")
    by_domain = blocking.block_add(user=alice, value="acme.com")
    with django_capture_on_commit_callbacks(execute=True):
        links.block_remove(entry=by_address)
    assert stored("<t1@acme.com>") is None  # fetched again, and the domain blocks it again
    assert "acme.com" in blocked_rows(account).get().detail
    with django_capture_on_commit_callbacks(execute=True):
        links.block_remove(entry=by_domain)
    assert stored("<t1@acme.com>").links.filter(contact=ann).exists()
    assert not blocked_rows(account).exists()


def test_blocked_mail_that_left_the_server_stays_in_the_ledger_when_unblocked(
    alice, dovecot, mail_user, account, django_capture_on_commit_callbacks
):
    deliver(dovecot, mail_user, account, sender="x@junk.example", message_id="<g1@junk.example>")
    entry = blocking.block_add(user=alice, value="junk.example")
    dovecot.doveadm("expunge", "-u", mail_user.login, "mailbox", "INBOX", "all")
    with django_capture_on_commit_callbacks(execute=True):
        links.block_remove(entry=entry)
    assert stored("<g1@junk.example>") is None
    assert blocked_rows(account).count() == 1  # not lost: the rep can still be told


def test_links_added_by_hand_stay(alice, dovecot, mail_user, account, ann):
    message = deliver(
        dovecot, mail_user, account, sender="ann@acme.com", message_id="<h1@acme.com>"
    )
    MessageLink.objects.filter(message=message).delete()
    MessageLink.objects.create(message=message, contact=ann, origin="manual", created_by=alice)
    blocking.block_add(user=alice, value="ann@acme.com")
    assert message.links.filter(contact=ann, origin="manual").exists()  # and the message stays


def test_blocked_mail_is_not_among_the_candidates(alice_client, alice, dovecot, mail_user, account):
    deliver(dovecot, mail_user, account, sender="spam@junk.example", message_id="<s1@junk.example>")
    assert b"spam@junk.example" in alice_client.get(reverse("mailsync:candidates")).content
    blocking.block_add(user=alice, value="junk.example")
    assert b"spam@junk.example" not in alice_client.get(reverse("mailsync:candidates")).content


def test_own_and_teammates_addresses_never_block(alice, bob, dovecot, mail_user, account, ann):
    blocking.block_add(user=alice, value="ourco.example")
    message = deliver(
        dovecot,
        mail_user,
        account,
        sender="ann@acme.com",
        to=["alice@ourco.example", "bob@ourco.example"],
        message_id="<o1@acme.com>",
    )
    assert message.links.filter(contact=ann).exists()


def test_a_block_list_is_the_reps_own(client, alice, charlie, dovecot, mail_user, account, ann):
    entry = blocking.block_add(user=alice, value="acme.com")
    client.force_login(charlie)
    assert b"acme.com" not in client.get(URL).content
    response = client.post(reverse("mailsync:block_remove", args=[entry.pk]))
    assert response.status_code == 404
    assert BlockEntry.objects.filter(pk=entry.pk).exists()


@pytest.mark.parametrize("value", ["", "not an address", "a@b@c", "http://"])
def test_invalid_values_are_refused(alice_client, value):
    response = alice_client.post(URL, {"value": value})
    assert response.status_code == 400
    assert response.context["error"]
    assert not BlockEntry.objects.exists()


def test_the_page_lists_the_entries(alice_client, alice):
    blocking.block_add(user=alice, value="news@shop.example")
    blocking.block_add(user=alice, value="junk.example")
    response = alice_client.get(URL)
    assert response.status_code == 200
    assert [e.value for e in response.context["entries"]] == ["junk.example", "news@shop.example"]


def test_mail_a_teammates_mailbox_also_holds_keeps_its_links(
    alice, bob, dovecot, mail_user, account, ann
):
    message = deliver(
        dovecot, mail_user, account, sender="ann@acme.com", message_id="<m1@acme.com>"
    )
    theirs = MailAccountFactory(user=bob)
    message.sightings.create(account=theirs, source="imap", uid=1)
    blocking.block_add(user=alice, value="ann@acme.com")
    assert message.links.filter(contact=ann).exists()
    assert blocked_rows(account).filter(message=message).exists()
