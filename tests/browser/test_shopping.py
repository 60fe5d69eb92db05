"""A shopper's journeys in a real Chromium, with JavaScript on and off."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from payments.models import Order
from payments.stripe_double import StripeDouble

from .conftest import VIEWPORTS

pytestmark = pytest.mark.browser

SERIOUS = {"serious", "critical"}


def track_navigations(page: Page) -> list[str]:
    """Return a list that fills with every URL the tab's main frame loads."""
    urls: list[str] = []
    page.on(
        "framenavigated",
        lambda frame: urls.append(frame.url) if frame == page.main_frame else None,
    )
    return urls


def add_to_cart(page: Page, product: str, quantity: int = 1) -> None:
    card = page.locator(".product").filter(
        has=page.get_by_role("heading", name=product, exact=True)
    )
    card.get_by_label("Quantity").fill(str(quantity))
    card.get_by_role("button", name=f"Add {product} to cart").click()


def set_quantity(page: Page, product: str, quantity: str) -> None:
    page.get_by_label(f"Quantity of {product}").fill(quantity)
    page.get_by_role("button", name=f"Update {product}").click()


def remove_from_cart(page: Page, product: str) -> None:
    page.get_by_role("button", name=f"Remove {product}").click()


def cart_count(page: Page):
    return expect(page.locator("#cart-count"))


def cart_message(page: Page):
    return expect(page.locator("#status .message"))


def session_id_of(page: Page) -> str:
    return parse_qs(urlsplit(page.url).query)["session_id"][0]


def fill_shipping_details(page: Page) -> None:
    """Fill in what the hosted page asks of a cart that ships: address, phone."""
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Address line 1").fill("1 Main St")
    page.get_by_label("City").fill("Springfield")
    page.get_by_label("Postal code").fill("97477")
    page.get_by_label("Phone number").fill("+15555550100")


def pay_on_hosted_page(page: Page, double: StripeDouble, button: str) -> None:
    page.get_by_role("button", name="Checkout").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(double.url)}/c/pay/cs_"))
    fill_shipping_details(page)
    page.get_by_role("button", name=button, exact=True).click()
    expect(page).to_have_url(re.compile(r"/checkout/success/\?session_id=cs_"))


def expect_paid_order_on_home_page(
    page: Page,
    shop_url: str,
    items: tuple[str, ...] = ("3 × Mouse at $29.99",),
    total_cents: int = 8997 + 500,  # standard shipping under $100
) -> None:
    page.goto(f"{shop_url}/")
    orders = page.get_by_role("region", name="Your orders")
    expect(orders.locator(".status")).to_have_text("Status: Paid")
    expect(orders.get_by_role("listitem")).to_have_text(list(items))
    expect(page.locator("#cart")).to_contain_text("Your cart is empty.")
    cart_count(page).to_have_text("items: 0")
    order = Order.objects.get()
    assert (order.status, order.total_cents) == (Order.Status.PAID, total_cents)


def serious_violations(page: Page) -> list[str]:
    """Return axe-core's serious and critical findings on the page."""
    results = Axe().run(page)
    return [
        f"{page.url} {violation['id']} ({violation['impact']}): {violation['help']}"
        f" at {[node['target'] for node in violation['nodes']]}"
        for violation in results.response["violations"]
        if violation["impact"] in SERIOUS
    ]


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_with_javascript_the_cart_changes_in_place_and_checkout_pays(
    page, console_errors, shop_url, stripe_double, screenshot, viewport
):
    page.set_viewport_size(VIEWPORTS[viewport])
    page.goto(f"{shop_url}/")
    screenshot(page, "catalog")
    page.evaluate("window.__marker = 'same page'")
    navigations = track_navigations(page)

    add_to_cart(page, "Laptop")
    cart_count(page).to_have_text("items: 1")
    cart_message(page).to_have_text("Added 1 × Laptop to your cart.")
    add_to_cart(page, "Mouse")
    cart_count(page).to_have_text("items: 2")
    set_quantity(page, "Mouse", "3")
    cart_count(page).to_have_text("items: 4")
    cart_message(page).to_have_text("Mouse: quantity set to 3.")
    expect(page.locator("#cart .cart__total")).to_have_text("$1,089.96")
    screenshot(page, "cart")
    remove_from_cart(page, "Laptop")
    cart_count(page).to_have_text("items: 3")
    expect(page.locator("#cart tbody th")).to_have_text(["Mouse"])
    expect(page.locator("#cart .cart__total")).to_have_text("$89.97")

    assert navigations == []
    assert page.evaluate("window.__marker") == "same page"
    page.get_by_role("button", name="Checkout").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(stripe_double.url)}/c/pay/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Pay $94.97")
    fill_shipping_details(page)
    screenshot(page, "hosted-page")
    page.get_by_role("button", name="Pay", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Thank you! Your order is paid."
    )
    cart_count(page).to_have_text("items: 0")
    screenshot(page, "success")
    expect_paid_order_on_home_page(page, shop_url)
    screenshot(page, "your-orders")
    assert console_errors == [], "\n".join(console_errors)


