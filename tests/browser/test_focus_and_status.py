"""Keyboard and screen reader users across htmx swaps, in a real Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .test_shopping import add_to_cart, cart_count, cart_message

pytestmark = pytest.mark.browser


def test_focus_stays_on_the_control_used_after_update_and_remove(
    page, console_errors, shop_url
):
    page.goto(f"{shop_url}/")
    add_to_cart(page, "Laptop")
    add_to_cart(page, "Mouse")
    cart_count(page).to_have_text("items: 2")

    page.get_by_label("Quantity of Mouse").fill("3")
    page.get_by_role("button", name="Update Mouse").click()
    cart_message(page).to_have_text("Mouse: quantity set to 3.")
    expect(page.get_by_role("button", name="Update Mouse")).to_be_focused()

    # Enter in the quantity field sends its form: focus comes back to the field.
    quantity = page.get_by_label("Quantity of Mouse")
    quantity.fill("4")
    quantity.press("Enter")
    cart_message(page).to_have_text("Mouse: quantity set to 4.")
    expect(page.get_by_label("Quantity of Mouse")).to_be_focused()

    # A refused change keeps focus on the control too.
    page.locator("#cart form").first.evaluate("form => { form.noValidate = true; }")
    page.get_by_label("Quantity of Laptop").fill("0")
    page.get_by_role("button", name="Update Laptop").click()
    cart_message(page).to_have_text("Choose a quantity from 1 to 99.")
    expect(page.get_by_role("button", name="Update Laptop")).to_be_focused()

    # Remove takes the line away: focus goes to the status that says so.
    page.get_by_role("button", name="Remove Laptop").click()
    cart_message(page).to_have_text("Removed Laptop from your cart.")
    expect(page.locator("#status")).to_be_focused()
    cart_count(page).to_have_text("items: 4")
    # Chromium logs the refused change's 400; nothing else may go wrong.
    errors = [error for error in console_errors if "status of 400" not in error]
    assert errors == [], "\n".join(errors)


def test_the_cart_s_new_forms_work_through_htmx_the_moment_they_land(
    page, console_errors, shop_url
):
    """A second action right after a swap still goes through htmx.

    htmx readies swapped-in forms when the swap settles; with its default
    20 ms settle delay, a form submitted sooner (a quick Enter) was posted as a
    plain form: a whole page load, focus lost.
    """
    page.goto(f"{shop_url}/")
    add_to_cart(page, "Laptop")
    cart_message(page).to_have_text("Added 1 × Laptop to your cart.")
    # The moment the next answer lands in the cart, its Update form is sent.
    page.evaluate(
        """() => {
          window.stillThisPage = true;
          const cart = document.getElementById("cart");
          new MutationObserver((_, observer) => {
            observer.disconnect();
            cart.querySelector("form").requestSubmit();
          }).observe(cart, {childList: true});
        }"""
    )
    page.get_by_label("Quantity of Laptop").fill("2")
    updates: list[str | None] = []
    page.on(
        "request",
        lambda request: (
            request.url.endswith("/cart/update/")
            and updates.append(request.headers.get("hx-request"))
        ),
    )

    page.get_by_role("button", name="Update Laptop").click()
    for _ in range(40):
        if len(updates) == 2:
            break
        page.wait_for_timeout(50)

    # Both went through htmx; the page was never reloaded.
    assert updates == ["true", "true"]
    cart_message(page).to_have_text("Laptop: quantity set to 2.")
    assert page.evaluate("() => window.stillThisPage") is True
    assert console_errors == []


def test_the_status_region_is_the_only_live_region_and_the_cart_is_not_in_it(
    page, shop_url
):
    page.goto(f"{shop_url}/")
    add_to_cart(page, "Laptop")
    cart_message(page).to_have_text("Added 1 × Laptop to your cart.")

    expect(page.get_by_role("status")).to_have_count(1)
    expect(page.locator("[aria-live]")).to_have_count(0)
    expect(page.get_by_role("status").locator("table")).to_have_count(0)
    # The cart's column headers stay in the accessibility tree at every width.
    for width in (320, 768, 1280):
        page.set_viewport_size({"width": width, "height": 800})
        expect(page.get_by_role("columnheader", name="Quantity")).to_have_count(1)
