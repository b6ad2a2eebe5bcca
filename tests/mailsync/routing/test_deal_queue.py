"""The "choose a deal" queue: threads whose contacts have several open deals wait for a rep, who
finds them on one page (counted in the top bar) and chooses the deal right there. Each viewer
sees only the waiting threads they may see. Real mail, synced from Dovecot."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm import services as crm
from crm.models import Contact
from mailsync.models import Message, Thread, ThreadDealChoice
from mailsync.selectors.deal_queue import deal_choices_waiting_count
from mailsync.sync.run import account_sync
from tests.factories import DealFactory
from tests.support.mail import mailbox, make_message

pytestmark = pytest.mark.django_db

QUEUE = "/mail/deals-to-choose/"


def sync(dovecot, account, **kwargs) -> Message:
    dovecot.append(account.login, "INBOX", make_message(**kwargs))
    result = account_sync(account=account)
    assert result.error is None, result
    return Message.objects.get(message_id=kwargs["message_id"].strip("<>"))


def two_open_deals(contact, owner, names):
    deals = [DealFactory(owner=owner, name=name) for name in names]
    for deal in deals:
        deal.contacts.add(contact)
    return deals


@pytest.fixture
def alices_thread(dovecot, alice, ann):
    """Ann has two open deals with Alice: Ann's mail waits for Alice to choose one."""
    account = mailbox(dovecot, alice)
    renewal, upgrade = two_open_deals(ann, alice, ["Renewal", "Upgrade"])
    message = sync(
        dovecot,
        account,
        subject="Which contract?",
        sender="Ann <ann@acme.com>",
        to=account.email,
        message_id="<queue-a@acme.com>",
    )
    choice = ThreadDealChoice.objects.get(thread=message.thread)
    assert choice.deal is None and sorted(choice.candidates) == sorted([renewal.pk, upgrade.pk])
    return message, account, renewal, upgrade


@pytest.fixture
def charlies_thread(dovecot, charlie):
    """Carl has two open deals with Charlie (another team): his mail waits for Charlie."""
    account = mailbox(dovecot, charlie)
    carl = crm.contact_save(
        contact=Contact(first_name="Carl", owner=charlie),
        actor=charlie,
        emails=["carl@globex.example"],
    )
    two_open_deals(carl, charlie, ["Globex one", "Globex two"])
    message = sync(
        dovecot,
        account,
        subject="Globex question",
        sender="Carl <carl@globex.example>",
        to=account.email,
        message_id="<queue-c@globex.example>",
    )
    assert ThreadDealChoice.objects.filter(thread=message.thread, deal=None).exists()
    return message


def test_the_queue_lists_alices_waiting_thread_and_not_charlies(
    client, alices_thread, charlies_thread, alice, charlie
):
    message, _account, renewal, upgrade = alices_thread
    client.force_login(alice)
    page = client.get(QUEUE)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Which contract?" in text and "ann@acme.com" in text
    assert f'action="/mail/threads/{message.thread_id}/deal/"' in text
    assert "Renewal" in text and "Upgrade" in text
    assert f'href="/mail/messages/{message.pk}/"' in text
    assert "Globex" not in text and "carl@globex.example" not in text

    client.force_login(charlie)
    text = client.get(QUEUE).content.decode()
    assert "Globex question" in text
    assert "Which contract?" not in text and "Renewal" not in text and "ann@acme.com" not in text


def test_choosing_from_the_queue_puts_the_thread_on_the_deal_and_empties_the_queue(
    client, alices_thread, alice
):
    message, _account, renewal, upgrade = alices_thread
    client.force_login(alice)
    response = client.post(
        f"/mail/threads/{message.thread_id}/deal/", {"deal": upgrade.pk, "next": QUEUE}
    )
    assert response.status_code == 302 and response["Location"] == QUEUE
    assert message.links.filter(deal=upgrade, origin="chosen", created_by=alice).exists()
    assert not message.links.filter(deal=renewal).exists()
    page = client.get(QUEUE).content.decode()
    assert "The thread is on Upgrade" in page
    assert "No thread is waiting for a deal." in page and "Which contract?" not in page
    assert deal_choices_waiting_count(user=alice) == 0


