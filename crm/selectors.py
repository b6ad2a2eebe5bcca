"""Reads. Every query a view makes for CRM records goes through here, so that who-sees-what is
decided in one place.

Visibility: a rep sees and edits the records owned by anyone on their team (a team shares its
pipeline); a user without a team sees only their own. Staff use the admin, which has its own
permissions.
"""

from itertools import chain

from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from crm.models import (
    Activity,
    Company,
    Contact,
    Deal,
    EmailAddress,
    Lead,
    Note,
    Stage,
    Task,
    User,
    record_model,
)


def owners_visible_to(user: User) -> Q:
    if user.team_id:
        return Q(owner__team_id=user.team_id)
    return Q(owner=user)


def records_for_user(*, model, user: User) -> QuerySet:
    """The records of `model` that `user` may see, with what list and detail pages need."""
    qs = model.objects.filter(owners_visible_to(user)).select_related("owner")
    if model is Contact:
        qs = qs.select_related("company").prefetch_related("emails", "phones")
    elif model is Lead:
        qs = qs.prefetch_related("emails", "phones")
    elif model is Company:
        qs = qs.prefetch_related("domains").annotate(contact_count=Count("contacts", distinct=True))
    elif model is Deal:
        qs = qs.select_related("stage", "company")
    return qs


def record_get(*, kind: str, pk: int, user: User):
    """A record the user may see, or Http404 (never a 403, which would confirm that it exists);
    an unknown kind is a 404 too."""
    try:
        model = record_model(kind)
    except KeyError:
        raise Http404 from None
    return get_object_or_404(records_for_user(model=model, user=user), pk=pk)


def record_choices(*, model, user: User) -> QuerySet:
    """Visible records for a form's drop-down: no joins, no prefetching."""
    return model.objects.filter(owners_visible_to(user))


def record_can_delete(*, record, user: User) -> bool:
    return record.owner_id == user.pk or (user.is_manager and user.team_id is not None)


def team_members(user: User) -> QuerySet:
    """The user's team, deactivated members included: a user without a team is a team of one."""
    if user.team_id:
        return User.objects.filter(team_id=user.team_id)
    return User.objects.filter(pk=user.pk)


def users_assignable_by(user: User) -> QuerySet:
    """The people a user may hand a record to: the active members of their team."""
    members = team_members(user)
    # A user alone keeps themselves even once deactivated (a CSV job of theirs still runs).
    return members.filter(is_active=True) if user.team_id else members


def stages_active() -> QuerySet:
    return Stage.objects.filter(is_active=True)


def records_sharing_addresses(*, record, user: User) -> dict[str, list]:
    """For each address of a contact or lead, the other visible records that have it too."""
    addresses = [e.address for e in record.emails.all()]
    if not addresses:
        return {}
    visible = Q(contact__in=records_for_user(model=Contact, user=user).values("pk")) | Q(
        lead__in=records_for_user(model=Lead, user=user).values("pk")
    )
    others = (
        EmailAddress.objects.filter(address__in=addresses)
        .filter(visible)
        .exclude(**{record.kind: record})
        .select_related("contact", "lead")
    )
    shared: dict[str, list] = {}
    for email in others:
        shared.setdefault(email.address, []).append(email.record)
    return shared


def timeline_for(*, record) -> list:
    """Notes, tasks and activity on a record, newest first."""
    key = {record.kind: record}
    notes = Note.objects.filter(**key).select_related("author")
    tasks = Task.objects.filter(**key).select_related("assignee")
    activities = Activity.objects.filter(**key).select_related("actor")
    return sorted(chain(notes, tasks, activities), key=lambda entry: entry.created_at, reverse=True)


def dashboard_for(*, user: User) -> dict:
    open_deals = (
        Deal.objects.filter(owner=user, status=Deal.Status.OPEN)
        .select_related("stage", "company")
        .order_by("expected_close", "-updated_at")
    )
    my_tasks = (
        Task.objects.filter(assignee=user, done=False)
        .select_related(*Task.RECORD_FIELDS)
        .order_by("due_date", "id")
    )
    recent = (
        Activity.objects.filter(
            Q(company__in=records_for_user(model=Company, user=user).values("pk"))
            | Q(contact__in=records_for_user(model=Contact, user=user).values("pk"))
            | Q(lead__in=records_for_user(model=Lead, user=user).values("pk"))
            | Q(deal__in=records_for_user(model=Deal, user=user).values("pk"))
        )
        .select_related("actor", *Activity.RECORD_FIELDS)
        .order_by("-created_at", "-id")
    )
    return {
        "open_deals": open_deals[:20],
        "open_deal_count": open_deals.count(),
        "tasks": my_tasks[:20],
        "recent": recent[:15],
    }


def pipeline_board(*, user: User, owner_id: int | None = None) -> list[dict]:
    """Open deals grouped by active stage, in pipeline order."""
    deals = records_for_user(model=Deal, user=user).filter(status=Deal.Status.OPEN)
    if owner_id:
        deals = deals.filter(owner_id=owner_id)
    deals = deals.order_by("expected_close", "name").prefetch_related(
        Prefetch("contacts", queryset=Contact.objects.only("id", "first_name", "last_name"))
    )
    stages = list(stages_active())
    columns = {stage.pk: {"stage": stage, "deals": [], "total": 0} for stage in stages}
    for deal in deals:
        column = columns.get(deal.stage_id)
        if column is None:  # a deal left in a stage an operator has since deactivated
            continue
        column["deals"].append(deal)
        column["total"] += deal.value
    return list(columns.values())


def search_all(*, user: User, query: str, limit: int = 10) -> dict[str, list]:
    """The global search box: names, addresses, domains and phone numbers across record kinds."""
    q = query.strip()
    if not q:
        return {"leads": [], "contacts": [], "companies": [], "deals": []}
    return {
        "leads": list(lead_search(records_for_user(model=Lead, user=user), q)[:limit]),
        "contacts": list(contact_search(records_for_user(model=Contact, user=user), q)[:limit]),
        "companies": list(company_search(records_for_user(model=Company, user=user), q)[:limit]),
        "deals": list(deal_search(records_for_user(model=Deal, user=user), q)[:limit]),
    }


def _person_filter(q: str) -> Q:
    condition = (
        Q(first_name__icontains=q)
        | Q(last_name__icontains=q)
        | Q(emails__address__icontains=q.lower())
        | Q(phones__number__icontains=q)
    )
    parts = q.split()
    if len(parts) >= 2:
        condition |= Q(first_name__icontains=parts[0], last_name__icontains=" ".join(parts[1:]))
    return condition


def contact_search(qs: QuerySet, q: str) -> QuerySet:
    ids = qs.filter(_person_filter(q) | Q(company__name__icontains=q) | Q(title__icontains=q))
    return qs.filter(pk__in=ids.values("pk"))


def lead_search(qs: QuerySet, q: str) -> QuerySet:
    ids = qs.filter(_person_filter(q) | Q(company_name__icontains=q))
    return qs.filter(pk__in=ids.values("pk"))


def company_search(qs: QuerySet, q: str) -> QuerySet:
    ids = qs.filter(Q(name__icontains=q) | Q(domains__domain__icontains=q.lower()))
    return qs.filter(pk__in=ids.values("pk"))


def deal_search(qs: QuerySet, q: str) -> QuerySet:
    return qs.filter(Q(name__icontains=q) | Q(company__name__icontains=q))
