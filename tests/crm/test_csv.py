"""CSV import and export: crm/csv_io.py, the crm_import / crm_export commands and the views."""

import datetime
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.urls import reverse

from crm import csv_io
from crm.csv_io import ImportRejected, export_csv, import_csv
from crm.models import (
    Activity,
    Company,
    CompanyDomain,
    Contact,
    Deal,
    EmailAddress,
    Lead,
    PhoneNumber,
    Stage,
)
from crm.selectors import records_for_user
from tests.factories import (
    CompanyDomainFactory,
    CompanyFactory,
    ContactFactory,
    DealFactory,
    EmailAddressFactory,
    LeadFactory,
    UserFactory,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "csv"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def emails_of(record) -> list[str]:
    return [e.address for e in record.emails.all()]


def snapshot() -> dict:
    """Everything an import could touch, to prove that something changed nothing."""
    return {
        "companies": list(Company.objects.order_by("pk").values()),
        "domains": list(CompanyDomain.objects.order_by("pk").values()),
        "contacts": list(Contact.objects.order_by("pk").values()),
        "leads": list(Lead.objects.order_by("pk").values()),
        "deals": list(Deal.objects.order_by("pk").values()),
        "deal_contacts": list(Deal.contacts.through.objects.order_by("pk").values()),
        "emails": list(EmailAddress.objects.order_by("pk").values()),
        "phones": list(PhoneNumber.objects.order_by("pk").values()),
        "activities": Activity.objects.count(),
    }


@pytest.fixture
def ada(alice):
    """A contact of Alice's that deals can be attached to by email."""
    contact = ContactFactory(first_name="Ada", last_name="Lovelace", owner=alice)
    EmailAddressFactory(contact=contact, address="ada@analytical.example")
    return contact


# ---------------------------------------------------------------------------------------------
# Pure helpers


@pytest.mark.parametrize(
    ("header", "kind", "column"),
    [
        ("First Name", "contacts", "first_name"),
        ("first_name", "contacts", "first_name"),
        ("FIRSTNAME", "contacts", "first_name"),
        ("Given name", "contacts", "first_name"),
        ("Nome", "contacts", "first_name"),
        ("Cognome", "leads", "last_name"),
        ("Surname", "leads", "last_name"),
        ("Full Name", "contacts", "full_name"),
        ("E-mail", "contacts", "email"),
        ("Email Address", "contacts", "email"),
        ("Work email", "leads", "email"),
        ("Additional Emails", "contacts", "additional_emails"),
        ("E-mail 2 Address", "contacts", "additional_emails"),
        ("Email 3", "contacts", "additional_emails"),
        ("Phone Number", "contacts", "phone"),
        ("Mobile", "contacts", "phone"),
        ("Cellulare", "contacts", "phone"),
        ("Company Name", "contacts", "company"),
        ("Organisation", "leads", "company"),
        ("Azienda", "contacts", "company"),
        ("Job Title", "contacts", "title"),
        ("Ruolo", "contacts", "title"),
        ("Notes", "contacts", "description"),
        ("Owner Email", "contacts", "owner_email"),
        ("Lead Status", "leads", "status"),
        ("Lead Source", "leads", "source"),
        ("Person - Email", "contacts", "email"),
        ("Website", "companies", "domains"),
        ("Web Domain", "companies", "domains"),
        ("Company name", "companies", "name"),
        ("Organization - Name", "companies", "name"),
        ("Industry", "companies", "industry"),
        ("Deal Name", "deals", "name"),
        ("Deal - Title", "deals", "name"),
        ("Amount", "deals", "value"),
        ("Pipeline stage", "deals", "stage"),
        ("Close Date", "deals", "expected_close"),
        ("Deal - Organization", "deals", "company"),
        ("Contact email", "deals", "contact_emails"),
        ("Lost Reason", "deals", "lost_reason"),
        ("Lifecycle Stage", "contacts", None),
        ("", "contacts", None),
        ("Status", "contacts", None),
    ],
)
def test_column_for(header, kind, column):
    assert csv_io.column_for(kind, header) == column


def test_export_columns_are_all_understood_by_import():
    for kind, columns in csv_io.EXPORT_COLUMNS.items():
        assert all(csv_io.column_for(kind, c) for c in columns), kind


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("1234.50", "1234.50", None),
        ("1,234.50", "1234.50", None),
        ("1.234,50", "1234.50", None),
        ("1 234,50", "1234.50", None),
        ("12,500.00", "12500.00", None),
        ("1.500", "1500", None),
        ("1,5", "1.5", None),
        ("0.500", "0.500", None),
        ("€ 1.500", "1500", "EUR"),
        ("1500 usd", "1500", "USD"),
        ("GBP 10", "10", "GBP"),
    ],
)
def test_parse_amount(text, amount, currency):
    assert csv_io.parse_amount(text) == (Decimal(amount), currency)


def test_parse_amount_rejects_words():
    with pytest.raises(csv_io.ValidationError, match="is not an amount"):
        csv_io.parse_amount("lots")


@pytest.mark.parametrize(
    ("text", "day_first", "expected"),
    [
        ("2025-06-30", None, datetime.date(2025, 6, 30)),
        ("2025-06-30 14:00:00", None, datetime.date(2025, 6, 30)),
        ("2025/06/30", None, datetime.date(2025, 6, 30)),
        ("31/12/2025", None, datetime.date(2025, 12, 31)),
        ("12/31/2025", None, datetime.date(2025, 12, 31)),
        ("03.04.2025", None, datetime.date(2025, 4, 3)),
        ("03/04/2025", True, datetime.date(2025, 4, 3)),
        ("03/04/2025", False, datetime.date(2025, 3, 4)),
        ("5/5/25", None, datetime.date(2025, 5, 5)),
    ],
)
def test_parse_date(text, day_first, expected):
    assert csv_io.parse_date(text, day_first) == expected


