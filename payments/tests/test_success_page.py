"""The success page, the cart after checkout, and "your orders" on the home page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from model_bakery import baker

from payments.checkout import SHOPPER_SESSION_KEY
from payments.models import Order, OrderItem
from payments.tests.conftest import post_event

pytestmark = pytest.mark.django_db

SUCCESS_URL = reverse("payments:success")
CART_URL = reverse("storefront:cart")
ADD_URL = reverse("storefront:cart-add")
PAID = "Thank you! Your order is paid."
PROCESSING = "Your payment is processing"
NOT_FOUND = "We could not find that order"


def success_page(shopper: Client, order: Order, **headers):
    return shopper.get(
        SUCCESS_URL, {"session_id": order.checkout_session_id}, **headers
    )


def deliver_last_event(stripe_double) -> None:
    """Send the double's newest event to the shop's webhook, as Stripe would."""
    response = post_event(Client(), stripe_double.events[-1])
    assert response.status_code == 200


def cart_lines(shopper: Client) -> dict:
    return shopper.session.get("cart", {})


def test_success_page_marks_the_order_paid_when_the_webhook_is_late(
    cart_with_items, checkout_order, stripe_double
):
    order = checkout_order(cart_with_items)
    stripe_double.pay(order.checkout_session_id, email="ada@example.com")
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING  # no webhook was delivered

    response = success_page(cart_with_items, order)

    assert response.status_code == 200
    html = response.content.decode()
    assert PAID in html
    assert "a receipt goes to ada@example.com" in html
    assert str(order.public_id) in html
    assert "hx-trigger" not in html
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.paid_at is not None
    assert order.customer_email == "ada@example.com"
    assert order.payment_intent_id.startswith("pi_")
    assert order.status_history[-1]["by"] == "success-page"
    retrievals = [r for r in stripe_double.requests if r["method"] == "GET"]
    assert [r["path"] for r in retrievals] == [
        f"/v1/checkout/sessions/{order.checkout_session_id}"
    ]


def test_success_page_for_a_delayed_payment_says_processing_and_polls(
    cart_with_items, checkout_order, stripe_double, htmx_headers, settings
):
    # Each visit may ask Stripe; the interval has its own tests.
    settings.STRIPE_CHECK_INTERVAL_SECONDS = 0
    order = checkout_order(cart_with_items)
    stripe_double.pay(order.checkout_session_id, delayed=True)
    own_url = f"{SUCCESS_URL}?session_id={order.checkout_session_id}"

    response = success_page(cart_with_items, order)

    assert response.status_code == 200
    html = response.content.decode()
    assert PROCESSING in html
    assert f'hx-get="{own_url}"' in html
    assert 'hx-trigger="every 2s"' in html
    assert f'<a href="{own_url}">Check again now</a>' in html
    assert '<noscript><meta http-equiv="refresh" content="15"></noscript>' in html
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert cart_lines(cart_with_items)  # not paid yet: the cart stays

    poll = success_page(cart_with_items, order, **htmx_headers)

    fragment = poll.content.decode()
    assert poll.status_code == 200
    assert "<html" not in fragment and "<body" not in fragment
    assert fragment.strip().startswith('<div id="order-status"')
    assert PROCESSING in fragment
    assert 'id="cart-count" class="badge" hx-swap-oob="true"' in fragment

    stripe_double.settle(order.checkout_session_id)
    settled = success_page(cart_with_items, order, **htmx_headers).content.decode()

    assert PAID in settled
    assert "hx-trigger" not in settled  # the polling stops
    assert "</span>0</span>" in settled  # and the header's count empties


def test_success_page_for_another_browsers_order_is_404_and_shows_nothing(
    cart_with_items, checkout_order, new_shopper, stripe_double, keyboard
):
    order = checkout_order(cart_with_items)
    stripe_double.pay(order.checkout_session_id, email="ada@example.com")
    stranger = new_shopper(keyboard)
    checkout_order(stranger)  # the stranger is a shopper too, with an order of theirs

    response = success_page(stranger, order)

    assert response.status_code == 404
    html = response.content.decode()
    assert NOT_FOUND in html
    for secret in (str(order.public_id), "Laptop", "ada@example.com", "$1,059.97"):
        assert secret not in html
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING  # a stranger's visit settles nothing


def test_a_poll_whose_session_ended_swaps_in_the_message_not_a_whole_page(
    cart_with_items, checkout_order, stripe_double, htmx_headers
):
    order = checkout_order(cart_with_items)
    stripe_double.pay(order.checkout_session_id, delayed=True)
    cart_with_items.cookies.clear()  # signed out, or the session expired

    poll = success_page(cart_with_items, order, **htmx_headers)

    fragment = poll.content.decode()
    assert poll.status_code == 404
    assert fragment.strip().startswith('<div id="order-status">')
    assert NOT_FOUND in fragment
    assert "<html" not in fragment and "hx-trigger" not in fragment


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"session_id": ""},
        {"session_id": "nonsense"},
        {"session_id": "cs_test_' OR 1=1 --"},
        {"session_id": "cs_test_" + "x" * 300},
        {"session_id": "cs_test_" + "a1B2c3D4e5F6" * 4 + "g7H8i9J0k1"},
    ],
    ids=["missing", "empty", "malformed", "injection", "too-long", "unknown"],
)
def test_success_page_with_a_bad_or_unknown_session_id_is_404(
    cart_with_items, checkout_order, stripe_double, query
):
    checkout_order(cart_with_items)

    response = cart_with_items.get(SUCCESS_URL, query)

    assert response.status_code == 404
    assert NOT_FOUND in response.content.decode()
    assert [r for r in stripe_double.requests if r["method"] == "GET"] == []


def test_success_page_while_stripe_is_down_says_processing(
    cart_with_items, checkout_order, stripe_double, settings
):
    # Each visit may ask Stripe; the interval has its own tests.
    settings.STRIPE_CHECK_INTERVAL_SECONDS = 0
    order = checkout_order(cart_with_items)
    stripe_double.pay(order.checkout_session_id)
    stripe_double.fail_next(1, status=500)

    response = success_page(cart_with_items, order)

    assert response.status_code == 200
    assert PROCESSING in response.content.decode()
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    # Once Stripe answers again, the same page settles it.
    assert PAID in success_page(cart_with_items, order).content.decode()


def test_cart_is_empty_after_the_success_page_shows_the_order_paid(
    cart_with_items, checkout_order, stripe_double
):
    order = checkout_order(cart_with_items)
    stripe_double.pay(order.checkout_session_id)

    html = success_page(cart_with_items, order).content.decode()

    assert PAID in html
    assert '<span class="visually-hidden">items: </span>0</span>' in html
    assert "Your cart is empty." in cart_with_items.get("/").content.decode()


def test_cart_is_empty_on_the_home_page_after_the_webhook_paid_the_order(
    cart_with_items, checkout_order, stripe_double
):
    order = checkout_order(cart_with_items)
    stripe_double.pay(order.checkout_session_id)
    assert cart_lines(cart_with_items)
    deliver_last_event(stripe_double)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID

    html = cart_with_items.get("/").content.decode()

    assert "Your cart is empty." in html
    assert "Your orders" in html


def test_a_cart_change_after_the_webhook_paid_starts_from_an_empty_cart(
    cart_with_items, checkout_order, stripe_double, keyboard
):
    """The paid cart is emptied under the change's own session lock, first."""
    order = checkout_order(cart_with_items)
    stripe_double.pay(order.checkout_session_id)
    deliver_last_event(stripe_double)

    response = cart_with_items.post(ADD_URL, {"product": keyboard.pk, "quantity": 1})

    assert response.status_code == 303
    assert cart_lines(cart_with_items) == {str(keyboard.pk): 1}


