"""Google and Microsoft 365 mailboxes sign in with the grant the rep gave: the sync over XOAUTH2
against the test Dovecot's oauth2 passdb, whose token check asks the local OAuth provider's
tokens (tests/support/oauth.py), refreshed before they expire and once when refused; a rotated
refresh token saved; a revoked grant ending in oauth_reconnect_required with nothing lost.
Tokens never stored in clear."""

import io
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from mailsync.models import MailAccount, Message, OAuthGrant
from mailsync.oauth.grants import access_token, grant_save
from mailsync.sync.run import account_sync
from mailsync.transport.oauth import token_response
from tests.factories import MailAccountFactory
from tests.support.mail import make_message

pytestmark = pytest.mark.django_db


def oauth_mailbox(user, oauth_provider, dovecot, mail_user, *, auth="google") -> MailAccount:
    """A mailbox connected as if the rep had consented at the provider."""
    account = MailAccountFactory(
        user=user, dovecot=dovecot, mail_user=mail_user, auth=auth, secret=""
    )
    grant_save(account=account, tokens=token_response(oauth_provider.issue(mail_user.login)))
    account.save()
    return account


def refreshes(oauth_provider) -> list[dict]:
    return [
        form
        for path, form in oauth_provider.requests
        if path == "/token" and form.get("grant_type") == "refresh_token"
    ]


@pytest.mark.parametrize("auth", ["google", "microsoft"])
def test_a_mailbox_syncs_over_xoauth2(alice, oauth_provider, dovecot, mail_user, auth):
    dovecot.append(mail_user.login, "INBOX", make_message(message_id="<o1@customer.example>"))
    account = oauth_mailbox(alice, oauth_provider, dovecot, mail_user, auth=auth)

    result = account_sync(account=account)

    assert result.error is None, result
    assert Message.objects.filter(message_id="o1@customer.example").exists()
    assert refreshes(oauth_provider) == []  # the token from the consent was still good
    assert dovecot.oauth.requests  # Dovecot really asked whether the token is valid


def test_an_access_token_about_to_expire_is_refreshed_before_sign_in(
    alice, oauth_provider, dovecot, mail_user
):
    account = oauth_mailbox(alice, oauth_provider, dovecot, mail_user)
    OAuthGrant.objects.filter(account=account).update(
        access_expires_at=timezone.now() + timedelta(seconds=30)
    )
    before = OAuthGrant.objects.get(account=account).access_token

    result = account_sync(account=account)

    assert result.error is None, result
    assert len(refreshes(oauth_provider)) == 1
    grant = OAuthGrant.objects.get(account=account)
    assert grant.access_token != before
    assert grant.access_expires_at > timezone.now() + timedelta(minutes=50)


def test_a_token_the_server_refuses_is_renewed_once_and_the_sync_goes_on(
    alice, oauth_provider, dovecot, mail_user
):
    dovecot.append(mail_user.login, "INBOX", make_message(message_id="<o2@customer.example>"))
    account = oauth_mailbox(alice, oauth_provider, dovecot, mail_user)
    oauth_provider.expire_access_tokens(mail_user.login)  # still "fresh" by its expiry time

    result = account_sync(account=account)

    assert result.error is None, result
    assert result.imported == 1
    assert len(refreshes(oauth_provider)) == 1


def test_a_rotated_refresh_token_is_saved_and_the_old_one_retired(
    alice, oauth_provider, dovecot, mail_user
):
    oauth_provider.rotate_refresh_tokens = True  # as Microsoft does
    account = oauth_mailbox(alice, oauth_provider, dovecot, mail_user, auth="microsoft")
    first = MailAccount.objects.get(pk=account.pk).secret

    access_token(account, renew=True)

    saved = MailAccount.objects.get(pk=account.pk).secret
    assert saved != first
    assert saved == oauth_provider.grant_for(mail_user.login).refresh_token
    # Microsoft's refresh asks for the mail servers' scopes only, with offline access.
    assert refreshes(oauth_provider)[-1]["scope"] == (
        "offline_access https://outlook.office.com/IMAP.AccessAsUser.All "
        "https://outlook.office.com/SMTP.Send"
    )


