"""Signing in to the CRM itself with Google or Microsoft: off unless the installation turns it on
(SOCIALACCOUNT_LOGIN_ENABLED), and then only for existing users, matched by a verified address.
Through allauth's real views and the local OAuth provider."""

from urllib.parse import urlsplit

import pytest
import requests
from allauth.account.models import EmailAddress

from crm.models import User

pytestmark = pytest.mark.django_db


def sign_in_with(client, provider="google"):
    started = client.post(f"/accounts/{provider}/login/", {"process": "login"})
    assert started.status_code == 302, started
    answer = requests.get(started["Location"], allow_redirects=False, timeout=10)
    back = urlsplit(answer.headers["Location"])
    return client.get(f"{back.path}?{back.query}", follow=True)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_signing_in_with_google_is_off_by_default(client, alice, oauth_provider):
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    oauth_provider.consent_as = alice.email

    page = sign_in_with(client)

    assert not signed_in(client)
    assert "Signing in with Google is not enabled on this CRM" in page.content.decode()


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_an_existing_user_signs_in_by_a_verified_address(
    client, alice, oauth_provider, settings, provider
):
    settings.SOCIALACCOUNT_LOGIN_ENABLED = True
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    oauth_provider.consent_as = alice.email

    sign_in_with(client, provider)

    assert signed_in(client) and client.session["_auth_user_id"] == str(alice.pk)
    # Signing in asks who the person is, nothing of their mail.
    query = oauth_provider.requests[0][1]
    assert set(query["scope"].split()) == {"openid", "email"}


def test_nobody_becomes_a_user_by_having_a_google_account(client, oauth_provider, settings):
    settings.SOCIALACCOUNT_LOGIN_ENABLED = True
    oauth_provider.consent_as = "stranger@gmail.test"
    users = User.objects.count()

    sign_in_with(client)

    assert not signed_in(client)
    assert User.objects.count() == users


@pytest.mark.parametrize("enabled", [False, True])
def test_the_sign_in_page_offers_google_only_where_enabled(
    client, oauth_provider, settings, enabled
):
    settings.SOCIALACCOUNT_LOGIN_ENABLED = enabled

    page = client.get("/accounts/login/").content.decode()

    assert ("/accounts/google/login/" in page) is enabled