def test_cancelled_checkout_leaves_the_cart_as_it_was(
    cart_with_items, checkout_order, stripe_double
):
    cart_before = cart_lines(cart_with_items)
    order = checkout_order(cart_with_items)

    cancelled = requests.post(
        order.checkout_url,
        data={"action": "cancel"},
        allow_redirects=False,
        timeout=15,
    )
    assert cancelled.status_code == 303
    assert cancelled.headers["Location"] == "http://testserver/cart/"
    html = cart_with_items.get(CART_URL).content.decode()

    assert "Laptop" in html and "Mouse" in html and "$1,059.97" in html
    assert cart_lines(cart_with_items) == cart_before

    # The abandoned session expires later: the cart still stays.
    stripe_double.expire(order.checkout_session_id)
    deliver_last_event(stripe_double)
    order.refresh_from_db()
    assert order.status == Order.Status.EXPIRED
    cart_with_items.get("/")
    assert cart_lines(cart_with_items) == cart_before


def test_paying_an_older_checkout_takes_only_its_items_out_of_a_changed_cart(
    cart_with_items, checkout_order, stripe_double, keyboard, mouse
):
    order = checkout_order(cart_with_items)
    cart_with_items.post(ADD_URL, {"product": keyboard.pk, "quantity": 1})
    cart_with_items.post(ADD_URL, {"product": mouse.pk, "quantity": 1})
    stripe_double.pay(order.checkout_session_id)

    assert PAID in success_page(cart_with_items, order).content.decode()
    html = cart_with_items.get(CART_URL).content.decode()

    assert "Keyboard" in html and "Laptop" not in html
    # Two mice in the paid order, three in the cart: one is left.
    assert re.search(rf'id="cart-quantity-{mouse.pk}"[^>]*value="1"', html)
    cart_with_items.post(ADD_URL, {"product": keyboard.pk, "quantity": 1})
    assert cart_lines(cart_with_items) == {str(keyboard.pk): 2, str(mouse.pk): 1}


