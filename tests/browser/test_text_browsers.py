"""Every journey in lynx, which knows HTML forms and nothing else.

Lynx itself reads each page, fills the fields and presses the buttons: a
``-cmd_script`` file holds the keystrokes a shopper would type (down to the
field, erase, type, Enter). Between journeys, ``lynx -dump`` of the same page
says which field is which number. Cookies live in a jar that every run of
lynx in a test shares, as one shopper's browser would.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest
from django.core.management import call_command

from payments.models import Order
from payments.stripe_double import StripeDouble

pytestmark = pytest.mark.browser

LYNX = shutil.which("lynx")
RUN_SECONDS = 30
# Terminal escapes, so that what lynx drew on the screen can be read as text.
ESCAPES = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|[()][0-9A-Z]|[=>])|[\r\x0e\x0f]")


class Lynx:
    """One shopper's lynx: a configuration and a cookie jar in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.cookies = folder / "cookies"
        self.cookies.touch()
        self.config = folder / "lynx.cfg"
        self.config.write_text(
            "INCLUDE:/etc/lynx/lynx.cfg\n"
            "ACCEPT_ALL_COOKIES:TRUE\n"
            "PERSISTENT_COOKIES:TRUE\n"
            f"COOKIE_FILE:{self.cookies}\n"
            f"COOKIE_SAVE_FILE:{self.cookies}\n"
        )
        self.script = folder / "keys"
        self.environment = {
            **os.environ,
            "TERM": "vt100",
            "LANG": "C.UTF-8",
            # A screen tall and wide enough to hold each page whole.
            "LINES": "300",
            "COLUMNS": "200",
        }

    def lynx(self, *arguments: str) -> str:
        completed = subprocess.run(
            [LYNX, f"-cfg={self.config}", "-nopause", "-display_charset=utf-8"]
            + list(arguments),
            env=self.environment,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=RUN_SECONDS,
            check=True,
        )
        return completed.stdout.decode("utf-8", "replace")

    def dump(self, url: str) -> str:
        """Return the page as lynx shows it, every field and link numbered."""
        return self.lynx("-dump", "-number_fields", "-width=400", url)

    def use(self, url: str, keys: Iterable[str]) -> str:
        """Open ``url``, type ``keys``, quit; return the text lynx drew."""
        # A space would be lost at the end of its line: lynx reads it in hex.
        names = ["0x20" if key == " " else key for key in [*keys, "Q"]]
        self.script.write_text(
            "".join(f"key {name}\n" for name in names), encoding="utf-8"
        )
        screen = self.lynx(f"-cmd_script={self.script}", url)
        return ESCAPES.sub("", screen)

    def submit(
        self,
        url: str,
        button: str,
        *,
        text: str | None = None,
        fields: dict[str, str] | None = None,
    ) -> str:
        """Press the submit button labelled ``button``; return the text lynx drew.

        With ``text``, first type it into the field just before the button.
        With ``fields``, first type each value into the text field that follows
        its label.
        """
        page = self.dump(url)
        # A button shows as "([7]BUTTON) Add Laptop to cart", or with its value.
        number = field_number(page, rf"\(\[(\d+)\][^][)]*\) {re.escape(button)}(?!\w)")
        typed = {
            # A text field shows as "Postal code [12]____".
            field_number(page, rf"{re.escape(label)} \[(\d+)\]"): value
            for label, value in (fields or {}).items()
        }
        if text is not None:
            typed[number - 1] = text
        keys: list[str] = []
        current = 1  # lynx starts on a page's first link or field
        for field, value in sorted(typed.items()):
            keys += down(field - current) + ["^U", *value]
            current = field
        keys += down(number - current) + ["^J"]
        return self.use(url, keys)


def field_number(page: str, pattern: str) -> int:
    match = re.search(pattern, page)
    assert match, f"nothing matches {pattern!r} in:\n{page}"
    return int(match.group(1))


def down(steps: int) -> list[str]:
    assert steps >= 0
    return ["Down Arrow"] * steps


