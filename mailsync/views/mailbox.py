"""The rep's mailbox page: connect a mailbox, watch the connection test stage by stage, see how
the sync is doing, sync now, change settings, disconnect.

A rep only ever sees and acts on their own account (`request.user.mail_account`): no view takes
an account id. The connection test is streamed, so each stage shows up as soon as it finishes.
"""

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from mailsync.accounts.forms import SERVER_FIELDS, MailboxForm
from mailsync.accounts.presets import preset_for
from mailsync.accounts.services import (
    ConnectionSettings,
    account_disconnect,
    account_request_sync,
    account_save,
    account_set_sharing,
    connection_check,
)
from mailsync.errors import CATALOG, CONNECTION, DELIVERY, MISSING, MailError, code_info
from mailsync.inbound.addresses import bcc_address_for, bcc_address_rotate
from mailsync.mime.parsing import ParseError
from mailsync.models import MailAccount, SkipEntry
from mailsync.oauth.grants import account_grant_expiry
from mailsync.selectors.status import account_status, skip_entries_for
from mailsync.sync.refetch import FULL_IMPORT_CODES, NotOnServer, skipped_import_in_full
from mailsync.transport.stages import IMAP_STAGES, SMTP_STAGES, StageResult

log = logging.getLogger(__name__)

STAGE_LABELS = {
    "dns": gettext_lazy("DNS lookup"),
    "tcp": gettext_lazy("TCP connection"),
    "tls": gettext_lazy("TLS and certificate"),
    "imap_greeting": gettext_lazy("IMAP greeting"),
    "greeting": gettext_lazy("IMAP greeting"),
    "imap_login": gettext_lazy("IMAP sign-in"),
    "folders": gettext_lazy("Folder discovery"),
    "smtp_connect": gettext_lazy("SMTP connection"),
    "smtp_tls": gettext_lazy("SMTP TLS"),
    "smtp_login": gettext_lazy("SMTP sign-in"),
    "sync": gettext_lazy("Sync"),
}
CATEGORY_LABELS = {
    CONNECTION: gettext_lazy("Connection and sign-in"),
    DELIVERY: gettext_lazy("Delivery"),
    MISSING: gettext_lazy("Missing mail"),
}
DISABLED_MESSAGE = gettext_lazy(
    "An operator has disabled syncing for your mailbox: ask them to enable it."
)
# Where the streamed page is cut: the stage rows go after the first mark, the outcome after
# the second (see templates/mailsync/check.html).
STAGES_MARK = "<!-- mailsync:stages -->"
OUTCOME_MARK = "<!-- mailsync:outcome -->"


def stage_label(stage: str) -> str:
    return str(STAGE_LABELS.get(stage, stage))


def _account(user) -> MailAccount | None:
    return MailAccount.objects.filter(user=user).first()


def _connected_account(user) -> MailAccount:
    """The user's own account, or a 404: nobody else's is ever looked up."""
    account = _account(user)
    if account is None:
        raise Http404(_("You have no mailbox connected."))
    return account


def _connect_form(form: MailboxForm) -> MailboxForm:
    """Filling in the email address fetches its provider's servers (htmx); without JavaScript
    the "Fill in servers" button does the same."""
    form.fields["email"].widget.attrs.update(
        {
            "hx-get": reverse("mailsync:mailbox_preset"),
            "hx-trigger": "change",
            "hx-target": "#server-fields",
            "hx-swap": "outerHTML",
            "hx-include": "#server-fields",
        }
    )
    return form


def _connect_page(request, form: MailboxForm, *, account=None, preset=None, status=200):
    reconnecting = account is not None and account.is_active
    return render(
        request,
        "mailsync/connect.html",
        {
            "form": _connect_form(form),
            "account": account,
            "changing": reconnecting,
            "preset": preset,
            "title": _("Change mailbox settings") if reconnecting else _("Connect your mailbox"),
            "oauth_providers": [
                (auth, label) for auth, label in MailAccount.Auth.choices if auth != "password"
            ],
            "bcc": bcc_address_for(user=request.user),
            "oauth_history_choices": MailAccount.HISTORY_CHOICES,
            "oauth_history_days": _history_shown(form),
        },
        status=status,
    )


