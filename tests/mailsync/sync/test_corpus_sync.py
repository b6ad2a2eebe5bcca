"""Every message of ../shared/corpora, APPENDed to a real mailbox and synced: each one is
imported or in the skip ledger with a reason, and none stops the sync."""

import imaplib
import re
from collections import Counter

import pytest

from mailsync.models import Message, Sighting, SkipEntry
from mailsync.sync.run import account_sync
from tests.factories import MailAccountFactory
from tests.support.corpora import all_corpus_messages, catalog

pytestmark = pytest.mark.django_db

# What the corpora hold and what the sync makes of them. The message counts are CATALOG.tsv's
# rows per corpus (its README's table agrees); the outcomes were measured once, by syncing the
# whole corpus as below (December 2025), and pinned: a change in them is a change in parsing
# or storing to look at, not noise.
MESSAGES_PER_CORPUS = {
    "apache-mime4j": 39,
    "chatwoot": 40,
    "cpython-test_email": 50,
    "django-anymail": 1,
    "dovecot-imaptest": 191,
    "enmime": 88,
    "imap_tools": 113,
    "mailgun-flanker": 39,
    "mailgun-talon": 13,
    "mikel-mail": 103,
    "mime-tools-testmsgs": 48,
    "mimekit": 82,
    "nodemailer-mailparser": 10,
    "pec-go-pec": 4,
    "pec-java-pec-parser": 6,
    "postal-mime": 5,
    "simple-java-mail": 39,
    "sisimai-set-of-emails": 606,
    "spamscope-mail-parser": 18,
    "stalwart-mail-parser": 52,
}
# Dovecot will not store it: "Can't save a zero byte message" (the mbox member is one newline).
REFUSED_BY_THE_SERVER = {"cpython-test_email/data/mailbox_01.mbox#1"}
# The catalogue has no expected-outcome column (its `error` column is empty on every row), so:
# Outlook .msg files (OLE, not MIME) are the rows it marks `outlook_msg`; and imaptest's script
# mailboxes have members that are a body without any header ("\n1\n\n"), named here.
HEADERLESS = {
    *(
        f"dovecot-imaptest/tests/{mbox}.mbox#{n}"
        for mbox in ("search-partial", "sort-partial", "sort-arrival")
        for n in range(5)
    ),
    "dovecot-imaptest/tests/sort-subject.mbox#8",
    "dovecot-imaptest/tests/thread-orderedsubject.mbox#8",
}
OUTLOOK_REASON, HEADERLESS_REASON = "Outlook .msg", "no header block"
# 1,546 stored: 1,041 imported, 472 duplicates (a message already stored under the same
# Message-ID, or the same content when it has none: corpora copy each other's files, e.g.
# imap_tools has 95 of mikel-mail's), and 33 unparseable. The ledger has 41 unparseable
# entries, one per UID: 8 of the 41 headerless and Outlook messages are byte for byte the
# same as an earlier one, so they count as duplicates.
IMPORTED, DUPLICATES, SKIPPED = 1041, 472, {"unparseable": 33}


def outlook_files() -> set[str]:
    return {f"{row['corpus']}/{row['path']}" for row in catalog() if row["outlook_msg"] == "1"}


def test_the_whole_corpus_syncs_without_stopping(dovecot, mail_user, alice, settings, mail_ca):
    settings.MAILSYNC_CA_FILE = str(mail_ca.ca_file)
    settings.MAILSYNC_FETCH_BATCH = 100
    yielded, refused, name_of_uid = Counter(), {}, {}
    with dovecot.mailbox(mail_user.login) as box:
        for name, raw in all_corpus_messages():
            yielded[name.partition("/")[0]] += 1
            try:
                typ, data = box.client.append("INBOX", None, None, raw)
            except imaplib.IMAP4.error as error:
                refused[name] = str(error)
                continue
            if typ == "OK":
                uid = re.search(rb"\[APPENDUID \d+ (\d+)\]", data[0]).group(1)
                name_of_uid[int(uid)] = name
            else:
                refused[name] = str(data)
    assert dict(yielded) == MESSAGES_PER_CORPUS
    assert set(refused) == REFUSED_BY_THE_SERVER, refused
    appended = len(name_of_uid)
    assert appended == sum(MESSAGES_PER_CORPUS.values()) - len(REFUSED_BY_THE_SERVER)

    account = MailAccountFactory(
        user=alice,
        dovecot=dovecot,
        mail_user=mail_user,
        history_days=365,  # by arrival (INTERNALDATE), so all of it, however old the Date header
    )
    result = account_sync(account=account)

    assert result.error is None, result
    assert (result.imported, result.duplicates, result.skipped) == (IMPORTED, DUPLICATES, SKIPPED)
    assert IMPORTED + DUPLICATES + sum(SKIPPED.values()) == appended
    inbox = account.folders.get(role="inbox")
    uids_seen = set(Sighting.objects.filter(folder=inbox).values_list("uid", flat=True))
    assert uids_seen == set(name_of_uid)  # every UID stored somewhere, none twice

    # The ledger holds exactly the messages expected to be unparseable, each with its reason.
    reasons = {
        name_of_uid[uid]: (code, detail)
        for uid, code, detail in SkipEntry.objects.filter(folder=inbox).values_list(
            "uid", "code", "detail"
        )
    }
    outlook = outlook_files()
    assert len(outlook) == 24 and len(HEADERLESS) == 17
    assert set(reasons) == outlook | HEADERLESS
    for name, (code, detail) in reasons.items():
        expected = OUTLOOK_REASON if name in outlook else HEADERLESS_REASON
        assert code == "unparseable" and expected in detail, (name, code, detail)
    assert not Message.objects.filter(raw__isnull=True).exists()  # the raw message is kept
