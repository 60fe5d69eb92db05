"""The success page asks Stripe at most once per interval per order.

However often a shopper refreshes it, however many tabs poll it, and whichever
process serves them: a conditional UPDATE of ``stripe_checked_at`` lets one
request ask Stripe, outside any transaction.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from payments.models import Order
from payments.tests.test_concurrency import run_together

SUCCESS_URL = reverse("payments:success")
PAID = "Thank you! Your order is paid."
PROCESSING = "Your payment is processing"


def session_fetches(stripe_double, order: Order) -> int:
    path = f"/v1/checkout/sessions/{order.checkout_session_id}"
    return sum(
        1 for r in stripe_double.requests if r["method"] == "GET" and r["path"] == path
    )


def visit(shopper: Client, order: Order) -> str:
    response = shopper.get(SUCCESS_URL, {"session_id": order.checkout_session_id})
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_refreshing_the_success_page_asks_stripe_once_per_interval(
    cart_with_items, checkout_order, stripe_double, settings
):
    settings.STRIPE_CHECK_INTERVAL_SECONDS = 5
    order = checkout_order(cart_with_items)
    stripe_double.pay(order.checkout_session_id, delayed=True)

    pages = [visit(cart_with_items, order) for _ in range(10)]

    assert all(PROCESSING in page for page in pages)
    assert session_fetches(stripe_double, order) == 1

    # The interval passes; the payment has settled meanwhile.
    stripe_double.settle(order.checkout_session_id)
    Order.objects.filter(pk=order.pk).update(
        stripe_checked_at=timezone.now() - timedelta(seconds=5)
    )

    assert PAID in visit(cart_with_items, order)
    assert session_fetches(stripe_double, order) == 2
    # A paid order is not asked about again.
    visit(cart_with_items, order)
    assert session_fetches(stripe_double, order) == 2


@pytest.mark.django_db
def test_success_page_within_the_interval_shows_the_order_as_it_stands(
    cart_with_items, checkout_order, stripe_double, settings
):
    settings.STRIPE_CHECK_INTERVAL_SECONDS = 5
    order = checkout_order(cart_with_items)
    stripe_double.pay(order.checkout_session_id)
    Order.objects.filter(pk=order.pk).update(
        stripe_checked_at=timezone.now() - timedelta(seconds=4)
    )

    assert PROCESSING in visit(cart_with_items, order)
    assert session_fetches(stripe_double, order) == 0


@pytest.mark.django_db(transaction=True)
def test_success_page_asks_stripe_outside_any_transaction(
    cart_with_items, checkout_order, stripe_double, stripe_calls_in_transaction
):
    order = checkout_order(cart_with_items)
    stripe_double.pay(order.checkout_session_id)
    in_transaction = stripe_calls_in_transaction("checkout_session_retrieve")

    assert PAID in visit(cart_with_items, order)
    assert in_transaction == [False]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_many_polls_at_once_from_many_connections_ask_stripe_once(
    cart_with_items, checkout_order, stripe_double, settings
):
    settings.STRIPE_CHECK_INTERVAL_SECONDS = 5
    order = checkout_order(cart_with_items)
    stripe_double.pay(order.checkout_session_id, delayed=True)
    cookies = cart_with_items.cookies

    def poll() -> str:
        tab = Client()
        tab.cookies = cookies
        return visit(tab, order)

    pages = run_together(*[poll] * 12)

    assert all(PROCESSING in page for page in pages)
    assert session_fetches(stripe_double, order) == 1
