"""Adding a candidate as a lead or a contact: only an address from the rep's own mail that no
record they see has yet. Alice's mail, synced from the test Dovecot."""

import pytest

from crm.models import Contact, Lead
from mailsync.routing.candidates import NotACandidate, candidate_promote
from tests.support.mail import deliver

pytestmark = pytest.mark.django_db


@pytest.fixture
def message(dovecot, mail_user, account, ann):
    return deliver(
        dovecot,
        mail_user,
        account,
        sender="Rossi, Mario <mario@customer.example>",
        cc=["ann@acme.com"],
        message_id="<c1@customer.example>",
    )


def test_a_candidate_becomes_a_contact_of_the_rep_with_its_mail(
    alice, message, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        contact = candidate_promote(
            user=alice, address="mario@customer.example", kind="contact", name="Rossi, Mario"
        )
    assert (contact.first_name, contact.last_name, contact.owner) == ("Mario", "Rossi", alice)
    assert message.links.filter(contact=contact).exists()


def test_a_display_name_longer_than_the_fields_is_cut(alice, message):
    lead = candidate_promote(
        user=alice, address="mario@customer.example", kind="lead", name="M" * 300 + " Rossi"
    )
    assert (len(lead.first_name), lead.last_name) == (100, "Rossi")


@pytest.mark.parametrize("who", ["bob", "charlie"])
def test_no_one_else_makes_records_of_a_reps_candidates(request, message, who):
    with pytest.raises(NotACandidate):
        candidate_promote(
            user=request.getfixturevalue(who),
            address="mario@customer.example",
            kind="lead",
            name="Mario Rossi",
        )
    assert not Lead.objects.filter(emails__address="mario@customer.example").exists()


@pytest.mark.parametrize(
    "address",
    [
        "ann@acme.com",  # already a contact of Alice's
        "alice@ourco.example",  # the rep's own
        "nobody@customer.example",  # not in her mail
    ],
)
def test_only_a_candidate_is_promoted(alice, message, address):
    with pytest.raises(NotACandidate):
        candidate_promote(user=alice, address=address, kind="contact")
    assert Contact.objects.filter(emails__address=address).count() == (
        1 if address == "ann@acme.com" else 0
    )


def test_a_candidate_becomes_a_lead_or_a_contact_only(alice, message):
    with pytest.raises(ValueError):
        candidate_promote(user=alice, address="mario@customer.example", kind="deal")