@pytest.mark.parametrize("text", ["03/04/2025", "2025-02-30", "31/31/2025", "tomorrow"])
def test_parse_date_refuses_ambiguous_and_invalid_dates(text):
    with pytest.raises(csv_io.ValidationError):
        csv_io.parse_date(text, None)


def test_date_order_hint():
    assert csv_io.date_order_hint(["01/02/2025", "25/01/2025"]) is True
    assert csv_io.date_order_hint(["01/02/2025", "01/25/2025"]) is False
    assert csv_io.date_order_hint(["01/02/2025"]) is None
    assert csv_io.date_order_hint(["25/01/2025", "01/25/2025"]) is None


def test_parse_emails_accepts_separators_and_display_names():
    assert csv_io.parse_emails("a@x.example, B@y.example; c@z.example d@w.example") == [
        "a@x.example",
        "b@y.example",
        "c@z.example",
        "d@w.example",
    ]
    assert csv_io.parse_emails("Ann <ann@x.example>, Bob <bob@y.example>") == [
        "ann@x.example",
        "bob@y.example",
    ]


# ---------------------------------------------------------------------------------------------
# Importing good files


def test_import_contacts(alice, bob):
    result = import_csv("contacts", fixture("contacts.csv"), user=alice)

    assert (result.created, result.updated, result.errors) == (3, 0, [])
    assert result.companies_created == 2
    ada = Contact.objects.get(last_name="Lovelace")
    assert emails_of(ada) == [
        "ada@analytical.example",
        "ada.l@home.example",
        "countess@analytical.example",
    ]
    assert [p.number for p in ada.phones.all()] == ["+44 20 7946 0001"]
    assert ada.company.name == "Analytical Engines"
    assert ada.title == "Chief Programmer"
    assert ada.description == "Wrote the first program.\nMet Babbage in 1833."
    assert ada.owner == alice
    assert Contact.objects.get(last_name="Babbage").owner == bob
    assert Contact.objects.get(last_name="Babbage").company == ada.company
    assert Company.objects.get(name="Analytical Engines").owner == alice
    activity = Activity.objects.get(contact=ada)
    assert (activity.verb, activity.actor) == ("imported", alice)


def test_import_contacts_in_hubspot_format(alice):
    result = import_csv("contacts", fixture("contacts_hubspot.csv"), user=alice)

    assert (result.created, result.errors) == (2, [])
    assert result.ignored_columns == ["Lifecycle Stage"]
    linus = Contact.objects.get(first_name="Linus")
    assert linus.last_name == "Torvalds"
    assert emails_of(linus) == ["linus@kernel.example", "lt@home.example", "linus@oldmail.example"]
    assert [p.number for p in linus.phones.all()] == ["+1 503 555 0100"]
    assert linus.company.name == "Linux Foundation"
    assert linus.title == "Fellow"


def test_import_semicolon_separated_cp1252_file_from_italian_excel(alice):
    result = import_csv("contacts", fixture("contacts_excel_it_cp1252.csv"), user=alice)

    assert (result.created, result.errors) == (2, [])
    nicolo = Contact.objects.get(emails__address="nicolo@esempio.it")
    assert (nicolo.first_name, nicolo.last_name) == ("Nicolò", "Bertè")
    assert nicolo.company.name == "Società Rossi"
    assert nicolo.title == "Direttore"
    assert nicolo.description == "Budget 5.000 €"
    assert [p.number for p in nicolo.phones.all()] == ["02 1234 5678"]
    zoe = Contact.objects.get(emails__address="zoe@esempio.it")
    assert (zoe.first_name, zoe.last_name) == ("Zoë", "Müller")
    assert zoe.company == nicolo.company


def test_import_utf8_with_bom_and_tabs(alice):
    data = "\ufeffFirst name\tLast name\tEmail\nJosé\tÑúñez\tjose@example.com\n".encode()
    result = import_csv("contacts", data, user=alice)
    assert (result.created, result.errors) == (1, [])
    assert Contact.objects.get().first_name == "José"


def test_import_utf16_tab_separated_file_from_excel_unicode_text(alice):
    data = "First name\tLast name\tEmail\r\nJosé\tÑúñez\tjose@example.com\r\n".encode("utf-16")
    result = import_csv("contacts", data, user=alice)
    assert (result.created, result.errors) == (1, [])
    assert Contact.objects.get().last_name == "Ñúñez"


def test_import_full_name_column_is_split(alice):
    data = b'Name,Email\nAda Lovelace,ada@x.example\n"Hopper, Grace",grace@x.example\n'
    import_csv("contacts", data, user=alice)
    assert sorted(Contact.objects.values_list("first_name", "last_name")) == [
        ("Ada", "Lovelace"),
        ("Grace", "Hopper"),
    ]


