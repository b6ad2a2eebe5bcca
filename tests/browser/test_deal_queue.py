"""The "choose a deal" queue in a real browser: the top bar says a thread is waiting, the rep
opens the queue, chooses the deal there, and the thread lands on it."""

import pytest
from allauth.account.models import EmailAddress as AllauthEmail

from crm import services as crm
from crm.models import Contact
from mailsync.models import ThreadDealChoice
from tests.browser.conftest import sign_in
from tests.factories import DealFactory
from tests.mailsync.routing.test_deal_queue import sync
from tests.support.mail import mailbox

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.browser,
]


@pytest.fixture(autouse=True)
def trust_the_test_ca(settings, mail_ca):
    settings.MAILSYNC_CA_FILE = str(mail_ca.ca_file)


def test_a_rep_chooses_the_deal_of_a_waiting_thread_from_the_queue(page, dovecot, alice):
    AllauthEmail.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    ann = crm.contact_save(
        contact=Contact(first_name="Ann", owner=alice), actor=alice, emails=["ann@acme.com"]
    )
    account = mailbox(dovecot, alice)
    renewal, upgrade = (
        DealFactory(owner=alice, name="Renewal"),
        DealFactory(owner=alice, name="Upgrade"),
    )
    renewal.contacts.add(ann)
    upgrade.contacts.add(ann)
    message = sync(
        dovecot,
        account,
        sender="Ann <ann@acme.com>",
        subject="Which contract?",
        message_id="<bq@acme.com>",
    )

    sign_in(page, "alice@ourco.example")
    page.get_by_role("link", name="Deals to choose 1").click()
    page.wait_for_url("**/mail/deals-to-choose/")
    row = page.locator(f"#choose-{message.thread_id}")
    assert "Which contract?" in row.inner_text() and "ann@acme.com" in row.inner_text()
    row.get_by_label("Deal").select_option(label="Upgrade")
    row.get_by_role("button", name="Choose").click()
    page.wait_for_url("**/mail/deals-to-choose/")
    assert "The thread is on Upgrade" in page.content()
    assert "No thread is waiting for a deal." in page.content()
    assert page.get_by_role("link", name="Deals to choose").count() == 0

    assert ThreadDealChoice.objects.get(thread=message.thread).deal == upgrade
    page.goto(upgrade.get_absolute_url())
    assert "Which contract?" in page.locator("section.mail").inner_text()
