import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from crm import selectors, services
from crm.models import Activity, Company, Contact, Deal, EmailAddress, Lead, Note, Stage, Task
from tests.factories import CompanyFactory, ContactFactory, DealFactory, LeadFactory

pytestmark = pytest.mark.django_db


def test_addresses_are_stored_normalised_in_order_without_repeats(alice):
    contact = services.contact_save(
        contact=Contact(first_name="Bob", owner=alice),
        actor=alice,
        emails=["Bob@Acme.com", "bob@acme.com ", "b.smith@acme.com"],
    )
    assert [e.address for e in contact.emails.all()] == ["bob@acme.com", "b.smith@acme.com"]
    services.contact_save(contact=contact, actor=alice, emails=["b.smith@acme.com"])
    assert [e.address for e in contact.emails.all()] == ["b.smith@acme.com"]


def test_the_same_address_twice_on_one_record_is_refused_by_the_database(alice):
    contact = ContactFactory(owner=alice)
    EmailAddress.objects.create(contact=contact, address="x@acme.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        EmailAddress.objects.create(contact=contact, address="x@acme.com")


def test_an_address_belongs_to_exactly_one_record(alice):
    with pytest.raises(IntegrityError), transaction.atomic():
        EmailAddress.objects.create(address="nobody@acme.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        EmailAddress.objects.create(
            address="both@acme.com",
            contact=ContactFactory(owner=alice),
            lead=LeadFactory(owner=alice),
        )


def test_company_domains_are_normalised(alice):
    company = services.company_save(
        company=Company(name="Acme", owner=alice),
        actor=alice,
        domains=["https://www.ACME.com/", "acme.it"],
    )
    assert sorted(company.domains.values_list("domain", flat=True)) == ["acme.com", "acme.it"]
    with pytest.raises(ValidationError):
        services.company_save(company=company, actor=alice, domains=["not a domain"])


def test_converting_a_lead_makes_a_contact_a_company_and_a_deal(alice, bob):
    lead = services.lead_save(
        lead=Lead(
            first_name="Giulia",
            last_name="Bianchi",
            company_name="Trattoria",
            title="Owner",
            owner=alice,
        ),
        actor=alice,
        emails=["giulia@trattoria.example"],
        phones=["+39 02 123"],
    )
    stage = Stage.objects.order_by("position")[1]
    contact, company, deal = services.lead_convert(
        lead=lead, actor=bob, create_deal=True, deal_name="Tables", deal_value=900, deal_stage=stage
    )
    assert (
        contact.name == "Giulia Bianchi" and contact.company == company and contact.owner == alice
    )
    assert [e.address for e in contact.emails.all()] == ["giulia@trattoria.example"]
    assert [p.number for p in contact.phones.all()] == ["+39 02 123"]
    assert company.name == "Trattoria"
    assert (deal.name, deal.value, deal.stage, deal.lead) == ("Tables", 900, stage, lead)
    assert list(deal.contacts.all()) == [contact]
    lead.refresh_from_db()
    assert lead.status == Lead.Status.CONVERTED
    assert (lead.converted_contact, lead.converted_deal) == (contact, deal)
    assert Activity.objects.filter(lead=lead, verb="converted", actor=bob).exists()
    # The lead keeps its address, so its mail stays reachable from both records.
    assert lead.emails.count() == 1


def test_converting_reuses_a_company_with_the_same_name(alice):
    existing = CompanyFactory(name="ACME S.p.A.", owner=alice)
    lead = LeadFactory(owner=alice, company_name="acme s.p.a.")
    _, company, deal = services.lead_convert(lead=lead, actor=alice)
    assert company == existing and deal is None
    assert Company.objects.count() == 1


def test_converting_never_reuses_another_teams_company_of_the_same_name(alice, charlie):
    charlies = CompanyFactory(name="Acme", owner=charlie)
    lead = LeadFactory(owner=alice, company_name="Acme")

    contact, company, deal = services.lead_convert(lead=lead, actor=alice, create_deal=True)

    assert company != charlies
    assert (company.name, company.owner) == ("Acme", alice)
    assert contact.company == company and deal.company == company
    charlies.refresh_from_db()
    assert (charlies.name, charlies.owner, charlies.contacts.count()) == ("Acme", charlie, 0)
    assert not Deal.objects.filter(company=charlies).exists()


def test_converting_reuses_a_teammates_company(alice, bob):
    bobs = CompanyFactory(name="Acme", owner=bob)
    lead = LeadFactory(owner=alice, company_name="acme")
    _, company, _ = services.lead_convert(lead=lead, actor=alice)
    assert company == bobs


def test_a_lead_is_converted_only_once(alice):
    lead = LeadFactory(owner=alice)
    services.lead_convert(lead=lead, actor=alice)
    with pytest.raises(ValueError):
        services.lead_convert(lead=lead, actor=alice)


def test_moving_a_deal_records_the_stages_on_its_timeline(alice):
    deal = DealFactory(owner=alice)
    stages = list(Stage.objects.order_by("position"))
    services.deal_move_stage(deal=deal, stage=stages[2], actor=alice)
    activity = Activity.objects.get(deal=deal, verb="stage_changed")
    assert activity.data == {"from": stages[0].name, "to": stages[2].name}
    assert activity.summary == f"Alice moved the deal from {stages[0].name} to {stages[2].name}"


def test_editing_a_deal_stage_through_the_form_path_is_recorded_too(alice):
    deal = DealFactory(owner=alice)
    deal.stage = Stage.objects.order_by("position").last()
    services.deal_save(deal=deal, actor=alice)
    assert Activity.objects.filter(deal=deal, verb="stage_changed").count() == 1


def test_closing_and_reopening_a_deal(alice):
    deal = DealFactory(owner=alice)
    services.deal_close(deal=deal, actor=alice, won=False, reason="Too expensive")
    assert (deal.status, deal.lost_reason) == (Deal.Status.LOST, "Too expensive")
    assert deal.closed_at is not None
    services.deal_reopen(deal=deal, actor=alice)
    assert (deal.status, deal.closed_at, deal.lost_reason) == (Deal.Status.OPEN, None, "")
    services.deal_close(deal=deal, actor=alice, won=True)
    assert deal.status == Deal.Status.WON


def test_a_deal_value_cannot_be_negative(alice):
    deal = DealFactory.build(owner=alice, value=-5, stage=Stage.objects.first())
    with pytest.raises(ValidationError):
        services.deal_save(deal=deal, actor=alice)


def test_notes_and_tasks_sit_on_one_record_and_show_on_its_timeline(alice):
    contact = ContactFactory(owner=alice)
    note = services.note_add(record=contact, author=alice, body="  Met at the fair. ")
    task = services.task_add(record=contact, created_by=alice, title="Call back", assignee=alice)
    timeline = selectors.timeline_for(record=contact)
    assert note in timeline and task in timeline
    assert note.body == "Met at the fair."
    services.task_set_done(task=task, done=True)
    assert task.done_at is not None
    with pytest.raises(ValidationError):
        services.note_add(record=contact, author=alice, body="   ")


def test_a_note_cannot_be_attached_to_two_records(alice):
    with pytest.raises(IntegrityError), transaction.atomic():
        Note.objects.create(
            body="x", contact=ContactFactory(owner=alice), company=CompanyFactory(owner=alice)
        )
    Task.objects.create(title="Standalone", assignee=alice)  # a task may stand alone


def test_deleting_a_record_keeps_its_owner_and_deleting_an_owner_is_refused(alice):
    from django.db.models import ProtectedError

    ContactFactory(owner=alice)
    with pytest.raises(ProtectedError):
        alice.delete()