def test_import_leads(alice):
    result = import_csv("leads", fixture("leads.csv"), user=alice)

    assert (result.created, result.errors) == (
        3,
        [(5, "“sleeping” is not one of: New, Contacted, Qualified, Unqualified, Converted.")],
    )
    marie = Lead.objects.get(first_name="Marie")
    assert (marie.status, marie.source, marie.company_name) == (
        Lead.Status.QUALIFIED,
        Lead.Source.REFERRAL,
        "Radium Institute",
    )
    assert emails_of(marie) == ["marie@radium.example"]
    pierre = Lead.objects.get(first_name="Pierre")
    assert (pierre.status, pierre.source) == (Lead.Status.CONTACTED, Lead.Source.WEB)
    solo = Lead.objects.get(company_name="Solo Company Srl")
    assert (solo.first_name, solo.status, solo.source) == ("", Lead.Status.NEW, Lead.Source.IMPORT)
    assert not Lead.objects.filter(last_name="Status").exists()


def test_import_leads_unknown_source_is_other(alice):
    import_csv("leads", b"email,lead source\nx@y.example,Carrier pigeon\n", user=alice)
    assert Lead.objects.get().source == Lead.Source.OTHER


def test_import_cannot_mark_a_lead_converted(alice):
    result = import_csv("leads", b"email,status\nx@y.example,converted\n", user=alice)
    assert result.created == 0
    assert "convert" in result.errors[0][1]
    assert not Lead.objects.exists()


def test_import_companies(alice):
    result = import_csv("companies", fixture("companies.csv"), user=alice)

    assert result.created == 2
    assert result.errors == [
        (5, "No company has the domain “nodomain.example”, and a new company needs a name."),
        (6, "“not” is not a valid web domain."),
    ]
    acme = Company.objects.get(name="Acme Corp")
    assert sorted(d.domain for d in acme.domains.all()) == ["acme-corp.example", "acme.example"]
    assert (acme.phone, acme.industry) == ("+1 555 0100", "Manufacturing")
    assert acme.address == "1 Road Runner Way\nDesert"
    assert not Company.objects.filter(name="Initech").exists()


def test_import_companies_joins_address_columns(alice):
    data = (
        b"Company Name,Street Address,Postal Code,City,State/Region,Country/Region\n"
        b"Acme,1 Main St,20100,Milano,MI,Italy\n"
    )
    import_csv("companies", data, user=alice)
    assert Company.objects.get().address == "1 Main St\n20100 Milano\nMI\nItaly"


def test_import_deals(alice, ada):
    CompanyFactory(name="Acme Corp", owner=alice)
    result = import_csv("deals", fixture("deals.csv"), user=alice)

    assert result.created == 3
    assert result.errors == [
        (
            5,
            "“Dreaming” is not an active pipeline stage; the stages are: Qualified, Contact made, "
            "Demo scheduled, Proposal sent, Negotiation.",
        ),
        (6, "No contact has the email address “nobody@example.com”."),
    ]
    assert result.companies_created == 1  # Globex; Acme Corp existed
    rollout = Deal.objects.get(name="Big rollout")
    assert rollout.value == Decimal("12500.00")
    assert rollout.currency == "EUR"
    assert rollout.stage.name == "Proposal sent"
    assert rollout.expected_close == datetime.date(2025, 6, 30)
    assert rollout.company.name == "Acme Corp"
    assert list(rollout.contacts.all()) == [ada]
    pilot = Deal.objects.get(name="Small pilot")
    assert (pilot.currency, pilot.stage.name, pilot.status) == ("USD", "Qualified", "won")
    assert pilot.expected_close == datetime.date(2025, 12, 31)
    assert pilot.closed_at is not None
    lost = Deal.objects.get(name="Lost one")
    assert (lost.status, lost.lost_reason, lost.company) == ("lost", "Too expensive", None)


def test_import_deals_in_pipedrive_format(alice):
    result = import_csv("deals", fixture("deals_pipedrive.csv"), user=alice)

    assert (result.created, result.errors) == (1, [])
    assert result.ignored_columns == ["Deal - Label"]
    deal = Deal.objects.get()
    assert (deal.name, deal.value, deal.stage.name) == ("Pipedrive deal", 1500, "Demo scheduled")
    assert deal.company.name == "Initech"
    assert deal.owner == alice  # "Alice" is her full name
    assert deal.expected_close == datetime.date(2025, 3, 1)


def test_import_deal_without_stage_goes_to_the_first_active_stage(alice):
    Stage.objects.filter(name="Qualified").update(is_active=False)
    import_csv("deals", b"name\nNew deal\n", user=alice)
    assert Deal.objects.get().stage.name == "Contact made"


def test_ambiguous_dates_are_errors_in_a_comma_file_and_day_first_in_a_semicolon_one(alice):
    result = import_csv("deals", b"name,close date\nOne,03/04/2025\n", user=alice)
    assert result.created == 0
    assert "YYYY-MM-DD" in result.errors[0][1]

    result = import_csv("deals", b"name;close date\nOne;03/04/2025\n", user=alice)
    assert result.created == 1
    assert Deal.objects.get().expected_close == datetime.date(2025, 4, 3)


def test_dates_in_a_file_settle_the_order_of_the_others(alice):
    data = b"name,close date\nOne,03/04/2025\nTwo,04/25/2025\n"
    result = import_csv("deals", data, user=alice)
    assert result.errors == []
    assert Deal.objects.get(name="One").expected_close == datetime.date(2025, 3, 4)


# ---------------------------------------------------------------------------------------------
# Bad rows and bad files


