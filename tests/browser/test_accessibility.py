"""axe-core and pa11y (HTML_CodeSniffer) on the pages that show a cart or an order.

They include search results in a category and a product page with its pictures.

pa11y comes from npm (package.json; ``PUPPETEER_SKIP_DOWNLOAD=1 npm ci``);
pa11y_page.js runs it in Debian's Chromium, as Playwright does, with the tab's
cookies. The pages are checked in the
state a shopper sees them: a cart with items, a payment processing, then paid.
Screenshots at 320, 768 and 1280 px go to artifacts/screenshots/ for a person
to look at.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from .conftest import CHROMIUM, SCREENSHOTS
from .test_shopping import (
    add_to_cart,
    cart_count,
    pay_on_hosted_page,
    session_id_of,
)

pytestmark = pytest.mark.browser

PA11Y = Path(__file__).resolve().parents[2] / "node_modules" / "pa11y"
PA11Y_PAGE = Path(__file__).with_name("pa11y_page.js")
WIDTHS = (320, 768, 1280)


@pytest.fixture(scope="session")
def pa11y_folder(tmp_path_factory) -> Path:
    if shutil.which("node") is None or not PA11Y.exists():
        pytest.skip("no pa11y: PUPPETEER_SKIP_DOWNLOAD=1 npm ci")
    return tmp_path_factory.mktemp("pa11y")


def pa11y_errors(page: Page, folder: Path) -> list[str]:
    """Return pa11y's errors on the page's URL, seen with the tab's cookies."""
    cookies = folder / "cookies.json"
    cookies.write_text(json.dumps(page.context.cookies()))
    completed = subprocess.run(
        ["node", PA11Y_PAGE, page.url, CHROMIUM, cookies],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr.decode()
    return [
        f"{page.url} {issue['code']}: {issue['message']} at {issue['selector']}"
        for issue in json.loads(completed.stdout)
        if issue["type"] == "error"
    ]


def axe_violations(page: Page) -> list[str]:
    """Return every axe-core violation on the page, whatever its impact."""
    return [
        f"{page.url} {violation['id']} ({violation['impact']}): {violation['help']}"
        f" at {[node['target'] for node in violation['nodes']]}"
        for violation in Axe().run(page).response["violations"]
    ]


def check(page: Page, folder: Path, state: str) -> list[str]:
    """Check the page with axe and pa11y; save its screenshots at every width."""
    found = axe_violations(page) + pa11y_errors(page, folder)
    size = page.viewport_size
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        found += axe_violations(page) if width == WIDTHS[0] else []
        page.screenshot(
            path=SCREENSHOTS / f"a11y-{state}-{width}.png",
            full_page=True,
            caret="initial",
        )
    page.set_viewport_size(size)
    return found


def test_cart_search_product_and_success_pages_have_no_axe_or_pa11y_errors(
    page, shop_url, stripe_double, pa11y_folder, settings
):
    settings.SERVE_MEDIA = True  # the product pictures, as in development
    page.goto(f"{shop_url}/")
    add_to_cart(page, "Laptop")
    add_to_cart(page, "Mouse", quantity=3)
    cart_count(page).to_have_text("items: 4")
    found = check(page, pa11y_folder, "home-with-cart")
    page.goto(f"{shop_url}/cart/")
    found += check(page, pa11y_folder, "cart")
    # A whole word: PostgreSQL matches words and their prefixes, SQLite any part.
    page.goto(f"{shop_url}/?q=quiet&category=accessories")
    expect(page.locator(".product__name")).to_have_text(["Mouse"])
    found += check(page, pa11y_folder, "search-results")
    page.goto(f"{shop_url}/products/laptop/")
    expect(page.get_by_role("img", name="Drawing of the laptop")).to_be_visible()
    found += check(page, pa11y_folder, "product")

    pay_on_hosted_page(page, stripe_double, "Pay by bank debit (settles later)")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text("Your payment is processing")
    found += check(page, pa11y_folder, "success-processing")
    page.goto(f"{shop_url}/cart/")
    expect(page.get_by_role("link", name="See order")).to_be_visible()
    found += check(page, pa11y_folder, "cart-processing")

    page.go_back()
    stripe_double.settle(session_id_of(page))
    expect(heading).to_have_text("Thank you! Your order is paid.")
    expect(page.get_by_role("status")).to_contain_text("is paid.")
    found += check(page, pa11y_folder, "success-paid")
    page.goto(f"{shop_url}/")
    found += check(page, pa11y_folder, "home-with-orders")

    assert found == [], "\n".join(found)
