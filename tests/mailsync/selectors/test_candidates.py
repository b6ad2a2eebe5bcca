"""The candidates list: the people in a rep's own mail whom no lead or contact has yet, added in
one click, their mail following at once."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.models import Contact, Lead
from mailsync.models import Message
from mailsync.sync.run import account_sync
from tests.support.mail import make_message

pytestmark = pytest.mark.django_db

URL = reverse("mailsync:candidates")


def put(dovecot, mail_user, **kwargs):
    dovecot.append(mail_user.login, "INBOX", make_message(**kwargs))


def sync(account):
    result = account_sync(account=account)
    assert result.error is None, result


@pytest.fixture
def mailbox(dovecot, mail_user, account, ann, bob):
    put(dovecot, mail_user, sender="Bob Buyer <Bob@Customer.example>", subject="Prices")
    put(dovecot, mail_user, sender="bob@customer.example", subject="Quote")
    put(
        dovecot,
        mail_user,
        sender="Zed Zeta <zed@other.example>",
        cc=["bob@ourco.example"],  # a teammate: never a candidate
        subject="Intro",
    )
    put(dovecot, mail_user, sender="Ann <ann@acme.com>", subject="Known")
    put(dovecot, mail_user, sender="no-reply@shop.example", subject="Your order")
    sync(account)
    return account


def rows(response):
    return {c.address: c for c in response.context["candidates"]}


def test_candidates_are_grouped_by_address_without_own_teammates_or_known_people(
    alice_client, mailbox
):
    response = alice_client.get(URL)
    assert response.status_code == 200
    found = rows(response)
    assert set(found) == {"bob@customer.example", "zed@other.example"}
    bob = found["bob@customer.example"]
    assert bob.messages == 2 and bob.name == "Bob Buyer"
    assert set(bob.subjects) == {"Prices", "Quote"}
    assert found["zed@other.example"].messages == 1
    assert b"Add as lead" in response.content and b"Add as contact" in response.content


def test_other_reps_never_see_a_reps_candidates(client, mailbox, bob, charlie):
    for user in (bob, charlie):
        client.force_login(user)
        response = client.get(URL)
        assert response.status_code == 200
        assert response.context["candidates"] == []
        assert b"customer.example" not in response.content


def test_a_page_costs_the_same_queries_however_many_candidates(
    alice_client, dovecot, mail_user, mailbox
):
    with CaptureQueriesContext(connection) as few:
        alice_client.get(URL)
    for n in range(4):
        put(dovecot, mail_user, sender=f"Person {n} <p{n}@more.example>", subject=f"S{n}")
    sync(mailbox)
    with CaptureQueriesContext(connection) as more:
        response = alice_client.get(URL)
    assert len(rows(response)) == 6
    assert len(more) == len(few)


def test_add_as_contact_links_the_existing_mail_at_once(
    alice_client, alice, mailbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            reverse("mailsync:candidate_add"),
            {"address": "bob@customer.example", "name": "Bob Buyer", "kind": "contact"},
        )
    assert response.status_code == 302
    contact = Contact.objects.get(emails__address="bob@customer.example")
    assert (contact.first_name, contact.last_name, contact.owner) == ("Bob", "Buyer", alice)
    mail = Message.objects.filter(participants__address="bob@customer.example").distinct()
    assert mail.count() == 2
    assert all(m.links.filter(contact=contact).exists() for m in mail)
    assert "bob@customer.example" not in rows(alice_client.get(URL))


def test_add_as_lead(alice_client, alice, mailbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(
            reverse("mailsync:candidate_add"),
            {"address": "zed@other.example", "name": "Zed Zeta", "kind": "lead"},
        )
    lead = Lead.objects.get(emails__address="zed@other.example")
    assert lead.first_name == "Zed" and lead.owner == alice
    assert Message.objects.get(subject="Intro").links.filter(lead=lead).exists()


def test_only_a_candidate_can_be_added(charlie_client, mailbox):
    response = charlie_client.post(
        reverse("mailsync:candidate_add"),
        {"address": "bob@customer.example", "name": "Bob", "kind": "contact"},
    )
    assert response.status_code == 302
    assert not Contact.objects.filter(emails__address="bob@customer.example").exists()


def test_the_recipients_of_a_mailing_over_the_limit_are_no_candidates(
    alice_client, dovecot, mail_user, account
):
    put(dovecot, mail_user, to=[f"exhibitor{i}@fair.example" for i in range(101)])
    put(dovecot, mail_user, sender="real.person@fair.example", subject="A real question")
    sync(account)
    page = alice_client.get(URL).content.decode()
    assert "real.person@fair.example" in page
    assert "exhibitor1@fair.example" not in page
