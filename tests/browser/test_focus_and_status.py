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
