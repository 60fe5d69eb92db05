"""POST /checkout/: from the session cart to a Checkout Session on the double."""

from __future__ import annotations

import logging
import re
import socket
import time

import pytest
from django.urls import reverse

from payments.models import Order
from payments.stripe_double import DEFAULT_API_KEY
from storefront.models import Product

pytestmark = pytest.mark.django_db

CHECKOUT_URL = reverse("payments:checkout")
CART_URL = reverse("storefront:cart")
ADD_URL = reverse("storefront:cart-add")
TOTAL = 99999 + 2 * 2999
STRIPE_DOWN_MESSAGE = (
    "We could not reach our payment provider, so nothing was charged. "
    "Your cart is unchanged; please try again in a moment."
)


def session_creations(stripe_double) -> list[dict]:
    """Return the Create Checkout Session requests the double received."""
    return [
        request
        for request in stripe_double.requests
        if request["method"] == "POST" and request["path"] == "/v1/checkout/sessions"
    ]


def closed_port() -> int:
    """Return a local port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def page_csrf_token(html: str) -> str:
    return re.search(r'"x-csrftoken": "([^"]+)"', html).group(1)


def test_checkout_answers_303_to_the_sessions_hosted_page(
    cart_with_items, stripe_double
):
    response = cart_with_items.post(CHECKOUT_URL)

    assert response.status_code == 303
    order = Order.objects.get()
    session = stripe_double.sessions[order.checkout_session_id]
    assert response["Location"] == session["url"]
    assert session["url"].startswith(f"{stripe_double.url}/c/pay/cs_test_")
    assert session["amount_total"] == TOTAL
    assert order.checkout_url == session["url"]
    assert int(order.checkout_expires_at.timestamp()) == session["expires_at"]


def test_order_keeps_database_names_and_prices_of_the_moment_of_checkout(
    cart_with_items, stripe_double, laptop, mouse
):
    # Whatever the form says about prices is ignored: they come from the database.
    cart_with_items.post(CHECKOUT_URL, {"price_cents": 1, "total_cents": 1})
    Product.objects.filter(pk=laptop.pk).update(price_cents=50000, name="Laptop 2")

    order = Order.objects.get()
    assert order.status == Order.Status.PENDING
    assert (order.total_cents, order.currency) == (TOTAL, "usd")
    assert list(
        order.items.values_list(
            "product_id", "product_name", "unit_price_cents", "quantity"
        )
    ) == [(laptop.pk, "Laptop", 99999, 1), (mouse.pk, "Mouse", 2999, 2)]
    # The cart itself shows the new price.
    assert "$500.00" in cart_with_items.get(CART_URL).content.decode()


def test_checkout_session_parameters_describe_the_order(cart_with_items, stripe_double):
    started = time.time()
    cart_with_items.post(CHECKOUT_URL)

    order = Order.objects.get()
    [request] = session_creations(stripe_double)
    params = request["params"]
    assert params["mode"] == "payment"
    assert params["line_items"] == [
        {
            "quantity": "1",
            "price_data": {
                "currency": "usd",
                "unit_amount": "99999",
                "product_data": {"name": "Laptop"},
            },
        },
        {
            "quantity": "2",
            "price_data": {
                "currency": "usd",
                "unit_amount": "2999",
                "product_data": {"name": "Mouse"},
            },
        },
    ]
    assert params["client_reference_id"] == str(order.public_id)
    assert params["metadata"] == {"order_id": str(order.public_id)}
    assert params["success_url"] == (
        "http://testserver/checkout/success/?session_id={CHECKOUT_SESSION_ID}"
    )
    assert params["cancel_url"] == "http://testserver/cart/"
    lifetime = int(params["expires_at"]) - started
    assert 30 * 60 <= lifetime <= 2 * 60 * 60
    assert str(order.public_id) in request["headers"]["idempotency-key"]
    assert order.checkout_session_id == stripe_double.sessions.popitem()[0]


def test_checkout_of_an_empty_cart_says_so_and_makes_no_order(client, stripe_double):
    response = client.post(CHECKOUT_URL)

    assert response.status_code == 303
    assert response["Location"] == CART_URL
    assert "Your cart is empty." in client.get(CART_URL).content.decode()
    assert not Order.objects.exists()
    assert stripe_double.requests == []


def test_checkout_of_a_cart_whose_products_went_inactive_makes_no_order(
    client, stripe_double, laptop
):
    client.post(ADD_URL, {"product": laptop.pk, "quantity": 1})
    Product.objects.filter(pk=laptop.pk).update(is_active=False)

    response = client.post(CHECKOUT_URL)

    assert response["Location"] == CART_URL
    html = client.get(CART_URL).content.decode()
    assert "Your cart is empty. Add something before checking out." in html
    assert not Order.objects.exists()
    assert stripe_double.requests == []


def test_checkout_without_stripe_key_is_closed_and_keeps_the_cart(
    cart_with_items, stripe_double, settings, laptop, mouse
):
    settings.STRIPE_SECRET_KEY = ""

    response = cart_with_items.post(CHECKOUT_URL)

    assert response.status_code == 303
    assert response["Location"] == CART_URL
    html = cart_with_items.get(CART_URL).content.decode()
    assert "Payments are not set up on this shop yet" in html
    assert "Your cart is saved." in html
    assert cart_with_items.session["cart"] == {str(laptop.pk): 1, str(mouse.pk): 2}
    assert not Order.objects.exists()
    assert stripe_double.requests == []


def fail_with_500(stripe_double, settings):
    stripe_double.fail_next(1, status=500)


def fail_with_429(stripe_double, settings):
    stripe_double.fail_next(1, status=429)


def fail_with_401(stripe_double, settings):
    stripe_double.fail_next(1, status=401)


def revoke_the_key(stripe_double, settings):
    stripe_double.revoke_key(DEFAULT_API_KEY)


def hang_past_the_timeout(stripe_double, settings):
    settings.STRIPE_TIMEOUT_SECONDS = (0.5, 0.5)
    stripe_double.fail_next(1, status=500, hang=1.5)


def refuse_the_connection(stripe_double, settings):
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{closed_port()}"


@pytest.mark.parametrize(
    ("break_stripe", "error_name"),
    [
        (fail_with_500, "APIError"),
        (fail_with_429, "RateLimitError"),
        (fail_with_401, "AuthenticationError"),
        (revoke_the_key, "AuthenticationError"),
        (hang_past_the_timeout, "APIConnectionError"),
        (refuse_the_connection, "APIConnectionError"),
    ],
    ids=["500", "429", "401", "revoked-key", "timeout", "connection-refused"],
)
def test_stripe_failure_fails_the_order_and_keeps_the_cart(
    cart_with_items,
    stripe_double,
    settings,
    caplog,
    laptop,
    mouse,
    break_stripe,
    error_name,
):
    cart_before = dict(cart_with_items.session["cart"])
    break_stripe(stripe_double, settings)

    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="payments"):
        response = cart_with_items.post(CHECKOUT_URL)
    elapsed = time.monotonic() - started

    assert response.status_code == 303
    assert response["Location"] == CART_URL
    assert elapsed < 1.4, "the client timeout must cut a hanging Stripe short"
    order = Order.objects.get()
    assert order.status == Order.Status.FAILED
    assert error_name in order.problem
    assert order.checkout_session_id is None
    assert order.status_history[-1]["to"] == "failed"
    errors = [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.ERROR and record.name.startswith("payments")
    ]
    assert any(str(order.public_id) in message for message in errors), errors

    assert cart_with_items.session["cart"] == cart_before
    html = cart_with_items.get(CART_URL).content.decode()
    assert STRIPE_DOWN_MESSAGE in html
    assert "Laptop" in html and "Mouse" in html and "$1,059.97" in html


def test_checkout_after_a_stripe_failure_starts_a_new_order(
    cart_with_items, stripe_double
):
    stripe_double.fail_next(1, status=500)
    cart_with_items.post(CHECKOUT_URL)

    response = cart_with_items.post(CHECKOUT_URL)

    failed, pending = Order.objects.order_by("created_at", "pk")
    assert failed.status == Order.Status.FAILED
    assert pending.status == Order.Status.PENDING
    assert response["Location"] == pending.checkout_url != ""


def test_pressing_checkout_twice_for_the_same_cart_reuses_the_session(
    cart_with_items, stripe_double
):
    first = cart_with_items.post(CHECKOUT_URL)
    second = cart_with_items.post(CHECKOUT_URL)

    assert first.status_code == second.status_code == 303
    assert first["Location"] == second["Location"]
    assert Order.objects.count() == 1
    assert len(session_creations(stripe_double)) == 1


def test_changing_the_cart_after_checkout_makes_a_new_order(
    cart_with_items, stripe_double, keyboard
):
    first = cart_with_items.post(CHECKOUT_URL)
    cart_with_items.post(ADD_URL, {"product": keyboard.pk, "quantity": 1})

    second = cart_with_items.post(CHECKOUT_URL)

    assert first["Location"] != second["Location"]
    old, new = Order.objects.order_by("created_at", "pk")
    assert old.checkout_url == first["Location"]
    assert new.checkout_url == second["Location"]
    assert new.total_cents == TOTAL + 7999
    assert [item.product_name for item in new.items.all()] == [
        "Laptop",
        "Mouse",
        "Keyboard",
    ]


def test_checkout_without_csrf_token_is_refused(csrf_client, stripe_double, laptop):
    token = page_csrf_token(csrf_client.get("/").content.decode())
    csrf_client.post(
        ADD_URL, {"product": laptop.pk, "quantity": 1, "csrfmiddlewaretoken": token}
    )

    refused = csrf_client.post(CHECKOUT_URL)

    assert refused.status_code == 403
    assert not Order.objects.exists()
    assert stripe_double.requests == []
    accepted = csrf_client.post(CHECKOUT_URL, {"csrfmiddlewaretoken": token})
    assert accepted.status_code == 303
    assert Order.objects.count() == 1


def test_get_checkout_is_not_allowed(cart_with_items, stripe_double):
    response = cart_with_items.get(CHECKOUT_URL)

    assert response.status_code == 405
    assert not Order.objects.exists()