def test_bad_rows_are_reported_with_their_line_and_the_good_ones_imported(alice):
    result = import_csv("contacts", fixture("contacts_bad_rows.csv"), user=alice)

    assert result.errors == [
        (5, "“bob@” is not a valid email address."),
        (6, "This row has no name and no email address."),
        (7, "“not a phone” is not a phone number."),
    ]
    assert result.created == 3
    assert sorted(Contact.objects.values_list("first_name", "last_name")) == [
        ("Good", "One"),
        ("Good", "Three"),
        ("Multi", "Line\nName"),
    ]
    # the failed row with a valid address left nothing behind
    assert not EmailAddress.objects.filter(address="good2@example.com").exists()


def test_a_failed_row_rolls_back_the_company_it_created(alice):
    data = b"first_name,company,owner_email\nAda,New Co,charlie@ourco.example\n"
    result = import_csv("contacts", data, user=alice)
    assert result.errors == [
        (2, "“charlie@ourco.example” is not a user you can assign records to.")
    ]
    assert (result.companies_created, Company.objects.count(), Contact.objects.count()) == (0, 0, 0)


def test_a_company_rolled_back_with_its_row_is_created_again_by_the_next(alice):
    data = (
        b"first_name,company,email\n"
        + b"x" * 101  # fails in contact_save, after the company was created
        + b",New Co,ada@x.example\n"
        b"Bob,New Co,bob@x.example\n"
        b"Cy,new co,cy@x.example\n"
    )
    result = import_csv("contacts", data, user=alice)
    assert result.errors[0][0] == 2
    assert (result.created, result.companies_created) == (2, 1)
    company = Company.objects.get()
    assert set(company.contacts.values_list("first_name", flat=True)) == {"Bob", "Cy"}


def test_owner_must_be_assignable(alice, bob, charlie):
    data = (
        b"first_name,email,owner\n"
        b"A,a@x.example,bob@ourco.example\n"
        b"B,b@x.example,charlie\n"
        b"C,c@x.example,BOB\n"
    )
    result = import_csv("contacts", data, user=alice)
    assert result.errors == [(3, "“charlie” is not a user you can assign records to.")]
    assert set(Contact.objects.values_list("owner__username", flat=True)) == {"bob"}


def test_model_validation_errors_name_the_field(alice):
    data = b"first_name,email\n" + b"x" * 101 + b",a@x.example\n"
    result = import_csv("contacts", data, user=alice)
    assert result.errors == [
        (2, "First name: Ensure this value has at most 100 characters (it has 101).")
    ]


def test_negative_deal_value_is_refused(alice):
    result = import_csv("deals", b"name,value\nNeg,-5\n", user=alice)
    assert result.errors == [(2, "Value: Ensure this value is greater than or equal to 0.")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"  \r\n\r\n", "The file is empty."),
        (fixture("contacts_no_identifying_column.csv"), "no column that identifies a contact"),
        (b"first_name,email\n", "no rows"),
        (bytes(range(256)) * 8, "does not look like a CSV file"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" * 20, "does not look like a CSV file"),
        (b"PK\x03\x04\x14\x00\x06\x00" + b"xl/workbook.xml" * 10, "spreadsheet workbook"),
    ],
)
def test_files_rejected_as_a_whole_change_nothing(alice, ada, data, message):
    before = snapshot()
    with pytest.raises(ImportRejected, match=message):
        import_csv("contacts", data, user=alice)
    assert snapshot() == before


def test_the_rejection_lists_the_columns_found(alice):
    with pytest.raises(ImportRejected) as info:
        import_csv("contacts", fixture("contacts_no_identifying_column.csv"), user=alice)
    assert "“Company”, “Job Title”, “Phone”" in info.value.message


def test_deals_need_a_name_column(alice):
    with pytest.raises(ImportRejected, match="identifies a deal"):
        import_csv("deals", b"value,stage\n100,Qualified\n", user=alice)
    assert not Deal.objects.exists()


def test_too_big_a_file_is_rejected(alice, settings):
    settings.CRM_IMPORT_MAX_BYTES = 1024
    data = b"first_name,email\n" + b"Ada,ada@x.example\n" * 100
    with pytest.raises(ImportRejected, match="too big"):
        import_csv("contacts", io.BytesIO(data), user=alice)
    assert not Contact.objects.exists()


# ---------------------------------------------------------------------------------------------
# No duplicates


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("contacts", "contacts.csv"),
        ("contacts", "contacts_hubspot.csv"),
        ("contacts", "contacts_excel_it_cp1252.csv"),
        ("contacts", "contacts_bad_rows.csv"),
        ("leads", "leads.csv"),
        ("companies", "companies.csv"),
        ("deals", "deals.csv"),
        ("deals", "deals_pipedrive.csv"),
    ],
)
def test_reimporting_the_same_file_changes_nothing(alice, bob, ada, kind, name):
    first = import_csv(kind, fixture(name), user=alice)
    assert first.created > 0
    before = snapshot()

    again = import_csv(kind, fixture(name), user=alice)

    assert (again.created, again.updated, again.companies_created) == (0, 0, 0)
    assert again.unchanged == first.created + first.updated + first.unchanged
    assert again.errors == first.errors
    assert snapshot() == before


