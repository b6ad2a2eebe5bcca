"""The operators' admin for the mail integration: accounts and their health, sync runs, the skip
ledger, and stored messages' metadata.

Operators see metadata, never content: no page here shows a message's subject, body, snippet,
text or HTML, raw source or attachment file names (a file name often says what the mail is
about: "offer-acme-final.pdf"), and no page shows an account's secret, not even encrypted.
Sender addresses, dates, sizes, counts, Message-IDs and codes are metadata and are shown.
Actions call the services. Change lists select what their columns show, so a page costs the
same queries at any length.
"""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from mailsync.accounts.services import (
    account_disable,
    account_enable,
    account_request_sync,
    account_resync_from_scratch,
)
from mailsync.models import MailAccount, MailFolder, Message, OAuthGrant, SkipEntry, SyncRun
from mailsync.transport.tls import normalize_pin


class ReadOnlyAdminMixin:
    """Records the sync writes: operators look, they do not edit."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MailFolderInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = MailFolder
    fields = ["role", "name", "uidvalidity", "last_uid", "last_synced_at"]
    readonly_fields = fields
    extra = 0


class OAuthGrantInline(ReadOnlyAdminMixin, admin.StackedInline):
    """A Google or Microsoft 365 mailbox's grant, without its tokens (never shown anywhere)."""

    model = OAuthGrant
    fields = [
        "subject",
        "scope",
        "access_expires_at",
        "refreshed_at",
        "refresh_expires_at",
        "dead_at",
    ]
    readonly_fields = fields
    extra = 0


class MailAccountForm(forms.ModelForm):
    class Meta:
        model = MailAccount
        fields = ["tls_pin_sha256", "sent_folder_name"]

    def clean_tls_pin_sha256(self):
        pin = normalize_pin(self.cleaned_data["tls_pin_sha256"])
        if pin and (len(pin) != 64 or any(c not in "0123456789abcdef" for c in pin)):
            raise forms.ValidationError(
                _("A SHA-256 fingerprint is 64 hexadecimal digits (colons allowed).")
            )
        return pin


@admin.register(MailAccount)
class MailAccountAdmin(admin.ModelAdmin):
    form = MailAccountForm
    list_display = [
        "email",
        "user",
        "status",
        "error_code",
        "last_sync_at",
        "next_sync_at",
        "failures",
    ]
    list_filter = ["status", "error_code", "auth", "imap_host"]
    search_fields = ["email", "user__username", "user__email", "user__first_name"]
    list_select_related = ["user"]
    ordering = ["email"]
    inlines = [OAuthGrantInline, MailFolderInline]
    actions = ["sync_now", "resync_from_scratch", "disable", "enable"]
    # Everything but the pin and the Sent folder's name is read-only; the secret is not even
    # listed (its field is not editable, so it appears nowhere unless named here).
    readonly_fields = [
        "user",
        "email",
        "auth",
        "login",
        "imap_host",
        "imap_port",
        "imap_security",
        "smtp_host",
        "smtp_port",
        "smtp_security",
        "history_days",
        "status",
        "error_code",
        "error_stage",
        "error_detail",
        "error_since",
        "failures",
        "last_sync_at",
        "last_success_at",
        "next_sync_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["user", "email", "auth", "login", "history_days"]}),
        (
            _("Servers"),
            {
                "fields": [
                    ("imap_host", "imap_port", "imap_security"),
                    ("smtp_host", "smtp_port", "smtp_security"),
                    "sent_folder_name",
                    "tls_pin_sha256",
                ]
            },
        ),
        (
            _("Health"),
            {
                "fields": [
                    "status",
                    ("error_code", "error_stage", "error_since"),
                    "error_detail",
                    "failures",
                    ("last_sync_at", "last_success_at", "next_sync_at"),
                    ("created_at", "updated_at"),
                ]
            },
        ),
    ]

    def get_inlines(self, request, obj):
        if obj is None or obj.auth == MailAccount.Auth.PASSWORD:
            return [MailFolderInline]  # no grant to show
        return self.inlines

    def has_add_permission(self, request):
        return False  # a rep connects their own mailbox, with its password, from the app

    def has_delete_permission(self, request, obj=None):
        return False  # disconnect or disable instead: deleting would orphan the mail's sightings

    @admin.action(description=_("Sync now"))
    def sync_now(self, request, queryset):
        accounts = list(queryset.exclude(secret_ciphertext=""))
        for account in accounts:
            account_request_sync(account=account)
        self._report(request, len(accounts), queryset.count(), "sync")

    @admin.action(description=_("Re-sync from scratch"))
    def resync_from_scratch(self, request, queryset):
        accounts = list(queryset.exclude(secret_ciphertext=""))
        for account in accounts:
            account_resync_from_scratch(account=account)
        self._report(request, len(accounts), queryset.count(), "resync")

    @admin.action(description=_("Disable"))
    def disable(self, request, queryset):
        count = 0
        for account in queryset:
            account_disable(account=account)
            count += 1
        self.message_user(
            request,
            ngettext("%(count)d account disabled.", "%(count)d accounts disabled.", count)
            % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(description=_("Enable"))
    def enable(self, request, queryset):
        enabled = sum(1 for account in queryset if account_enable(account=account))
        self._report(request, enabled, queryset.count(), "enable")

    def _report(self, request, done: int, selected: int, what: str) -> None:
        texts = {
            "sync": ngettext(
                "A sync was requested for %(count)d account.",
                "A sync was requested for %(count)d accounts.",
                done,
            ),
            "resync": ngettext(
                "%(count)d account will be synced again from scratch.",
                "%(count)d accounts will be synced again from scratch.",
                done,
            ),
            "enable": ngettext("%(count)d account enabled.", "%(count)d accounts enabled.", done),
        }
        self.message_user(request, texts[what] % {"count": done}, messages.SUCCESS)
        skipped = selected - done
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d account has no password (disconnected): its rep must connect "
                    "it again.",
                    "%(count)d accounts have no password (disconnected): their reps must "
                    "connect them again.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "account",
        "started_at",
        "finished_at",
        "outcome",
        "imported",
        "duplicates",
        "skipped",
        "error_code",
    ]
    list_filter = ["outcome", "error_code"]
    search_fields = ["account__email"]
    list_select_related = ["account"]
    date_hierarchy = "started_at"
    show_full_result_count = False
    fields = [
        "account",
        "started_at",
        "finished_at",
        "outcome",
        "imported",
        "duplicates",
        "skipped",
        "error_code",
        "error_detail",
    ]
    readonly_fields = fields


