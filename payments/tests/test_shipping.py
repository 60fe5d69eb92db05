"""Shipping at checkout: the address and rates asked for, what the paid order keeps."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from payments.models import Order
from payments.shipping import orders_mark_delivered, orders_mark_shipped
from payments.tests.conftest import deliver_events, event_copy
from storefront.models import Product

pytestmark = pytest.mark.django_db

ADDRESS = {
    "line1": "1 Main St",
    "line2": "Flat 2",
    "city": "Springfield",
    "state": "OR",
    "postal_code": "97477",
    "country": "US",
}


@pytest.fixture
def shipping_settings(settings):
    settings.SHOP_SHIPPING_COUNTRIES = ["US", "CA"]
    settings.SHOP_SHIPPING_STANDARD_CENTS = 500
    settings.SHOP_SHIPPING_EXPRESS_CENTS = 1500
    settings.SHOP_FREE_SHIPPING_OVER_CENTS = 10000
    settings.SHOP_SHIPPING_PHONE = True
    return settings


@pytest.fixture
def ebook(db) -> Product:
    return Product.objects.create(
        name="E-book", price_cents=1500, requires_shipping=False
    )


def creation_params(stripe_double) -> dict:
    [params] = [
        request["params"]
        for request in stripe_double.requests
        if request["path"] == "/v1/checkout/sessions" and request["method"] == "POST"
    ]
    return params


def offered(params: dict) -> list[tuple[str, int]]:
    """Return the (name, amount) of each shipping rate a session was created with."""
    return [
        (
            option["shipping_rate_data"]["display_name"],
            int(option["shipping_rate_data"]["fixed_amount"]["amount"]),
        )
        for option in params["shipping_options"]
    ]


def test_physical_goods_ask_for_an_address_a_phone_and_a_rate(
    shipping_settings, stripe_double, new_shopper, checkout_order, mouse
):
    order = checkout_order(new_shopper(mouse))  # $29.99: under the free threshold

    params = creation_params(stripe_double)
    assert params["shipping_address_collection"] == {"allowed_countries": ["US", "CA"]}
    assert params["phone_number_collection"]["enabled"] in {True, "true"}
    assert offered(params) == [("Standard shipping", 500), ("Express shipping", 1500)]
    assert (order.requires_shipping, order.subtotal_cents) == (True, 2999)


def test_standard_shipping_is_free_at_the_threshold(
    shipping_settings, stripe_double, new_shopper, checkout_order, mouse
):
    shipping_settings.SHOP_FREE_SHIPPING_OVER_CENTS = 2999
    checkout_order(new_shopper(mouse))

    assert offered(creation_params(stripe_double)) == [
        ("Free standard shipping", 0),
        ("Express shipping", 1500),
    ]


def test_paid_order_keeps_recipient_rate_and_a_total_with_shipping(
    shipping_settings, stripe_double, new_shopper, checkout_order, mouse
):
    order = checkout_order(new_shopper(mouse, quantity=2))
    session = stripe_double.sessions[order.checkout_session_id]
    express = session["shipping_options"][1]["shipping_rate"]
    stripe_double.pay(
        order.checkout_session_id,
        name="Ada Lovelace",
        address=ADDRESS,
        phone="+15555550123",
        shipping_rate=express,
    )

    assert deliver_events(*stripe_double.events) == [(200, "processed")]

    order.refresh_from_db()
    assert order.status == Order.Status.PAID, order.problem
    assert (order.subtotal_cents, order.shipping_cents, order.total_cents) == (
        5998,
        1500,
        7498,
    )
    assert order.shipping_rate_name == "Express shipping"
    assert (order.shipping_name, order.shipping_phone) == (
        "Ada Lovelace",
        "+15555550123",
    )
    assert (
        order.shipping_line1,
        order.shipping_line2,
        order.shipping_city,
        order.shipping_state,
        order.shipping_postal_code,
        order.shipping_country,
    ) == ("1 Main St", "Flat 2", "Springfield", "OR", "97477", "US")
    assert order.fulfillment == Order.Fulfillment.UNFULFILLED


def test_cart_of_goods_that_ship_nothing_asks_for_no_address_or_rate(
    shipping_settings, stripe_double, new_shopper, checkout_order, ebook
):
    order = checkout_order(new_shopper(ebook))

    params = creation_params(stripe_double)
    assert "shipping_address_collection" not in params
    assert "shipping_options" not in params
    stripe_double.pay(order.checkout_session_id)
    deliver_events(*stripe_double.events)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert (order.requires_shipping, order.fulfillment, order.total_cents) == (
        False,
        "",
        1500,
    )


def test_charge_with_shipping_that_was_not_offered_is_not_marked_paid(
    shipping_settings, stripe_double, new_shopper, checkout_order, mouse
):
    order = checkout_order(new_shopper(mouse))
    stripe_double.pay(order.checkout_session_id)
    [completed] = stripe_double.events
    session = completed["data"]["object"]
    tampered = event_copy(
        completed,
        amount_total=2999 + 1,
        total_details={**session["total_details"], "amount_shipping": 1},
    )

    assert deliver_events(tampered) == [(200, "processed")]

    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert "Shipping of 1 charged; the rates offered were [500, 1500]" in order.problem


def test_charge_that_leaves_out_shipping_is_not_marked_paid(
    shipping_settings, stripe_double, new_shopper, checkout_order, mouse
):
    order = checkout_order(new_shopper(mouse))
    stripe_double.pay(order.checkout_session_id)
    [completed] = stripe_double.events

    # Stripe charged 29.99 + 5.00; an event claiming 29.99 is not this order's.
    deliver_events(event_copy(completed, amount_total=2999))

    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert order.problem.startswith("Amount mismatch: Stripe says 2999 usd")


def test_paid_shipping_order_without_an_address_is_not_marked_paid(
    shipping_settings, stripe_double, new_shopper, checkout_order, mouse
):
    order = checkout_order(new_shopper(mouse))
    stripe_double.pay(order.checkout_session_id)
    [completed] = stripe_double.events

    deliver_events(event_copy(completed, collected_information=None))

    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert "No shipping address was collected" in order.problem


def test_shoppers_order_page_shows_the_delivery_and_where_it_is(
    shipping_settings, stripe_double, new_shopper, checkout_order, mouse
):
    shopper = new_shopper(mouse)
    order = checkout_order(shopper)
    stripe_double.pay(order.checkout_session_id, name="Ada Lovelace", address=ADDRESS)
    success = reverse("payments:success") + f"?session_id={order.checkout_session_id}"

    page = shopper.get(success).content.decode()
    assert re.search(r'Standard shipping</th><td headers="[^"]+">\$5.00</td>', page)
    assert "$34.99" in page  # the total, shipping included
    assert (
        "Ada Lovelace<br>1 Main St<br>Flat 2<br>SPRINGFIELD, OR 97477<br>UNITED STATES"
    ) in page
    assert "Not shipped yet" in page

    orders_mark_shipped(shipments={order.pk: "1Z999"}, carrier="UPS", by="test")
    page = shopper.get(success).content.decode()
    assert "Shipped with UPS; tracking number 1Z999." in page

    orders_mark_delivered(order_ids=[order.pk], by="test")
    assert "Delivered." in shopper.get(success).content.decode()


def test_order_page_of_goods_that_ship_nothing_says_so(
    stripe_double, new_shopper, checkout_order, ebook
):
    shopper = new_shopper(ebook)
    order = checkout_order(shopper)
    stripe_double.pay(order.checkout_session_id)

    page = shopper.get(
        reverse("payments:success"), {"session_id": order.checkout_session_id}
    ).content.decode()

    assert "Nothing to ship" in page
    assert "Where it is" not in page


@pytest.mark.parametrize(
    ("address", "lines"),
    [
        (
            {"city": "Springfield", "state": "OR", "postal_code": "97477"},
            ["Ada Lovelace", "1 Main St", "SPRINGFIELD, OR 97477", "UNITED STATES"],
        ),
        (
            {"city": "Berlin", "postal_code": "10115", "country": "DE"},
            ["Ada Lovelace", "1 Main St", "10115 BERLIN", "GERMANY"],
        ),
        (
            {"city": "London", "postal_code": "SW1A 2AA", "country": "GB"},
            ["Ada Lovelace", "1 Main St", "LONDON", "SW1A 2AA", "UNITED KINGDOM"],
        ),
        # No country (an order from before shipping): the parts as they are.
        (
            {"city": "Springfield", "postal_code": "97477", "country": ""},
            ["Ada Lovelace", "1 Main St", "Springfield", "97477"],
        ),
    ],
    ids=["US", "DE", "GB", "no-country"],
)
def test_the_address_is_written_as_the_destinations_post_writes_it(address, lines):
    fields = {"country": "US", **address}
    order = Order(
        shipping_name="Ada Lovelace",
        shipping_line1="1 Main St",
        **{f"shipping_{name}": value for name, value in fields.items()},
    )

    assert order.shipping_address_lines == lines
