"""Who gets in: the admin sign-in is rate limited like the app's, the count is kept in a cache
that every web worker shares, and passwords never reach an error report."""

import pytest
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import resolve
from django.views.debug import SafeExceptionReporterFilter

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "the-Right-passphrase-42"
ATTEMPTS = 3  # failed sign-ins allowed per user name, in these tests


@pytest.fixture(autouse=True)
def login_limits(settings):
    """allauth's own setting for the app sign-in, which the admin sign-in follows too."""
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": f"20/m/ip,{ATTEMPTS}/5m/key"}


@pytest.fixture
def operator(db):
    return UserFactory(username="op", is_staff=True, is_superuser=True, password=PASSWORD)


def sign_in(client, password, *, username="op", **headers):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
        **headers,
    )


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_a_few_wrong_passwords_do_not_lock_the_operator_out(operator, client):
    for _ in range(ATTEMPTS - 1):
        assert sign_in(client, "wrong").status_code == 200
    response = sign_in(client, PASSWORD)
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(operator.pk)


def test_wrong_admin_passwords_then_the_right_one_is_refused(operator, client):
    for _ in range(ATTEMPTS):
        response = sign_in(client, "wrong")
        assert response.status_code == 200 and not signed_in(client)
        assert "Please enter the correct username and password" in response.content.decode()
    response = sign_in(client, PASSWORD)
    assert response.status_code == 200 and not signed_in(client)
    assert "Too many failed login attempts. Try again later." in response.content.decode()
    # The message is translated, as the rest of the admin.
    italian = sign_in(client, PASSWORD, HTTP_ACCEPT_LANGUAGE="it")
    assert "Troppi tentativi di accesso" in italian.content.decode() and not signed_in(client)


def test_the_user_name_is_counted_whatever_its_case(operator, client):
    for username in ["op", "OP", "Op"]:
        sign_in(client, "wrong", username=username)
    sign_in(client, PASSWORD)
    assert not signed_in(client)


def test_the_count_is_in_the_database_cache_so_another_worker_sees_it(operator, client):
    assert isinstance(caches["default"], DatabaseCache)
    for _ in range(ATTEMPTS):
        sign_in(client, "wrong")
    with connection.cursor() as cursor:
        cursor.execute("SELECT cache_key FROM django_cache")
        keys = [key for (key,) in cursor.fetchall()]
    assert any(":login_failed:" in key for key in keys), keys
    another_worker = Client()  # no cookie, no memory of the first
    response = sign_in(another_worker, PASSWORD)
    assert response.status_code == 200 and not signed_in(another_worker)


def test_only_staff_get_into_the_admin_with_the_right_password(client, alice):
    alice.set_password(PASSWORD)
    alice.save()
    response = sign_in(client, PASSWORD, username="alice")
    assert response.status_code == 200 and not signed_in(client)


def test_the_mailbox_password_never_reaches_an_error_report(alice):
    request = RequestFactory().post(
        "/mailbox/connect/", {"email": "alice@ourco.example", "password": "hunter2-mailbox"}
    )
    request.user = alice
    resolve("/mailbox/connect/").func(request)
    reported = SafeExceptionReporterFilter().get_post_parameters(request)
    assert reported["password"] == SafeExceptionReporterFilter.cleansed_substitute
    assert reported["email"] == "alice@ourco.example"  # the rest still helps to debug


def test_behind_the_proxy_one_clients_failures_do_not_lock_out_another(operator, settings):
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "2/m/ip,10/5m/key"}
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1  # what BEHIND_HTTPS_PROXY=true sets
    attacker, operator_browser = Client(), Client()
    for _ in range(2):
        sign_in(attacker, "wrong", HTTP_X_FORWARDED_FOR="203.0.113.5")
    sign_in(attacker, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert not signed_in(attacker)
    # Both come through the proxy's address; the proxy names each client in X-Forwarded-For.
    response = sign_in(operator_browser, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert response.status_code == 302 and signed_in(operator_browser)
