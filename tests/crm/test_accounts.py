"""Signing up, verifying the address by link, signing in and resetting a password (allauth)."""

import re

import pytest
from django.core import mail
from django.test import override_settings

from crm.models import REP_GROUP, User

pytestmark = pytest.mark.django_db


def _link(message) -> str:
    return re.search(r"https?://[^\s]+", message.body).group(0).replace("http://testserver", "")


def test_sign_up_verify_by_link_then_sign_in(client):
    response = client.post(
        "/accounts/signup/",
        {
            "email": "Dana@NewCo.example",
            "password1": "a-Strong-passphrase-9",
            "password2": "a-Strong-passphrase-9",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email__iexact="dana@newco.example")
    assert user.groups.filter(name=REP_GROUP).exists()
    assert len(mail.outbox) == 1
    # Unverified: signing in only re-sends the verification mail.
    client.logout()
    client.post(
        "/accounts/login/", {"login": "dana@newco.example", "password": "a-Strong-passphrase-9"}
    )
    assert "_auth_user_id" not in client.session

    confirm = _link(mail.outbox[-1])
    assert "/accounts/confirm-email/" in confirm
    client.post(confirm)
    response = client.post(
        "/accounts/login/", {"login": "dana@newco.example", "password": "a-Strong-passphrase-9"}
    )
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == user.pk
    assert client.get("/").status_code == 200


def test_a_wrong_password_says_so_and_keeps_the_address(client, alice):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    response = client.post("/accounts/login/", {"login": alice.email, "password": "nope"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "not correct" in page and alice.email in page


def test_password_reset_by_link(client, alice):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    client.post("/accounts/password/reset/", {"email": alice.email})
    assert len(mail.outbox) == 1
    link = _link(mail.outbox[0])
    response = client.get(link, follow=True)
    form_url = response.redirect_chain[-1][0] if response.redirect_chain else link
    client.post(form_url, {"password1": "brand-New-secret-42", "password2": "brand-New-secret-42"})
    alice.refresh_from_db()
    assert alice.check_password("brand-New-secret-42")


def test_the_apps_own_mail_can_go_through_an_anymail_esp(client, alice):
    """Any ESP django-anymail supports: its test backend stands in for a real one here."""
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    with override_settings(EMAIL_BACKEND="anymail.backends.test.EmailBackend", ANYMAIL={}):
        client.post("/accounts/password/reset/", {"email": alice.email})
    sent = mail.outbox[-1]
    assert sent.to == [alice.email]
    assert sent.anymail_test_params["subject"].startswith("[CRM]")


def test_the_sign_in_page_is_in_italian_for_italian_browsers(client):
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="it").content.decode()
    assert "Accedi" in page
