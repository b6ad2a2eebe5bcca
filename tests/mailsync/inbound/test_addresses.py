"""BCC addresses: one per rep (and per deal, on demand), random, shown on the mailbox page with a
copy button, in mail_status --json, and rotatable: the old one stops working at once."""

import io
import json
import re

import pytest
from django.core.management import call_command

from mailsync.inbound.addresses import (
    bcc_address_for,
    bcc_address_rotate,
    deal_address_for,
    inbound_address_find,
)
from mailsync.models import InboundAddress
from tests.factories import DealFactory, MailAccountFactory

pytestmark = pytest.mark.django_db


def test_each_rep_has_one_unguessable_address(alice, bob):
    first = bcc_address_for(user=alice)

    assert bcc_address_for(user=alice) == first  # the same one each time
    assert re.fullmatch(r"[a-z2-7]{20}@bcc\.crm\.test", first.address)  # 96 random bits
    assert bcc_address_for(user=bob).address != first.address
    assert alice.email.split("@")[0] not in first.address  # nothing of the rep in it


def test_an_address_is_found_whatever_its_case_and_tag(alice):
    address = bcc_address_for(user=alice)
    local = address.local_part

    assert inbound_address_find(f"{local.upper()}@BCC.CRM.TEST") == address
    assert inbound_address_find(f"<{local}+acme@bcc.crm.test>") == address
    assert inbound_address_find(f"{local}@elsewhere.example") is None
    assert inbound_address_find("nobody@bcc.crm.test") is None
    assert inbound_address_find("") is None


def test_rotating_retires_the_old_address_at_once(alice_client, alice):
    old = bcc_address_for(user=alice)

    response = alice_client.post("/mailbox/bcc/rotate/")

    assert response.status_code == 302
    new = bcc_address_for(user=alice)
    assert new.address != old.address
    assert inbound_address_find(old.address) is None
    assert inbound_address_find(new.address) == new
    old.refresh_from_db()
    assert not old.active and old.retired_at is not None
    page = alice_client.get("/mailbox/").content.decode()
    assert new.address in page and "The old one no longer works" in page


def test_a_deal_gets_its_own_address_on_demand(alice):
    deal = DealFactory(owner=alice)
    assert not InboundAddress.objects.filter(deal=deal).exists()

    address = deal_address_for(deal=deal)

    assert address.deal == deal and address.user is None
    assert deal_address_for(deal=deal) == address
    assert address.address != bcc_address_for(user=alice).address


@pytest.mark.parametrize("connected", [False, True])
def test_the_mailbox_page_shows_the_address_with_a_copy_button(alice_client, alice, connected):
    if connected:
        MailAccountFactory(user=alice)

    page = alice_client.get("/mailbox/").content.decode()

    address = bcc_address_for(user=alice).address
    assert f'<code id="bcc-address">{address}</code>' in page
    assert 'data-copy="#bcc-address"' in page
    assert "Bcc" in page and "forward" in page


def test_without_an_inbound_domain_there_is_no_address(alice_client, alice, settings):
    settings.MAILSYNC_BCC_DOMAIN = ""

    assert bcc_address_for(user=alice) is None
    assert bcc_address_rotate(user=alice) is None
    assert (
        "BCC addresses are not set up on this CRM" in alice_client.get("/mailbox/").content.decode()
    )


def test_mail_status_json_has_the_bcc_address(alice):
    MailAccountFactory(user=alice)
    out = io.StringIO()

    call_command("mail_status", alice.username, "--json", stdout=out)

    assert json.loads(out.getvalue())["bcc_address"] == bcc_address_for(user=alice).address


def test_a_deal_address_is_created_from_the_deal_page(alice_client, alice):
    deal = DealFactory(owner=alice)
    page = alice_client.get(deal.get_absolute_url()).content.decode()
    assert "Create an address for this deal" in page
    assert not InboundAddress.objects.filter(deal=deal).exists()

    response = alice_client.post(f"/mail/deals/{deal.pk}/address/")

    assert response.status_code == 302 and response["Location"] == deal.get_absolute_url()
    address = InboundAddress.objects.get(deal=deal)
    page = alice_client.get(deal.get_absolute_url()).content.decode()
    assert f'<code id="deal-address">{address.address}</code>' in page
    assert "now goes onto this deal" in page


def test_another_team_cannot_give_a_deal_an_address(client, alice, charlie):
    deal = DealFactory(owner=alice)
    client.force_login(charlie)

    response = client.post(f"/mail/deals/{deal.pk}/address/")

    assert response.status_code == 404
    assert not InboundAddress.objects.filter(deal=deal).exists()
