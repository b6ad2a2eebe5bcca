"""oauth_expiring_soon comes before the end, not after: a refresh token whose life the provider
limits (Google's apps in "Testing" status: 7 days) and a grant left unused for months are told
to the rep once by email, and on the mailbox page while it holds."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mailsync.models import OAuthGrant
from mailsync.oauth.grants import grant_save, grants_expiring_warn
from mailsync.tasks import warn_expiring_grants
from mailsync.transport.oauth import token_response
from tests.factories import MailAccountFactory

pytestmark = pytest.mark.django_db

DAY = 24 * 3600


def google_mailbox(user, oauth_provider, dovecot, mail_user):
    account = MailAccountFactory(
        user=user, dovecot=dovecot, mail_user=mail_user, auth="google", secret=""
    )
    grant_save(account=account, tokens=token_response(oauth_provider.issue(mail_user.login)))
    account.save()
    return account


def test_a_testing_apps_seven_day_grant_is_warned_of_two_days_ahead(
    alice, alice_client, oauth_provider, dovecot, mail_user, mailoutbox
):
    oauth_provider.refresh_expires_in = 7 * DAY
    account = google_mailbox(alice, oauth_provider, dovecot, mail_user)
    grant = OAuthGrant.objects.get(account=account)
    ends = grant.refresh_expires_at
    assert ends is not None

    assert grants_expiring_warn(now=ends - timedelta(days=3)) == 0  # not yet
    assert warn_expiring_grants() == "warned 0"
    assert "oauth_expiring_soon" not in alice_client.get("/mailbox/").content.decode()

    assert grants_expiring_warn(now=ends - timedelta(days=1, hours=12)) == 1
    assert grants_expiring_warn(now=ends - timedelta(days=1)) == 0  # once
    assert len(mailoutbox) == 1
    assert mail_user.login in mailoutbox[0].subject and "Reconnect" in mailoutbox[0].body


def test_an_unused_grant_is_warned_of_before_google_ends_it(
    alice, alice_client, oauth_provider, dovecot, mail_user, mailoutbox
):
    account = google_mailbox(alice, oauth_provider, dovecot, mail_user)
    # The mailbox has not synced for five and a half months (disabled, say).
    OAuthGrant.objects.filter(account=account).update(
        refreshed_at=timezone.now() - timedelta(days=170)
    )

    assert grants_expiring_warn() == 1

    page = alice_client.get("/mailbox/").content.decode()
    assert "oauth_expiring_soon" in page and "Reconnect" in page
    assert len(mailoutbox) == 1


def test_reconnecting_clears_the_warning(alice, oauth_provider, dovecot, mail_user):
    oauth_provider.refresh_expires_in = DAY
    account = google_mailbox(alice, oauth_provider, dovecot, mail_user)
    assert grants_expiring_warn() == 1

    oauth_provider.refresh_expires_in = None  # published app: no limit
    grant_save(account=account, tokens=token_response(oauth_provider.issue(mail_user.login)))

    grant = OAuthGrant.objects.get(account=account)
    assert grant.refresh_expires_at is None and grant.expiry_warned_at is None
    assert grants_expiring_warn() == 0
