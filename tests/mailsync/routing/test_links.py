"""Synced mail lands on the records it concerns, as users hit it: removed links stay removed,
several open deals wait for a choice, a new address brings its mail along."""

import pytest

from crm import services as crm
from crm.models import Company, Contact, Deal, Lead
from mailsync.models import LinkRemoval, Message, MessageLink, ThreadDealChoice
from mailsync.routing import links
from tests.factories import DealFactory
from tests.support.mail import deliver

pytestmark = pytest.mark.django_db


def records_of(message):
    return {link.record for link in message.links.all()}


def test_mail_lands_on_the_contact_its_company_and_its_only_open_deal(
    dovecot, mail_user, account, ann, alice
):
    deal = DealFactory(owner=alice, name="Renewal")
    deal.contacts.add(ann)
    message = deliver(
        dovecot, mail_user, account, sender="Ann <Ann@Acme.com>", message_id="<m1@acme.com>"
    )
    assert records_of(message) == {ann, ann.company, deal}
    origins = {link.record: link.origin for link in message.links.all()}
    assert origins[deal] == "deal" and origins[ann] == "address"


def test_a_removed_link_stays_removed_when_a_reply_arrives(dovecot, mail_user, account, ann, alice):
    deal = DealFactory(owner=alice)
    deal.contacts.add(ann)
    first = deliver(dovecot, mail_user, account, sender="ann@acme.com", message_id="<t1@acme.com>")
    assert deal in records_of(first)

    links.thread_remove_from_record(thread=first.thread, record=deal, user=alice)
    assert deal not in records_of(first)

    reply = deliver(
        dovecot,
        mail_user,
        account,
        sender="ann@acme.com",
        subject="Re: Hello",
        message_id="<t2@acme.com>",
        in_reply_to="<t1@acme.com>",
    )
    assert reply.thread == first.thread
    assert deal not in records_of(reply)  # the known bug of other CRMs: not here
    assert ann in records_of(reply)

    links.thread_add_to_record(thread=first.thread, record=deal, user=alice)
    assert not LinkRemoval.objects.exists()
    assert deal in records_of(first) and deal in records_of(reply)
    later = deliver(
        dovecot,
        mail_user,
        account,
        sender="ann@acme.com",
        subject="Re: Hello",
        message_id="<t3@acme.com>",
        in_reply_to="<t2@acme.com>",
    )
    assert deal in records_of(later)


def test_several_open_deals_wait_for_a_choice_that_holds_for_the_thread(
    dovecot, mail_user, account, ann, alice
):
    one, two = DealFactory(owner=alice, name="One"), DealFactory(owner=alice, name="Two")
    one.contacts.add(ann)
    two.contacts.add(ann)
    first = deliver(dovecot, mail_user, account, sender="ann@acme.com", message_id="<q1@acme.com>")
    assert not any(isinstance(r, Deal) for r in records_of(first))
    choice = ThreadDealChoice.objects.get(thread=first.thread)
    assert sorted(choice.candidates) == sorted([one.pk, two.pk]) and choice.deal is None

    links.thread_choose_deal(thread=first.thread, deal=two, user=alice)
    assert two in records_of(first)
    reply = deliver(
        dovecot,
        mail_user,
        account,
        sender="ann@acme.com",
        message_id="<q2@acme.com>",
        in_reply_to="<q1@acme.com>",
    )
    assert two in records_of(reply) and one not in records_of(reply)


def test_won_or_lost_deals_stop_collecting_new_mail(dovecot, mail_user, account, ann, alice):
    deal = DealFactory(owner=alice)
    deal.contacts.add(ann)
    first = deliver(dovecot, mail_user, account, sender="ann@acme.com", message_id="<w1@acme.com>")
    crm.deal_close(deal=deal, actor=alice, won=True)
    reply = deliver(
        dovecot,
        mail_user,
        account,
        sender="ann@acme.com",
        message_id="<w2@acme.com>",
        in_reply_to="<w1@acme.com>",
    )
    assert deal in records_of(first) and deal not in records_of(reply)


def reply_to(dovecot, mail_user, account, previous, message_id):
    return deliver(
        dovecot,
        mail_user,
        account,
        sender="ann@acme.com",
        subject="Re: Hello",
        message_id=message_id,
        in_reply_to=f"<{previous.message_id}>",
    )


def test_a_chosen_deal_that_is_won_stops_collecting_and_the_only_open_deal_takes_over(
    dovecot, mail_user, account, ann, alice
):
    one, two = DealFactory(owner=alice, name="One"), DealFactory(owner=alice, name="Two")
    one.contacts.add(ann)
    two.contacts.add(ann)
    first = deliver(dovecot, mail_user, account, sender="ann@acme.com", message_id="<c1@acme.com>")
    links.thread_choose_deal(thread=first.thread, deal=two, user=alice)
    second = reply_to(dovecot, mail_user, account, first, "<c2@acme.com>")
    assert two in records_of(second)

    crm.deal_close(deal=two, actor=alice, won=True)
    third = reply_to(dovecot, mail_user, account, second, "<c3@acme.com>")

    assert two not in records_of(third)  # the won deal collects nothing new
    assert two in records_of(first) and two in records_of(second)  # what it had stays
    # Ann's only open deal now: the same rule as for a thread that was on a deal won meanwhile.
    assert one in records_of(third) and third.links.get(deal=one).origin == "deal"
    assert ann in records_of(third)


