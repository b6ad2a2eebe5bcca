"""Read-only, each guard on its own: fetching with BODY.PEEK marks nothing seen even in a folder
opened read-write, and the commands the sync sends (as Dovecot recorded them off the wire)
EXAMINE folders and never SELECT, flag, copy, move, expunge, append or delete."""

import re

import pytest

from mailsync.sync.run import account_sync
from mailsync.transport.imap import ImapSession, Server
from tests.factories import MailAccountFactory
from tests.support.mail import make_message

pytestmark = pytest.mark.django_db

LIMITS = {"count": 50, "batch_bytes": 1_000_000, "max_message_bytes": 2048}
WRITES = {"SELECT", "STORE", "COPY", "MOVE", "EXPUNGE", "APPEND", "DELETE", "CREATE", "RENAME"}


def verb(line: str) -> str:
    """The IMAP command of a client line: "a3 UID FETCH 1:* (...)" is FETCH."""
    words = re.sub(r"^\d+\.\d+ ", "", line).split()  # Dovecot's rawlog stamps each line
    command = words[1].upper() if len(words) > 1 else ""
    return words[2].upper() if command == "UID" and len(words) > 2 else command


def test_fetching_marks_nothing_seen_even_in_a_folder_opened_read_write(dovecot_plain, plain_user):
    login = plain_user.login
    small = dovecot_plain.append(login, "INBOX", make_message(subject="Small"))
    large = dovecot_plain.append(login, "INBOX", make_message(subject="Large", body="x" * 5000))
    server = Server(dovecot_plain.host, dovecot_plain.ssl_port, "ssl")

    with ImapSession.open(server, login=login, password=plain_user.password) as session:
        typ, _ = session.mailbox.client.select('"INBOX"')  # SELECT: the server may set \Seen
        assert typ == "OK" and not session.mailbox.client.is_readonly
        batches = list(session.batches([small, large], **LIMITS))

    fetched = {m.uid: m for _, messages in batches for m in messages}
    assert not fetched[small].headers_only and b"Tuesday" in fetched[small].raw
    assert fetched[large].headers_only and b"Subject: Large" in fetched[large].raw
    assert dovecot_plain.flags(login, "INBOX") == {small: (), large: ()}  # no \Seen


def test_the_sync_examines_folders_and_sends_no_command_that_changes_the_mailbox(
    dovecot_plain, plain_user, alice, settings
):
    settings.MAILSYNC_MAX_MESSAGE_BYTES = LIMITS["max_message_bytes"]
    login = plain_user.login
    dovecot_plain.create_folder(login, "Sent Items")
    dovecot_plain.append(login, "INBOX", make_message(subject="Question"))
    dovecot_plain.append(login, "INBOX", make_message(subject="Big", body="x" * 5000))
    dovecot_plain.append(login, "Sent Items", make_message(subject="Answer", sender=login))
    account = MailAccountFactory(user=alice, dovecot=dovecot_plain, mail_user=plain_user)
    dovecot_plain.rawlog_clear(login)

    result = account_sync(account=account)

    assert result.error is None and result.imported == 2 and result.skipped, result
    commands = dovecot_plain.commands(login)  # the whole session after LOGIN
    verbs = [verb(line) for line in commands]
    assert verbs.count("EXAMINE") == 2, commands  # INBOX and Sent Items
    assert "FETCH" in verbs, commands
    assert not WRITES & set(verbs), commands
    fetches = [line for line in commands if verb(line) == "FETCH"]
    assert any("BODY.PEEK[]" in line for line in fetches), fetches
    assert any("BODY.PEEK[HEADER]" in line for line in fetches), fetches  # the oversized one
    for line in fetches:
        # BODY[...] and RFC822 / RFC822.TEXT set \Seen; BODY.PEEK[...] and RFC822.SIZE do not.
        assert not re.search(r"(?<!\.)\bBODY\[|\bRFC822(\.TEXT)?(?![.\w])", line), line


def test_logging_in_selects_no_folder(dovecot_plain, plain_user):
    server = Server(dovecot_plain.host, dovecot_plain.ssl_port, "ssl")
    dovecot_plain.rawlog_clear(plain_user.login)

    ImapSession.open(server, login=plain_user.login, password=plain_user.password).close()

    verbs = [verb(line) for line in dovecot_plain.commands(plain_user.login)]
    assert "SELECT" not in verbs and verbs[-1] == "LOGOUT", verbs
