import pytest
from django.urls import reverse

from crm import services
from crm.models import Activity, Company, Contact, Deal, Lead, Note, Stage, Task
from tests.factories import CompanyFactory, ContactFactory, DealFactory, LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def records(alice):
    company = services.company_save(
        company=Company(name="Acme", owner=alice), actor=alice, domains=["acme.com"]
    )
    contact = services.contact_save(
        contact=Contact(first_name="Ann", last_name="Archer", company=company, owner=alice),
        actor=alice,
        emails=["ann@acme.com"],
    )
    lead = services.lead_save(
        lead=Lead(first_name="Luca", company_name="Bar Luca", owner=alice), actor=alice
    )
    deal = DealFactory(owner=alice, company=company, name="Acme renewal")
    deal.contacts.add(contact)
    return {"company": company, "contact": contact, "lead": lead, "deal": deal}


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/contacts/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


@pytest.mark.parametrize("kind", ["company", "contact", "lead", "deal"])
def test_a_teammate_sees_and_edits_but_an_outsider_gets_404(kind, records, client, bob, charlie):
    record = records[kind]
    urls = [record.get_absolute_url(), reverse(f"crm:{kind}_edit", args=[record.pk])]
    client.force_login(bob)
    for url in urls:
        assert client.get(url).status_code == 200
    client.force_login(charlie)
    for url in urls + [reverse(f"crm:{kind}_delete", args=[record.pk])]:
        assert client.get(url).status_code == 404, url
    posts = [
        reverse(f"crm:{kind}_edit", args=[record.pk]),
        reverse(f"crm:{kind}_delete", args=[record.pk]),
        reverse(f"crm:{kind}_note_add", args=[record.pk]),
        reverse(f"crm:{kind}_task_add", args=[record.pk]),
    ]
    for url in posts:
        assert client.post(url, {"body": "x", "title": "x"}).status_code == 404, url
    assert not Note.objects.exists() and not Task.objects.exists()
    assert type(record).objects.filter(pk=record.pk).exists()


def test_an_outsider_cannot_move_close_or_convert_by_guessing_ids(records, charlie_client):
    deal, lead = records["deal"], records["lead"]
    stage = Stage.objects.order_by("position").last()
    assert (
        charlie_client.post(
            reverse("crm:deal_move", args=[deal.pk]), {"stage": stage.pk}
        ).status_code
        == 404
    )
    assert (
        charlie_client.post(
            reverse("crm:deal_close", args=[deal.pk]), {"outcome": "won"}
        ).status_code
        == 404
    )
    assert charlie_client.post(reverse("crm:lead_convert", args=[lead.pk])).status_code == 404
    deal.refresh_from_db()
    assert deal.stage != stage and deal.is_open


def test_lists_and_search_show_nothing_of_another_team(records, charlie_client):
    for kind in ["company", "contact", "lead", "deal"]:
        response = charlie_client.get(reverse(f"crm:{kind}_list"))
        assert list(response.context["object_list"]) == []
    response = charlie_client.get("/search/?q=a")
    assert response.context["total"] == 0
    assert b"Acme" not in charlie_client.get("/").content


def test_only_the_owner_or_a_manager_may_delete(records, client, bob, mallory):
    contact = records["contact"]
    client.force_login(bob)
    assert client.post(reverse("crm:contact_delete", args=[contact.pk])).status_code == 403
    client.force_login(mallory)
    response = client.post(reverse("crm:contact_delete", args=[contact.pk]))
    assert response.status_code == 302
    assert not Contact.objects.filter(pk=contact.pk).exists()


def test_creating_a_contact(alice_client, records):
    response = alice_client.post(
        "/contacts/new/",
        {
            "first_name": "Bea",
            "last_name": "Costa",
            "emails_text": "Bea@Acme.com\nbea.costa@gmail.com",
            "phones_text": "+39 333 1234567",
            "company": records["company"].pk,
            "owner": records["company"].owner_id,
        },
    )
    contact = Contact.objects.get(last_name="Costa")
    assert response.status_code == 302 and response.url == contact.get_absolute_url()
    assert [e.address for e in contact.emails.all()] == ["bea@acme.com", "bea.costa@gmail.com"]
    assert Activity.objects.filter(contact=contact, verb="created").exists()