def test_reimport_updates_and_merges_instead_of_duplicating(alice):
    contact = ContactFactory(first_name="Ada", last_name="Lovelace", title="Old", owner=alice)
    EmailAddressFactory(contact=contact, address="ada@x.example", position=0)
    EmailAddressFactory(contact=contact, address="old@x.example", position=1)
    PhoneNumber.objects.create(contact=contact, number="111")
    data = (
        b"First name,Email,Additional emails,Phone,Title,Notes\n"
        b"ADA,ada@x.example,new@x.example,222,,Hi\n"
    )

    result = import_csv("contacts", data, user=alice)

    assert (result.created, result.updated) == (0, 1)
    contact.refresh_from_db()
    assert contact.first_name == "ADA"
    assert contact.title == "Old"  # an empty cell leaves the value alone
    assert contact.description == "Hi"
    assert emails_of(contact) == ["ada@x.example", "old@x.example", "new@x.example"]
    assert [p.number for p in contact.phones.all()] == ["111", "222"]
    assert Activity.objects.filter(contact=contact, verb="updated").count() == 1


def test_contacts_are_matched_by_any_of_their_addresses(alice):
    contact = ContactFactory(owner=alice)
    EmailAddressFactory(contact=contact, address="main@x.example", position=0)
    EmailAddressFactory(contact=contact, address="second@x.example", position=1)

    import_csv("contacts", b"Email,First name\nSECOND@x.example,Renamed\n", user=alice)

    assert Contact.objects.count() == 1
    contact.refresh_from_db()
    assert contact.first_name == "Renamed"
    # the file's main address becomes the main one; none is dropped
    assert emails_of(contact) == ["second@x.example", "main@x.example"]


def test_contacts_without_email_are_matched_by_name_and_company(alice):
    acme = CompanyFactory(name="Acme", owner=alice)
    ContactFactory(first_name="Bob", last_name="Smith", company=acme, owner=alice)

    result = import_csv(
        "contacts",
        b"first_name,last_name,company\nbob,smith,ACME\nBob,Smith,Globex\n",
        user=alice,
    )

    assert (result.created, result.unchanged + result.updated) == (1, 1)
    assert sorted(Contact.objects.values_list("company__name", flat=True)) == ["Acme", "Globex"]


def test_two_rows_about_the_same_record_create_one(alice):
    data = (
        b"first_name,last_name,email,additional_emails\n"
        b"Ada,Lovelace,ada@x.example,\n"
        b"Ada,Lovelace,ADA@x.example,ada2@x.example\n"
    )
    result = import_csv("contacts", data, user=alice)
    assert (result.created, result.updated) == (1, 1)
    assert emails_of(Contact.objects.get()) == ["ada@x.example", "ada2@x.example"]

    result = import_csv("deals", b"name,company\nDeal,Acme\nDeal,ACME\n", user=alice)
    assert (result.created, result.unchanged, result.companies_created) == (1, 1, 1)
    assert Deal.objects.count() == 1

    data = b"name,domain\nAcme Inc,acme.example\nAcme Inc,www.acme.example\nAcme Inc,\n"
    result = import_csv("companies", data, user=alice)
    assert (result.created, result.unchanged) == (1, 2)
    assert Company.objects.filter(name="Acme Inc").count() == 1


def test_rows_sharing_an_address_but_not_a_name_are_different_people(alice):
    data = (
        b"first_name,last_name,email\n"
        b"Ann,One,info@acme.example\n"
        b"Bob,Two,info@acme.example\n"
        b"Ann,One,info@acme.example\n"
    )
    result = import_csv("contacts", data, user=alice)
    assert (result.created, result.unchanged) == (2, 1)
    assert sorted(Contact.objects.values_list("first_name", flat=True)) == ["Ann", "Bob"]

    # a record that was there before the import is updated, even under another name
    result = import_csv("contacts", b"first_name,email\nAnnie,info@acme.example\n", user=alice)
    assert (result.created, result.updated) == (0, 1)
    assert sorted(Contact.objects.values_list("first_name", flat=True)) == ["Annie", "Bob"]


def test_companies_are_matched_by_domain_then_name(alice):
    acme = CompanyFactory(name="Acme", owner=alice)
    CompanyDomainFactory(company=acme, domain="acme.example")
    globex = CompanyFactory(name="Globex", owner=alice)

    data = b"company name,website,industry\nAcme Corporation,https://acme.example/,Tools\nglobex,globex.example,\n"
    result = import_csv("companies", data, user=alice)

    assert (result.created, result.updated) == (0, 2)
    acme.refresh_from_db()
    assert (acme.name, acme.industry) == ("Acme Corporation", "Tools")
    assert [d.domain for d in globex.domains.all()] == ["globex.example"]


def test_deals_with_the_same_name_at_different_companies_need_a_company_column(alice):
    DealFactory(name="Renewal", company=CompanyFactory(name="A", owner=alice), owner=alice)
    DealFactory(name="Renewal", company=CompanyFactory(name="B", owner=alice), owner=alice)

    result = import_csv("deals", b"name,value\nRenewal,5\n", user=alice)

    assert result.errors == [
        (
            2,
            "2 deals are called “Renewal”: add a company column to say which one this row is "
            "about.",
        )
    ]
    assert Deal.objects.count() == 2


def test_converted_leads_are_matched_and_stay_converted(alice):
    lead = LeadFactory(owner=alice, status=Lead.Status.CONVERTED)
    EmailAddressFactory(lead=lead, address="l@x.example")
    result = import_csv("leads", b"email,status,title\nl@x.example,new,CEO\n", user=alice)
    assert (result.created, result.updated, result.errors) == (0, 1, [])
    lead.refresh_from_db()
    assert (lead.status, lead.title) == (Lead.Status.CONVERTED, "CEO")