def test_a_revoked_grant_needs_the_rep_and_loses_nothing(
    alice, oauth_provider, dovecot, mail_user, mailoutbox, django_capture_on_commit_callbacks
):
    dovecot.append(mail_user.login, "INBOX", make_message(message_id="<o3@customer.example>"))
    account = oauth_mailbox(alice, oauth_provider, dovecot, mail_user)
    assert account_sync(account=account).error is None

    oauth_provider.revoke(mail_user.login)  # the rep removed the CRM at the provider
    dovecot.append(mail_user.login, "INBOX", make_message(message_id="<o4@customer.example>"))
    with django_capture_on_commit_callbacks(execute=True):
        result = account_sync(account=account)

    assert result.error is not None and result.error.code == "oauth_reconnect_required"
    account.refresh_from_db()
    assert account.status == MailAccount.Status.ERROR
    assert account.error_code == "oauth_reconnect_required"
    assert account.next_sync_at is None  # no retries: only the rep can fix it
    assert OAuthGrant.objects.get(account=account).dead_at is not None
    assert Message.objects.filter(message_id="o3@customer.example").exists()
    # One email says what happened and what to do.
    assert len(mailoutbox) == 1
    email = mailoutbox[0]
    assert email.to == [alice.email] and mail_user.login in email.subject
    assert "Token has been expired or revoked." in email.body  # Google's words
    assert "/mailbox/" in email.body and "Reconnect" in email.body
    # The provider is not asked again and again for a grant it ended, nor the rep told twice.
    asked = len(refreshes(oauth_provider))
    with django_capture_on_commit_callbacks(execute=True):
        assert account_sync(account=account).error.code == "oauth_reconnect_required"
    assert len(refreshes(oauth_provider)) == asked
    assert len(mailoutbox) == 1


def test_a_refresh_the_provider_cannot_answer_is_retried_later(
    alice, oauth_provider, dovecot, mail_user
):
    account = oauth_mailbox(alice, oauth_provider, dovecot, mail_user)
    OAuthGrant.objects.filter(account=account).update(access_expires_at=timezone.now())
    oauth_provider.refresh_error = (503, "temporarily_unavailable", "try again later")

    result = account_sync(account=account)

    assert result.error.code == "server_error"
    assert "temporarily_unavailable" in result.error.server_words
    account.refresh_from_db()
    assert account.next_sync_at is not None  # retried with back-off
    assert OAuthGrant.objects.get(account=account).dead_at is None


def test_consent_withdrawn_by_an_administrator_is_named(alice, oauth_provider, dovecot, mail_user):
    account = oauth_mailbox(alice, oauth_provider, dovecot, mail_user, auth="microsoft")
    OAuthGrant.objects.filter(account=account).update(access_expires_at=timezone.now())
    oauth_provider.refresh_error = (
        400,
        "invalid_grant",
        "AADSTS65001: The user or administrator has not consented to use the application.",
    )

    result = account_sync(account=account)

    assert result.error.code == "oauth_consent_required"
    assert "AADSTS65001" in result.error.server_words


def test_tokens_are_never_stored_in_clear(alice, oauth_provider, dovecot, mail_user, settings):
    account = oauth_mailbox(alice, oauth_provider, dovecot, mail_user)
    grant = oauth_provider.grant_for(mail_user.login)
    tokens = [grant.refresh_token, *grant.access_tokens]

    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM mailsync_oauthgrant")
        rows = repr(cursor.fetchall())
    for token in tokens:
        assert token not in out.getvalue()
        assert token not in rows

    settings.MAILSYNC_SECRET_KEYS = ["n" * 40, *settings.MAILSYNC_SECRET_KEYS]
    call_command("mail_rotate_keys", stdout=io.StringIO())
    settings.MAILSYNC_SECRET_KEYS = settings.MAILSYNC_SECRET_KEYS[:1]  # the old key is gone
    assert MailAccount.objects.get(pk=account.pk).secret == grant.refresh_token
    assert OAuthGrant.objects.get(account=account).access_token == grant.access_tokens[-1]


def test_a_token_that_expires_between_syncs_costs_no_batch(
    alice, oauth_provider, dovecot, mail_user, settings
):
    settings.MAILSYNC_FETCH_BATCH = 1
    settings.MAILSYNC_OAUTH_REFRESH_MARGIN_SECONDS = 0
    oauth_provider.expires_in = 1  # a token good for a second
    for n in range(3):
        dovecot.append(
            mail_user.login, "INBOX", make_message(message_id=f"<e{n}@customer.example>")
        )
    account = oauth_mailbox(alice, oauth_provider, dovecot, mail_user)
    time.sleep(1.5)  # the consent's token has expired

    first = account_sync(account=account)
    dovecot.append(mail_user.login, "INBOX", make_message(message_id="<e3@customer.example>"))
    time.sleep(1.5)  # and so has the refreshed one
    second = account_sync(account=account)

    assert first.error is None and second.error is None
    assert (first.imported, second.imported) == (3, 1)
    assert len(refreshes(oauth_provider)) == 2  # one at each sign-in, none mid-sync
    assert account.runs.filter(outcome="failed").count() == 0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_refresh_one_account_at_once(alice, oauth_provider, dovecot, mail_user):
    account = oauth_mailbox(alice, oauth_provider, dovecot, mail_user)
    oauth_provider.token_delay = 0.5  # long enough for both workers to be waiting
    tokens, errors = [], []

    def worker():
        try:
            tokens.append(access_token(MailAccount.objects.get(pk=account.pk), renew=True))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(refreshes(oauth_provider)) == 1  # the second worker took the first one's token
    assert len(set(tokens)) == 1
