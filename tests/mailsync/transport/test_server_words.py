"""The codes that come from a server's own words or from what a server lacks, produced on test
servers that answer as the real providers do: Gmail's app-password and IMAP-disabled refusals,
Microsoft 365's SMTP AUTH switched off for the tenant, no STARTTLS, and a message over the size
limit. (No Sent folder at all, sent_folder_not_found: test_sent_by_name.py.)"""

import pytest

from mailsync.models import Message, SkipEntry
from mailsync.sync.run import account_sync
from mailsync.transport.imap import Server, check_imap
from mailsync.transport.smtp import check_smtp
from tests.support.mail import make_message

pytestmark = pytest.mark.django_db

GMAIL_APP_PASSWORD = (
    b"NO [ALERT] Application-specific password required: "
    b"https://support.google.com/accounts/answer/185833 (Failure)"
)
# Outlook.com and Microsoft 365 refuse a wrong password, and a sign-in with basic
# authentication turned off, in the same words: nothing tells them apart.
MICROSOFT_LOGIN_REFUSED = b"NO AUTHENTICATE failed."
MICROSOFT_LOGIN_FAILED = b"NO LOGIN failed."
# ... and accept the sign-in of a mailbox whose IMAP access is off, then refuse everything.
MICROSOFT_IMAP_DISABLED = b"BAD User is authenticated but not connected."
GMAIL_IMAP_DISABLED = (
    b"NO [ALERT] Your account is not enabled for IMAP use. Please visit your Gmail settings "
    b"page and enable your account for IMAP access. (Failure)"
)
M365_SMTP_AUTH_DISABLED = (
    "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. "
    "Visit https://aka.ms/smtp_auth_disabled for more information."
)
GMAIL_SMTP_APP_PASSWORD = (
    "5.7.9 Application-specific password required. "
    "Learn more at https://support.google.com/mail/?p=InvalidSecondFactor"
)


def imap_failure(server: Server):
    results = list(check_imap(server, login="alice@ourco.example", password="pw", timeout=5))
    failed = [r for r in results if not r.ok]
    assert len(failed) == 1 and failed[0] is results[-1], results
    return failed[0]


def smtp_failure(server: Server):
    results = list(check_smtp(server, login="alice@ourco.example", password="pw", timeout=5))
    failed = [r for r in results if not r.ok]
    assert len(failed) == 1 and failed[0] is results[-1], results
    return failed[0]


@pytest.mark.parametrize(
    "words, code",
    [
        (GMAIL_APP_PASSWORD, "app_password_required"),
        (GMAIL_IMAP_DISABLED, "imap_disabled"),
        (b"NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)", "imap_auth_failed"),
        (MICROSOFT_LOGIN_REFUSED, "imap_auth_failed"),
        (MICROSOFT_LOGIN_FAILED, "imap_auth_failed"),
    ],
)
def test_a_refused_imap_login_gets_the_code_of_the_providers_words(
    imap_refusing_login, words, code
):
    refusing = imap_refusing_login(words)

    failed = imap_failure(Server(refusing.host, refusing.port, "ssl"))

    assert (failed.stage, failed.code) == ("imap_login", code)
    assert failed.detail == words.decode().removeprefix("NO ")  # the rep sees Google's words


def test_a_microsoft_mailbox_with_imap_turned_off_is_told_so_by_the_connection_test(
    imap_refusing_folders,
):
    refusing = imap_refusing_folders(MICROSOFT_IMAP_DISABLED)

    failed = imap_failure(Server(refusing.host, refusing.port, "ssl"))

    assert (failed.stage, failed.code) == ("folders", "imap_disabled")
    assert "User is authenticated but not connected" in failed.detail


def test_a_microsoft_mailbox_with_imap_turned_off_is_told_so_by_the_sync(
    imap_refusing_folders, account
):
    refusing = imap_refusing_folders(MICROSOFT_IMAP_DISABLED)
    account.imap_host, account.imap_port = refusing.host, refusing.port
    account.save()

    result = account_sync(account=account)

    assert result.error.code == "imap_disabled", result.error


def test_smtp_auth_disabled_for_the_microsoft_365_tenant(smtpd):
    smtpd.script("auth", 535, M365_SMTP_AUTH_DISABLED, times=2)  # PLAIN, then LOGIN

    failed = smtp_failure(Server(smtpd.host, smtpd.ssl_port, "ssl"))

    assert (failed.stage, failed.code) == ("smtp_login", "smtp_auth_disabled")
    assert failed.detail == f"535 {M365_SMTP_AUTH_DISABLED}"


def test_an_smtp_app_password_required_by_gmail(smtpd):
    smtpd.script("auth", 534, GMAIL_SMTP_APP_PASSWORD, times=2)

    failed = smtp_failure(Server(smtpd.host, smtpd.starttls_port, "starttls"))

    assert (failed.stage, failed.code) == ("smtp_login", "app_password_required")
    assert failed.detail == f"534 {GMAIL_SMTP_APP_PASSWORD}"


def test_an_imap_server_without_starttls_is_not_used_in_plain_text(imap_without_starttls):
    server = Server(imap_without_starttls.host, imap_without_starttls.port, "starttls")

    failed = imap_failure(server)

    assert (failed.stage, failed.code) == ("tls", "starttls_unavailable")
    assert "CAPABILITY IMAP4rev1 AUTH=PLAIN" in failed.detail


def test_a_message_over_the_size_limit_is_kept_as_headers_with_a_ledger_entry(
    dovecot, mail_user, account, settings
):
    settings.MAILSYNC_MAX_MESSAGE_BYTES = 4096
    big = make_message(
        subject="The catalogue, attached",
        sender="Ann <ann@acme.com>",
        message_id="<catalogue1@acme.com>",
        body="page of the catalogue\n" * 400,
    )
    uid = dovecot.append(mail_user.login, "INBOX", big)
    size = len(big.replace(b"\n", b"\r\n"))  # as the server counts it (RFC822.SIZE)

    result = account_sync(account=account)

    assert result.error is None and result.skipped == {"oversized": 1}, result
    message = Message.objects.get()
    assert message.headers_only and message.skip_code == "oversized"
    assert (message.subject, message.message_id) == (
        "The catalogue, attached",
        "catalogue1@acme.com",
    )
    assert "page of the catalogue" not in message.text  # the body was never fetched
    entry = SkipEntry.objects.get()
    assert (entry.code, entry.uid, entry.message) == ("oversized", uid, message)
    assert entry.detail == f"{size} bytes; the limit is 4096"
    assert entry.subject == "The catalogue, attached" and entry.from_address == "ann@acme.com"