def shopper_key_of(shopper: Client) -> str:
    return shopper.session["shopper"]


def make_paid_order(shopper_key: str, *, minutes_ago: int, products) -> Order:
    order = baker.make(
        Order,
        shopper_key=shopper_key,
        status=Order.Status.PAID,
        paid_at=timezone.now() - timedelta(minutes=minutes_ago),
        total_cents=sum(product.price_cents for product in products),
        currency="usd",
    )
    for product in products:
        baker.make(
            OrderItem,
            order=order,
            product=product,
            product_name=product.name,
            unit_price_cents=product.price_cents,
            quantity=1,
        )
    return order


def order_headings(html: str) -> list[str]:
    """Return the orders' short references (lower case), in the page's order."""
    headings = re.findall(
        r'<h3 class="order__title"[^>]*>(?:<a [^>]*>)?Order (\w{8})', html
    )
    return [reference.lower() for reference in headings]


def test_home_page_lists_own_paid_orders_newest_first_with_items_and_total(
    cart_with_items, checkout_order, new_shopper, laptop, mouse, keyboard
):
    pending = checkout_order(cart_with_items)
    mine = shopper_key_of(cart_with_items)
    older = make_paid_order(mine, minutes_ago=60, products=[keyboard])
    newer = make_paid_order(mine, minutes_ago=5, products=[laptop, mouse])
    stranger = new_shopper(keyboard)
    checkout_order(stranger)
    foreign = make_paid_order(shopper_key_of(stranger), minutes_ago=1, products=[mouse])

    html = cart_with_items.get("/").content.decode()

    assert "Your orders" in html
    assert order_headings(html) == [str(newer.public_id)[:8], str(older.public_id)[:8]]
    assert "1 × Laptop at $999.99" in html
    assert "1 × Mouse at $29.99" in html
    assert "Total $1,029.98" in html
    assert "1 × Keyboard at $79.99" in html
    assert "Total $79.99" in html
    assert str(foreign.public_id)[:8] not in html
    assert str(pending.public_id)[:8] not in html
    stranger_html = stranger.get("/").content.decode()
    assert order_headings(stranger_html) == [str(foreign.public_id)[:8]]


def test_home_page_without_paid_orders_shows_no_orders_section(
    cart_with_items, checkout_order
):
    checkout_order(cart_with_items)

    assert "Your orders" not in cart_with_items.get("/").content.decode()