@pytest.fixture
def shop(live_server, stripe_double: StripeDouble) -> str:
    """The shop's address, as lynx reaches it (a host with a dot, for cookies)."""
    if LYNX is None:
        pytest.skip("no lynx: apt-get install lynx")
    call_command("seed_products", stdout=io.StringIO())
    return live_server.url.replace("localhost", "127.0.0.1")


@pytest.fixture
def lynx(tmp_path: Path) -> Lynx:
    return Lynx(tmp_path)


def fill_cart(lynx: Lynx, shop: str) -> None:
    screen = lynx.submit(f"{shop}/", "Add Laptop to cart", text="1")
    assert "Added 1 × Laptop to your cart." in screen
    screen = lynx.submit(f"{shop}/", "Add Mouse to cart", text="2")
    assert "Added 2 × Mouse to your cart." in screen
    assert "Cart items: 3" in lynx.dump(f"{shop}/cart/")


# What the hosted page asks of a cart that ships.
SHIPPING_DETAILS = {
    "Address line 1": "1 Main St",
    "City": "Springfield",
    "Postal code": "97477",
    "Phone number": "+15555550100",
}


def checkout(lynx: Lynx, shop: str) -> str:
    """Press Checkout; return the address of the hosted page lynx went to."""
    screen = lynx.submit(f"{shop}/cart/", "Checkout")
    order = Order.objects.get()
    assert order.checkout_url and "Test mode: local Stripe double" in screen
    return order.checkout_url


def test_lynx_adds_changes_removes_checks_out_and_pays(lynx, shop):
    fill_cart(lynx, shop)

    screen = lynx.submit(f"{shop}/cart/", "Update Mouse", text="3")
    assert "Mouse: quantity set to 3." in screen
    screen = lynx.submit(f"{shop}/cart/", "Remove Laptop")
    assert "Removed Laptop from your cart." in screen
    cart = lynx.dump(f"{shop}/cart/")
    assert "Cart items: 3" in cart and "Laptop" not in cart
    assert re.search(r"Quantity of Mouse \[\d+\]3_", cart)

    hosted_page = checkout(lynx, shop)
    hosted = lynx.dump(hosted_page)
    assert "Shipping (Standard shipping) $5.00" in hosted
    assert "Pay $94.97" in hosted  # three mice and standard shipping
    screen = lynx.submit(hosted_page, "Pay", fields=SHIPPING_DETAILS)

    assert "Thank you! Your order is paid." in screen
    order = Order.objects.get()
    assert order.status == Order.Status.PAID
    assert (order.shipping_line1, order.shipping_postal_code) == ("1 Main St", "97477")
    order_page = lynx.dump(f"{shop}{order.get_absolute_url()}")
    assert "Ship to" in order_page and "1 Main St" in order_page
    assert "Not shipped yet" in order_page
    home = lynx.dump(f"{shop}/")
    assert "Your cart is empty." in home
    assert f"Order {str(order.public_id)[:8].upper()} Status: Paid" in home
    assert "3 × Mouse at $29.99" in home


def test_lynx_cancels_on_the_hosted_page_and_finds_the_cart_as_it_was(lynx, shop):
    fill_cart(lynx, shop)
    hosted_page = checkout(lynx, shop)

    screen = lynx.submit(hosted_page, "Cancel")

    assert "Your cart" in screen
    cart = lynx.dump(f"{shop}/cart/")
    assert re.search(r"Quantity of Laptop \[\d+\]1_", cart)
    assert re.search(r"Quantity of Mouse \[\d+\]2_", cart)
    assert "Checkout" in cart
    assert Order.objects.get().status == Order.Status.PENDING


