"""Connecting a Google or Microsoft 365 mailbox through django-allauth's real views (the Django
test client, following the redirects by hand through the local OAuth provider), then syncing it
over XOAUTH2 from the test Dovecot. No mock: the provider is a real HTTP server, Dovecot checks
every token with it."""

import io
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.core.management import call_command

from mailsync.models import MailAccount, Message, OAuthGrant
from mailsync.oauth.grants import access_token
from mailsync.sync.run import account_sync
from tests.support.mail import make_message

pytestmark = pytest.mark.django_db


def consent(client, provider="google", *, history_days=365):
    """Press "Connect ..." on the mailbox page and go through the provider's consent; returns
    the CRM's answer to the provider's redirect back, and the authorize URL's query."""
    started = client.post(f"/mailbox/connect/{provider}/", {"history_days": history_days})
    assert started.status_code == 302, started
    authorize = started["Location"]
    answer = requests.get(authorize, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    assert back.path == f"/accounts/{provider}/login/callback/"
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    return client.get(f"{back.path}?{back.query}"), query


def page_text(client) -> str:
    return client.get("/mailbox/").content.decode()


@pytest.fixture
def rep_mailbox(oauth_provider, mail_user):
    oauth_provider.consent_as = mail_user.login
    return mail_user


def test_connecting_google_runs_the_flow_and_syncs_the_mailbox(
    alice_client, alice, oauth_provider, dovecot, rep_mailbox, django_capture_on_commit_callbacks
):
    dovecot.append(rep_mailbox.login, "INBOX", make_message(message_id="<g1@customer.example>"))

    with django_capture_on_commit_callbacks(execute=True):
        answer, query = consent(alice_client)

    assert answer.status_code == 302 and answer["Location"] == "/mailbox/"
    # allauth's flow, as Google wants it: offline access, consent, PKCE, state, the scopes.
    assert query["access_type"] == "offline" and query["prompt"] == "consent"
    assert query["code_challenge_method"] == "S256" and query["state"]
    assert set(query["scope"].split()) == {"openid", "email", "https://mail.google.com/"}
    account = MailAccount.objects.get(user=alice)
    assert (account.auth, account.email, account.status) == (
        "google",
        rep_mailbox.login,
        "connected",
    )
    assert (account.imap_host, account.imap_port) == (dovecot.host, dovecot.ssl_port)
    assert account.history_days == 365
    assert OAuthGrant.objects.get(account=account).access_token
    assert Message.objects.filter(message_id="g1@customer.example").exists()  # synced
    assert "is connected" in page_text(alice_client)


def test_microsoft_without_an_id_token_and_with_rotated_refresh_tokens(
    alice_client, alice, oauth_provider, rep_mailbox, django_capture_on_commit_callbacks
):
    oauth_provider.id_token = False  # the identity comes from userinfo alone
    oauth_provider.rotate_refresh_tokens = True

    with django_capture_on_commit_callbacks(execute=True):
        answer, query = consent(alice_client, "microsoft")

    assert answer.status_code == 302
    assert set(query["scope"].split()) == {
        "openid",
        "email",
        "offline_access",
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "https://outlook.office.com/SMTP.Send",
    }
    account = MailAccount.objects.get(user=alice)
    assert (account.auth, account.email) == ("microsoft", rep_mailbox.login)
    # The userinfo token rotated the refresh token once already: the newest one is kept.
    assert account.secret == oauth_provider.grant_for(rep_mailbox.login).refresh_token
    assert account_sync(account=account).error is None


def test_a_rep_who_cancels_is_back_on_the_mailbox_page_with_nothing_saved(
    alice_client, alice, oauth_provider, rep_mailbox
):
    oauth_provider.authorize_error = ("access_denied", "The user cancelled.")

    answer, _query = consent(alice_client)

    assert answer.status_code == 302 and answer["Location"] == "/mailbox/"
    assert not MailAccount.objects.filter(user=alice).exists()
    assert "You cancelled at Google. Nothing was saved." in page_text(alice_client)


def test_an_administrators_consent_is_named_with_microsofts_words(
    alice_client, alice, oauth_provider, rep_mailbox
):
    oauth_provider.authorize_error = (
        "consent_required",
        "AADSTS65001: The user or administrator has not consented to use the application.",
    )

    answer, _query = consent(alice_client, "microsoft")

    assert answer.status_code == 302
    text = page_text(alice_client)
    assert "AADSTS65001" in text and "administrator" in text
    assert not MailAccount.objects.filter(user=alice).exists()


def test_a_revoked_grant_reconnects_and_resumes_without_duplicates(
    alice_client, alice, oauth_provider, dovecot, rep_mailbox, django_capture_on_commit_callbacks
):
    dovecot.append(rep_mailbox.login, "INBOX", make_message(message_id="<r1@customer.example>"))
    with django_capture_on_commit_callbacks(execute=True):
        consent(alice_client)
    account = MailAccount.objects.get(user=alice)
    oauth_provider.revoke(rep_mailbox.login)
    dovecot.append(rep_mailbox.login, "INBOX", make_message(message_id="<r2@customer.example>"))
    assert account_sync(account=account).error.code == "oauth_reconnect_required"
    assert "Reconnect" in page_text(alice_client)

    with django_capture_on_commit_callbacks(execute=True):
        answer, query = consent(alice_client)

    assert answer.status_code == 302
    assert query["login_hint"] == rep_mailbox.login
    account.refresh_from_db()
    assert account.status == "connected" and not account.error_code
    assert OAuthGrant.objects.get(account=account).dead_at is None
    assert (
        Message.objects.filter(
            message_id__in=["r1@customer.example", "r2@customer.example"]
        ).count()
        == 2
    )
    assert account.folders.get(role="inbox").last_uid == 2  # resumed: the position was kept


def test_another_address_on_reconnect_is_refused(
    alice_client, alice, oauth_provider, dovecot, rep_mailbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        consent(alice_client)
    other = "someone.else@gmail.test"
    dovecot.add_user(other, "unused-password")
    oauth_provider.consent_as = other

    consent(alice_client)

    account = MailAccount.objects.get(user=alice)
    assert account.email == rep_mailbox.login
    text = page_text(alice_client)
    assert other in text and "disconnect" in text.lower()


def test_no_token_is_kept_in_clear_after_the_flow(
    alice_client, alice, oauth_provider, rep_mailbox, django_capture_on_commit_callbacks, caplog
):
    caplog.set_level(logging.DEBUG)  # everything anything logs: ours, allauth's, requests'
    with django_capture_on_commit_callbacks(execute=True):
        consent(alice_client)
    account = MailAccount.objects.get(user=alice)
    access_token(account, renew=True)  # a refresh too
    oauth_provider.revoke(rep_mailbox.login)
    with django_capture_on_commit_callbacks(execute=True):
        account_sync(account=account)  # and a grant that ends
    grant = oauth_provider.grant_for(rep_mailbox.login)
    assert len(grant.access_tokens) == 0 and caplog.records
    issued = [
        value
        for path, form in oauth_provider.requests
        for key, value in form.items()
        if key in ("refresh_token", "token", "code", "code_verifier")
    ]
    for secret in [*oauth_provider.issued, *issued]:
        assert secret not in caplog.text

    out = io.StringIO()
    call_command("dumpdata", stdout=out)

    assert SocialAccount.objects.count() == 1 and not SocialToken.objects.exists()
    for token in [*oauth_provider.issued, *issued]:
        assert token not in out.getvalue()


def test_a_provider_the_operator_has_not_set_up_is_explained(alice_client, settings):
    settings.GOOGLE_OAUTH_CLIENT_ID = ""

    answer = alice_client.post("/mailbox/connect/google/", {"history_days": 90})

    assert answer.status_code == 302
    assert "not set up on this CRM yet" in page_text(alice_client)


def test_disconnecting_revokes_the_grant_at_google_and_keeps_the_mail(
    alice_client, alice, oauth_provider, dovecot, rep_mailbox, django_capture_on_commit_callbacks
):
    dovecot.append(rep_mailbox.login, "INBOX", make_message(message_id="<d1@customer.example>"))
    with django_capture_on_commit_callbacks(execute=True):
        consent(alice_client)
    grant = oauth_provider.grant_for(rep_mailbox.login)

    alice_client.post("/mailbox/disconnect/")

    account = MailAccount.objects.get(user=alice)
    assert account.status == "disconnected" and not account.secret_ciphertext
    assert not OAuthGrant.objects.get(account=account).access_token_ciphertext
    assert grant.revoked  # asked at Google's revocation endpoint
    assert any(path == "/revoke" for path, _form in oauth_provider.requests)
    assert Message.objects.filter(message_id="d1@customer.example").exists()


def test_a_provider_that_gives_no_refresh_token_is_explained(
    alice_client, alice, oauth_provider, rep_mailbox
):
    # A token answer without offline access (a refresh token): the CRM could not stay connected.
    oauth_provider.refresh_tokens = False

    consent(alice_client)

    assert not MailAccount.objects.filter(user=alice, status="connected").exists()
    assert "allow offline access" in page_text(alice_client)