@admin.register(SkipEntry)
class SkipEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The skip ledger: what the sync did not import in full, and why."""

    # No subject, anywhere (list, search, page, title): it is content. `detail` stays, as the
    # sync's own diagnosis (sizes, counts, the parser's complaint, the block that caught it).
    list_display = ["account", "code", "from_address", "date", "created_at"]
    list_filter = ["code"]
    search_fields = ["from_address", "=header_message_id"]
    list_select_related = ["account"]
    show_full_result_count = False
    fields = [
        "account",
        "code",
        "detail",
        "from_address",
        "date",
        "header_message_id",
        "folder",
        "uidvalidity",
        "uid",
        "created_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        # (A queryset that selects anything already makes the change list skip
        # list_select_related: name the account here too.)
        return (
            super()
            .get_queryset(request)
            .select_related("account", "folder__account")
            .defer("subject")
        )

    def get_object(self, request, object_id, from_field=None):
        entry = super().get_object(request, object_id, from_field)
        if entry is not None:
            # str(entry), in the page's title and breadcrumbs, is its subject: blank it on this
            # in-memory copy (the admin cannot save it) so that str() is the Message-ID.
            entry.subject = ""
        return entry


@admin.register(Message)
class MessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Stored messages' metadata: who, when, how big, why headers only. Never the subject, the
    body or the raw message."""

    list_display = [
        "key",
        "from_address",
        "date",
        "size",
        "recipient_count",
        "headers_only",
        "skip_code",
    ]
    list_filter = ["headers_only", "skip_code"]
    search_fields = ["from_address", "=message_id", "=key"]
    show_full_result_count = False
    fields = [
        "key",
        "message_id",
        "from_address",
        "date",
        "size",
        "recipient_count",
        "headers_only",
        "skip_code",
        "created_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .only(
                "id",
                "key",
                "message_id",
                "from_address",
                "date",
                "size",
                "recipient_count",
                "headers_only",
                "skip_code",
                "created_at",
            )
        )

    def get_object(self, request, object_id, from_field=None):
        message = super().get_object(request, object_id, from_field)
        if message is not None:
            # The page's title and breadcrumbs show str(message), which is its subject: blank
            # it on this in-memory copy (the admin cannot save it) so that str() is the key.
            message.subject = ""
        return message
