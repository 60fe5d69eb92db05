"""Finding and seeing products in a real Chromium, with JavaScript on and off.

axe-core and pa11y check the search results and the product page in
test_accessibility.py, with the shop's other pages; here axe also checks the
results an active search swapped in.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Route, expect

from .test_accessibility import axe_violations
from .test_shopping import cart_count, cart_message, track_navigations

pytestmark = pytest.mark.browser


@pytest.fixture
def shop(shop_url, settings) -> str:
    """The seeded shop, its product pictures served as in development."""
    settings.SERVE_MEDIA = True
    return shop_url


def card_names(page: Page):
    return expect(page.locator(".product__name"))


def search_box(page: Page):
    return page.get_by_role("searchbox", name="Search products")


def test_with_javascript_results_update_as_the_shopper_types_and_the_url_follows(
    page, console_errors, shop
):
    page.goto(f"{shop}/")
    card_names(page).to_have_text(["Keyboard", "Laptop", "Mouse"])
    page.evaluate("window.samePage = true")

    search_box(page).press_sequentially("key")

    card_names(page).to_have_text(["Keyboard"])
    expect(page).to_have_url(f"{shop}/?q=key")
    # The page's one status region says how many, for screen readers.
    expect(page.get_by_role("status")).to_have_text("1 product found for “key”")
    expect(page.locator("#search-status")).to_have_text("1 product found for “key”")
    assert page.evaluate("window.samePage"), "the results came without a page load"
    assert axe_violations(page) == []

    # Back and Forward go through the searches; the address can be shared.
    page.go_back()
    expect(page).to_have_url(f"{shop}/")
    card_names(page).to_have_text(["Keyboard", "Laptop", "Mouse"])
    page.go_forward()
    expect(page).to_have_url(f"{shop}/?q=key")
    card_names(page).to_have_text(["Keyboard"])
    expect(search_box(page)).to_have_value("key")

    search_box(page).fill("")
    card_names(page).to_have_text(["Keyboard", "Laptop", "Mouse"])
    expect(page).to_have_url(f"{shop}/?q=")
    search_box(page).press_sequentially("nothing like it")
    expect(page.locator("#catalog-results")).to_contain_text("No products match.")
    expect(page.get_by_role("status")).to_have_text(
        "0 products found for “nothing like it”"
    )
    assert console_errors == [], "\n".join(console_errors)


def test_a_shared_search_address_opens_the_same_results(page, shop):
    page.goto(f"{shop}/?q=quiet&category=accessories")

    card_names(page).to_have_text(["Mouse"])
    expect(search_box(page)).to_have_value("quiet")
    expect(page.get_by_role("heading", level=1)).to_have_text("Accessories")


def test_with_javascript_search_keeps_the_category_and_adds_from_the_product_page(
    page, console_errors, shop
):
    page.goto(f"{shop}/")
    page.get_by_role("navigation", name="Categories").get_by_role(
        "link", name="Accessories"
    ).click()
    expect(page).to_have_url(f"{shop}/?category=accessories")
    card_names(page).to_have_text(["Keyboard", "Mouse"])

    search_box(page).press_sequentially("mo")

    card_names(page).to_have_text(["Mouse"])
    expect(page).to_have_url(f"{shop}/?q=mo&category=accessories")
    expect(page.get_by_role("status")).to_have_text("1 product found for “mo”")

    page.get_by_role("link", name="Mouse", exact=True).click()
    expect(page).to_have_url(f"{shop}/products/mouse/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mouse")
    picture = page.get_by_role("img", name="Drawing of the mouse")
    expect(picture).to_be_visible()
    assert picture.evaluate("img => img.complete && img.naturalWidth > 0")
    assert picture.evaluate("img => img.currentSrc").endswith(".webp")
    navigations = track_navigations(page)
    page.get_by_label("Quantity", exact=True).fill("2")
    page.get_by_role("button", name="Add Mouse to cart").click()

    cart_count(page).to_have_text("items: 2")
    cart_message(page).to_have_text("Added 2 × Mouse to your cart.")
    expect(page.get_by_label("Quantity of Mouse")).to_have_value("2")
    assert navigations == [], "the cart changed in place"
    assert console_errors == [], "\n".join(console_errors)


def test_without_javascript_search_category_and_product_page_work(
    page_without_javascript, shop
):
    page = page_without_javascript
    page.goto(f"{shop}/")
    page.get_by_role("navigation", name="Categories").get_by_role(
        "link", name="Computers"
    ).click()
    expect(page).to_have_url(f"{shop}/?category=computers")
    card_names(page).to_have_text(["Keyboard", "Laptop"])

    search_box(page).fill("laptop")
    page.get_by_role("button", name="Search", exact=True).click()

    expect(page).to_have_url(f"{shop}/?q=laptop&category=computers")
    card_names(page).to_have_text(["Laptop"])
    expect(page.locator("#search-status")).to_have_text("1 product found for “laptop”")

    page.get_by_role("link", name="Laptop", exact=True).click()
    expect(page).to_have_url(f"{shop}/products/laptop/")
    page.get_by_role("button", name="Add Laptop to cart").click()

    # Post/redirect/get: back on the product page, the cart says what happened.
    expect(page).to_have_url(f"{shop}/products/laptop/")
    cart_count(page).to_have_text("items: 1")
    cart_message(page).to_have_text("Added 1 × Laptop to your cart.")


def test_without_javascript_a_search_on_a_product_page_goes_to_the_results(
    page_without_javascript, shop
):
    page = page_without_javascript
    page.goto(f"{shop}/products/keyboard/")

    search_box(page).fill("wireless")
    search_box(page).press("Enter")

    expect(page).to_have_url(f"{shop}/?q=wireless")
    card_names(page).to_have_text(["Mouse"])


def test_pictures_reserve_their_space_before_they_load(page, shop):
    held: list[Route] = []
    page.route("**/media/**", lambda route: held.append(route))  # never answered
    page.goto(f"{shop}/products/keyboard/", wait_until="domcontentloaded")
    image = page.get_by_role("img", name="Drawing of the keyboard")

    try:
        assert image.get_attribute("width") == "640"
        assert image.get_attribute("height") == "480"
        assert not image.evaluate("img => img.naturalWidth")
        box = image.bounding_box()
        assert box["width"] > 100
        assert box["height"] == pytest.approx(box["width"] * 3 / 4, abs=1)
    finally:
        for route in held:
            route.abort()
