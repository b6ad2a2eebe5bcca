"""Browser tests: Playwright driving Debian's Chromium (never a downloaded browser) against
pytest-django's live server."""

import os
import shutil

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    # The machines have no internet: without these Chromium keeps trying to reach Google.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Playwright's sync API runs an event loop in this thread; Django then refuses ORM calls from
# it unless told that this is deliberate. The live server thread is unaffected.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make test` as root to install it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def pipeline_stages(transactional_db):
    """Live-server tests empty the tables after each test, the stages from the data migration
    too; put them back. (serialized_rollback cannot be relied on here: once Playwright runs an
    event loop in this thread, Django hands out a new connection without the serialized copy.)"""
    from importlib import import_module

    from crm.models import Stage

    defaults = import_module("crm.migrations.0002_groups_and_stages").STAGES
    for position, (name, probability) in enumerate(defaults):
        Stage.objects.get_or_create(
            name=name, defaults={"position": position, "probability": probability}
        )


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def sign_in(page, email: str, password: str = "password"):
    page.goto("/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
