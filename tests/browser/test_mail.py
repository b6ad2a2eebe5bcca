"""Mail on records in a real browser: a rep reads a thread from a contact, a hostile message
runs no script, and a thread taken off a deal stays off when a reply is synced."""

import pytest
from allauth.account.models import EmailAddress as AllauthEmail

from mailsync.models import Message
from mailsync.sync.run import account_sync
from tests.browser.conftest import sign_in
from tests.factories import DealFactory, ann_at_acme
from tests.support.mail import ann_mail, mailbox

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.browser,
]

HOSTILE = (
    '<p>Hello-from-html</p><script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">'
)


@pytest.fixture(autouse=True)
def trust_the_test_ca(settings, mail_ca):
    settings.MAILSYNC_CA_FILE = str(mail_ca.ca_file)


def test_a_rep_reads_mail_on_a_contact_and_removes_a_thread_from_a_deal(page, dovecot, alice):
    AllauthEmail.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    ann = ann_at_acme(alice)
    deal = DealFactory(owner=alice, name="Renewal")
    deal.contacts.add(ann)
    account = mailbox(dovecot, alice)
    dovecot.append(
        account.login,
        "INBOX",
        ann_mail(subject="Quote please", body="plain", message_id="<b1@acme.com>", html=HOSTILE),
    )
    assert account_sync(account=account).error is None
    message = Message.objects.get(message_id="b1@acme.com")

    sign_in(page, "alice@ourco.example")
    page.goto(ann.get_absolute_url())
    page.get_by_role("link", name="Quote please").click()
    page.wait_for_url(f"**/mail/messages/{message.pk}/")
    frame = page.frame_locator("iframe.mail-frame")
    frame.get_by_text("Hello-from-html").wait_for()
    assert page.evaluate("window.__pwned") is None
    inner = next(f for f in page.frames if f != page.main_frame)
    assert inner.evaluate("window.__pwned") is None

    page.goto(deal.get_absolute_url())
    assert "Quote please" in page.content()
    page.locator(f"#thread-{message.thread_id}").get_by_role(
        "button", name="Remove from this record"
    ).click()
    page.wait_for_url(f"**{deal.get_absolute_url()}")
    assert "Later replies in it will stay off too" in page.content()
    assert "Quote please" not in page.locator("section.mail").inner_text()

    dovecot.append(
        account.login,
        "INBOX",
        ann_mail(
            subject="Re: Quote please",
            body="reply",
            message_id="<b2@acme.com>",
            in_reply_to="<b1@acme.com>",
        ),
    )
    assert account_sync(account=account).error is None
    page.goto(deal.get_absolute_url())
    assert "Quote please" not in page.locator("section.mail").inner_text()
    page.goto(ann.get_absolute_url())
    assert "Re: Quote please" in page.locator("section.mail").inner_text()
