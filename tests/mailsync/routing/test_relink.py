"""Mail already stored follows edits, not only additions: an address edited in place or moved to
another record, and a company's new or edited web domain, link the stored mail that now matches,
through the services and through the admin's inlines, after the commit."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm import services as crm
from crm.models import Company, CompanyDomain, Contact, Lead
from mailsync.routing import links
from mailsync.sync.run import account_sync
from tests.support.mail import deliver, make_message

pytestmark = pytest.mark.django_db


def records_of(message):
    message.refresh_from_db()
    return {link.record for link in message.links.all()}


def test_an_address_edited_in_place_links_the_mail_of_the_new_address(
    dovecot, mail_user, account, ann, django_capture_on_commit_callbacks
):
    old = deliver(dovecot, mail_user, account, sender="ann@acme.com", message_id="<e1@acme.com>")
    new = deliver(dovecot, mail_user, account, sender="anna@acme.com", message_id="<e2@acme.com>")
    assert ann not in records_of(new)

    email = ann.emails.get()
    email.address = "anna@acme.com"  # the typo fixed, on the same row
    with django_capture_on_commit_callbacks(execute=True):
        email.save()

    assert ann in records_of(new) and new.links.get(contact=ann).origin == "address"
    assert ann in records_of(old)  # the old address's mail stays: only a rep takes mail off


def test_an_address_moved_to_another_record_brings_its_mail_there(
    dovecot, mail_user, account, alice, bob, django_capture_on_commit_callbacks
):
    lead = crm.lead_save(lead=Lead(first_name="Zoe", owner=alice), actor=alice, emails=["zoe@z.io"])
    message = deliver(dovecot, mail_user, account, sender="zoe@z.io", message_id="<mv1@z.io>")
    contact = crm.contact_save(contact=Contact(first_name="Zoe", owner=bob), actor=bob)

    email = lead.emails.get()
    email.lead, email.contact = None, contact
    with django_capture_on_commit_callbacks(execute=True):
        email.save()

    assert records_of(message) == {lead, contact}


def test_an_address_saved_without_a_change_of_address_or_record_links_nothing_again(
    ann, django_capture_on_commit_callbacks
):
    email = ann.emails.get()
    with django_capture_on_commit_callbacks() as callbacks:
        email.position = 3
        email.save()
        email.save(update_fields=["position"])
    assert callbacks == []


def test_a_domain_added_through_company_save_links_the_stored_mail_from_it(
    dovecot, mail_user, account, ann, django_capture_on_commit_callbacks
):
    message = deliver(
        dovecot, mail_user, account, sender="marco@acme.it", message_id="<d1@acme.it>"
    )
    assert not message.links.exists()

    with django_capture_on_commit_callbacks(execute=True):
        crm.company_save(company=ann.company, actor=ann.owner, domains=["acme.com", "Acme.IT"])

    assert records_of(message) == {ann.company}
    assert message.links.get().origin == "domain"


def test_a_new_company_with_domains_gets_their_stored_mail(
    dovecot, mail_user, account, alice, django_capture_on_commit_callbacks
):
    message = deliver(
        dovecot, mail_user, account, sender="sales@globex.example", message_id="<g1@globex>"
    )
    with django_capture_on_commit_callbacks(execute=True):
        globex = crm.company_save(
            company=Company(name="Globex", owner=alice), actor=alice, domains=["globex.example"]
        )
    assert records_of(message) == {globex}


def test_a_domain_edited_in_place_links_the_mail_of_the_new_domain(
    dovecot, mail_user, account, ann, django_capture_on_commit_callbacks
):
    message = deliver(
        dovecot, mail_user, account, sender="joe@acme.co.uk", message_id="<d2@acme.co.uk>"
    )
    domain = ann.company.domains.get()
    domain.domain = "acme.co.uk"
    with django_capture_on_commit_callbacks(execute=True):
        domain.save()
    assert records_of(message) == {ann.company}


def test_a_subdomain_is_not_the_domain(
    dovecot, mail_user, account, ann, django_capture_on_commit_callbacks
):
    message = deliver(
        dovecot, mail_user, account, sender="bob@mail.acme.io", message_id="<sd@mail.acme.io>"
    )
    with django_capture_on_commit_callbacks(execute=True):
        CompanyDomain.objects.create(company=ann.company, domain="acme.io")
    assert records_of(message) == set()


def test_a_free_mail_domain_links_nothing_and_reads_no_mail(alice, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert links.domain_link_existing_mail(domain="gmail.com", owner=alice) == 0


def test_another_teams_new_domain_takes_none_of_our_mail(
    dovecot, mail_user, account, charlie, django_capture_on_commit_callbacks
):
    message = deliver(
        dovecot, mail_user, account, sender="ceo@initech.example", message_id="<i1@initech>"
    )
    with django_capture_on_commit_callbacks(execute=True):
        crm.company_save(
            company=Company(name="Initech", owner=charlie),
            actor=charlie,
            domains=["initech.example"],
        )
    assert records_of(message) == set()


def test_linking_a_new_domain_costs_the_same_queries_for_two_messages_or_ten(
    dovecot, mail_user, account, alice
):
    def queries_to_link(domain: str, messages: int) -> int:
        for n in range(messages):
            dovecot.append(
                mail_user.login,
                "INBOX",
                make_message(sender=f"p{n}@{domain}", message_id=f"<{n}@{domain}>"),
            )
        assert account_sync(account=account).error is None
        company = crm.company_save(company=Company(name=domain, owner=alice), actor=alice)
        CompanyDomain.objects.bulk_create([CompanyDomain(company=company, domain=domain)])
        with CaptureQueriesContext(connection) as queries:
            made = links.domain_link_existing_mail(domain=domain, owner=alice)
        assert made == messages
        return len(queries)

    assert queries_to_link("two.example", 2) == queries_to_link("ten.example", 10)


# Through the admin, where operators edit addresses and domains as inline rows, in place.


def _inline(prefix: str, rows: list[dict], initial: int) -> dict:
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data.update({f"{prefix}-{index}-{field}": value for field, value in row.items()})
    return data


def test_an_operator_editing_a_contacts_address_in_the_admin_links_its_mail(
    dovecot, mail_user, account, ann, admin_client, django_capture_on_commit_callbacks
):
    message = deliver(
        dovecot, mail_user, account, sender="ann.b@acme.com", message_id="<a1@acme.com>"
    )
    email = ann.emails.get()
    data = {
        "first_name": "Ann",
        "last_name": "",
        "title": "",
        "company": str(ann.company_id),
        "owner": str(ann.owner_id),
        "description": "",
        **_inline(
            "emails",
            [
                {
                    "id": str(email.pk),
                    "contact": str(ann.pk),
                    "address": " Ann.B@acme.com ",
                    "position": "0",
                }
            ],
            initial=1,
        ),
        **_inline("phones", [], initial=0),
    }
    url = reverse("admin:crm_contact_change", args=[ann.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors

    assert [e.pk for e in ann.emails.all()] == [email.pk]  # the same row, edited in place
    assert ann.emails.get().address == "ann.b@acme.com"
    assert ann in records_of(message)


def test_an_operator_adding_a_domain_in_the_admin_links_its_mail(
    dovecot, mail_user, account, ann, admin_client, django_capture_on_commit_callbacks
):
    message = deliver(
        dovecot, mail_user, account, sender="it@acme-group.eu", message_id="<a2@acme-group.eu>"
    )
    company = ann.company
    data = {
        "name": "Acme",
        "owner": str(company.owner_id),
        "industry": "",
        "phone": "",
        "address": "",
        "description": "",
        **_inline(
            "domains",
            [
                {
                    "id": str(company.domains.get().pk),
                    "company": str(company.pk),
                    "domain": "acme.com",
                },
                {"id": "", "company": str(company.pk), "domain": "ACME-group.eu"},
            ],
            initial=1,
        ),
    }
    url = reverse("admin:crm_company_change", args=[company.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors

    assert records_of(message) == {company}
