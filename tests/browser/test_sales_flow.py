"""A rep's day in a real browser: sign in, create a lead, convert it, move the deal on the
board, and read the app in Italian."""

import pytest
from allauth.account.models import EmailAddress as AllauthEmail

from crm.models import Deal, Lead, Stage
from tests.browser.conftest import sign_in

# serialized_rollback: the pipeline stages come from a data migration, which a flush would erase.
pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.browser,
]


@pytest.fixture
def alice_verified(alice):
    AllauthEmail.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    return alice


def test_a_rep_signs_in_creates_and_converts_a_lead_and_moves_the_deal(page, alice_verified):
    sign_in(page, "alice@ourco.example")
    assert page.locator("h1").inner_text() == "Hello, Alice"

    page.get_by_role("link", name="New lead").first.click()
    page.fill("#id_first_name", "Giulia")
    page.fill("#id_last_name", "Bianchi")
    page.fill("#id_company_name", "Trattoria Da Mario")
    page.fill("#id_emails_text", "Giulia.Bianchi@Trattoria.example\nbad@")
    page.get_by_role("button", name="Save").click()
    # The bad address is named, and what was typed is kept.
    assert "“bad@” is not a valid email address." in page.content()
    assert page.input_value("#id_first_name") == "Giulia"
    page.fill("#id_emails_text", "Giulia.Bianchi@Trattoria.example")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/leads/*/")
    assert "giulia.bianchi@trattoria.example" in page.content()  # stored normalised
    lead = Lead.objects.get(last_name="Bianchi")

    page.get_by_role("link", name="Convert").click()
    page.fill("#id_deal_name", "Trattoria: table booking")
    page.fill("#id_deal_value", "4800")
    page.get_by_role("button", name="Convert").click()
    page.wait_for_url("**/deals/*/")
    deal = Deal.objects.get(name="Trattoria: table booking")
    lead.refresh_from_db()
    assert lead.is_converted and lead.converted_deal == deal
    assert deal.contacts.get().emails.get().address == "giulia.bianchi@trattoria.example"

    page.get_by_role("link", name="Pipeline").click()
    first, second = Stage.objects.order_by("position")[:2]
    card = page.locator(f"#deal-{deal.pk}")
    assert card.locator("xpath=ancestor::section").get_attribute("data-stage") == str(first.pk)
    card.locator("select[name=stage]").select_option(str(second.pk))
    card.get_by_role("button", name="Move").click()
    moved = page.locator(f"section[data-stage='{second.pk}'] #deal-{deal.pk}")
    moved.wait_for()
    deal.refresh_from_db()
    assert deal.stage == second
    assert "moved the deal from" in page.goto(deal.get_absolute_url()).text()


def test_dragging_a_card_to_another_column_moves_the_deal(page, alice_verified):
    from tests.factories import DealFactory

    deal = DealFactory(owner=alice_verified, name="Drag me")
    last = Stage.objects.order_by("position").last()
    sign_in(page, "alice@ourco.example")
    page.goto("/deals/board/")
    page.drag_and_drop(f"#deal-{deal.pk}", f"section[data-stage='{last.pk}']")
    page.locator(f"section[data-stage='{last.pk}'] #deal-{deal.pk}").wait_for()
    deal.refresh_from_db()
    assert deal.stage == last


def test_switching_to_italian_shows_italian_labels(page, alice_verified):
    sign_in(page, "alice@ourco.example")
    page.select_option("#language", "it")
    page.wait_for_load_state()
    page.get_by_role("link", name="Contatti").wait_for()
    nav = page.locator("nav.mainnav").inner_text()
    for label in ("Bacheca", "Contatti", "Aziende", "Trattative", "Attività"):
        assert label in nav
    page.goto("/leads/new/")
    assert page.locator("label[for=id_first_name]").inner_text().startswith("Nome")
    assert page.get_by_role("button", name="Salva").is_visible()
    page.goto("/no-such-page/")
    assert "Pagina non trovata" in page.content()


def test_the_board_fits_a_phone_screen(page, alice_verified):
    sign_in(page, "alice@ourco.example")
    page.set_viewport_size({"width": 390, "height": 800})
    for url in ("/", "/deals/board/", "/contacts/", "/leads/new/"):
        page.goto(url)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{url} is {width}px wide on a 390px screen"