def test_without_javascript_plain_forms_fill_the_cart_and_checkout_pays(
    page_without_javascript, shop_url, stripe_double
):
    page = page_without_javascript
    page.goto(f"{shop_url}/")
    navigations = track_navigations(page)

    add_to_cart(page, "Laptop")
    cart_message(page).to_have_text("Added 1 × Laptop to your cart.")
    cart_count(page).to_have_text("items: 1")
    add_to_cart(page, "Mouse")
    set_quantity(page, "Mouse", "3")
    cart_message(page).to_have_text("Mouse: quantity set to 3.")
    cart_count(page).to_have_text("items: 4")
    remove_from_cart(page, "Laptop")
    cart_message(page).to_have_text("Removed Laptop from your cart.")
    cart_count(page).to_have_text("items: 3")
    expect(page.locator("#cart tbody th")).to_have_text(["Mouse"])

    # Every change was a full page load that came back to the catalog.
    assert navigations == [f"{shop_url}/"] * 4
    pay_on_hosted_page(page, stripe_double, "Pay")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Thank you! Your order is paid."
    )
    expect_paid_order_on_home_page(page, shop_url)


def test_cancel_on_the_hosted_page_returns_to_the_cart_with_every_item(
    page, shop_url, stripe_double
):
    page.goto(f"{shop_url}/")
    add_to_cart(page, "Laptop")
    add_to_cart(page, "Mouse", quantity=2)
    cart_count(page).to_have_text("items: 3")

    page.get_by_role("button", name="Checkout").click()
    page.get_by_role("button", name="Cancel").click()

    expect(page).to_have_url(f"{shop_url}/cart/")
    expect(page.get_by_label("Quantity of Laptop")).to_have_value("1")
    expect(page.get_by_label("Quantity of Mouse")).to_have_value("2")
    cart_count(page).to_have_text("items: 3")
    assert Order.objects.get().status == Order.Status.PENDING


def test_delayed_payment_shows_processing_then_paid_without_a_reload(
    page, console_errors, shop_url, stripe_double
):
    page.goto(f"{shop_url}/")
    add_to_cart(page, "Keyboard")
    cart_count(page).to_have_text("items: 1")

    pay_on_hosted_page(page, stripe_double, "Pay by bank debit (settles later)")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text("Your payment is processing")
    page.evaluate("window.__marker = 'same page'")
    navigations = track_navigations(page)
    stripe_double.settle(session_id_of(page))

    expect(heading).to_have_text("Thank you! Your order is paid.")
    cart_count(page).to_have_text("items: 0")
    assert navigations == []
    assert page.evaluate("window.__marker") == "same page"
    assert Order.objects.get().status == Order.Status.PAID
    assert console_errors == [], "\n".join(console_errors)


@pytest.mark.parametrize("javascript", ["on", "off"])
def test_out_of_range_quantity_shows_a_message_in_the_cart_and_changes_nothing(
    request, shop_url, javascript
):
    page = request.getfixturevalue(
        "page" if javascript == "on" else "page_without_javascript"
    )
    page.goto(f"{shop_url}/")
    add_to_cart(page, "Laptop", quantity=2)
    cart_count(page).to_have_text("items: 2")

    for quantity in ("0", "-3", "1000"):
        # Step past the browser's own min/max check, as an old browser would.
        page.locator("#cart form").first.evaluate("form => { form.noValidate = true; }")
        set_quantity(page, "Laptop", quantity)

        cart_message(page).to_have_text("Choose a quantity from 1 to 99.")
        # htmx shows the cart as it is; a plain form comes back with what was
        # typed, marked invalid, at a URL that is safe to reload.
        field = page.get_by_label("Quantity of Laptop")
        expect(field).to_have_value("2" if javascript == "on" else quantity)
        if javascript == "off":
            expect(field).to_have_attribute("aria-invalid", "true")
            page.reload()
            expect(page.locator("#status .message")).to_have_count(0)
        cart_count(page).to_have_text("items: 2")
    page.goto(f"{shop_url}/cart/")
    expect(page.get_by_label("Quantity of Laptop")).to_have_value("2")


@pytest.mark.parametrize("javascript", ["on", "off"])
def test_remove_works_while_the_line_quantity_is_blank(request, shop_url, javascript):
    """Remove sends the line's form elsewhere; its quantity is not checked."""
    page = request.getfixturevalue(
        "page" if javascript == "on" else "page_without_javascript"
    )
    page.goto(f"{shop_url}/")
    add_to_cart(page, "Laptop")
    add_to_cart(page, "Mouse", quantity=2)
    cart_count(page).to_have_text("items: 3")

    page.get_by_label("Quantity of Laptop").fill("")
    remove_from_cart(page, "Laptop")

    cart_message(page).to_have_text("Removed Laptop from your cart.")
    cart_count(page).to_have_text("items: 2")
    expect(page.locator("#cart tbody th")).to_have_text(["Mouse"])


def test_catalog_cart_and_success_pages_have_no_serious_accessibility_issues(
    page, shop_url, stripe_double
):
    page.goto(f"{shop_url}/")
    violations = serious_violations(page)
    add_to_cart(page, "Laptop")
    add_to_cart(page, "Mouse", quantity=3)
    cart_count(page).to_have_text("items: 4")
    violations += serious_violations(page)
    page.goto(f"{shop_url}/cart/")
    violations += serious_violations(page)

    pay_on_hosted_page(page, stripe_double, "Pay")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Thank you! Your order is paid."
    )
    violations += serious_violations(page)
    expect_paid_order_on_home_page(
        page, shop_url, ("1 × Laptop at $999.99", "3 × Mouse at $29.99"), 108996
    )
    violations += serious_violations(page)

    assert violations == []
