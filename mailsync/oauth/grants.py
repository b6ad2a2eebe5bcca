"""The grant a rep gave the CRM to read and send their Google or Microsoft 365 mail.

The refresh token is the account's secret (encrypted, rotated by mail_rotate_keys, deleted on
disconnect like a password); the access token and its expiry are the account's OAuthGrant. An
access token is handed out while it has more than MAILSYNC_OAUTH_REFRESH_MARGIN_SECONDS left
and refreshed otherwise, or when a server refused it. A refresh holds the account's row lock
(SELECT ... FOR UPDATE; SQLite's IMMEDIATE transactions serialise it too), so two workers never
refresh one account at once, and a refresh token the provider rotated is saved in the same
transaction as the access token it came with. A provider that no longer honours the grant
(`invalid_grant`) ends it: `oauth_reconnect_required`, until the rep connects again.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from mailsync.errors import MailError
from mailsync.models import MailAccount, OAuthGrant
from mailsync.oauth.providers import oauth_provider
from mailsync.transport.credentials import TokenSource
from mailsync.transport.oauth import TokenResponse, token_refresh, token_revoke

log = logging.getLogger(__name__)

GRANT_ENDED = "oauth_reconnect_required"


def grant_save(*, account: MailAccount, tokens: TokenResponse, subject: str = "") -> OAuthGrant:
    """Keep what the provider gave at consent: the refresh token as the account's secret, the
    access token and its expiry on the grant (a grant that had ended starts again). The caller
    saves the account (its secret) in the same transaction."""
    if not tokens.refresh_token:
        raise MailError(
            GRANT_ENDED,
            "the provider gave no refresh token, so the CRM could not stay connected: "
            "connect again and allow offline access",
        )
    account.secret = tokens.refresh_token
    grant, _created = OAuthGrant.objects.get_or_create(account=account)
    _keep(grant, tokens)
    grant.subject = subject or grant.subject
    grant.dead_at = grant.dead_notified_at = grant.expiry_warned_at = None
    if tokens.refresh_expires_in is None:
        grant.refresh_expires_at = None  # a new consent: the old grant's limit went with it
    grant.save()
    return grant


def token_source(account: MailAccount) -> tuple[TokenSource, TokenSource]:
    """The XOAUTH2 token sources of an account: a current access token, and a renewed one for
    when the server refused the first."""
    return (
        lambda: access_token(account),
        lambda: access_token(account, renew=True),
    )


def access_token(account: MailAccount, *, renew: bool = False) -> str:
    """A current access token of the account. `renew`: a server refused the current one, so
    refresh it whatever its expiry says (unless another worker just did)."""
    grant = _grant(account)
    refused = grant.access_token if renew else None
    if not renew and _fresh(grant):
        return grant.access_token
    failure = None
    with transaction.atomic():
        locked = MailAccount.objects.select_for_update().get(pk=account.pk)
        grant = OAuthGrant.objects.select_for_update().get(account=locked)
        if grant.dead_at:
            failure = _ended(grant)
        elif _fresh(grant) and (refused is None or grant.access_token != refused):
            return grant.access_token  # another worker refreshed it while this one waited
        else:
            provider = oauth_provider(locked.auth)
            try:
                tokens = token_refresh(
                    provider.endpoints,
                    locked.secret,
                    scope=provider.refresh_scope,
                    timeout=settings.MAILSYNC_TIMEOUT,
                )
            except MailError as error:
                failure = error
                if error.code == GRANT_ENDED:
                    grant.dead_at = timezone.now()
                    grant.save(update_fields=["dead_at", "updated_at"])
                    log.warning("OAuth grant of %s ended: %s", locked.email, error.server_words)
                    # After the commit, and with the words copied: `error` ends with this block.
                    words, account_id = error.server_words, locked.pk
                    transaction.on_commit(
                        lambda: grant_ended_notify(account_id=account_id, words=words)
                    )
            else:
                if tokens.refresh_token and tokens.refresh_token != locked.secret:
                    locked.secret = tokens.refresh_token  # rotated (Microsoft, always)
                    locked.save(update_fields=["secret_ciphertext", "updated_at"])
                _keep(grant, tokens)
                grant.save()
                account.secret_ciphertext = locked.secret_ciphertext
                return grant.access_token
    raise failure


def grant_revoke(*, account: MailAccount) -> None:
    """The rep disconnects: ask the provider to end the grant, where it can (Google), and forget
    the access token. Best effort: the CRM forgets its tokens whatever the provider answers."""
    grant = OAuthGrant.objects.filter(account_id=account.pk).first()
    if grant is None:
        return
    refresh_token = account.secret if account.secret_ciphertext else ""
    if refresh_token:
        try:
            token_revoke(
                oauth_provider(account.auth).endpoints,
                refresh_token,
                timeout=settings.MAILSYNC_TIMEOUT,
            )
        except MailError as error:
            log.warning("revoking the grant of %s failed: %s", account.email, error)
    grant.access_token_ciphertext = ""
    grant.access_expires_at = None
    grant.save(update_fields=["access_token_ciphertext", "access_expires_at", "updated_at"])


def grant_ended_notify(*, account_id: int, words: str = "") -> bool:
    """Tell the rep, once, that their grant ended and what to do (an email; the mailbox page
    says it too). Returns whether an email went out."""
    with transaction.atomic():
        grant = (
            OAuthGrant.objects.select_for_update()
            .select_related("account__user")
            .filter(account_id=account_id, dead_at__isnull=False, dead_notified_at__isnull=True)
            .first()
        )
        if grant is None:
            return False
        grant.dead_notified_at = timezone.now()
        grant.save(update_fields=["dead_notified_at", "updated_at"])
    _tell(grant.account, "mailsync/email/grant_ended", {"words": words})
    return True


def _tell(account: MailAccount, template: str, context: dict) -> None:
    """Email the rep whose mailbox it is: `template`_subject.txt and `template`.txt."""
    context = {
        "provider": MailAccount.Auth(account.auth).label,
        "email": account.email,
        "url": settings.CRM_BASE_URL + reverse("mailsync:mailbox"),
        **context,
    }
    with translation.override(settings.LANGUAGE_CODE):
        subject = render_to_string(f"{template}_subject.txt", context).strip()
        body = render_to_string(f"{template}.txt", context)
    send_mail(settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + subject, body, None, [account.user.email])


def _grant(account: MailAccount) -> OAuthGrant:
    grant = OAuthGrant.objects.filter(account_id=account.pk).first()
    if grant is None or not account.secret_ciphertext:
        provider = MailAccount.Auth(account.auth).label
        raise MailError(GRANT_ENDED, f"the CRM holds no {provider} grant for this mailbox")
    return grant


def _fresh(grant: OAuthGrant) -> bool:
    margin = timedelta(seconds=settings.MAILSYNC_OAUTH_REFRESH_MARGIN_SECONDS)
    return bool(
        grant.access_token_ciphertext
        and grant.access_expires_at
        and grant.access_expires_at - margin > timezone.now()
    )


def _keep(grant: OAuthGrant, tokens: TokenResponse) -> None:
    now = timezone.now()
    grant.access_token = tokens.access_token
    # A token without a lifetime is taken for an hour, the providers' usual.
    grant.access_expires_at = now + timedelta(seconds=tokens.expires_in or 3600)
    if tokens.refresh_expires_in is not None:
        grant.refresh_expires_at = now + timedelta(seconds=tokens.refresh_expires_in)
    grant.scope = tokens.scope or grant.scope
    grant.refreshed_at = now


# A provider ends a grant nobody uses: Google a refresh token unused for six months, Microsoft
# one inactive for 90 days. A syncing mailbox refreshes its token every hour; one that stopped
# (disabled, or waiting for the rep) does not.
UNUSED_LIFETIME = {"google": timedelta(days=180), "microsoft": timedelta(days=90)}
# How long before the end the rep is warned: a refresh token with a set life (an app in Google's
# "Testing" status keeps one 7 days) is warned of 2 days ahead; the end of an unused grant, of
# two weeks ahead.
WARN_LIMITED = timedelta(days=2)
WARN_UNUSED = timedelta(days=14)


def grant_expiry(grant: OAuthGrant, *, now=None) -> datetime | None:
    """When the grant ends unless the rep connects again (or the mailbox is used), if that is
    soon enough to warn of; None otherwise, and for a grant already ended."""
    now = now or timezone.now()
    if grant.dead_at:
        return None
    ends = []
    if grant.refresh_expires_at:
        ends.append((grant.refresh_expires_at, WARN_LIMITED))
    lifetime = UNUSED_LIFETIME.get(grant.account.auth)
    if lifetime and grant.refreshed_at:
        ends.append((grant.refreshed_at + lifetime, WARN_UNUSED))
    soon = [end for end, warning in ends if end - warning <= now]
    return min(soon) if soon else None


def account_grant_expiry(account: MailAccount) -> datetime | None:
    """grant_expiry of the account's grant, if it signs in with one."""
    if account.auth == MailAccount.Auth.PASSWORD:
        return None
    grant = OAuthGrant.objects.filter(account=account).first()
    if grant is None:
        return None
    grant.account = account
    return grant_expiry(grant)


def grants_expiring_warn(*, now=None) -> int:
    """Warn each rep, once, whose grant ends soon (oauth_expiring_soon), by email; the mailbox
    page says it as long as it holds. Run daily by the job schedule. Returns the reps warned."""
    now = now or timezone.now()
    warned = 0
    grants = OAuthGrant.objects.filter(
        dead_at__isnull=True, expiry_warned_at__isnull=True
    ).select_related("account__user")
    for grant in grants.exclude(account__secret_ciphertext=""):
        ends = grant_expiry(grant, now=now)
        if ends is None:
            continue
        if not OAuthGrant.objects.filter(pk=grant.pk, expiry_warned_at__isnull=True).update(
            expiry_warned_at=now
        ):
            continue  # another worker warned meanwhile
        _tell(grant.account, "mailsync/email/grant_expiring", {"ends": ends})
        warned += 1
    return warned


def _ended(grant: OAuthGrant) -> MailError:
    return MailError(
        GRANT_ENDED,
        f"the provider ended the CRM's access on {grant.dead_at:%Y-%m-%d %H:%M} UTC",
    )
