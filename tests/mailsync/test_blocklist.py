"""A rep's block list: blocked mail is recorded in the ledger as `blocked` and not shown on
records; removing the entry brings it back."""

import pytest
from django.urls import reverse

from mailsync import blocking
from mailsync.models import BlockEntry, MailAccount, MessageLink, SkipEntry
from tests.mailsync.mail import deliver

pytestmark = pytest.mark.django_db

URL = reverse("mailsync:blocklist")


def blocked_rows(account):
    return SkipEntry.objects.filter(account=account, code="blocked")


def test_blocking_an_address_takes_its_mail_off_and_removing_brings_it_back(
    alice_client, dovecot, mail_user, account, ann
):
    old = deliver(dovecot, mail_user, account, sender="ann@acme.com", message_id="<b1@acme.com>")
    assert old.links.filter(contact=ann).exists()

    response = alice_client.post(URL, {"value": " Ann@Acme.com "})
    assert response.status_code == 302
    entry = BlockEntry.objects.get(user=account.user)
    assert entry.value == "ann@acme.com"
    assert not old.links.exists()  # existing links go away
    assert list(blocked_rows(account).values_list("message", flat=True)) == [old.pk]

    new = deliver(dovecot, mail_user, account, sender="ann@acme.com", message_id="<b2@acme.com>")
    assert not new.links.exists()
    row = blocked_rows(account).get(message=new)
    assert "ann@acme.com" in row.detail and row.from_address == "ann@acme.com"
    assert row.subject == new.subject and row.date == new.date and row.folder is not None
    # Other senders are still linked.
    other = deliver(dovecot, mail_user, account, sender="bo@acme.com", message_id="<b3@acme.com>")
    assert other.links.filter(company=ann.company).exists()

    response = alice_client.post(reverse("mailsync:block_remove", args=[entry.pk]))
    assert response.status_code == 302
    assert not BlockEntry.objects.exists()
    assert not blocked_rows(account).exists()
    for message in (old, new):
        assert message.links.filter(contact=ann).exists()
        assert message.links.filter(company=ann.company).exists()


def test_blocking_a_domain(alice, dovecot, mail_user, account, ann):
    old = deliver(dovecot, mail_user, account, sender="ann@acme.com", message_id="<d1@acme.com>")
    entry = blocking.block_add(user=alice, value="https://www.Acme.com/about")
    assert entry.value == "acme.com" and entry.is_domain
    assert not old.links.exists()
    new = deliver(
        dovecot,
        mail_user,
        account,
        sender="someone@else.example",
        cc=["ann@acme.com"],
        message_id="<d2@else.example>",
    )
    assert not new.links.exists()
    assert set(blocked_rows(account).values_list("message", flat=True)) == {old.pk, new.pk}
    assert "acme.com" in blocked_rows(account).get(message=new).detail

    blocking.block_remove(entry=entry)
    assert not blocked_rows(account).exists()
    assert old.links.filter(contact=ann).exists() and new.links.filter(contact=ann).exists()


def test_a_message_blocked_twice_stays_blocked_until_both_entries_go(
    alice, dovecot, mail_user, account, ann
):
    message = deliver(
        dovecot, mail_user, account, sender="ann@acme.com", message_id="<t1@acme.com>"
    )
    by_address = blocking.block_add(user=alice, value="ann@acme.com")
    by_domain = blocking.block_add(user=alice, value="acme.com")
    blocking.block_remove(entry=by_address)
    assert not message.links.exists() and blocked_rows(account).filter(message=message).exists()
    blocking.block_remove(entry=by_domain)
    assert message.links.filter(contact=ann).exists() and not blocked_rows(account).exists()


def test_links_added_by_hand_stay(alice, dovecot, mail_user, account, ann):
    message = deliver(
        dovecot, mail_user, account, sender="ann@acme.com", message_id="<h1@acme.com>"
    )
    MessageLink.objects.filter(message=message).delete()
    MessageLink.objects.create(message=message, contact=ann, origin="manual", created_by=alice)
    blocking.block_add(user=alice, value="ann@acme.com")
    assert message.links.filter(contact=ann, origin="manual").exists()


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
    theirs = MailAccount.objects.create(
        user=bob, email="bob@ourco.example", login="bob", imap_host="x", smtp_host="x"
    )
    message.sightings.create(account=theirs)
    blocking.block_add(user=alice, value="ann@acme.com")
    assert message.links.filter(contact=ann).exists()
    assert blocked_rows(account).filter(message=message).exists()