def test_bad_input_is_named_kept_and_changes_nothing(alice_client, alice):
    response = alice_client.post(
        "/contacts/new/",
        {"first_name": "Bea", "emails_text": "bea@\nok@acme.com\n@nowhere", "owner": alice.pk},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors["emails_text"]
    assert errors == [
        "“bea@” is not a valid email address.",
        "“@nowhere” is not a valid email address.",
    ]
    assert 'value="Bea"' in response.content.decode()
    assert "bea@\nok@acme.com\n@nowhere" in response.content.decode()
    assert not Contact.objects.exists()


def test_a_record_needs_something_to_identify_it(alice_client, alice):
    response = alice_client.post("/contacts/new/", {"owner": alice.pk})
    assert "Give the contact a name or an email address." in response.content.decode()
    response = alice_client.post("/companies/new/", {"owner": alice.pk, "domains_text": "acme"})
    form = response.context["form"]
    assert "name" in form.errors and form.errors["domains_text"] == [
        "“acme” is not a valid web domain."
    ]


def test_a_record_cannot_be_given_to_someone_outside_the_team(alice_client, charlie):
    response = alice_client.post(
        "/leads/new/", {"first_name": "X", "status": "new", "owner": charlie.pk}
    )
    assert "owner" in response.context["form"].errors
    assert not Lead.objects.exists()


def test_a_deal_cannot_name_another_teams_company(alice_client, alice, charlie):
    theirs = CompanyFactory(owner=charlie)
    stage = Stage.objects.first()
    response = alice_client.post(
        "/deals/new/",
        {
            "name": "Sneaky",
            "value": "10",
            "currency": "EUR",
            "stage": stage.pk,
            "company": theirs.pk,
            "owner": alice.pk,
        },
    )
    assert "company" in response.context["form"].errors


def test_editing_a_company_keeps_its_domains_unless_changed(alice_client, records):
    company = records["company"]
    response = alice_client.get(reverse("crm:company_edit", args=[company.pk]))
    assert response.context["form"].initial["domains_text"] == "acme.com"
    alice_client.post(
        reverse("crm:company_edit", args=[company.pk]),
        {"name": "Acme Corp", "domains_text": "acme.com\nacme.co.uk", "owner": company.owner_id},
    )
    company.refresh_from_db()
    assert company.name == "Acme Corp"
    assert sorted(company.domains.values_list("domain", flat=True)) == ["acme.co.uk", "acme.com"]


def test_the_same_address_on_two_records_is_shown_on_both(alice_client, records, alice):
    services.record_set_emails(record=records["lead"], emails=["ann@acme.com"])
    page = alice_client.get(records["lead"].get_absolute_url()).content.decode()
    assert "Also on:" in page and records["contact"].get_absolute_url() in page


def test_list_search_filter_sort_and_paginate(alice_client, alice, bob, settings):
    settings.CRM_PAGE_SIZE = 2
    for name in ["Zeta", "Alpha", "Mid"]:
        services.contact_save(
            contact=Contact(first_name=name, last_name=name, owner=alice), actor=alice
        )
    services.contact_save(
        contact=Contact(first_name="Bobs", last_name="Own", owner=bob),
        actor=bob,
        emails=["own@bob.example"],
    )

    page = alice_client.get("/contacts/?sort=name")
    assert [c.last_name for c in page.context["object_list"]] == ["Alpha", "Mid"]
    assert page.context["paginator"].count == 4
    page2 = alice_client.get("/contacts/?sort=name&page=2")
    assert [c.last_name for c in page2.context["object_list"]] == ["Own", "Zeta"]
    desc = alice_client.get("/contacts/?sort=-name")
    assert desc.context["object_list"][0].last_name == "Zeta"
    assert [
        c.last_name for c in alice_client.get("/contacts/?q=own@bob").context["object_list"]
    ] == ["Own"]
    mine = alice_client.get("/contacts/?owner=me")
    assert mine.context["paginator"].count == 3
    # A bad sort key or page number falls back instead of failing.
    assert alice_client.get("/contacts/?sort=password&page=99").status_code == 200


def test_lead_and_deal_filters(alice_client, alice):
    LeadFactory(owner=alice, status="qualified", source="event")
    LeadFactory(owner=alice, status="converted")
    assert alice_client.get("/leads/").context["paginator"].count == 1  # converted ones hidden
    assert alice_client.get("/leads/?status=all").context["paginator"].count == 2
    assert alice_client.get("/leads/?source=web").context["paginator"].count == 0
    DealFactory(owner=alice, status="won")
    DealFactory(owner=alice)
    assert alice_client.get("/deals/").context["paginator"].count == 1
    assert alice_client.get("/deals/?status=won").context["paginator"].count == 1
    assert alice_client.get("/deals/?status=all").context["paginator"].count == 2


def test_global_search_finds_records_by_name_address_and_domain(alice_client, records):
    assert (
        records["contact"] in alice_client.get("/search/?q=ann@acme").context["results"]["contacts"]
    )
    assert (
        records["company"]
        in alice_client.get("/search/?q=acme.com").context["results"]["companies"]
    )
    assert records["deal"] in alice_client.get("/search/?q=renewal").context["results"]["deals"]
    assert (
        records["contact"]
        in alice_client.get("/search/?q=Ann Archer").context["results"]["contacts"]
    )


def test_converting_a_lead_from_the_ui(alice_client, records):
    lead = records["lead"]
    stage = Stage.objects.order_by("position")[2]
    response = alice_client.post(
        reverse("crm:lead_convert", args=[lead.pk]),
        {
            "company_name": "Bar Luca",
            "create_deal": "on",
            "deal_name": "Coffee",
            "deal_value": "120",
            "deal_currency": "EUR",
            "deal_stage": stage.pk,
        },
    )
    deal = Deal.objects.get(name="Coffee")
    assert response.url == deal.get_absolute_url()
    assert deal.stage == stage and deal.company.name == "Bar Luca"
    lead.refresh_from_db()
    assert lead.is_converted
    again = alice_client.post(reverse("crm:lead_convert", args=[lead.pk]))
    assert again.status_code == 302 and Deal.objects.filter(name="Coffee").count() == 1


def test_moving_a_deal_on_the_board(alice_client, records):
    deal = records["deal"]
    stage = Stage.objects.order_by("position").last()
    response = alice_client.post(
        reverse("crm:deal_move", args=[deal.pk]), {"stage": stage.pk, "next": "/deals/board/"}
    )
    assert response.url == "/deals/board/"
    deal.refresh_from_db()
    assert deal.stage == stage
    # htmx gets the board back, with the card in its new column.
    other = Stage.objects.order_by("position").first()
    response = alice_client.post(
        reverse("crm:deal_move", args=[deal.pk]), {"stage": other.pk}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    column = next(c for c in response.context["columns"] if c["stage"] == other)
    assert deal in column["deals"]


def test_next_never_leads_off_site(alice_client, records):
    deal = records["deal"]
    stage = Stage.objects.last()
    response = alice_client.post(
        reverse("crm:deal_move", args=[deal.pk]),
        {"stage": stage.pk, "next": "https://evil.example/"},
    )
    assert response.url == deal.get_absolute_url()


def test_closing_a_deal_as_lost_needs_a_reason(alice_client, records):
    deal = records["deal"]
    response = alice_client.post(reverse("crm:deal_close", args=[deal.pk]), {"outcome": "lost"})
    assert response.status_code == 400
    assert "Say why the deal was lost" in response.content.decode()
    alice_client.post(
        reverse("crm:deal_close", args=[deal.pk]), {"outcome": "lost", "reason": "Budget"}
    )
    deal.refresh_from_db()
    assert deal.status == "lost" and deal.lost_reason == "Budget"
    assert "reopen" in alice_client.get(deal.get_absolute_url()).content.decode().lower()


def test_notes_and_tasks_from_a_record_page(alice_client, records, alice):
    contact = records["contact"]
    alice_client.post(
        reverse("crm:contact_note_add", args=[contact.pk]), {"body": "Likes espresso"}
    )
    alice_client.post(
        reverse("crm:contact_task_add", args=[contact.pk]),
        {"title": "Send brochure", "assignee": alice.pk, "due_date": "2030-01-31"},
    )
    page = alice_client.get(contact.get_absolute_url()).content.decode()
    assert "Likes espresso" in page and "Send brochure" in page
    task = Task.objects.get()
    response = alice_client.post(reverse("crm:task_toggle", args=[task.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "<s>Send brochure</s>" in response.content.decode()
    bad = alice_client.post(
        reverse("crm:contact_task_add", args=[contact.pk]), {"title": "", "assignee": alice.pk}
    )
    assert bad.status_code == 200 and "title" in bad.context["form"].errors


def test_dashboard_shows_my_open_deals_tasks_and_recent_activity(alice_client, records, alice):
    services.task_add(
        record=records["deal"], created_by=alice, title="Chase signature", assignee=alice
    )
    response = alice_client.get("/")
    assert records["deal"] in response.context["open_deals"]
    assert [t.title for t in response.context["tasks"]] == ["Chase signature"]
    assert any(a.verb == "created" for a in response.context["recent"])


def test_every_record_has_an_absolute_url(records):
    for kind, record in records.items():
        assert record.get_absolute_url() == reverse(f"crm:{kind}_detail", args=[record.pk])


def test_unknown_urls_give_a_404_page_in_the_users_language(client, alice):
    client.force_login(alice)
    response = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="it")
    assert response.status_code == 404
    assert "Pagina non trovata" in response.content.decode()
    assert "Traceback" not in response.content.decode()
    english = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="en")
    assert "Page not found" in english.content.decode()


def test_list_pages_make_a_fixed_number_of_queries(
    alice_client, alice, django_assert_max_num_queries
):
    for i in range(30):
        contact = ContactFactory(owner=alice, company=CompanyFactory(owner=alice))
        services.record_set_emails(record=contact, emails=[f"p{i}@x.example"])
        DealFactory(owner=alice, company=contact.company).contacts.add(contact)
        LeadFactory(owner=alice)
    for url in ["/contacts/", "/companies/", "/deals/", "/leads/", "/deals/board/", "/"]:
        with django_assert_max_num_queries(15):
            assert alice_client.get(url).status_code == 200