def test_the_top_bar_counts_waiting_threads_and_shows_nothing_when_there_are_none(
    client, dovecot, alice, ann
):
    client.force_login(alice)
    assert "Deals to choose" not in client.get("/").content.decode()

    account = mailbox(dovecot, alice)
    renewal, _upgrade = two_open_deals(ann, alice, ["Renewal", "Upgrade"])
    first = sync(
        dovecot, account, sender="ann@acme.com", subject="One", message_id="<tb1@acme.com>"
    )
    sync(dovecot, account, sender="ann@acme.com", subject="Two", message_id="<tb2@acme.com>")
    home = client.get("/").content.decode()
    assert (
        f'<a href="{QUEUE}" class="deals-to-choose">Deals to choose <span class="badge">2</span>'
        in home
    )

    client.post(f"/mail/threads/{first.thread_id}/deal/", {"deal": renewal.pk})
    assert 'Deals to choose <span class="badge">1</span>' in client.get("/").content.decode()
    second = Message.objects.get(message_id="tb2@acme.com")
    client.post(f"/mail/threads/{second.thread_id}/deal/", {"deal": renewal.pk})
    assert "Deals to choose" not in client.get("/").content.decode()


def test_charlie_can_neither_see_nor_choose_alices_waiting_thread(client, alices_thread, charlie):
    message, _account, renewal, _upgrade = alices_thread
    client.force_login(charlie)
    assert "Which contract?" not in client.get(QUEUE).content.decode()
    assert "Deals to choose" not in client.get("/").content.decode()
    assert deal_choices_waiting_count(user=charlie) == 0
    response = client.post(
        f"/mail/threads/{message.thread_id}/deal/", {"deal": renewal.pk, "next": QUEUE}
    )
    assert response.status_code == 404
    assert ThreadDealChoice.objects.get(thread=message.thread).deal is None
    assert not message.links.filter(deal=renewal).exists()


def test_a_teammate_sees_what_the_mailbox_shares_and_nothing_of_a_private_thread(
    client, dovecot, alice, bob, ann
):
    account = mailbox(dovecot, alice, sharing="metadata")
    two_open_deals(ann, alice, ["Renewal", "Upgrade"])
    message = sync(
        dovecot, account, sender="ann@acme.com", subject="Secret-ish", message_id="<tm@acme.com>"
    )
    client.force_login(bob)
    text = client.get(QUEUE).content.decode()
    assert f"/mail/threads/{message.thread_id}/deal/" in text  # he may choose for the team
    assert "(private)" in text and "Secret-ish" not in text
    assert "ann@acme.com" in text and "Renewal" in text

    Thread.objects.filter(pk=message.thread_id).update(visibility="private")
    text = client.get(QUEUE).content.decode()
    assert f"/mail/threads/{message.thread_id}/deal/" not in text
    assert deal_choices_waiting_count(user=bob) == 0
    client.force_login(alice)  # her own mail: always all of it
    assert "Secret-ish" in client.get(QUEUE).content.decode()


def test_the_top_bar_count_is_one_query(alices_thread, alice, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert deal_choices_waiting_count(user=alice) == 1


def test_the_queue_page_costs_the_same_queries_for_1_or_10_threads(
    client, dovecot, alices_thread, alice, django_assert_max_num_queries
):
    _message, account, _renewal, _upgrade = alices_thread
    client.force_login(alice)
    with CaptureQueriesContext(connection) as one:
        assert client.get(QUEUE).status_code == 200
    for n in range(9):
        dovecot.append(
            account.login,
            "INBOX",
            make_message(
                sender="Ann <ann@acme.com>",
                cc=[f"colleague{n}@acme.com"],
                subject=f"Question {n}",
                message_id=f"<many{n}@acme.com>",
            ),
        )
    assert account_sync(account=account).error is None
    assert deal_choices_waiting_count(user=alice) == 10
    with django_assert_max_num_queries(len(one)):
        text = client.get(QUEUE).content.decode()
    assert "Question 8" in text and "colleague8@acme.com" in text