def _history_shown(form: MailboxForm) -> int:
    """The history the form shows, for the Google and Microsoft buttons to offer the same."""
    try:
        return int(form["history_days"].value() or 90)
    except (TypeError, ValueError):
        return 90


def _status_context(account: MailAccount) -> dict:
    status = account_status(account=account)
    skipped = [
        {"code": code, "title": code_info(code).title, "count": count}
        for code, count in sorted(status["skipped"].items())
    ]
    error = None
    if account.error_code:
        info = code_info(account.error_code)
        error = {
            "code": account.error_code,
            "title": info.title,
            "help": info.help,
            "group": CATEGORY_LABELS.get(info.category, info.category),
            "server_words": account.error_detail,
            "stage": stage_label(account.error_stage) if account.error_stage else "",
            "since": account.error_since,
        }
    expiry = None
    ends = account_grant_expiry(account)
    if ends is not None:
        info = code_info("oauth_expiring_soon")
        expiry = {"title": info.title, "help": info.help, "ends": ends}
    return {
        "account": account,
        "error": error,
        "expiry": expiry,
        "imported": status["imported"],
        "skipped": skipped,
        "skipped_total": sum(s["count"] for s in skipped),
        "folders": account.folders.order_by("role"),
        "can_sync": account.status
        in (MailAccount.Status.CONNECTED, MailAccount.Status.ERROR, MailAccount.Status.SYNCING),
    }


# -- pages ------------------------------------------------------------------------------------


@login_required
@require_GET
def mailbox(request):
    account = _account(request.user)
    if account is None or account.status == MailAccount.Status.DISCONNECTED:
        initial = MailboxForm.initial_from_account(account) if account else {}
        return _connect_page(request, MailboxForm(initial=initial), account=account)
    if request.GET.get("change") and account.status != MailAccount.Status.DISABLED:
        form = MailboxForm(initial=MailboxForm.initial_from_account(account))
        return _connect_page(request, form, account=account)
    context = _status_context(account)
    context["just_connected"] = bool(request.GET.get("connected"))
    context["bcc"] = bcc_address_for(user=request.user)
    return render(request, "mailsync/status.html", context)


@login_required
@require_POST
def bcc_rotate(request):
    """A new BCC address for the rep; the old one stops working at once."""
    address = bcc_address_rotate(user=request.user)
    if address is not None:
        messages.success(
            request,
            _("Your new BCC address is %(address)s. The old one no longer works.")
            % {"address": address.address},
        )
    return redirect("mailsync:mailbox")


@login_required
@require_GET
def mailbox_preset(request):
    """The server fields filled in from the provider's preset: the fieldset alone for htmx,
    the whole form otherwise. Without a preset, what the rep typed is kept."""
    email = request.GET.get("email", "").strip()
    preset = preset_for(email)
    if preset is not None:
        initial = MailboxForm.initial_from_preset(preset)
    else:
        initial = {name: request.GET[name] for name in SERVER_FIELDS if request.GET.get(name)}
    if request.htmx:
        return render(
            request,
            "mailsync/_server_fields.html",
            {"form": MailboxForm(initial=initial), "preset": preset, "looked_up": bool(email)},
        )
    initial["email"] = email
    return _connect_page(
        request, MailboxForm(initial=initial), account=_account(request.user), preset=preset
    )


