"""Connecting a Google or Microsoft 365 mailbox: the rep posts "Connect Google" on the mailbox
page, consents at the provider through django-allauth's real OAuth2 flow (state, PKCE, offline
access, the mail scopes), and comes back to the mailbox page told exactly what happened.

allauth runs the flow with process=connect; when it has the tokens it sends
`social_account_added` (or `_updated`), and `mailbox_from_consent` runs the same staged test as
for password mailboxes over XOAUTH2 and saves the account and its grant. The tokens never reach
allauth's SocialToken table (SOCIALACCOUNT_STORE_TOKENS is off) nor the session.
"""

import logging

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter, get_adapter
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.base.constants import AuthError, AuthProcess
from allauth.socialaccount.signals import social_account_added, social_account_updated
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.dispatch import receiver
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mailsync.accounts.services import OtherMailbox, oauth_account_connect
from mailsync.errors import MailError, code_info
from mailsync.models import MailAccount
from mailsync.oauth.providers import GOOGLE, MICROSOFT, oauth_provider
from mailsync.transport.oauth import CONSENT_CODES, TokenResponse
from mailsync.views.mailbox import DISABLED_MESSAGE, stage_label

log = logging.getLogger(__name__)

# The session's note that a mailbox connection is under way: {"provider", "history_days"}.
PENDING = "mailsync_oauth_connect"
PROVIDERS = (GOOGLE, MICROSOFT)


def provider_label(provider: str) -> str:
    return MailAccount.Auth(provider).label


@login_required
@require_POST
def oauth_connect(request, provider: str):
    """Start the provider's consent for the rep's mailbox (a first connection or a reconnect)."""
    if provider not in PROVIDERS:
        raise Http404
    account = MailAccount.objects.filter(user=request.user).first()
    if account is not None and account.status == MailAccount.Status.DISABLED:
        messages.error(request, DISABLED_MESSAGE)
        return redirect("mailsync:mailbox")
    try:
        social = get_adapter().get_provider(request, provider)
    except SocialApp.DoesNotExist:
        messages.error(
            request,
            _(
                "Connecting with %(provider)s is not set up on this CRM yet: an operator must "
                "register the CRM with %(provider)s first (see the README)."
            )
            % {"provider": provider_label(provider)},
        )
        return redirect("mailsync:mailbox")
    request.session[PENDING] = {
        "provider": provider,
        "history_days": _history_days(request, account),
    }
    auth_params = {**social.get_auth_params(), **oauth_provider(provider).consent_params}
    if account is not None and account.is_active:
        auth_params["login_hint"] = account.email  # the same mailbox again
    return social.redirect(
        request,
        AuthProcess.CONNECT,
        next_url=reverse("mailsync:mailbox"),
        scope=list(oauth_provider(provider).scopes),
        auth_params=auth_params,
    )


def _history_days(request, account) -> int:
    allowed = [days for days, _label in MailAccount.HISTORY_CHOICES]
    try:
        days = int(request.POST.get("history_days", ""))
    except ValueError:
        days = account.history_days if account else 90
    return days if days in allowed else 90


@receiver([social_account_added, social_account_updated])
def mailbox_from_consent(sender, request, sociallogin, **kwargs):
    """The provider answered with tokens: connect the mailbox if the rep asked for it."""
    pending = request.session.get(PENDING)
    provider = sociallogin.account.provider
    if not pending or pending.get("provider") != provider:
        return
    del request.session[PENDING]
    token = sociallogin.token
    data = sociallogin.account.extra_data
    tokens = TokenResponse(
        access_token=token.token,
        expires_in=_seconds_left(token.expires_at),
        refresh_token=token.token_secret,
    )
    label = provider_label(provider)
    try:
        account, results = oauth_account_connect(
            user=request.user,
            provider=provider,
            email=data["email"],
            subject=str(data.get("sub") or sociallogin.account.uid),
            tokens=tokens,
            history_days=pending["history_days"],
        )
    except OtherMailbox as error:
        messages.error(
            request,
            _(
                "You signed in to %(provider)s as %(offered)s, but the mailbox linked to the CRM "
                "is %(linked)s. To link another mailbox, disconnect %(linked)s first."
            )
            % {"provider": label, "offered": error.offered, "linked": error.linked},
        )
        return
    except MailError as error:  # the provider's answer cannot keep the CRM connected
        _provider_said(request, label, error.code, error.server_words)
        return
    except Exception:
        log.exception("connecting a %s mailbox failed", provider)
        messages.error(request, _("The mailbox could not be saved. Please try again."))
        return
    if account is not None:
        messages.success(
            request,
            _("Your %(provider)s mailbox %(email)s is connected. The first sync has started.")
            % {"provider": label, "email": account.email},
        )
        return
    failed = next((r for r in results if not r.ok), None)
    if failed is None:  # the test ran no stage at all
        messages.error(request, _("The mailbox could not be saved. Please try again."))
        return
    info = code_info(failed.code)
    messages.error(
        request,
        _("%(stage)s failed: %(title)s. %(help)s The server said: “%(words)s”")
        % {
            "stage": stage_label(failed.stage),
            "title": info.title,
            "help": info.help,
            "words": failed.detail,
        },
    )


