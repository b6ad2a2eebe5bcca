"""The Django admin, for operators.

Reps and managers use the app; the admin is where staff fix data, manage users and teams and
edit the pipeline stages. Saves of CRM records go through crm.services (so that they are
validated and appear on the record's timeline) and the actions call the same services as the
app; nothing here decides anything the services do not.

Change lists select or prefetch everything their columns show, so a page costs the same number
of queries whatever its length, and the big tables skip the unfiltered count.
"""

from allauth.account.adapter import get_adapter
from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import formats
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from crm import services
from crm.addresses import normalize_domain, normalize_email, normalize_phone
from crm.models import (
    Activity,
    Company,
    CompanyDomain,
    Contact,
    CsvJob,
    Deal,
    EmailAddress,
    Lead,
    Note,
    PhoneNumber,
    Stage,
    Task,
    Team,
    User,
)


def _admin_link(obj):
    """A link to an object's change page in the admin, or a dash."""
    if obj is None:
        return "—"
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, obj)


def _record_column(obj):
    record = obj.record
    if record is None:
        return "—"
    return format_html("{}: {}", record._meta.verbose_name.capitalize(), _admin_link(record))


def _first(related_manager):
    """The first item of a prefetched relation, without a query of its own."""
    return next(iter(related_manager.all()), None)


# Signing in


class RateLimitedAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin sign-in, counted with the app's: the password is checked through allauth's
    adapter, which consumes its `login_failed` rate limit (ACCOUNT_RATE_LIMITS, per address
    and per user name, kept in the shared cache of CACHES) before trying the password and gives
    the attempt back when it succeeds. Reusing allauth's machinery rather than a counter of our
    own means one setting, one per-address count for both doors, and allauth's translated
    message. A limited attempt is refused even with the right password."""

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            self.user_cache = get_adapter(self.request).authenticate(
                self.request, username=username, password=password
            )
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


admin.site.login_form = RateLimitedAdminAuthenticationForm


# Users and teams


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "email")}),
        (_("CRM"), {"fields": ("team",)}),
        (
            _("Permissions"),
            {
                "fields": (
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                ),
            },
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "usable_password", "password1", "password2"),
            },
        ),
        (
            _("CRM"),
            {
                "classes": ("wide",),
                "fields": ("first_name", "last_name", "email", "team", "groups"),
            },
        ),
    )
    list_display = (
        "username",
        "email",
        "first_name",
        "last_name",
        "team",
        "roles",
        "is_active",
        "is_staff",
    )
    list_filter = ("team", "groups", "is_active", "is_staff", "is_superuser")
    list_select_related = ("team",)
    search_fields = ("username", "first_name", "last_name", "email", "team__name")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.user_vouch_email(user=obj)

    @admin.display(description=_("groups"))
    def roles(self, obj):
        return ", ".join(group.name for group in obj.groups.all()) or "—"


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "member_count")
    search_fields = ("name",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_member_count=Count("members"))

    @admin.display(description=_("members"), ordering="_member_count")
    def member_count(self, obj):
        return obj._member_count


# Inline addresses, normalised exactly as the app stores them so that look-ups find them.


class CompanyDomainForm(forms.ModelForm):
    class Meta:
        model = CompanyDomain
        fields = ("domain",)

    def clean_domain(self):
        return normalize_domain(self.cleaned_data["domain"])


class EmailAddressForm(forms.ModelForm):
    class Meta:
        model = EmailAddress
        fields = ("address", "position")

    def clean_address(self):
        return normalize_email(self.cleaned_data["address"])


class PhoneNumberForm(forms.ModelForm):
    class Meta:
        model = PhoneNumber
        fields = ("number", "position")

    def clean_number(self):
        return normalize_phone(self.cleaned_data["number"])


class CompanyDomainInline(admin.TabularInline):
    model = CompanyDomain
    form = CompanyDomainForm
    extra = 1


class EmailAddressInline(admin.TabularInline):
    model = EmailAddress
    form = EmailAddressForm
    extra = 1


class PhoneNumberInline(admin.TabularInline):
    model = PhoneNumber
    form = PhoneNumberForm
    extra = 1


# CRM records


class RecordAdmin(admin.ModelAdmin):
    """Company, contact, lead and deal: saved and deleted through crm.services."""

    autocomplete_fields = ("owner",)
    list_per_page = 50
    show_full_result_count = False  # a second COUNT(*) of the whole table on every filtered page
    date_hierarchy = "created_at"
    readonly_fields = ("created_at", "updated_at")

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("owner", request.user.pk)
        return initial

    def delete_model(self, request, obj):
        services.record_delete(record=obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            services.record_delete(record=obj)


@admin.register(Company)
class CompanyAdmin(RecordAdmin):
    list_display = ("name", "domain_list", "industry", "owner", "contact_count", "updated_at")
    list_filter = ("owner__team", "owner", "industry")
    list_select_related = ("owner",)
    search_fields = ("name", "domains__domain", "industry", "phone")
    inlines = (CompanyDomainInline,)
    fields = ("name", "owner", "industry", "phone", "address", "description") + (
        RecordAdmin.readonly_fields
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related("domains")
            .annotate(_contact_count=Count("contacts", distinct=True))
        )

    @admin.display(description=_("domains"))
    def domain_list(self, obj):
        return ", ".join(d.domain for d in obj.domains.all()) or "—"

    @admin.display(description=_("contacts"), ordering="_contact_count")
    def contact_count(self, obj):
        return obj._contact_count

    def save_model(self, request, obj, form, change):
        services.company_save(company=obj, actor=request.user)


@admin.register(Contact)
class ContactAdmin(RecordAdmin):
    list_display = ("name", "primary_email", "title", "company", "owner", "updated_at")
    list_display_links = ("name",)
    list_filter = ("owner__team", "owner")
    list_select_related = ("owner", "company")
    search_fields = (
        "first_name",
        "last_name",
        "emails__address",
        "phones__number",
        "company__name",
        "title",
    )
    autocomplete_fields = ("owner", "company")
    inlines = (EmailAddressInline, PhoneNumberInline)
    fields = ("first_name", "last_name", "title", "company", "owner", "description") + (
        RecordAdmin.readonly_fields
    )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("emails")

    @admin.display(description=_("name"), ordering="last_name")
    def name(self, obj):
        return obj.name

    @admin.display(description=_("email"))
    def primary_email(self, obj):
        return _first(obj.emails) or "—"

    def save_model(self, request, obj, form, change):
        services.contact_save(contact=obj, actor=request.user)


class LeadAdminForm(forms.ModelForm):
    class Meta:
        model = Lead
        fields = (
            "first_name",
            "last_name",
            "title",
            "company_name",
            "status",
            "source",
            "owner",
            "description",
        )

    def clean_status(self):
        status = self.cleaned_data["status"]
        was_converted = self.instance.pk is not None and self.instance.is_converted
        if status == Lead.Status.CONVERTED and not was_converted:
            raise forms.ValidationError(
                _("Convert a lead from its page in the app, which creates the contact too.")
            )
        if was_converted and status != Lead.Status.CONVERTED:
            raise forms.ValidationError(_("A converted lead stays converted."))
        return status


@admin.register(Lead)
class LeadAdmin(RecordAdmin):
    form = LeadAdminForm
    list_display = (
        "name",
        "primary_email",
        "company_name",
        "status",
        "source",
        "owner",
        "created_at",
    )
    list_display_links = ("name",)
    list_filter = ("status", "source", "owner__team", "owner")
    list_select_related = ("owner",)
    search_fields = (
        "first_name",
        "last_name",
        "company_name",
        "emails__address",
        "phones__number",
    )
    inlines = (EmailAddressInline, PhoneNumberInline)
    fields = (
        "first_name",
        "last_name",
        "title",
        "company_name",
        "status",
        "source",
        "owner",
        "description",
        "converted_at",
        "converted_contact",
        "converted_deal",
    ) + RecordAdmin.readonly_fields
    readonly_fields = (
        "converted_at",
        "converted_contact",
        "converted_deal",
    ) + RecordAdmin.readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("emails")

    @admin.display(description=_("name"), ordering="last_name")
    def name(self, obj):
        return obj.name

    @admin.display(description=_("email"))
    def primary_email(self, obj):
        return _first(obj.emails) or "—"

    def save_model(self, request, obj, form, change):
        services.lead_save(lead=obj, actor=request.user)


@admin.register(Deal)
class DealAdmin(RecordAdmin):
    list_display = (
        "name",
        "amount",
        "stage",
        "status",
        "owner",
        "company",
        "expected_close",
        "updated_at",
    )
    list_filter = ("status", "stage", "currency", "owner__team", "owner")
    list_select_related = ("owner", "stage", "company")
    search_fields = ("name", "company__name", "contacts__last_name", "contacts__emails__address")
    autocomplete_fields = ("owner", "company", "contacts", "lead")
    fields = (
        "name",
        ("value", "currency"),
        "stage",
        "expected_close",
        "owner",
        "company",
        "contacts",
        "lead",
        "status",
        "closed_at",
        "lost_reason",
    ) + RecordAdmin.readonly_fields
    # Closing and reopening go through the actions, which keep the timeline and closed_at right.
    readonly_fields = ("status", "closed_at") + RecordAdmin.readonly_fields
    actions = ("mark_won", "mark_lost", "reopen")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "stage":
            kwargs["queryset"] = Stage.objects.order_by("-is_active", "position", "id")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description=_("value"), ordering="value")
    def amount(self, obj):
        value = formats.number_format(obj.value, 2, use_l10n=True, force_grouping=True)
        return f"{value} {obj.currency}"

    def save_model(self, request, obj, form, change):
        services.deal_save(deal=obj, actor=request.user)

    @admin.action(permissions=["change"], description=_("Mark selected deals as won"))
    def mark_won(self, request, queryset):
        deals = list(queryset.filter(status=Deal.Status.OPEN))
        for deal in deals:
            services.deal_close(deal=deal, actor=request.user, won=True)
        message = ngettext(
            "%(count)d open deal marked as won.", "%(count)d open deals marked as won.", len(deals)
        )
        self.message_user(request, message % {"count": len(deals)})

    @admin.action(permissions=["change"], description=_("Mark selected deals as lost"))
    def mark_lost(self, request, queryset):
        deals = list(queryset.filter(status=Deal.Status.OPEN))
        for deal in deals:
            services.deal_close(deal=deal, actor=request.user, won=False)
        message = ngettext(
            "%(count)d open deal marked as lost.",
            "%(count)d open deals marked as lost.",
            len(deals),
        )
        self.message_user(request, message % {"count": len(deals)})

    @admin.action(permissions=["change"], description=_("Reopen selected deals"))
    def reopen(self, request, queryset):
        deals = list(queryset.exclude(status=Deal.Status.OPEN))
        for deal in deals:
            services.deal_reopen(deal=deal, actor=request.user)
        message = ngettext(
            "%(count)d closed deal reopened.", "%(count)d closed deals reopened.", len(deals)
        )
        self.message_user(request, message % {"count": len(deals)})


@admin.register(Stage)
class StageAdmin(admin.ModelAdmin):
    list_display = ("name", "position", "probability", "is_active", "open_deal_count")
    list_editable = ("position", "probability", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(_open_deals=Count("deals", filter=Q(deals__status=Deal.Status.OPEN)))
        )

    @admin.display(description=_("open deals"), ordering="_open_deals")
    def open_deal_count(self, obj):
        return obj._open_deals


# What hangs off a record: notes, tasks, activity

# Showing a contact or lead may fall back to its first address when it has no name.
_RECORD_RELATED = ("company", "contact", "lead", "deal")
_RECORD_PREFETCH = ("contact__emails", "lead__emails")


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ("excerpt", "record", "author", "created_at")
    list_filter = ("author",)
    list_select_related = ("author", *_RECORD_RELATED)
    search_fields = ("body",)
    autocomplete_fields = ("company", "contact", "lead", "deal")
    fields = ("body", "company", "contact", "lead", "deal", "author", "created_at")
    readonly_fields = ("author", "created_at")
    date_hierarchy = "created_at"
    list_per_page = 50
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related(*_RECORD_PREFETCH)

    @admin.display(description=_("note"))
    def excerpt(self, obj):
        return Truncator(obj.body).chars(80)

    @admin.display(description=_("record"))
    def record(self, obj):
        return _record_column(obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.author = request.user
        super().save_model(request, obj, form, change)


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("title", "due_date", "done", "assignee", "record", "created_at")
    list_filter = ("done", "assignee__team", "assignee")
    list_select_related = ("assignee", *_RECORD_RELATED)
    search_fields = ("title",)
    autocomplete_fields = ("assignee", "company", "contact", "lead", "deal")
    fields = (
        "title",
        "due_date",
        "assignee",
        "done",
        "done_at",
        "company",
        "contact",
        "lead",
        "deal",
        "created_by",
        "created_at",
    )
    readonly_fields = ("done_at", "created_by", "created_at")
    date_hierarchy = "due_date"
    list_per_page = 50
    show_full_result_count = False
    actions = ("mark_done", "mark_not_done")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related(*_RECORD_PREFETCH)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("assignee", request.user.pk)
        return initial

    @admin.display(description=_("record"))
    def record(self, obj):
        return _record_column(obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if "done" in form.changed_data:
            services.task_set_done(task=obj, done=obj.done)

    def _set_done(self, request, queryset, done):
        tasks = list(queryset.filter(done=not done))
        for task in tasks:
            services.task_set_done(task=task, done=done)
        if done:
            message = ngettext(
                "%(count)d task marked as done.", "%(count)d tasks marked as done.", len(tasks)
            )
        else:
            message = ngettext(
                "%(count)d task marked as not done.",
                "%(count)d tasks marked as not done.",
                len(tasks),
            )
        self.message_user(request, message % {"count": len(tasks)})

    @admin.action(permissions=["change"], description=_("Mark selected tasks as done"))
    def mark_done(self, request, queryset):
        self._set_done(request, queryset, True)

    @admin.action(permissions=["change"], description=_("Mark selected tasks as not done"))
    def mark_not_done(self, request, queryset):
        self._set_done(request, queryset, False)


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    """The timeline's history: looked at here, never written.

    Deleting is left allowed: deleting a record in the admin takes its activity with it, and
    the admin refuses that if it may not delete the activity too.
    """

    list_display = ("created_at", "actor", "verb", "record", "summary")
    list_filter = ("verb", "actor")
    list_select_related = ("actor", *_RECORD_RELATED)
    date_hierarchy = "created_at"
    list_per_page = 50
    show_full_result_count = False
    fields = ("created_at", "actor", "verb", "record", "summary", "data")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related(*_RECORD_PREFETCH)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("record"))
    def record(self, obj):
        return _record_column(obj)

    @admin.display(description=_("what happened"))
    def summary(self, obj):
        return obj.summary


@admin.register(CsvJob)
class CsvJobAdmin(admin.ModelAdmin):
    """Large CSV imports and exports (crm/csv_jobs.py): looked at here, never written; only the
    rep who started one can download its file, from the app."""

    list_display = ("created_at", "user", "direction", "kind", "status", "done", "total")
    list_filter = ("status", "direction", "kind")
    list_select_related = ("user",)
    search_fields = ("user__email", "user__username", "filename")
    date_hierarchy = "created_at"
    fields = (
        "user",
        "direction",
        "kind",
        "status",
        "filename",
        "total",
        "done",
        "error",
        "report",
        "language",
        "created_at",
        "started_at",
        "finished_at",
        "updated_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