# The mailbox password: never in an error report (Django's mail to the admins, Sentry).
@sensitive_post_parameters("password")
@login_required
def mailbox_connect(request):
    if request.method != "POST":
        return redirect("mailsync:mailbox")
    account = _account(request.user)
    if account is not None and account.status == MailAccount.Status.DISABLED:
        # Saving would switch it back on: only an operator may.
        messages.error(request, DISABLED_MESSAGE)
        return redirect("mailsync:mailbox")
    if "preset" in request.POST:
        # The "Fill in servers" button (no JavaScript): the form again, servers filled in.
        initial = {
            name: request.POST.get(name, "")
            for name in MailboxForm.base_fields
            if name != "password"
        }
        preset = preset_for(initial["email"])
        if preset is not None:
            initial.update(MailboxForm.initial_from_preset(preset))
        return _connect_page(request, MailboxForm(initial=initial), account=account, preset=preset)
    form = MailboxForm(request.POST)
    if not form.is_valid():
        return _connect_page(request, form, account=account)
    # A certificate an operator pinned for this account still applies to the same server.
    pin = ""
    if account is not None and account.imap_host == form.cleaned_data["imap_host"]:
        pin = account.tls_pin_sha256
    conn = form.to_connection_settings(pin=pin)
    user = request.user

    def save():
        account_save(user=user, conn=conn)

    return _stream_check(
        request,
        conn,
        title=_("Connecting your mailbox"),
        on_success=save,
        retry_form=form,
    )


@login_required
@require_POST
def mailbox_test(request):
    """The staged test on the saved settings. Nothing is changed, whatever the outcome."""
    account = _connected_account(request.user)
    if not account.secret_ciphertext:
        messages.error(request, _("Connect your mailbox first."))
        return redirect("mailsync:mailbox")
    conn = ConnectionSettings.from_account(account)
    return _stream_check(request, conn, title=_("Connection test"))


@login_required
@require_GET
def mailbox_skipped(request):
    """The skip ledger, for the rep whose mailbox it is (and nobody else)."""
    account = _account(request.user)
    if account is None:
        raise Http404
    code = request.GET.get("code", "")
    entries = skip_entries_for(account=account, code=code if code in CATALOG else "")
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    for entry in page:
        entry.info = code_info(entry.code)
        entry.can_import = entry.code in FULL_IMPORT_CODES and entry.message_id
    return render(
        request,
        "mailsync/skipped.html",
        {
            "account": account,
            "page_obj": page,
            "code": code,
            "code_info": code_info(code) if code in CATALOG else None,
        },
    )


@login_required
@require_POST
def mailbox_sync_now(request):
    account = _connected_account(request.user)
    if account.status == MailAccount.Status.DISABLED:
        messages.error(request, DISABLED_MESSAGE)
    elif not account.is_active or not account.secret_ciphertext:
        messages.error(request, _("Connect your mailbox first."))
    else:
        account_request_sync(account=account)
        messages.success(request, _("Sync requested: new mail will appear in a few moments."))
    return redirect("mailsync:mailbox")


@login_required
def mailbox_disconnect(request):
    account = _connected_account(request.user)
    if account.status == MailAccount.Status.DISCONNECTED:
        return redirect("mailsync:mailbox")
    if request.method == "POST":
        account_disconnect(account=account)
        if account.auth != MailAccount.Auth.PASSWORD:
            messages.success(
                request,
                _(
                    "Your mailbox was disconnected and the CRM's access at %(provider)s ended. "
                    "Mail already in the CRM stays."
                )
                % {"provider": account.get_auth_display()},
            )
            return redirect("mailsync:mailbox")
        messages.success(
            request,
            _(
                "Your mailbox was disconnected and its password forgotten. Mail already in the "
                "CRM stays."
            ),
        )
        return redirect("mailsync:mailbox")
    return render(request, "mailsync/disconnect.html", {"account": account})


# -- the streamed connection test -------------------------------------------------------------


def _stage_row(result: StageResult) -> dict:
    row = {
        "stage": result.stage,
        "label": stage_label(result.stage),
        "ok": result.ok,
        "elapsed_ms": result.elapsed_ms,
    }
    if not result.ok:
        info = code_info(result.code)
        row.update(code=result.code, title=info.title, help=info.help, words=result.detail)
    return row


