"""Small hand-made messages for the sync tests."""

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from mailsync.sync.run import account_sync


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