def test_a_chosen_deal_that_is_lost_sends_the_thread_back_to_the_queue(
    dovecot, mail_user, account, ann, alice
):
    one, two, three = (DealFactory(owner=alice, name=name) for name in ("One", "Two", "Three"))
    for deal in (one, two, three):
        deal.contacts.add(ann)
    first = deliver(dovecot, mail_user, account, sender="ann@acme.com", message_id="<l1@acme.com>")
    links.thread_choose_deal(thread=first.thread, deal=three, user=alice)

    crm.deal_close(deal=three, actor=alice, won=False, reason="Budget")
    assert ThreadDealChoice.objects.get(thread=first.thread).deal == three  # no mail: no question
    reply = reply_to(dovecot, mail_user, account, first, "<l2@acme.com>")

    assert not any(isinstance(r, Deal) for r in records_of(reply))
    assert three in records_of(first)
    choice = ThreadDealChoice.objects.get(thread=first.thread)
    assert choice.deal is None and sorted(choice.candidates) == sorted([one.pk, two.pk])


def test_a_chosen_deal_reopened_collects_the_thread_again(dovecot, mail_user, account, ann, alice):
    one, two = DealFactory(owner=alice, name="One"), DealFactory(owner=alice, name="Two")
    one.contacts.add(ann)
    two.contacts.add(ann)
    first = deliver(dovecot, mail_user, account, sender="ann@acme.com", message_id="<o1@acme.com>")
    links.thread_choose_deal(thread=first.thread, deal=two, user=alice)
    crm.deal_close(deal=two, actor=alice, won=False)
    crm.deal_reopen(deal=two, actor=alice)

    reply = reply_to(dovecot, mail_user, account, first, "<o2@acme.com>")

    assert two in records_of(reply) and one not in records_of(reply)


def test_adding_an_address_links_its_existing_mail_at_once(
    dovecot, mail_user, account, alice, django_capture_on_commit_callbacks
):
    message = deliver(
        dovecot, mail_user, account, sender="zoe@newco.example", message_id="<z1@newco.example>"
    )
    assert not message.links.exists()
    with django_capture_on_commit_callbacks(execute=True):
        lead = crm.lead_save(
            lead=Lead(first_name="Zoe", owner=alice), actor=alice, emails=["Zoe@NewCo.example"]
        )
    assert records_of(message) == {lead}


def test_free_mail_teammates_and_other_teams_are_left_out(
    dovecot, mail_user, account, alice, bob, charlie
):
    crm.company_save(
        company=Company(name="Google?", owner=alice), actor=alice, domains=["gmail.com"]
    )
    theirs = crm.contact_save(
        contact=Contact(first_name="Kim", owner=charlie), actor=charlie, emails=["kim@kim.example"]
    )
    message = deliver(
        dovecot,
        mail_user,
        account,
        sender="someone@gmail.com",
        to=["bob@ourco.example", "kim@kim.example"],
        message_id="<f1@gmail.com>",
    )
    assert records_of(message) == set()
    assert not MessageLink.objects.filter(contact=theirs).exists()


def test_one_message_can_be_taken_off_a_record_without_its_thread(
    dovecot, mail_user, account, ann, alice
):
    deal = DealFactory(owner=alice)
    deal.contacts.add(ann)
    first = deliver(dovecot, mail_user, account, sender="ann@acme.com", message_id="<s1@acme.com>")
    second = deliver(
        dovecot,
        mail_user,
        account,
        sender="ann@acme.com",
        message_id="<s2@acme.com>",
        in_reply_to="<s1@acme.com>",
    )
    links.message_remove_from_record(message=first, record=deal, user=alice)
    assert deal not in records_of(first) and deal in records_of(second)
    # Linking again (as after a block is lifted, or an address added) leaves it off.
    links.messages_link(account=account, messages=[first, second])
    assert deal not in records_of(first)
    later = deliver(
        dovecot,
        mail_user,
        account,
        sender="ann@acme.com",
        message_id="<s3@acme.com>",
        in_reply_to="<s2@acme.com>",
    )
    assert deal in records_of(later)  # only that one message was removed
    links.message_add_to_record(message=first, record=deal, user=alice)
    assert deal in records_of(first)
    assert first.links.get(deal=deal).origin == "manual"


def test_the_message_page_removes_and_adds_one_message(
    dovecot, mail_user, account, ann, alice, client
):
    message = deliver(
        dovecot, mail_user, account, sender="ann@acme.com", message_id="<p1@acme.com>"
    )
    client.force_login(alice)
    client.post(f"/mail/messages/{message.pk}/remove/", {"record": f"contact:{ann.pk}"})
    assert ann not in records_of(message)
    client.post(f"/mail/messages/{message.pk}/add/", {"record": f"contact:{ann.pk}"})
    assert ann in records_of(message)


def test_the_record_page_removes_one_message_of_a_thread(
    dovecot, mail_user, account, ann, alice, client
):
    first = deliver(dovecot, mail_user, account, sender="ann@acme.com", message_id="<rp1@acme.com>")
    deliver(
        dovecot,
        mail_user,
        account,
        sender="ann@acme.com",
        message_id="<rp2@acme.com>",
        in_reply_to="<rp1@acme.com>",
    )
    client.force_login(alice)
    page = client.get(ann.get_absolute_url()).content.decode()
    assert f"/mail/messages/{first.pk}/remove/" in page
    client.post(f"/mail/messages/{first.pk}/remove/", {"record": f"contact:{ann.pk}"})
    assert ann not in records_of(first)
    assert Message.objects.get(message_id="rp2@acme.com").links.filter(contact=ann).exists()
