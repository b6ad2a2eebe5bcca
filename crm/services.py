"""Writes to CRM records. Views, the CSV importer, the demo data and the admin call these, so
that every change is validated and leaves its trace on the record's timeline.
"""

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from crm.addresses import normalize_domain, normalize_email, normalize_phone
from crm.models import (
    Activity,
    Company,
    CompanyDomain,
    Contact,
    Deal,
    EmailAddress,
    Lead,
    Note,
    PhoneNumber,
    Stage,
    Task,
    User,
)
from crm.selectors import owners_visible_to


def activity_record(*, record, actor: User | None, verb: str, **data) -> Activity:
    return Activity.objects.create(actor=actor, verb=verb, data=data, **{record.kind: record})


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def record_set_emails(*, record: Contact | Lead, emails: Iterable[str]) -> None:
    """Replace the addresses of a contact or a lead, keeping the given order (first is primary)."""
    wanted = _unique(normalize_email(e) for e in emails)
    key = {record.kind: record}
    EmailAddress.objects.filter(**key).exclude(address__in=wanted).delete()
    existing = {e.address: e for e in EmailAddress.objects.filter(**key)}
    for position, address in enumerate(wanted):
        email = existing.get(address)
        if email is None:
            EmailAddress.objects.create(address=address, position=position, **key)
        elif email.position != position:
            email.position = position
            email.save(update_fields=["position"])


def record_set_phones(*, record: Contact | Lead, phones: Iterable[str]) -> None:
    wanted = _unique(p for p in (normalize_phone(p) for p in phones) if p)
    key = {record.kind: record}
    PhoneNumber.objects.filter(**key).delete()
    PhoneNumber.objects.bulk_create(
        PhoneNumber(number=number, position=i, **key) for i, number in enumerate(wanted)
    )


def company_set_domains(*, company: Company, domains: Iterable[str]) -> None:
    wanted = _unique(normalize_domain(d) for d in domains)
    company.domains.exclude(domain__in=wanted).delete()
    have = set(company.domains.values_list("domain", flat=True))
    # One by one (a company has a few), not bulk_create: post_save must fire for each new domain,
    # so that the mail already stored from it is linked (mailsync.signals), as for addresses.
    for domain in wanted:
        if domain not in have:
            CompanyDomain.objects.create(company=company, domain=domain)


@transaction.atomic
def company_save(
    *, company: Company, actor: User, domains: Iterable[str] | None = None, verb: str = ""
) -> Company:
    creating = company.pk is None
    company.full_clean()
    company.save()
    if domains is not None:
        company_set_domains(company=company, domains=domains)
    activity_record(
        record=company, actor=actor, verb=verb or ("created" if creating else "updated")
    )
    return company


@transaction.atomic
def person_save(
    *,
    record: Contact | Lead,
    actor: User,
    emails: Iterable[str] | None = None,
    phones: Iterable[str] | None = None,
    verb: str = "",
) -> Contact | Lead:
    """Save a contact or a lead; `emails` and `phones`, when given, replace the current ones."""
    creating = record.pk is None
    record.full_clean()
    record.save()
    if emails is not None:
        record_set_emails(record=record, emails=emails)
    if phones is not None:
        record_set_phones(record=record, phones=phones)
    activity_record(record=record, actor=actor, verb=verb or ("created" if creating else "updated"))
    return record


def contact_save(*, contact: Contact, **kwargs) -> Contact:
    return person_save(record=contact, **kwargs)


def lead_save(*, lead: Lead, **kwargs) -> Lead:
    return person_save(record=lead, **kwargs)


@transaction.atomic
def deal_save(
    *, deal: Deal, actor: User, contacts: Iterable[Contact] | None = None, verb: str = ""
) -> Deal:
    creating = deal.pk is None
    previous = None if creating else Deal.objects.select_related("stage").get(pk=deal.pk)
    deal.full_clean()
    deal.save()
    if contacts is not None:
        deal.contacts.set(contacts)
    if creating:
        activity_record(record=deal, actor=actor, verb=verb or "created")
        return deal
    activity_record(record=deal, actor=actor, verb=verb or "updated")
    if previous.stage_id != deal.stage_id:
        activity_record(
            record=deal,
            actor=actor,
            verb="stage_changed",
            **{"from": previous.stage.name, "to": deal.stage.name},
        )
    return deal


@transaction.atomic
def deal_move_stage(*, deal: Deal, stage: Stage, actor: User) -> Deal:
    if deal.stage_id == stage.pk:
        return deal
    old = deal.stage.name
    deal.stage = stage
    deal.save(update_fields=["stage", "updated_at"])
    activity_record(
        record=deal, actor=actor, verb="stage_changed", **{"from": old, "to": stage.name}
    )
    return deal