def test_other_teams_records_are_not_matched_nor_changed(alice, charlie):
    contact = ContactFactory(first_name="Ada", owner=alice)
    EmailAddressFactory(contact=contact, address="ada@x.example")

    result = import_csv("contacts", b"first_name,email\nEve,ada@x.example\n", user=charlie)

    assert result.created == 1
    contact.refresh_from_db()
    assert contact.first_name == "Ada"
    assert Contact.objects.get(owner=charlie).first_name == "Eve"


@pytest.fixture
def charlies_acme(charlie):
    """Charlie's team has an Acme, with the domain acme.example: Alice must never land on it."""
    acme = CompanyFactory(name="Acme", owner=charlie, industry="Anvils")
    CompanyDomainFactory(company=acme, domain="acme.example")
    return acme


def assert_untouched(acme) -> None:
    before = (acme.name, acme.owner_id, acme.industry, acme.updated_at)
    acme.refresh_from_db()
    assert (acme.name, acme.owner_id, acme.industry, acme.updated_at) == before
    assert [d.domain for d in acme.domains.all()] == ["acme.example"]
    assert not acme.contacts.exists()
    assert not Deal.objects.filter(company=acme).exists()


def test_contacts_of_company_acme_get_alices_own_acme_not_another_teams(alice, charlies_acme):
    result = import_csv("contacts", b"first_name,company\nWile,Acme\n", user=alice)

    assert (result.created, result.companies_created) == (1, 1)
    company = Contact.objects.get(first_name="Wile").company
    assert company != charlies_acme and (company.name, company.owner) == ("Acme", alice)
    assert_untouched(charlies_acme)


def test_deals_at_company_acme_get_alices_own_acme_not_another_teams(alice, charlies_acme):
    result = import_csv("deals", b"name,company\nRockets,Acme\n", user=alice)

    assert (result.created, result.companies_created) == (1, 1)
    company = Deal.objects.get(name="Rockets").company
    assert company != charlies_acme and (company.name, company.owner) == ("Acme", alice)
    assert_untouched(charlies_acme)


def test_companies_matched_by_name_only_among_those_the_importer_sees(alice, charlies_acme):
    result = import_csv("companies", b"name,industry\nAcme,Rockets\n", user=alice)

    assert (result.created, result.updated) == (1, 0)
    assert Company.objects.get(name="Acme", owner=alice).industry == "Rockets"
    assert_untouched(charlies_acme)


def test_companies_matched_by_domain_only_among_those_the_importer_sees(alice, charlies_acme):
    result = import_csv(
        "companies", b"name,website,industry\nAcme,https://acme.example/,Rockets\n", user=alice
    )

    assert (result.created, result.updated) == (1, 0)
    mine = Company.objects.get(owner=alice)
    assert (mine.name, mine.industry) == ("Acme", "Rockets")
    assert [d.domain for d in mine.domains.all()] == ["acme.example"]
    assert_untouched(charlies_acme)


def test_a_domain_only_row_does_not_find_another_teams_company(alice, charlies_acme):
    result = import_csv("companies", b"website\nacme.example\n", user=alice)

    assert result.errors == [
        (2, "No company has the domain “acme.example”, and a new company needs a name.")
    ]
    assert_untouched(charlies_acme)


# ---------------------------------------------------------------------------------------------
# Export


@pytest.fixture
def crm_data(alice, bob):
    """A bit of everything, with awkward values, for round trips."""
    acme = CompanyFactory(
        name="Acme, Inc.",
        owner=alice,
        phone="+1 555 0100",
        industry="Tools",
        address="1 Main St\r\nSpringfield",
        description='Says "hi"',
    )
    CompanyDomainFactory(company=acme, domain="acme.example")
    CompanyDomainFactory(company=acme, domain="acme.co.example")
    CompanyFactory(name='=HYPERLINK("http://evil.example")', owner=bob)
    ada = ContactFactory(
        first_name="Ada", last_name="Lovelace", company=acme, title="CTO", owner=alice
    )
    EmailAddressFactory(contact=ada, address="ada@acme.example", position=0)
    EmailAddressFactory(contact=ada, address="ada@home.example", position=1)
    PhoneNumber.objects.create(contact=ada, number="+39 02 1234", position=0)
    PhoneNumber.objects.create(contact=ada, number="333 4444", position=1)
    twin = ContactFactory(first_name="Ada", last_name="Twin", owner=bob, description="@mention")
    EmailAddressFactory(contact=twin, address="ada@acme.example")  # a shared address
    ContactFactory(first_name="No", last_name="Email", owner=alice)
    lead = LeadFactory(first_name="Lee", last_name="Dee", source=Lead.Source.EVENT, owner=bob)
    EmailAddressFactory(lead=lead, address="lee@x.example")
    LeadFactory(
        first_name="", last_name="", company_name="Only Co", status="converted", owner=alice
    )
    deal = DealFactory(
        name="Rollout",
        company=acme,
        value=Decimal("1234.50"),
        expected_close=datetime.date(2025, 4, 3),
        owner=alice,
    )
    deal.contacts.add(ada)
    DealFactory(name="Rollout", value=0, owner=alice)
    DealFactory(name="Lost", status="lost", lost_reason="Price", currency="USD", owner=bob)
    old_stage = Stage.objects.create(name="Old stage", is_active=False)
    DealFactory(name="Stuck", stage=old_stage, owner=alice)
    # a second company with the same name, with a contact and a deal of its own
    acme_again = CompanyFactory(name="Acme, Inc.", owner=bob)
    ContactFactory(first_name="Dup", last_name="Licate", company=acme_again, owner=bob)
    DealFactory(name="Other rollout", company=acme_again, owner=bob)