def _provider_said(request, label: str, code: str, words: str) -> None:
    """Tell the rep what the provider's refusal means (the catalogue) and its own words."""
    info = code_info(code)
    messages.error(
        request,
        _("%(title)s. %(help)s %(provider)s said: “%(words)s”")
        % {"title": info.title, "help": info.help, "provider": label, "words": words},
    )


def _seconds_left(expires_at) -> int | None:
    if expires_at is None:
        return None
    return max(0, int((expires_at - timezone.now()).total_seconds()))


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """allauth's social accounts as the CRM uses them: the client of each provider from the
    environment (GOOGLE_OAUTH_CLIENT_ID...) when set, else a SocialApp in the admin; a rep who
    cancels or is refused at the provider lands back on the mailbox page, told why."""

    def list_apps(self, request, provider=None, client_id=None):
        apps = super().list_apps(request, provider=provider, client_id=client_id)
        for name in PROVIDERS:
            if provider not in (None, name):
                continue
            endpoints = oauth_provider(name).endpoints
            if not endpoints.client_id or client_id not in (None, endpoints.client_id):
                continue
            # The environment's client wins over the admin's: an operator's deployment says it.
            apps = [app for app in apps if app.provider != name]
            apps.append(
                SocialApp(
                    provider=name,
                    name=provider_label(name),
                    client_id=endpoints.client_id,
                    secret=endpoints.client_secret,
                    settings={"oauth_pkce_enabled": True},
                )
            )
        return apps

    def on_authentication_error(
        self, request, provider, error=None, exception=None, extra_context=None
    ):
        pending = request.session.pop(PENDING, None)
        if not pending:
            return super().on_authentication_error(
                request, provider, error=error, exception=exception, extra_context=extra_context
            )
        label = provider_label(provider.id)
        description = request.GET.get("error_description", "") or str(exception or "")
        if error == AuthError.CANCELLED:
            messages.info(
                request,
                _("You cancelled at %(provider)s. Nothing was saved.") % {"provider": label},
            )
        elif any(code in description for code in CONSENT_CODES) or (
            request.GET.get("error") == "consent_required"
        ):
            _provider_said(request, label, "oauth_consent_required", description)
        else:
            messages.error(
                request,
                _("Connecting with %(provider)s failed. %(provider)s said: “%(words)s”")
                % {"provider": label, "words": description or request.GET.get("error", "")},
            )
        log.info("OAuth consent for a mailbox ended without tokens: %s %s", error, description)
        raise ImmediateHttpResponse(redirect("mailsync:mailbox"))

    def pre_social_login(self, request, sociallogin):
        # Signing in to the CRM itself with Google or Microsoft is the installation's choice.
        process = (sociallogin.state or {}).get("process")
        if process == AuthProcess.LOGIN and not settings.SOCIALACCOUNT_LOGIN_ENABLED:
            messages.error(
                request,
                _(
                    "Signing in with %(provider)s is not enabled on this CRM: sign in with your "
                    "email address and password."
                )
                % {"provider": provider_label(sociallogin.account.provider)},
            )
            raise ImmediateHttpResponse(redirect("account_login"))

    def is_open_for_signup(self, request, sociallogin):
        # Only existing users sign in this way, matched by a verified address: nobody becomes
        # a user of the CRM by having a Google or Microsoft account.
        return False
