"""The operators' admin: every page opens, search finds addresses, change lists cost a fixed
number of queries, and edits go through the services (validated, on the timeline)."""

from datetime import date

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm import services
from crm.models import (
    Activity,
    Company,
    Contact,
    CsvJob,
    Deal,
    Lead,
    Note,
    Stage,
    Task,
    Team,
    User,
)
from tests.factories import TeamFactory, UserFactory

CRM_ADMINS = [
    (model, model_admin)
    for model, model_admin in admin.site._registry.items()
    if model._meta.app_label == "crm"
]


def _url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def make_rows(n: int, *, start: int = 0) -> None:
    """n of everything, through the services, with the awkward cases the columns must handle:
    contacts and leads without a name (shown by their first address), notes and tasks on each
    kind of record, users in teams and groups."""
    stages = list(Stage.objects.all())
    for i in range(start, start + n):
        team = TeamFactory(name=f"Team {i}")
        Stage.objects.create(name=f"Old stage {i}", position=100 + i, is_active=False)
        owner = UserFactory(username=f"rep{i}", team=team, role="manager" if i % 2 else "rep")
        company = services.company_save(
            company=Company(name=f"Company {i}", owner=owner),
            actor=owner,
            domains=[f"company{i}.example", f"company{i}.example.org"],
        )
        named = i % 2 == 0
        contact = services.contact_save(
            contact=Contact(
                first_name=f"First{i}" if named else "",
                last_name=f"Last{i}" if named else "",
                company=company,
                owner=owner,
            ),
            actor=owner,
            emails=[f"person{i}@company{i}.example", f"other{i}@mail.example"],
            phones=[f"+39 02 0000 {i:04d}"],
        )
        lead = services.lead_save(
            lead=Lead(first_name="", company_name="", owner=owner),
            actor=owner,
            emails=[f"lead{i}@prospect.example"],
        )
        deal = services.deal_save(
            deal=Deal(
                name=f"Deal {i}",
                value=1000 + i,
                stage=stages[i % len(stages)],
                company=company,
                owner=owner,
                expected_close=date(2030, 1, 1 + i % 28),
            ),
            actor=owner,
            contacts=[contact],
        )
        records = [company, contact, lead, deal]
        record = records[i % 4]
        services.note_add(record=record, author=owner, body=f"Note {i}")
        services.note_add(record=contact, author=owner, body=f"About a nameless contact {i}")
        services.task_add(record=record, created_by=owner, assignee=owner, title=f"Task {i}")
        services.task_add(record=None, created_by=owner, assignee=owner, title=f"Free task {i}")
        services.deal_move_stage(deal=deal, stage=stages[(i + 1) % len(stages)], actor=owner)
        CsvJob.objects.create(user=owner, kind="contacts", direction="import", filename=f"{i}.csv")


@pytest.fixture
def rows(db):
    make_rows(3)


@pytest.mark.parametrize(
    ("model", "model_admin"), CRM_ADMINS, ids=[m._meta.model_name for m, _ in CRM_ADMINS]
)
def test_every_page_opens(admin_client, rows, model, model_admin):
    obj = model.objects.order_by("pk").first()
    assert obj is not None, f"no {model._meta.model_name} to open"

    assert admin_client.get(_url(model, "changelist")).status_code == 200
    assert admin_client.get(_url(model, "change", obj.pk)).status_code == 200
    # Activity is written by the services only, CSV jobs by the jobs.
    expected = 403 if model in (Activity, CsvJob) else 200
    assert admin_client.get(_url(model, "add")).status_code == expected


def test_every_crm_model_is_registered():
    registered = {model for model, _ in CRM_ADMINS}
    inlines_only = {"CompanyDomain", "EmailAddress", "PhoneNumber"}
    for model in apps.get_app_config("crm").get_models():
        if model.__name__ not in inlines_only:
            assert model in registered, model.__name__


