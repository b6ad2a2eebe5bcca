"""An inline image (cid:) of a synced message really loads in the sandboxed frame of the
message page, from our own access-checked view."""

import pytest
from allauth.account.models import EmailAddress as AllauthEmail

from mailsync.models import Message
from mailsync.sync.run import account_sync
from tests.browser.conftest import sign_in
from tests.mailsync.views.test_inline_images import LOGO, related_mail
from tests.support.mail import mailbox

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.browser,
]


@pytest.fixture(autouse=True)
def trust_the_test_ca(settings, mail_ca):
    settings.MAILSYNC_CA_FILE = str(mail_ca.ca_file)


def test_an_inline_logo_loads_in_the_message_frame(page, dovecot, alice):
    AllauthEmail.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    account = mailbox(dovecot, alice)
    dovecot.append(
        account.login,
        "INBOX",
        related_mail(
            message_id="<logo-b@acme.com>",
            html='<p>Regards</p><img src="cid:logo@acme.com" alt="logo" id="logo">',
            images=[("logo@acme.com", "image/png", LOGO)],
        ),
    )
    assert account_sync(account=account).error is None
    message = Message.objects.get(message_id="logo-b@acme.com")

    sign_in(page, "alice@ourco.example")
    page.goto(f"/mail/messages/{message.pk}/")
    frame = page.frame_locator("iframe.mail-frame")
    frame.get_by_text("Regards").wait_for()
    logo = frame.get_by_role("img", name="logo")
    logo.wait_for()
    inner = next(f for f in page.frames if f != page.main_frame)
    inner.wait_for_function("() => [...document.images].every(i => i.complete)")
    assert logo.evaluate("img => img.naturalWidth") == 3