def export_text(kind, user=None) -> str:
    model = csv_io.MODELS[kind]
    queryset = records_for_user(model=model, user=user) if user else model.objects.all()
    return "".join(export_csv(kind, queryset))


def test_export_contacts(alice, crm_data):
    text = export_text("contacts", alice)
    lines = text.splitlines()
    assert lines[0] == (
        "first_name,last_name,email,additional_emails,phone,company,title,owner_email,description"
    )
    assert (
        'Ada,Lovelace,ada@acme.example,ada@home.example,"+39 02 1234, 333 4444",'
        '"Acme, Inc.",CTO,alice@ourco.example,'
    ) in lines
    assert "Ada,Twin,ada@acme.example,,,,,bob@ourco.example,'@mention" in lines


def test_export_escapes_formulas(alice, crm_data):
    assert "'=HYPERLINK" in export_text("companies", alice)


def test_export_deals(alice, crm_data):
    lines = export_text("deals", alice).splitlines()
    assert lines[0] == (
        "name,value,currency,stage,status,expected_close,company,contact_emails,lost_reason,"
        "owner_email"
    )
    assert (
        'Rollout,1234.50,EUR,Qualified,open,2025-04-03,"Acme, Inc.",ada@acme.example,,'
        "alice@ourco.example"
    ) in lines


@pytest.mark.parametrize("kind", csv_io.KINDS)
def test_export_then_import_changes_nothing(alice, crm_data, kind):
    text = export_text(kind, alice)
    before = snapshot()

    result = import_csv(kind, text.encode(), user=alice)

    assert (result.created, result.updated, result.errors) == (0, 0, [])
    assert result.unchanged == records_for_user(model=csv_io.MODELS[kind], user=alice).count()
    assert snapshot() == before


@pytest.mark.parametrize("kind", ["companies", "contacts"])
def test_export_imported_into_an_empty_crm_exports_the_same(alice, bob, crm_data, kind):
    # Within a file, rows with the same company name and no domain are the same company.
    Company.objects.filter(owner=bob, name="Acme, Inc.").delete()
    text = export_text(kind, alice)
    Deal.objects.all().delete()
    Lead.objects.all().delete()
    Contact.objects.all().delete()
    Company.objects.all().delete()

    result = import_csv(kind, text.encode(), user=alice)

    assert result.errors == []
    assert sorted(export_text(kind, alice).splitlines()) == sorted(text.splitlines())


def test_export_shows_only_what_the_user_may_see(alice, charlie, crm_data):
    for kind in csv_io.KINDS:
        lines = export_text(kind, charlie).splitlines()
        assert lines == [",".join(csv_io.EXPORT_COLUMNS[kind])]
    ContactFactory(first_name="Charlies", last_name="Own", owner=charlie)
    assert "Charlies,Own" in export_text("contacts", charlie)
    assert "Charlies" not in export_text("contacts", alice)


# ---------------------------------------------------------------------------------------------
# Management commands


def test_crm_import_command(alice, bob):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "crm_import",
        "contacts",
        str(FIXTURES / "contacts.csv"),
        user="alice",
        stdout=out,
        stderr=err,
    )
    assert "3 created, 0 updated, 0 unchanged." in out.getvalue()
    assert err.getvalue() == ""
    assert Contact.objects.filter(owner=alice).count() == 2


def test_crm_import_command_reports_bad_rows_and_fails(alice):
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as info:
        call_command(
            "crm_import",
            "contacts",
            str(FIXTURES / "contacts_bad_rows.csv"),
            user="alice@ourco.example",
            stdout=out,
            stderr=err,
        )
    assert info.value.returncode == 1
    assert "3 created" in out.getvalue()
    assert err.getvalue().splitlines() == [
        "line 5: “bob@” is not a valid email address.",
        "line 6: This row has no name and no email address.",
        "line 7: “not a phone” is not a phone number.",
    ]
    assert Contact.objects.count() == 3


def test_crm_import_command_reads_standard_input(alice, monkeypatch):
    data = b"email,first name\nstdin@x.example,Stan\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    out = io.StringIO()
    call_command("crm_import", "contacts", "-", user="alice", stdout=out)
    assert "1 created" in out.getvalue()
    assert Contact.objects.get().first_name == "Stan"


def test_crm_import_command_rejected_file(alice):
    with pytest.raises(CommandError, match="identifies a contact") as info:
        call_command(
            "crm_import",
            "contacts",
            str(FIXTURES / "contacts_no_identifying_column.csv"),
            user="alice",
        )
    assert info.value.returncode == 2
    with pytest.raises(CommandError) as info:
        call_command("crm_import", "contacts", str(FIXTURES / "missing.csv"), user="alice")
    assert info.value.returncode == 2


