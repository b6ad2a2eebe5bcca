"""Small hand-made messages and mailboxes for the mail tests: messages built here, put in the
test Dovecot and synced."""

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from mailsync.sync.run import account_sync
from tests.factories import MailAccountFactory
from tests.support.fixtures import MailUser, unique_login


def make_message(
    *,
    subject: str = "Hello",
    sender: str = "Bob Buyer <bob@customer.example>",
    to: str | list[str] = "alice@ourco.example",
    cc: list[str] | None = None,
    body: str = "Hi Alice,\nshall we meet on Tuesday?\n",
    message_id: str | None = "auto",
    in_reply_to: str = "",
    date: datetime | None = None,
    html: str = "",
) -> bytes:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(to) if isinstance(to, list) else to
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Date"] = format_datetime(date or datetime.now(UTC) - timedelta(hours=1))
    if message_id == "auto":
        message["Message-ID"] = make_msgid(domain="customer.example")
    elif message_id:
        message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    message.set_content(body)
    if html:
        message.add_alternative(html, subtype="html")
    return bytes(message)


def deliver(dovecot, mail_user, account, **kwargs):
    """Put a message in the Inbox, sync, and return it as stored."""

    from mailsync.models import Message

    dovecot.append(mail_user.login, "INBOX", make_message(**kwargs))
    result = account_sync(account=account)
    assert result.error is None, result
    return Message.objects.get(message_id=kwargs["message_id"].strip("<>"))


def mailbox(dovecot, user, *, sharing="full"):
    """A new mailbox on the test Dovecot, linked to `user` with this sharing level."""
    login = unique_login()
    mail_user = MailUser(login, f"secret-{login.split('@')[0]}")
    dovecot.add_user(*mail_user)
    return MailAccountFactory(user=user, dovecot=dovecot, mail_user=mail_user, sharing=sharing)


def ann_mail(*, subject, body, message_id, attachment=None, html="", in_reply_to="", date=None):
    """A message from Ann, with an attachment (filename, content type, bytes) if given."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = "Ann <ann@acme.com>"
    message["To"] = "rep@ourco.example"
    message["Message-ID"] = message_id
    if date is not None:
        message["Date"] = format_datetime(date)
    else:
        message["Date"] = format_datetime(datetime.now(UTC))
    if in_reply_to:
        message["In-Reply-To"] = message["References"] = in_reply_to
    message.set_content(body)
    if html:
        message.add_alternative(html, subtype="html")
    if attachment:
        name, content_type, data = attachment
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return bytes(message)


def deliver_raw(dovecot, account, raw: bytes) -> None:
    """Put a raw message in the account's Inbox and sync."""
    dovecot.append(account.login, "INBOX", raw)
    result = account_sync(account=account)
    assert result.error is None, result
