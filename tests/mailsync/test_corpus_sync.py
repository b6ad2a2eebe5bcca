"""Every message of ../shared/corpora, APPENDed to a real mailbox and synced: each one is
imported or in the skip ledger with a reason, and none stops the sync."""

import imaplib

import pytest

from mailsync import services
from mailsync.models import MailAccount, Message, Sighting, SkipEntry
from tests.mailsync.corpora import all_corpus_messages

pytestmark = pytest.mark.django_db


def test_the_whole_corpus_syncs_without_stopping(dovecot, mail_user, alice, settings, mail_ca):
    settings.MAILSYNC_CA_FILE = str(mail_ca.ca_file)
    settings.MAILSYNC_FETCH_BATCH = 100
    appended, refused = {}, {}
    with dovecot.mailbox(mail_user.login) as box:
        for name, raw in all_corpus_messages():
            try:
                typ, data = box.client.append("INBOX", None, None, raw)
            except imaplib.IMAP4.error as error:
                refused[name] = str(error)
                continue
            if typ == "OK":
                appended[name] = raw
            else:
                refused[name] = str(data)
    # The server itself refuses what is not a message at all (an empty mbox member).
    assert len(appended) > 1500 and len(refused) <= 3, (len(appended), refused)

    account = MailAccount(
        user=alice,
        email=mail_user.login,
        login=mail_user.login,
        imap_host=dovecot.host,
        imap_port=dovecot.ssl_port,
        smtp_host=dovecot.host,
        history_days=365,  # by arrival (INTERNALDATE), so all of it, however old the Date header
    )
    account.secret = mail_user.password
    account.save()
    result = services.account_sync(account=account)

    assert result.error is None, result
    total = result.imported + result.duplicates + sum(result.skipped.values())
    assert total == len(appended), result
    inbox = account.folders.get(role="inbox")
    uids_seen = set(Sighting.objects.filter(folder=inbox).values_list("uid", flat=True))
    assert len(uids_seen) == len(appended)  # every UID stored somewhere, none twice
    unparseable = SkipEntry.objects.filter(code="unparseable")
    assert all(entry.detail for entry in unparseable)  # each with its reason
    assert not Message.objects.filter(raw__isnull=True).exists()  # the raw message is kept
