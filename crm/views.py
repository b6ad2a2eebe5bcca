"""The reps' web UI. Views are thin: querysets come from selectors (which decide who sees what),
changes go through services."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpResponseNotFound
from django.shortcuts import get_object_or_404, redirect, render
from django.template import loader
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from django.views.generic import ListView, TemplateView

from crm import selectors, services
from crm.forms import (
    CompanyForm,
    ContactForm,
    DealCloseForm,
    DealForm,
    DealMoveForm,
    LeadConvertForm,
    LeadForm,
    NoteForm,
    TaskForm,
)
from crm.models import Company, Contact, Deal, Lead, Task, User, record_model
from crm.redirects import redirect_next
from mailsync.selectors.inbound import deal_address_of
from mailsync.selectors.timeline import mail_threads_for_record

# -- record kinds -----------------------------------------------------------------------------

KINDS = {
    "lead": {
        "form": LeadForm,
        "search": selectors.lead_search,
        "plural": gettext_lazy("Leads"),
        "new": gettext_lazy("New lead"),
        "sorts": {
            "name": ("last_name", "first_name"),
            "company": ("company_name",),
            "status": ("status",),
            "created": ("created_at",),
        },
        "default_sort": "-created",
    },
    "contact": {
        "form": ContactForm,
        "search": selectors.contact_search,
        "plural": gettext_lazy("Contacts"),
        "new": gettext_lazy("New contact"),
        "sorts": {
            "name": ("last_name", "first_name"),
            "company": ("company__name",),
            "updated": ("updated_at",),
        },
        "default_sort": "name",
    },
    "company": {
        "form": CompanyForm,
        "search": selectors.company_search,
        "plural": gettext_lazy("Companies"),
        "new": gettext_lazy("New company"),
        "sorts": {"name": ("name",), "contacts": ("contact_count",), "updated": ("updated_at",)},
        "default_sort": "name",
    },
    "deal": {
        "form": DealForm,
        "search": selectors.deal_search,
        "plural": gettext_lazy("Deals"),
        "new": gettext_lazy("New deal"),
        "sorts": {
            "name": ("name",),
            "value": ("value",),
            "stage": ("stage__position",),
            "close": ("expected_close",),
            "updated": ("updated_at",),
        },
        "default_sort": "-updated",
    },
}


def _kind(kind: str) -> dict:
    try:
        return KINDS[kind]
    except KeyError:
        raise Http404 from None


def _save(kind: str, form, user: User):
    record = form.save(commit=False)
    data = form.cleaned_data
    if kind == "company":
        return services.company_save(company=record, actor=user, domains=data["domains_text"])
    if kind in ("contact", "lead"):
        return services.person_save(
            record=record, actor=user, emails=data["emails_text"], phones=data["phones_text"]
        )
    return services.deal_save(deal=record, actor=user, contacts=data["contacts"])


# -- lists ------------------------------------------------------------------------------------


class RecordListView(LoginRequiredMixin, ListView):
    kind = ""
    template_name = "crm/record_list.html"

    def get_paginate_by(self, queryset):
        return settings.CRM_PAGE_SIZE

    def paginate_queryset(self, queryset, page_size):
        # A stale link to page 9 of a list that now has 3 shows page 3, not a 404.
        paginator = self.get_paginator(queryset, page_size)
        page = paginator.get_page(self.request.GET.get("page"))
        return paginator, page, page.object_list, page.has_other_pages()

    def get_queryset(self):
        config = _kind(self.kind)
        user = self.request.user
        qs = selectors.records_for_user(model=record_model(self.kind), user=user)
        params = self.request.GET
        self.query = params.get("q", "").strip()
        if self.query:
            qs = config["search"](qs, self.query)
        owner = params.get("owner", "")
        if owner == "me":
            qs = qs.filter(owner=user)
        elif owner.isdigit():
            qs = qs.filter(owner_id=int(owner))
        qs = self.filter_kind(qs, params)
        sort = params.get("sort") or config["default_sort"]
        key = sort.lstrip("-")
        if key not in config["sorts"]:
            sort, key = config["default_sort"], config["default_sort"].lstrip("-")
        self.sort = sort
        prefix = "-" if sort.startswith("-") else ""
        return qs.order_by(*(prefix + f for f in config["sorts"][key]), "-pk")

    def filter_kind(self, qs, params):
        if self.kind == "lead":
            if params.get("status") in Lead.Status.values:
                qs = qs.filter(status=params["status"])
            elif params.get("status") != "all":
                qs = qs.exclude(status=Lead.Status.CONVERTED)
            if params.get("source") in Lead.Source.values:
                qs = qs.filter(source=params["source"])
        elif self.kind == "deal":
            status = params.get("status", Deal.Status.OPEN)
            if status in Deal.Status.values:
                qs = qs.filter(status=status)
            if params.get("stage", "").isdigit():
                qs = qs.filter(stage_id=int(params["stage"]))
        elif self.kind == "contact" and params.get("company", "").isdigit():
            qs = qs.filter(company_id=int(params["company"]))
        return qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        config = _kind(self.kind)
        context.update(
            kind=self.kind,
            title=config["plural"],
            new_label=config["new"],
            query=self.query,
            sort=self.sort,
            sorts=config["sorts"],
            owners=selectors.users_assignable_by(self.request.user),
            params=self.request.GET,
            lead_statuses=Lead.Status.choices,
            lead_sources=Lead.Source.choices,
            deal_statuses=Deal.Status.choices,
            stages=selectors.stages_active(),
        )
        return context


# -- detail -----------------------------------------------------------------------------------


def _detail_context(request, kind: str, record) -> dict:
    user = request.user
    page = Paginator(selectors.timeline_for(record=record), 30).get_page(request.GET.get("page"))
    context = {
        "kind": kind,
        "record": record,
        "timeline": page,
        "note_form": NoteForm(),
        "task_form": TaskForm(user=user),
        "can_delete": selectors.record_can_delete(record=record, user=user),
        "mail_threads": mail_threads_for_record(
            record=record, user=user, page=request.GET.get("mail_page")
        ),
    }
    if kind == "deal":
        context["deal_address"] = deal_address_of(deal=record)
    if kind in ("contact", "lead"):
        context["shared_addresses"] = selectors.records_sharing_addresses(record=record, user=user)
    if kind == "contact":
        context["deals"] = record.deals.filter(
            pk__in=selectors.records_for_user(model=Deal, user=user).values("pk")
        ).select_related("stage")
    if kind == "company":
        context["contacts"] = selectors.records_for_user(model=Contact, user=user).filter(
            company=record
        )
        context["deals"] = selectors.records_for_user(model=Deal, user=user).filter(company=record)
    if kind == "deal":
        context["contacts"] = record.contacts.filter(
            pk__in=selectors.records_for_user(model=Contact, user=user).values("pk")
        ).prefetch_related("emails")
        context["close_form"] = DealCloseForm()
        context["stages"] = selectors.stages_active()
    return context


@login_required
def record_detail(request, kind, pk):
    record = selectors.record_get(kind=kind, pk=pk, user=request.user)
    return render(request, f"crm/{kind}_detail.html", _detail_context(request, kind, record))


# -- create, edit, delete ---------------------------------------------------------------------


@login_required
def record_create(request, kind):
    config = _kind(kind)
    form = config["form"](request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        record = _save(kind, form, request.user)
        messages.success(request, _("“%(name)s” was created.") % {"name": record})
        return redirect(record)
    return render(
        request,
        "crm/record_form.html",
        {
            "form": form,
            "kind": kind,
            "title": config["new"],
            "cancel_url": reverse(f"crm:{kind}_list"),
        },
    )


@login_required
def record_edit(request, kind, pk):
    record = selectors.record_get(kind=kind, pk=pk, user=request.user)
    form = _kind(kind)["form"](request.POST or None, instance=record, user=request.user)
    if request.method == "POST" and form.is_valid():
        record = _save(kind, form, request.user)
        messages.success(request, _("Your changes to “%(name)s” were saved.") % {"name": record})
        return redirect(record)
    return render(
        request,
        "crm/record_form.html",
        {
            "form": form,
            "kind": kind,
            "record": record,
            "title": _("Edit “%(name)s”") % {"name": record},
            "cancel_url": record.get_absolute_url(),
        },
    )


@login_required
def record_delete(request, kind, pk):
    record = selectors.record_get(kind=kind, pk=pk, user=request.user)
    if not selectors.record_can_delete(record=record, user=request.user):
        raise PermissionDenied(_("Only the owner or a manager can delete this record."))
    if request.method == "POST":
        name = str(record)
        services.record_delete(record=record)
        messages.success(request, _("“%(name)s” was deleted.") % {"name": name})
        return redirect(f"crm:{kind}_list")
    return render(request, "crm/record_delete.html", {"record": record, "kind": kind})


# -- notes and tasks --------------------------------------------------------------------------


@login_required
@require_POST
def note_add(request, kind, pk):
    record = selectors.record_get(kind=kind, pk=pk, user=request.user)
    form = NoteForm(request.POST)
    if form.is_valid():
        services.note_add(record=record, author=request.user, body=form.cleaned_data["body"])
        messages.success(request, _("Note added."))
    else:
        messages.error(request, _("The note is empty or too long; nothing was added."))
    return redirect(record)


@login_required
@require_POST
def task_add(request, kind, pk):
    record = selectors.record_get(kind=kind, pk=pk, user=request.user)
    form = TaskForm(request.POST, user=request.user)
    if form.is_valid():
        services.task_add(record=record, created_by=request.user, **form.cleaned_data)
        messages.success(request, _("Task added."))
        return redirect(record)
    return render(
        request,
        "crm/task_form.html",
        {"form": form, "record": record, "action": reverse(f"crm:{kind}_task_add", args=[pk])},
    )


def _tasks_visible_to(user: User):
    """Tasks assigned to the user, or on records the user can see."""
    return Task.objects.filter(
        Q(assignee=user)
        | Q(company__in=selectors.records_for_user(model=Company, user=user).values("pk"))
        | Q(contact__in=selectors.records_for_user(model=Contact, user=user).values("pk"))
        | Q(lead__in=selectors.records_for_user(model=Lead, user=user).values("pk"))
        | Q(deal__in=selectors.records_for_user(model=Deal, user=user).values("pk"))
    )


@login_required
@require_POST
def task_toggle(request, pk):
    task = get_object_or_404(_tasks_visible_to(request.user), pk=pk)
    services.task_set_done(task=task, done=not task.done)
    if request.htmx:
        return render(request, "crm/_task.html", {"task": task})
    return redirect_next(
        request, task.record.get_absolute_url() if task.record else reverse("crm:task_list")
    )


@login_required
def task_list(request):
    show = request.GET.get("show", "open")
    tasks = (
        Task.objects.filter(assignee=request.user)
        .select_related("assignee", *Task.RECORD_FIELDS)
        .order_by("done", "due_date", "id")
    )
    if show == "open":
        tasks = tasks.filter(done=False)
    elif show == "done":
        tasks = tasks.filter(done=True).order_by("-done_at")
    page = Paginator(tasks, settings.CRM_PAGE_SIZE).get_page(request.GET.get("page"))
    form = TaskForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        services.task_add(record=None, created_by=request.user, **form.cleaned_data)
        messages.success(request, _("Task added."))
        return redirect("crm:task_list")
    return render(request, "crm/task_list.html", {"page_obj": page, "show": show, "form": form})


# -- leads and deals --------------------------------------------------------------------------


@login_required
def lead_convert(request, pk):
    lead = selectors.record_get(kind="lead", pk=pk, user=request.user)
    if lead.is_converted:
        messages.info(request, _("This lead was already converted."))
        return redirect(lead)
    form = LeadConvertForm(request.POST or None, lead=lead)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        contact, _company, deal = services.lead_convert(
            lead=lead,
            actor=request.user,
            company_name=data["company_name"],
            create_deal=data["create_deal"],
            deal_name=data["deal_name"],
            deal_value=data["deal_value"],
            deal_currency=data["deal_currency"],
            deal_stage=data["deal_stage"],
        )
        messages.success(
            request, _("The lead was converted into the contact “%(name)s”.") % {"name": contact}
        )
        return redirect(deal or contact)
    return render(request, "crm/lead_convert.html", {"form": form, "lead": lead})


@login_required
@require_POST
def deal_move(request, pk):
    deal = selectors.record_get(kind="deal", pk=pk, user=request.user)
    form = DealMoveForm(request.POST)
    if form.is_valid():
        services.deal_move_stage(deal=deal, stage=form.cleaned_data["stage"], actor=request.user)
        if request.htmx:
            return render(request, "crm/_board.html", _board_context(request))
        messages.success(
            request,
            _("“%(deal)s” moved to %(stage)s.") % {"deal": deal, "stage": deal.stage},
        )
    else:
        messages.error(request, _("Choose a stage of the pipeline."))
    return redirect_next(request, deal.get_absolute_url())


@login_required
@require_POST
def deal_close(request, pk):
    deal = selectors.record_get(kind="deal", pk=pk, user=request.user)
    form = DealCloseForm(request.POST)
    if form.is_valid():
        won = form.cleaned_data["outcome"] == "won"
        services.deal_close(
            deal=deal, actor=request.user, won=won, reason=form.cleaned_data["reason"]
        )
        messages.success(
            request, _("The deal was marked as won.") if won else _("The deal was marked as lost.")
        )
        return redirect(deal)
    data = _detail_context(request, "deal", deal)
    data["close_form"] = form
    return render(request, "crm/deal_detail.html", data, status=400)


@login_required
@require_POST
def deal_reopen(request, pk):
    deal = selectors.record_get(kind="deal", pk=pk, user=request.user)
    services.deal_reopen(deal=deal, actor=request.user)
    messages.success(request, _("The deal is open again."))
    return redirect(deal)


def _board_context(request):
    owner = request.GET.get("owner") or request.POST.get("owner") or ""
    owner_id = request.user.pk if owner == "me" else (int(owner) if owner.isdigit() else None)
    return {
        "columns": selectors.pipeline_board(user=request.user, owner_id=owner_id),
        "stages": selectors.stages_active(),
        "owners": selectors.users_assignable_by(request.user),
        "owner": owner,
    }


@login_required
def deal_board(request):
    return render(request, "crm/deal_board.html", _board_context(request))


# -- dashboard, search, errors ----------------------------------------------------------------


class DashboardView(LoginRequiredMixin, TemplateView):
    template_name = "crm/dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(selectors.dashboard_for(user=self.request.user))
        return context


@login_required
def search(request):
    query = request.GET.get("q", "").strip()
    results = selectors.search_all(user=request.user, query=query)
    total = sum(len(v) for v in results.values())
    return render(
        request,
        "crm/search.html",
        {"search_query": query, "results": results, "total": total},
    )


def page_not_found(request, exception):
    """A 404 in the reader's language and in the site's layout, never a trace."""
    template = loader.get_template("404.html")
    return HttpResponseNotFound(template.render({}, request))
