"""Servers without special-use flags: the Sent folder is found by its name ("Sent Items",
"Posta inviata", "[Gmail]/Sent Mail"...), both by the connection test and by the sync, on a real
Dovecot whose folders carry no \\Sent flag (`dovecot_plain`)."""

import pytest

from mailsync.models import MailAccount, Message
from mailsync.sync.run import account_sync
from mailsync.transport.imap import Server, check_imap, connect, discover_folders, logout
from mailsync.transport.stages import IMAP_STAGES
from tests.factories import MailAccountFactory
from tests.support.mail import make_message

pytestmark = pytest.mark.django_db

SENT_FOLDERS = [
    "Sent Items",  # Outlook, Exchange
    "Posta inviata",  # Italian providers, Thunderbird in Italian
    "[Gmail]/Sent Mail",  # Gmail without special-use (older clients see this name)
    "Elementi inviati",  # Outlook in Italian
    "Gesendete Elemente",  # Outlook in German
    "Éléments envoyés",  # Outlook in French: a name in modified UTF-7 on the wire
    "[Google Mail]/Sent Mail",  # Gmail in Germany and the UK
    "Sent",  # Yahoo, AOL, Fastmail, Zoho, mailbox.org, mail.com, Free, when unflagged
    "Sent Messages",  # iCloud
    "Gesendet",  # GMX, web.de, T-Online
    "INBOX/Sent",  # servers that keep every folder under INBOX (Courier-style)
]


def plain_server(dovecot_plain) -> Server:
    return Server(dovecot_plain.host, dovecot_plain.ssl_port, "ssl")


def plain_account(dovecot_plain, user, owner) -> MailAccount:
    """The rep's mailbox on the Dovecot without special-use flags, a year of history."""
    return MailAccountFactory(user=owner, dovecot=dovecot_plain, mail_user=user)


def create_sent_folder(dovecot_plain, user, name: str) -> None:
    if "/" in name:  # "[Gmail]" first: the parent of "[Gmail]/Sent Mail"
        dovecot_plain.create_folder(user.login, name.rsplit("/", 1)[0])
    dovecot_plain.create_folder(user.login, name)
    flags = dovecot_plain.folders(user.login)[name]
    assert "\\Sent" not in flags, flags  # found by name, not by a flag


@pytest.mark.parametrize("name", SENT_FOLDERS)
def test_the_connection_test_finds_a_sent_folder_by_its_name(dovecot_plain, plain_user, name):
    create_sent_folder(dovecot_plain, plain_user, name)

    results = list(
        check_imap(
            plain_server(dovecot_plain),
            login=plain_user.login,
            password=plain_user.password,
            timeout=5,
        )
    )

    assert [r.stage for r in results] == IMAP_STAGES and all(r.ok for r in results), results
    mailbox = connect(
        plain_server(dovecot_plain), login=plain_user.login, password=plain_user.password
    )
    try:
        folders = discover_folders(mailbox)
    finally:
        logout(mailbox)
    assert (folders.inbox, folders.sent) == ("INBOX", name)


@pytest.mark.parametrize("name", SENT_FOLDERS)
def test_the_sync_imports_the_sent_mail_of_a_folder_found_by_its_name(
    dovecot_plain, plain_user, alice, name
):
    create_sent_folder(dovecot_plain, plain_user, name)
    dovecot_plain.append(
        plain_user.login,
        name,
        make_message(subject="My offer", sender=plain_user.login, to="bob@customer.example"),
    )
    account = plain_account(dovecot_plain, plain_user, alice)

    result = account_sync(account=account)

    assert result.error is None and result.imported == 1, result
    sent = account.folders.get(role="sent")
    assert sent.name == name and sent.last_uid == 1
    assert Message.objects.get().subject == "My offer"
    assert Message.objects.get().sightings.get().folder == sent


def test_without_any_sent_folder_the_connection_test_says_so(dovecot_plain, plain_user):
    results = list(
        check_imap(
            plain_server(dovecot_plain),
            login=plain_user.login,
            password=plain_user.password,
            timeout=5,
        )
    )

    failed = results[-1]
    assert [r.ok for r in results] == [True] * 5 + [False], results
    assert (failed.stage, failed.code) == ("folders", "sent_folder_not_found")
    assert failed.detail == "folders on the server: INBOX"


def test_without_any_sent_folder_the_sync_stops_and_waits_for_the_rep(
    dovecot_plain, plain_user, alice
):
    dovecot_plain.append(plain_user.login, "INBOX", make_message(subject="Never read"))
    account = plain_account(dovecot_plain, plain_user, alice)

    result = account_sync(account=account)

    assert result.error is not None and result.error.code == "sent_folder_not_found", result
    account.refresh_from_db()
    assert account.status == MailAccount.Status.ERROR
    assert (account.error_code, account.error_stage) == ("sent_folder_not_found", "folders")
    assert account.next_sync_at is None  # retrying cannot help until the rep has a Sent folder
    assert not Message.objects.exists()
