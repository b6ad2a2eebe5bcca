"""A rep connects a mailbox in a real browser: the preset fills in the servers, a wrong password
stops the streamed test at IMAP sign-in with the explanation, the right one passes every stage
and leads to the status page."""

import pytest
from allauth.account.models import EmailAddress as AllauthEmail
from playwright.sync_api import expect

from mailsync.errors import code_info
from mailsync.models import MailAccount
from mailsync.transport.stages import IMAP_STAGES, SMTP_STAGES
from tests.browser.conftest import sign_in
from tests.factories import MailAccountFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture(autouse=True)
def trust_the_test_ca(settings, mail_ca):
    # The live server runs in this process: it sees these settings too.
    settings.MAILSYNC_CA_FILE = str(mail_ca.ca_file)
    settings.MAILSYNC_TIMEOUT = 5


@pytest.fixture
def alice_verified(alice):
    AllauthEmail.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    return alice


def fill_servers(page, dovecot, smtpd):
    page.fill("#id_imap_host", dovecot.host)
    page.fill("#id_imap_port", str(dovecot.ssl_port))
    page.select_option("#id_imap_security", "ssl")
    page.fill("#id_smtp_host", smtpd.host)
    page.fill("#id_smtp_port", str(smtpd.ssl_port))
    page.select_option("#id_smtp_security", "ssl")


def test_a_rep_connects_a_mailbox(page, alice_verified, dovecot, smtpd, mail_user):
    smtpd.add_user(mail_user.login, mail_user.password)
    sign_in(page, "alice@ourco.example")
    page.get_by_role("link", name="Mailbox").first.click()
    page.wait_for_url("**/mailbox/")
    expect(page.locator("h1")).to_have_text("Connect your mailbox")

    # A Gmail address: its servers are filled in as soon as the address is entered.
    page.fill("#id_email", "alice.rep@gmail.com")
    page.press("#id_email", "Tab")
    expect(page.locator("#id_imap_host")).to_have_value("imap.gmail.com")
    expect(page.locator("#id_smtp_host")).to_have_value("smtp.gmail.com")
    expect(page.locator(".preset-note")).to_contain_text("app password")

    # The real address (no preset: what is typed stays) and the test servers.
    page.fill("#id_email", mail_user.login)
    page.press("#id_email", "Tab")
    expect(page.locator(".preset-note")).to_contain_text("no preset")
    fill_servers(page, dovecot, smtpd)
    page.fill("#id_password", "not-the-password")
    page.get_by_role("button", name="Test and connect").click()

    failed = page.locator("li.stage.failed")
    expect(failed).to_have_attribute("data-stage", "imap_login")
    expect(failed).to_contain_text("IMAP sign-in")
    expect(page.locator("li.stage.ok")).to_have_count(IMAP_STAGES.index("imap_login"))
    outcome = page.locator(".outcome.failed")
    expect(outcome).to_contain_text("Sign-in refused")
    expect(outcome).to_contain_text(str(code_info("imap_auth_failed").help))
    expect(outcome.locator(".server-words")).to_contain_text("AUTHENTICATIONFAILED")
    assert not MailAccount.objects.exists()

    # The form is back with everything but the password: enter the right one.
    expect(page.locator("#id_email")).to_have_value(mail_user.login)
    expect(page.locator("#id_imap_port")).to_have_value(str(dovecot.ssl_port))
    expect(page.locator("#id_password")).to_have_value("")
    page.fill("#id_password", mail_user.password)
    page.get_by_role("button", name="Test and connect").click()

    expect(page.locator("li.stage.ok")).to_have_count(len(IMAP_STAGES + SMTP_STAGES))
    expect(page.locator("li.stage.failed")).to_have_count(0)
    expect(page.locator(".outcome.ok")).to_contain_text("Your mailbox is connected")
    page.wait_for_url("**/mailbox/?connected=1")  # on its own, after a moment
    expect(page.locator("h1")).to_have_text("Mailbox")
    expect(page.locator(".status-title")).to_contain_text(mail_user.login)
    expect(page.locator(".badge.status-connected")).to_have_text("Connected")
    expect(page.get_by_role("button", name="Sync now")).to_be_visible()
    account = MailAccount.objects.get(user=alice_verified)
    assert account.email == mail_user.login and account.secret == mail_user.password


def test_the_mailbox_pages_fit_a_phone_screen(page, alice_verified, dovecot, smtpd, mail_user):
    sign_in(page, "alice@ourco.example")
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto("/mailbox/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    MailAccountFactory(
        user=alice_verified,
        dovecot=dovecot,
        smtpd=smtpd,
        mail_user=mail_user,
        status=MailAccount.Status.ERROR,
        error_code="tls_hostname_mismatch",
        error_stage="tls",
        error_detail="Hostname mismatch, certificate is not valid for 'imap.example.com'. " * 3,
    )
    for url in ("/mailbox/", "/mailbox/?change=1", "/mailbox/disconnect/"):
        page.goto(url)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{url} is {width}px wide on a 390px screen"