def test_crm_import_command_defaults_to_the_first_superuser(db):
    with pytest.raises(CommandError, match="superuser") as info:
        call_command("crm_import", "contacts", str(FIXTURES / "contacts.csv"))
    assert info.value.returncode == 2
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    UserFactory(username="bob", email="bob@ourco.example")
    err = io.StringIO()
    with pytest.raises(CommandError) as info:
        call_command(
            "crm_import",
            "contacts",
            str(FIXTURES / "contacts.csv"),
            stdout=io.StringIO(),
            stderr=err,
        )
    assert info.value.returncode == 1
    # bob is not on root's team: that row fails; the others are root's
    assert "line 4: “bob@ourco.example” is not a user you can assign records to." in err.getvalue()
    assert set(Contact.objects.values_list("owner", flat=True)) == {admin.pk}


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("contacts.csv", None),
        ("contacts_bad_rows.csv", 1),
        ("contacts_no_identifying_column.csv", 2),
    ],
)
def test_crm_import_exit_status(alice, bob, capsys, settings, name, status):
    # execute_from_command_line runs django.setup() again; without this its logging handlers
    # would write to capsys's streams, closed after the test, and later log lines would fail.
    settings.LOGGING_CONFIG = None
    argv = ["manage.py", "crm_import", "contacts", str(FIXTURES / name), "--user", "alice"]
    if status is None:
        execute_from_command_line(argv)
        return
    with pytest.raises(SystemExit) as info:
        execute_from_command_line(argv)
    assert info.value.code == status
    if status == 1:
        assert "line 5: “bob@” is not a valid email address." in capsys.readouterr().err


def test_crm_export_command(alice, charlie, crm_data, tmp_path):
    out = io.StringIO()
    call_command("crm_export", "contacts", stdout=out)
    assert out.getvalue() == export_text("contacts")
    assert "Ada,Twin" in out.getvalue()

    out = io.StringIO()
    call_command("crm_export", "contacts", user="charlie", stdout=out)
    assert out.getvalue().splitlines() == [",".join(csv_io.EXPORT_COLUMNS["contacts"])]

    target = tmp_path / "deals.csv"
    call_command("crm_export", "deals", user="alice", output=str(target))
    assert target.read_bytes().decode() == export_text("deals", alice)


def test_crm_export_then_crm_import_round_trip(alice, crm_data, tmp_path):
    target = tmp_path / "contacts.csv"
    call_command("crm_export", "contacts", user="alice", output=str(target))
    before = snapshot()
    out = io.StringIO()
    call_command("crm_import", "contacts", str(target), user="alice", stdout=out)
    assert "0 created, 0 updated, 4 unchanged." in out.getvalue()
    assert snapshot() == before


# ---------------------------------------------------------------------------------------------
# Views


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="text/csv")


def test_import_page_shows_the_form_and_the_columns(alice_client):
    response = alice_client.get(reverse("crm:csv_import", args=["contacts"]))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'enctype="multipart/form-data"' in body
    assert 'type="file"' in body
    assert "additional_emails" in body
    assert "Job Title".lower() in body.lower()


def test_import_page_for_an_unknown_kind_is_404(alice_client):
    assert alice_client.get(reverse("crm:csv_import", args=["tasks"])).status_code == 404
    assert alice_client.get(reverse("crm:csv_export", args=["users"])).status_code == 404


def test_import_and_export_need_login(client):
    for url in (
        reverse("crm:csv_import", args=["contacts"]),
        reverse("crm:csv_export", args=["leads"]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert "login" in response["Location"]


def test_upload_imports_and_lists_bad_rows(alice_client):
    response = alice_client.post(
        reverse("crm:csv_import", args=["contacts"]),
        {"file": upload("people.csv", fixture("contacts_bad_rows.csv"))},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "3 records created" in body
    assert '<ul class="errorlist">' in body
    assert "line 5: “bob@” is not a valid email address." in body
    assert "line 6: This row has no name and no email address." in body
    assert "line 7: “not a phone” is not a phone number." in body
    assert 'type="file"' in body  # the form again, to import the corrected file
    assert Contact.objects.count() == 3


def test_upload_of_a_rejected_file_shows_why_and_changes_nothing(alice_client, ada):
    before = snapshot()
    response = alice_client.post(
        reverse("crm:csv_import", args=["contacts"]),
        {"file": upload("x.csv", fixture("contacts_no_identifying_column.csv"))},
    )
    assert response.status_code == 400
    assert "no column that identifies a contact" in response.content.decode()
    assert snapshot() == before


def test_upload_without_a_file(alice_client):
    response = alice_client.post(reverse("crm:csv_import", args=["deals"]), {})
    assert response.status_code == 400
    assert "errorlist" in response.content.decode()
    assert not Deal.objects.exists()


def test_upload_too_big(alice_client, settings):
    settings.CRM_IMPORT_MAX_BYTES = 1024
    response = alice_client.post(
        reverse("crm:csv_import", args=["contacts"]),
        {"file": upload("big.csv", b"email\n" + b"a@x.example\n" * 200)},
    )
    assert response.status_code == 400
    assert "too big" in response.content.decode()
    assert not Contact.objects.exists()


def test_export_view_is_an_attachment_of_what_the_user_sees(alice_client, crm_data, charlie):
    ContactFactory(first_name="Charlies", owner=charlie)
    response = alice_client.get(reverse("crm:csv_export", args=["contacts"]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    today = datetime.date.today().isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="contacts-{today}.csv"'
    content = b"".join(response.streaming_content).decode("utf-8")
    assert content.startswith("\ufefffirst_name,last_name,email")
    assert "Lovelace" in content
    assert "Charlies" not in content


def test_export_view_download_imports_back_unchanged(alice_client, crm_data):
    response = alice_client.get(reverse("crm:csv_export", args=["companies"]))
    data = b"".join(response.streaming_content)
    before = snapshot()
    response = alice_client.post(
        reverse("crm:csv_import", args=["companies"]), {"file": upload("c.csv", data)}
    )
    assert response.status_code == 200
    assert "3 records already up to date" in response.content.decode()
    assert snapshot() == before
