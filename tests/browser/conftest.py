from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from payments.stripe_double import DEFAULT_API_KEY, DEFAULT_WEBHOOK_SECRET, StripeDouble

CHROMIUM = Path(os.environ.get("SHOP_CHROMIUM", "/usr/bin/chromium"))
# Root in a container, no network but loopback: nothing in the background.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORTS = {
    "phone": {"width": 390, "height": 844},
    "desktop": {"width": 1280, "height": 800},
}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def browser(django_db_setup) -> Iterator[Browser]:
    """Debian's Chromium, started once; the test database exists before it."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    with pytest.MonkeyPatch.context() as patch:
        # Playwright's sync API keeps an event loop running on this thread, and
        # Django then refuses ORM calls from it unless told they are safe.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()


@pytest.fixture
def stripe_double(stripe_double_server: StripeDouble, live_server, settings):
    """The Stripe double, reset, delivering its webhooks to the live shop."""
    stripe_double_server.reset()
    stripe_double_server.webhook_url = f"{live_server.url}/stripe/webhook/"
    settings.STRIPE_SECRET_KEY = DEFAULT_API_KEY
    settings.STRIPE_WEBHOOK_SECRET = DEFAULT_WEBHOOK_SECRET
    settings.STRIPE_API_BASE = stripe_double_server.url
    yield stripe_double_server
    stripe_double_server.webhook_url = None


@pytest.fixture
def shop_url(live_server, stripe_double: StripeDouble) -> str:
    """The shop on a free port, with the demo products and the Stripe double."""
    call_command("seed_products", stdout=io.StringIO())
    return live_server.url


def new_page(browser: Browser, **options) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORTS["desktop"], **options)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser tab with JavaScript on and its own cookies."""
    yield from new_page(browser)


@pytest.fixture
def page_without_javascript(browser: Browser) -> Iterator[Page]:
    """A fresh browser tab with JavaScript off, as some shoppers browse."""
    yield from new_page(browser, java_script_enabled=False)


@pytest.fixture
def console_errors(page: Page, live_server) -> list[str]:
    """Collect the shop's console errors and uncaught exceptions in the tab.

    Errors from other origins (the Stripe double's hosted page) are not the
    shop's.
    """
    errors: list[str] = []

    def record(message: ConsoleMessage) -> None:
        url = message.location.get("url", "")
        if message.type == "error" and (not url or url.startswith(live_server.url)):
            errors.append(f"{url}: {message.text}")

    page.on("console", record)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    """Save a full-page screenshot named for the state and the viewport's width."""

    def save(page: Page, state: str) -> Path:
        width = page.viewport_size["width"]
        name = next(k for k, v in VIEWPORTS.items() if v["width"] == width)
        path = SCREENSHOTS / f"{state}-{name}.png"
        # caret="initial": hiding the caret takes an inline style, which the
        # shop's Content-Security-Policy blocks (and reports as a console error).
        page.screenshot(path=path, full_page=True, caret="initial")
        return path

    return save
