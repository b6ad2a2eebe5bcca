"""A rep connects a Google mailbox in a real browser: "Connect Google" on the mailbox page, the
provider's consent page (the local OAuth provider), back to the CRM, and the synced mail on the
contact's page."""

import pytest
from allauth.account.models import EmailAddress as AllauthEmail
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.factories import ann_at_acme
from tests.support.mail import make_message

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture(autouse=True)
def trust_the_test_ca(settings, mail_ca):
    settings.MAILSYNC_CA_FILE = str(mail_ca.ca_file)
    settings.MAILSYNC_TIMEOUT = 5


def test_a_rep_connects_google_and_finds_the_mail_on_the_contact(
    page, alice, oauth_provider, dovecot, mail_user
):
    AllauthEmail.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    ann = ann_at_acme(alice)
    dovecot.append(
        mail_user.login,
        "INBOX",
        make_message(
            sender="Ann <ann@acme.com>",
            to=mail_user.login,
            subject="Offer for the Acme rollout",
            message_id="<offer-1@acme.com>",
        ),
    )
    oauth_provider.consent_as = mail_user.login
    oauth_provider.auto_consent = False  # the rep sees the provider's consent page

    sign_in(page, alice.email)
    page.goto("/mailbox/")
    page.select_option("#oauth-history", "365")
    page.get_by_role("button", name="Connect Google").click()

    page.wait_for_url(f"{oauth_provider.url}/authorize**")
    expect(page.locator("body")).to_contain_text(mail_user.login)
    page.get_by_role("button", name="Allow").click()

    page.wait_for_url("**/mailbox/")
    expect(page.locator(".messages")).to_contain_text(f"Your Google mailbox {mail_user.login}")
    expect(page.locator(".mailbox-email")).to_have_text(mail_user.login)

    page.goto(ann.get_absolute_url())
    expect(page.get_by_text("Offer for the Acme rollout")).to_be_visible()