@pytest.mark.parametrize(
    ("model", "model_admin"), CRM_ADMINS, ids=[m._meta.model_name for m, _ in CRM_ADMINS]
)
def test_changelist_queries_do_not_grow_with_rows(admin_client, db, model, model_admin):
    url = _url(model, "changelist")
    make_rows(3)
    admin_client.get(url)  # warm up: sessions, content types, permissions caches
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(url).status_code == 200
    make_rows(27, start=3)
    with CaptureQueriesContext(connection) as many:
        response = admin_client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 30
    assert len(many) == len(few), "\n".join(q["sql"] for q in many.captured_queries)
    assert len(many) <= 20


def test_search_contacts_by_email_address(admin_client, rows):
    url = _url(Contact, "changelist")
    response = admin_client.get(url, {"q": "person1@company1.example"})
    assert response.status_code == 200
    found = list(response.context["cl"].result_list)
    assert [c.emails.all()[0].address for c in found] == ["person1@company1.example"]
    # A contact with two addresses matching appears once.
    response = admin_client.get(url, {"q": "example"})
    ids = [c.pk for c in response.context["cl"].result_list]
    assert len(ids) == len(set(ids)) == 3


def test_search_companies_by_domain_and_leads_by_email(admin_client, rows):
    response = admin_client.get(_url(Company, "changelist"), {"q": "company2.example.org"})
    assert [c.name for c in response.context["cl"].result_list] == ["Company 2"]
    response = admin_client.get(_url(Lead, "changelist"), {"q": "lead0@"})
    assert len(response.context["cl"].result_list) == 1


def test_autocomplete_for_deal_contacts(admin_client, rows):
    response = admin_client.get(
        "/admin/autocomplete/",
        {"app_label": "crm", "model_name": "deal", "field_name": "contacts", "term": "other1"},
    )
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["person1@company1.example"]