def test_lynx_pays_by_bank_debit_that_settles_later(
    lynx, shop, stripe_double, settings
):
    # No webhooks here: each visit to the success page asks Stripe.
    settings.STRIPE_CHECK_INTERVAL_SECONDS = 0
    fill_cart(lynx, shop)
    hosted_page = checkout(lynx, shop)

    screen = lynx.submit(
        hosted_page, "Pay by bank debit (settles later)", fields=SHIPPING_DETAILS
    )

    assert "Your payment is processing" in screen
    order = Order.objects.get()
    reference = str(order.public_id)[:8].upper()
    success_page = f"{shop}/checkout/success/?session_id={order.checkout_session_id}"
    processing = lynx.dump(success_page)
    # No script: the page asks lynx to load it again (a REFRESH link in lynx).
    assert re.search(r"REFRESH\(15 sec\)", processing), processing
    assert "Check again now" in processing
    # The cart says so and offers the order instead of a second payment.
    cart = lynx.dump(f"{shop}/cart/")
    assert f"Your payment for order {reference} is processing." in cart
    assert f"See order {reference}" in cart and "Checkout" not in cart
    home = lynx.dump(f"{shop}/")
    assert f"Order {reference} Status: Processing" in home

    stripe_double.settle(order.checkout_session_id)

    assert "Thank you! Your order is paid." in lynx.dump(success_page)
    # The order's own link, from the email, shows it on any device.
    elsewhere = lynx.cookies.parent / "elsewhere"
    elsewhere.mkdir()
    order_page = Lynx(elsewhere).dump(f"{shop}{order.get_absolute_url()}")
    assert f"Order {reference}" in order_page and "1 Main St" in order_page
    assert "Your cart is empty." in lynx.dump(f"{shop}/cart/")
    assert f"Order {reference} Status: Paid" in lynx.dump(f"{shop}/")


def test_lynx_refused_quantity_comes_back_with_the_message_and_what_was_typed(
    lynx, shop
):
    fill_cart(lynx, shop)

    screen = lynx.submit(f"{shop}/cart/", "Update Mouse", text="abc")

    assert "Enter a whole number from 1 to 99." in screen
    assert re.search(r"abc_", screen)
    cart = lynx.dump(f"{shop}/cart/")
    assert re.search(r"Quantity of Mouse \[\d+\]2_", cart)
    assert "Cart items: 3" in cart


def after_getting(screen: str, url: str) -> str:
    """Return what lynx drew once it went to ``url`` (it redraws only changes)."""
    marker = f"Getting {url}"
    assert marker in screen, f"lynx never went to {url}:\n{screen}"
    return screen.split(marker, 1)[1]


def test_lynx_searches_opens_a_product_and_adds_it(lynx, shop):
    screen = lynx.submit(f"{shop}/", "Search", text="wireless")

    results_url = f"{shop}/?q=wireless"
    after_getting(screen, results_url)
    results = lynx.dump(results_url)
    assert "1 product found for “wireless”" in results
    assert "Add Mouse to cart" in results
    assert "Add Keyboard to cart" not in results and "Add Laptop" not in results
    # Follow the product's name, as a shopper would, to its page.
    number = field_number(results, r"\[(\d+)\]Mouse\b")
    screen = lynx.use(results_url, [*down(number - 1), "^J"])
    product_page = after_getting(screen, f"{shop}/products/mouse/")
    assert "In stock" in product_page and "Add Mouse to cart" in product_page

    screen = lynx.submit(f"{shop}/products/mouse/", "Add Mouse to cart", text="2")

    assert "Added 2 × Mouse to your cart." in screen
    assert "Cart items: 2" in lynx.dump(f"{shop}/cart/")


def test_lynx_browses_a_category_and_searches_within_it(lynx, shop):
    home = lynx.dump(f"{shop}/")
    number = field_number(home, r"\[(\d+)\]Accessories\b")
    screen = lynx.use(f"{shop}/", [*down(number - 1), "^J"])
    after_getting(screen, f"{shop}/?category=accessories")
    category = lynx.dump(f"{shop}/?category=accessories")
    assert "2 products found" in category and "Add Laptop to cart" not in category

    screen = lynx.submit(f"{shop}/?category=accessories", "Search", text="quiet")

    after_getting(screen, f"{shop}/?q=quiet&category=accessories")
    results = lynx.dump(f"{shop}/?q=quiet&category=accessories")
    assert "1 product found for “quiet”" in results
    assert "Add Mouse to cart" in results and "Add Keyboard to cart" not in results
