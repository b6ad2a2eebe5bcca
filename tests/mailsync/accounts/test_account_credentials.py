"""An account's credentials: a password account signs in with its password, a Google or
Microsoft 365 account with an XOAUTH2 token from a token source, and until the OAuth module hands
one over, its sign-in stage says to connect again. Saving stores what the credentials carry."""

import pytest

from mailsync.accounts.services import (
    ConnectionSettings,
    account_credentials,
    account_save,
    connection_check,
)
from mailsync.models import MailAccount
from mailsync.sync.run import account_sync
from mailsync.transport.credentials import Password, XOAuth2
from mailsync.transport.imap import Server
from mailsync.transport.stages import IMAP_STAGES, SMTP_STAGES

pytestmark = pytest.mark.django_db


def as_google(account: MailAccount) -> MailAccount:
    account.auth = MailAccount.Auth.GOOGLE
    account.secret = "refresh-token-grant"
    account.save()
    return account


def test_a_password_account_signs_in_with_its_password(account, mail_user):
    assert account_credentials(account) == Password(mail_user.login, mail_user.password)


def test_a_google_account_signs_in_with_the_token_it_is_given(account, dovecot, smtpd, mail_user):
    as_google(account)
    account.smtp_host, account.smtp_port = smtpd.host, smtpd.ssl_port
    account.save()
    dovecot.add_token(mail_user.login, "ya29.imap-and-smtp")
    smtpd.add_token(mail_user.login, "ya29.imap-and-smtp")

    conn = ConnectionSettings.from_account(account, token=lambda: "ya29.imap-and-smtp")
    results = list(connection_check(conn))

    assert isinstance(conn.credentials, XOAuth2)
    assert (conn.credentials.provider, conn.credentials.secret) == ("google", "refresh-token-grant")
    assert [r.stage for r in results] == IMAP_STAGES + SMTP_STAGES
    assert all(r.ok for r in results), results
    assert smtpd.authenticated == [("XOAUTH2", mail_user.login)]


def test_without_a_grant_a_google_account_is_told_to_connect_again(account):
    as_google(account)

    results = list(connection_check(ConnectionSettings.from_account(account)))

    failed = results[-1]
    assert (failed.stage, failed.code) == ("imap_login", "oauth_reconnect_required")
    assert "Google" in failed.detail
    assert all(r.ok for r in results[:-1])  # the server itself was reached


def test_the_sync_of_a_google_account_records_it_too(account):
    as_google(account)

    result = account_sync(account=account)

    assert (result.error.code, result.error.stage) == ("oauth_reconnect_required", "imap_login")


def test_saving_stores_what_the_credentials_carry(alice, dovecot, smtpd):
    servers = {
        "imap": Server(dovecot.host, dovecot.ssl_port, "ssl"),
        "smtp": Server(smtpd.host, smtpd.ssl_port, "ssl"),
    }
    token = XOAuth2("rep@gmail.example", lambda: "t", provider="google", secret="grant")

    account = account_save(
        user=alice, conn=ConnectionSettings(email="Rep@Gmail.example", credentials=token, **servers)
    )
    assert (account.auth, account.login, account.secret) == ("google", "rep@gmail.example", "grant")

    account = account_save(
        user=alice,
        conn=ConnectionSettings(
            email="rep@gmail.example", credentials=Password("rep", "app-password"), **servers
        ),
    )
    assert (account.auth, account.login, account.secret) == ("password", "rep", "app-password")