def _inline_management(prefix: str, total: int = 1) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def test_adding_a_contact_normalises_addresses_and_records_activity(admin_client, alice):
    data = {
        "first_name": "Rita",
        "last_name": "Levi",
        "title": "",
        "company": "",
        "owner": str(alice.pk),
        "description": "",
        **_inline_management("emails"),
        "emails-0-address": "  Rita.Levi@Example.COM ",
        "emails-0-position": "0",
        **_inline_management("phones"),
        "phones-0-number": "  +39  02   1234 ",
        "phones-0-position": "0",
    }
    response = admin_client.post(_url(Contact, "add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    contact = Contact.objects.get(last_name="Levi")
    assert [e.address for e in contact.emails.all()] == ["rita.levi@example.com"]
    assert [p.number for p in contact.phones.all()] == ["+39 02 1234"]
    activity = Activity.objects.get(contact=contact)
    assert activity.verb == "created"
    assert activity.actor.username == "admin"


def test_invalid_inline_email_is_rejected(admin_client, alice):
    data = {
        "first_name": "Rita",
        "last_name": "Levi",
        "owner": str(alice.pk),
        **_inline_management("emails"),
        "emails-0-address": "not an address",
        "emails-0-position": "0",
        **_inline_management("phones", 0),
    }
    response = admin_client.post(_url(Contact, "add"), data)
    assert response.status_code == 200
    assert not Contact.objects.exists()


def test_lead_cannot_be_marked_converted_by_hand(admin_client, alice):
    lead = services.lead_save(lead=Lead(first_name="Ada", owner=alice), actor=alice)
    data = {
        "first_name": "Ada",
        "last_name": "",
        "title": "",
        "company_name": "",
        "status": "converted",
        "source": "",
        "owner": str(alice.pk),
        "description": "",
        **_inline_management("emails", 0),
        **_inline_management("phones", 0),
    }
    response = admin_client.post(_url(Lead, "change", lead.pk), data)
    assert response.status_code == 200
    assert "status" in response.context["adminform"].form.errors
    lead.refresh_from_db()
    assert lead.status == Lead.Status.NEW


def test_deal_actions_call_the_services(admin_client, rows):
    deals = list(Deal.objects.order_by("pk"))
    url = _url(Deal, "changelist")
    admin_client.post(url, {"action": "mark_won", "_selected_action": [deals[0].pk]})
    admin_client.post(url, {"action": "mark_lost", "_selected_action": [deals[1].pk]})
    deals[0].refresh_from_db()
    deals[1].refresh_from_db()
    assert deals[0].status == Deal.Status.WON and deals[0].closed_at is not None
    assert deals[1].status == Deal.Status.LOST
    assert Activity.objects.filter(deal=deals[0], verb="won").exists()
    assert Activity.objects.filter(deal=deals[1], verb="lost").exists()

    admin_client.post(url, {"action": "reopen", "_selected_action": [deals[0].pk]})
    deals[0].refresh_from_db()
    assert deals[0].status == Deal.Status.OPEN and deals[0].closed_at is None


def test_task_done_action_sets_done_at(admin_client, rows):
    task = Task.objects.order_by("pk").first()
    admin_client.post(
        _url(Task, "changelist"), {"action": "mark_done", "_selected_action": [task.pk]}
    )
    task.refresh_from_db()
    assert task.done and task.done_at is not None


def test_deleting_a_record_takes_its_timeline(admin_client, rows):
    contact = Contact.objects.order_by("pk").first()
    url = _url(Contact, "delete", contact.pk)
    response = admin_client.get(url)
    assert response.status_code == 200
    assert not response.context["perms_lacking"]
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert not Activity.objects.filter(contact_id=contact.pk).exists()
    assert not Note.objects.filter(contact_id=contact.pk).exists()


def test_activity_is_read_only(admin_client, rows):
    activity = Activity.objects.order_by("pk").first()
    assert admin_client.get(_url(Activity, "add")).status_code == 403
    response = admin_client.get(_url(Activity, "change", activity.pk))
    assert response.status_code == 200
    assert not response.context["has_change_permission"]


def test_stage_list_is_editable(admin_client, db):
    stage = Stage.objects.order_by("position").first()
    response = admin_client.get(_url(Stage, "changelist"))
    formset = response.context["cl"].formset
    data = {
        "form-TOTAL_FORMS": str(formset.total_form_count()),
        "form-INITIAL_FORMS": str(formset.initial_form_count()),
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for i, form in enumerate(formset.forms):
        s = form.instance
        data[f"form-{i}-id"] = str(s.pk)
        data[f"form-{i}-position"] = str(s.position)
        data[f"form-{i}-probability"] = "33" if s.pk == stage.pk else str(s.probability)
        if s.is_active:
            data[f"form-{i}-is_active"] = "on"
    assert admin_client.post(_url(Stage, "changelist"), data).status_code == 302
    stage.refresh_from_db()
    assert stage.probability == 33


def test_user_admin_shows_team(admin_client, alice):
    response = admin_client.get(_url(User, "change", alice.pk))
    assert "team" in response.context["adminform"].form.fields
    response = admin_client.get(_url(User, "changelist"), {"team__id__exact": alice.team_id})
    assert [u.username for u in response.context["cl"].result_list] == ["alice"]
    assert Team.objects.filter(pk=alice.team_id).exists()


def test_user_add_page_sets_team(admin_client, team):
    data = {
        "username": "newrep",
        "usable_password": "true",
        "password1": "a-long-enough-password-42",
        "password2": "a-long-enough-password-42",
        "first_name": "New",
        "last_name": "Rep",
        "email": "newrep@ourco.example",
        "team": str(team.pk),
    }
    response = admin_client.post(_url(User, "add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert User.objects.get(username="newrep").team == team


def test_a_user_an_operator_adds_can_sign_in_to_the_app_by_email(admin_client, client, team):
    from allauth.account.models import EmailAddress as SignInAddress

    response = admin_client.post(
        _url(User, "add"),
        {
            "username": "nadia",
            "usable_password": "true",
            "password1": "a-Long-passphrase-77",
            "password2": "a-Long-passphrase-77",
            "first_name": "Nadia",
            "email": "Nadia@OurCo.example",
            "team": team.pk,
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(username="nadia")
    assert SignInAddress.objects.get(user=user).verified
    signed_in = client.post(
        "/accounts/login/", {"login": "nadia@ourco.example", "password": "a-Long-passphrase-77"}
    )
    assert signed_in.status_code == 302 and "_auth_user_id" in client.session