def _checked(conn):
    """connection_check, with an unexpected exception reported as a failed stage, not a
    broken page."""
    done = set()
    try:
        for result in connection_check(conn):
            done.add(result.stage)
            yield result
    except Exception as error:  # noqa: BLE001 - shown to the rep as a server error
        log.exception("connection test crashed")
        stage = next((s for s in IMAP_STAGES + SMTP_STAGES if s not in done), "smtp_login")
        yield StageResult(stage, False, "server_error", f"{type(error).__name__}: {error}")


def _stream_check(request, conn, *, title, on_success=None, retry_form=None):
    """A page that shows each stage of the connection test as it finishes. `on_success` runs
    only when every stage passed; on a failure `retry_form` is shown again to fix and retry."""
    language = translation.get_language()
    get_token(request)  # the CSRF cookie is set now: headers are gone once the stream starts
    connecting = on_success is not None
    page = render_to_string(
        "mailsync/check.html",
        {
            "title": title,
            "connecting": connecting,
            "imap": conn.imap,
            "smtp": conn.smtp,
            "email": conn.email,
        },
        request,
    )
    top, _mark, rest = page.partition(STAGES_MARK)
    middle, _mark, bottom = rest.partition(OUTCOME_MARK)

    def stream():
        with translation.override(language):
            yield top
            rows = []
            for result in _checked(conn):
                rows.append(_stage_row(result))
                yield render_to_string("mailsync/_stage.html", {"row": rows[-1]}, request)
            yield middle
            passed = bool(rows) and all(row["ok"] for row in rows)
            saved_error = False
            if passed and on_success is not None:
                try:
                    on_success()
                except Exception:  # noqa: BLE001 - the page must still end properly
                    log.exception("saving the mailbox failed")
                    saved_error = True
            failed = next((row for row in rows if not row["ok"]), None)
            form = None
            if failed and retry_form is not None:
                initial = {
                    name: retry_form.data.get(name, "")
                    for name in MailboxForm.base_fields
                    if name != "password"
                }
                form = _connect_form(MailboxForm(initial=initial))
            yield render_to_string(
                "mailsync/_check_outcome.html",
                {
                    "passed": passed and not saved_error,
                    "saved_error": saved_error,
                    "connecting": connecting,
                    "failed": failed,
                    "form": form,
                    "changing": _account(request.user) is not None,
                    "done_url": reverse("mailsync:mailbox") + "?connected=1",
                },
                request,
            )
            yield bottom

    response = StreamingHttpResponse(stream(), content_type="text/html; charset=utf-8")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each stage on at once
    return response


@login_required
@require_POST
def mailbox_sharing(request):
    account = _connected_account(request.user)
    sharing = request.POST.get("sharing", "")
    if sharing in MailAccount.Sharing.values:
        account_set_sharing(account=account, sharing=sharing)
        messages.success(
            request, _("Your teammates now see: %(s)s.") % {"s": account.get_sharing_display()}
        )
    return redirect("mailsync:mailbox")


@login_required
@require_POST
def mailbox_skipped_import(request, pk: int):
    """ "Import anyway" for a message kept as headers only because it is over a limit."""
    entry = get_object_or_404(
        SkipEntry.objects.select_related("account", "folder"), pk=pk, account__user=request.user
    )
    if entry.code not in FULL_IMPORT_CODES or entry.message_id is None:
        raise Http404
    try:
        message = skipped_import_in_full(entry=entry)
    except MailError as error:
        messages.error(
            request,
            _("The message could not be fetched again: %(title)s. %(words)s")
            % {"title": error.info.title, "words": error.server_words},
        )
    except NotOnServer:
        messages.error(
            request,
            _(
                "The message is no longer in %(folder)s on your mail server (moved or deleted), "
                "so it cannot be imported."
            )
            % {"folder": entry.folder.name if entry.folder else _("its folder")},
        )
    except ParseError as error:
        messages.error(
            request,
            _("The full message could not be read: %(reason)s") % {"reason": error.reason},
        )
    else:
        messages.success(request, _("The message is imported in full and on its records."))
        return redirect("mail:message", pk=message.pk)
    return redirect(reverse("mailsync:mailbox_skipped") + f"?code={entry.code}")
