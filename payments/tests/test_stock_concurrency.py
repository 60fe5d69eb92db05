"""Shoppers racing for the last units on PostgreSQL: no unit is sold twice.

Real threads, each with its own database connection, released together by a
barrier, press Checkout through the real view, which calls the double.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from payments.models import Order
from payments.reconcile import order_reconcile
from payments.tests.conftest import event_copy
from payments.tests.test_concurrency import delivery, run_together
from storefront.models import Product

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CHECKOUT_URL = reverse("payments:checkout")
CART_URL = reverse("storefront:cart")


def test_parallel_checkouts_for_the_last_units_hold_each_unit_once(
    stripe_double, new_shopper, laptop, keyboard
):
    Product.objects.filter(pk__in=[laptop.pk, keyboard.pk]).update(stock=3)
    # Half the carts list the keyboard first: the rows are still locked in
    # product-id order, so no two checkouts wait on each other in a cycle.
    shoppers = [
        new_shopper(*((laptop, keyboard) if number % 2 else (keyboard, laptop)))
        for number in range(8)
    ]

    answers = run_together(
        *[lambda shopper=shopper: shopper.post(CHECKOUT_URL) for shopper in shoppers]
    )

    locations = [answer["Location"] for answer in answers]
    assert sum(location.startswith(stripe_double.url) for location in locations) == 3
    assert locations.count(CART_URL) == 5
    assert Order.objects.filter(status=Order.Status.PENDING).count() == 3
    assert len(stripe_double.sessions) == 3
    for product in (laptop, keyboard):
        product.refresh_from_db()
        assert (product.stock, product.reserved, product.sold) == (0, 3, 0)


def test_parallel_checkouts_that_fit_all_go_through(stripe_double, new_shopper, laptop):
    Product.objects.filter(pk=laptop.pk).update(stock=6)
    shoppers = [new_shopper(laptop) for _ in range(6)]

    answers = run_together(
        *[lambda shopper=shopper: shopper.post(CHECKOUT_URL) for shopper in shoppers]
    )

    assert all(answer["Location"].startswith(stripe_double.url) for answer in answers)
    laptop.refresh_from_db()
    assert (laptop.stock, laptop.reserved) == (0, 6)


def test_racing_deliveries_for_one_order_settle_its_stock_once(
    stripe_double, new_shopper, checkout_order, laptop
):
    Product.objects.filter(pk=laptop.pk).update(stock=5)
    order = checkout_order(new_shopper(laptop, quantity=2))
    stripe_double.pay(order.checkout_session_id)
    [completed] = stripe_double.events

    run_together(
        *[delivery(event_copy(completed)) for _ in range(4)],
        lambda: order_reconcile(order=order),
        lambda: order_reconcile(order=order),
    )

    laptop.refresh_from_db()
    assert (laptop.stock, laptop.reserved, laptop.sold) == (3, 0, 2)