@pytest.mark.parametrize("paid_orders", [0, 50])
def test_home_page_query_count_is_flat_in_the_number_of_paid_orders(
    cart_with_items,
    checkout_order,
    laptop,
    mouse,
    keyboard,
    paid_orders,
    django_assert_max_num_queries,
):
    checkout_order(cart_with_items)
    mine = shopper_key_of(cart_with_items)
    for minutes_ago in range(paid_orders):
        make_paid_order(
            mine, minutes_ago=minutes_ago, products=[laptop, mouse, keyboard]
        )

    # One more than before when the cart has a checkout outstanding: is its
    # payment processing? One for the catalog's category list, and one for
    # the first pictures of the page's products.
    with django_assert_max_num_queries(10):
        response = cart_with_items.get("/")

    assert response.status_code == 200
    assert len(order_headings(response.content.decode())) == min(paid_orders, 10)


def short(order: Order) -> str:
    return str(order.public_id)[:8].upper()


def test_a_processing_payment_shows_in_the_cart_and_in_your_orders(
    cart_with_items, checkout_order, stripe_double
):
    order = checkout_order(cart_with_items)
    stripe_double.pay(order.checkout_session_id, delayed=True)
    assert PROCESSING in success_page(cart_with_items, order).content.decode()

    cart = cart_with_items.get(CART_URL).content.decode()
    home = cart_with_items.get("/").content.decode()

    assert f"Your payment for order {short(order)} is processing." in cart
    assert f'<a href="{order.get_absolute_url()}">See order {short(order)}</a>' in cart
    assert ">Checkout</button>" not in cart
    assert re.search(rf"Order {short(order)}</a> <span[^>]*>.*?Processing</span>", home)


def test_a_failed_order_shows_in_your_orders_with_its_status(
    cart_with_items, checkout_order
):
    order = checkout_order(cart_with_items)
    Order.objects.filter(pk=order.pk).update(status=Order.Status.FAILED)

    home = cart_with_items.get("/").content.decode()

    assert re.search(rf"Order {short(order)}</a> <span[^>]*>.*?Failed</span>", home)
    assert ">Checkout</button>" in home  # the cart can try again


def test_a_poll_that_finds_the_order_paid_says_so_once_in_the_status(
    cart_with_items, checkout_order, stripe_double, htmx_headers, settings
):
    settings.STRIPE_CHECK_INTERVAL_SECONDS = 0  # each poll may ask Stripe
    order = checkout_order(cart_with_items)
    stripe_double.pay(order.checkout_session_id, delayed=True)

    pending = success_page(cart_with_items, order, **htmx_headers).content.decode()
    stripe_double.settle(order.checkout_session_id)
    paid = success_page(cart_with_items, order, **htmx_headers).content.decode()
    page = success_page(cart_with_items, order).content.decode()

    assert 'id="status"' not in pending
    assert re.search(
        rf'<div id="status" hx-swap-oob="innerHTML">.*order {short(order)} is paid\.',
        paid,
    )
    assert page.count('role="status"') == 1 and "hx-swap-oob" not in page


def test_the_order_page_shows_the_short_reference_and_the_full_id(
    cart_with_items, checkout_order, stripe_double
):
    order = checkout_order(cart_with_items)
    stripe_double.pay(order.checkout_session_id)

    response = success_page(cart_with_items, order)

    html = response.content.decode()
    assert f"<h2>Order {short(order)}</h2>" in html
    assert f'Full reference: <span class="reference">{order.public_id}</span>' in html
    assert f"<title>Order {short(order)} paid · Shop</title>" in html
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"private", "no-cache"} <= cache_control
    assert {"Cookie", "HX-Request"} <= {
        part.strip() for part in response["Vary"].split(",")
    }


def test_the_page_that_waits_for_checkout_is_private_titled_and_reloads(client, db):
    session = client.session
    session[SHOPPER_SESSION_KEY] = "shopper-1"
    session.save()
    order = baker.make(Order, shopper_key="shopper-1", total_cents=100, currency="usd")

    response = client.get(reverse("payments:checkout-continue", args=[order.public_id]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>Taking you to payment · Shop</title>" in html
    assert '<meta name="description" content="' in html
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"private", "no-cache"} <= cache_control
    assert "Cookie" in response["Vary"]