@transaction.atomic
def deal_close(*, deal: Deal, actor: User, won: bool, reason: str = "") -> Deal:
    deal.status = Deal.Status.WON if won else Deal.Status.LOST
    deal.lost_reason = "" if won else reason.strip()
    deal.closed_at = timezone.now()
    deal.save(update_fields=["status", "lost_reason", "closed_at", "updated_at"])
    if won:
        activity_record(record=deal, actor=actor, verb="won")
    else:
        activity_record(record=deal, actor=actor, verb="lost", reason=deal.lost_reason)
    return deal


@transaction.atomic
def deal_reopen(*, deal: Deal, actor: User) -> Deal:
    deal.status = Deal.Status.OPEN
    deal.closed_at = None
    deal.lost_reason = ""
    deal.save(update_fields=["status", "lost_reason", "closed_at", "updated_at"])
    activity_record(record=deal, actor=actor, verb="reopened")
    return deal


@transaction.atomic
def lead_convert(
    *,
    lead: Lead,
    actor: User,
    company_name: str = "",
    create_deal: bool = False,
    deal_name: str = "",
    deal_value=None,
    deal_currency: str = "EUR",
    deal_stage: Stage | None = None,
) -> tuple[Contact, Company | None, Deal | None]:
    """Turn a lead into a contact, a company (found by name, or created) and optionally a deal.

    The lead is kept, marked converted and pointing at what it became, so its history and its
    mail stay reachable.
    """
    if lead.is_converted:
        raise ValueError("lead already converted")
    company = None
    name = (company_name or lead.company_name).strip()
    if name:
        # Only a company the lead's owner (and so their team) may see: another team's "Acme"
        # is invisible to them, and their new contact must not land on it.
        visible = Company.objects.filter(owners_visible_to(lead.owner))
        company = visible.filter(name__iexact=name).order_by("pk").first()
        if company is None:
            company = company_save(company=Company(name=name, owner=lead.owner), actor=actor)
    contact = contact_save(
        contact=Contact(
            first_name=lead.first_name,
            last_name=lead.last_name,
            title=lead.title,
            company=company,
            description=lead.description,
            owner=lead.owner,
        ),
        actor=actor,
        emails=[e.address for e in lead.emails.all()],
        phones=[p.number for p in lead.phones.all()],
    )
    deal = None
    if create_deal:
        deal = deal_save(
            deal=Deal(
                name=deal_name or (company.name if company else contact.name),
                value=deal_value or 0,
                currency=deal_currency,
                stage=deal_stage or Stage.objects.filter(is_active=True).first(),
                company=company,
                lead=lead,
                owner=lead.owner,
            ),
            actor=actor,
            contacts=[contact],
        )
    lead.status = Lead.Status.CONVERTED
    lead.converted_at = timezone.now()
    lead.converted_contact = contact
    lead.converted_deal = deal
    lead.save(
        update_fields=[
            "status",
            "converted_at",
            "converted_contact",
            "converted_deal",
            "updated_at",
        ]
    )
    activity_record(record=lead, actor=actor, verb="converted")
    return contact, company, deal


def note_add(*, record, author: User, body: str) -> Note:
    note = Note(body=body.strip(), author=author, **{record.kind: record})
    note.full_clean()
    note.save()
    return note


def task_add(*, record, created_by: User, title: str, assignee: User, due_date=None) -> Task:
    task = Task(
        title=title.strip(),
        assignee=assignee,
        created_by=created_by,
        due_date=due_date,
        **({record.kind: record} if record is not None else {}),
    )
    task.full_clean()
    task.save()
    return task


def task_set_done(*, task: Task, done: bool) -> Task:
    task.done = done
    task.done_at = timezone.now() if done else None
    task.save(update_fields=["done", "done_at"])
    return task


def user_vouch_email(*, user: User) -> None:
    """Mark a user's address as verified, so that they can sign in to the app by email.

    Used when an operator creates or edits a user in the admin: the operator vouches for the
    address, so the user is not asked to click a verification link first.
    """
    from allauth.account.models import EmailAddress as SignInAddress

    if not user.email:
        return
    address, _created = SignInAddress.objects.get_or_create(
        user=user, email__iexact=user.email, defaults={"email": user.email.lower()}
    )
    address.verified = True
    if not SignInAddress.objects.filter(user=user, primary=True).exclude(pk=address.pk).exists():
        address.primary = True
    address.save(update_fields=["verified", "primary"])


def record_delete(*, record) -> None:
    """Delete a record. Its notes, tasks and activity go with it; mail never does."""
    record.delete()
