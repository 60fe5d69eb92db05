"""Stock held at checkout, sold when paid, freed when the checkout ends unpaid."""

from __future__ import annotations

import io

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.urls import reverse

from payments.models import Order
from payments.reconcile import order_reconcile
from payments.tests.conftest import deliver_events, event_copy
from storefront.models import Product

pytestmark = pytest.mark.django_db

CHECKOUT_URL = reverse("payments:checkout")
CART_URL = reverse("storefront:cart")


def counts(product: Product) -> tuple[int | None, int, int]:
    """Return a product's (stock, reserved, sold) as the database has them."""
    product.refresh_from_db()
    return product.stock, product.reserved, product.sold


@pytest.fixture
def laptop_3(laptop: Product) -> Product:
    Product.objects.filter(pk=laptop.pk).update(stock=3)
    laptop.refresh_from_db()
    return laptop


def test_checkout_holds_counted_stock_and_leaves_uncounted_products_alone(
    new_shopper, checkout_order, laptop_3, mouse
):
    order = checkout_order(new_shopper(laptop_3, mouse, quantity=2))

    assert counts(laptop_3) == (1, 2, 0)
    assert counts(mouse) == (None, 0, 0)
    assert dict(order.items.values_list("product_name", "stock_reserved")) == {
        "Laptop": True,
        "Mouse": False,
    }


def test_paid_order_turns_its_hold_into_a_sale_once(
    stripe_double, new_shopper, checkout_order, laptop_3
):
    order = checkout_order(new_shopper(laptop_3, quantity=2))
    stripe_double.pay(order.checkout_session_id)
    [completed] = stripe_double.events

    assert deliver_events(completed, completed, event_copy(completed)) == [
        (200, "processed"),
        (200, "repeat"),
        (200, "processed"),
    ]

    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID
    assert counts(laptop_3) == (1, 0, 2)


def test_expired_checkout_frees_its_stock_once(
    stripe_double, new_shopper, checkout_order, laptop_3
):
    order = checkout_order(new_shopper(laptop_3, quantity=2))
    stripe_double.expire(order.checkout_session_id)
    [expired] = stripe_double.events

    deliver_events(expired, event_copy(expired), event_copy(expired))

    assert Order.objects.get(pk=order.pk).status == Order.Status.EXPIRED
    assert counts(laptop_3) == (3, 0, 0)


def test_reconciler_frees_the_stock_of_a_checkout_whose_expiry_event_was_lost(
    stripe_double, new_shopper, checkout_order, laptop_3
):
    order = checkout_order(new_shopper(laptop_3))
    stripe_double.expire(order.checkout_session_id)  # its event never delivered

    assert order_reconcile(order=order).changed
    assert order_reconcile(order=order).changed is False

    assert counts(laptop_3) == (3, 0, 0)


def test_checkout_that_stripe_refused_frees_its_stock(
    stripe_double, new_shopper, laptop_3, settings
):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    shopper = new_shopper(laptop_3)

    response = shopper.post(CHECKOUT_URL)

    assert response["Location"] == CART_URL
    assert Order.objects.get().status == Order.Status.FAILED
    assert counts(laptop_3) == (3, 0, 0)


def test_stuck_order_failed_by_the_reconciler_frees_its_stock(db, laptop_3):
    order = Order.objects.create(total_cents=1, currency="usd", stock_held=True)
    order.items.create(
        product=laptop_3,
        product_name="Laptop",
        unit_price_cents=1,
        quantity=1,
        stock_reserved=True,
    )
    Product.objects.filter(pk=laptop_3.pk).update(stock=2, reserved=1)

    call_command("reconcile_orders", older_than=0, stdout=io.StringIO())

    assert Order.objects.get().status == Order.Status.FAILED
    assert counts(laptop_3) == (3, 0, 0)


def test_second_shopper_for_the_last_laptop_is_told_before_paying_and_keeps_the_rest(
    stripe_double, new_shopper, checkout_order, laptop, mouse
):
    Product.objects.filter(pk=laptop.pk).update(stock=1)
    first = new_shopper(laptop)
    second = new_shopper(laptop, mouse)
    checkout_order(first)
    sessions_before = len(stripe_double.sessions)

    response = second.post(CHECKOUT_URL)

    assert response.status_code == 303
    assert response["Location"] == CART_URL
    assert len(stripe_double.sessions) == sessions_before  # never sent to pay
    assert Order.objects.count() == 1
    messages = [str(message) for message in get_messages(response.wsgi_request)]
    assert messages[-1].startswith("Laptop is sold out: we changed your cart")
    assert second.session["cart"] == {str(mouse.pk): 1}
    assert counts(laptop) == (0, 1, 0)
    # With the cart as changed, the next click checks out what is left.
    assert second.post(CHECKOUT_URL)["Location"].startswith(stripe_double.url)
    assert Order.objects.latest("created_at").items.get().product == mouse


def test_shopper_wanting_more_than_is_left_is_told_how_many_and_cart_is_lowered(
    new_shopper, checkout_order, laptop_3, mouse
):
    second = new_shopper(laptop_3, mouse, quantity=2)  # added while 3 were free
    checkout_order(new_shopper(laptop_3, quantity=2))

    response = second.post(CHECKOUT_URL, follow=True)

    page = response.content.decode()
    assert "Only 1 Laptop left: we changed your cart to match" in page
    assert second.session["cart"] == {str(laptop_3.pk): 1, str(mouse.pk): 2}
    assert counts(laptop_3) == (1, 2, 0)


def test_delayed_payment_that_fails_frees_its_stock(
    stripe_double, new_shopper, checkout_order, laptop_3
):
    order = checkout_order(new_shopper(laptop_3))
    stripe_double.pay(order.checkout_session_id, delayed=True)
    stripe_double.settle(order.checkout_session_id, succeeded=False)

    deliver_events(*stripe_double.events)

    assert Order.objects.get(pk=order.pk).status == Order.Status.FAILED
    assert counts(laptop_3) == (3, 0, 0)


def test_delayed_payment_keeps_its_stock_held_until_it_succeeds(
    stripe_double, new_shopper, checkout_order, laptop_3
):
    order = checkout_order(new_shopper(laptop_3))
    stripe_double.pay(order.checkout_session_id, delayed=True)
    deliver_events(*stripe_double.events)
    assert counts(laptop_3) == (2, 1, 0)

    stripe_double.settle(order.checkout_session_id)
    deliver_events(stripe_double.events[-1])

    assert counts(laptop_3) == (2, 0, 1)


def test_shopper_who_changes_the_cart_gets_the_units_their_own_open_checkout_held(
    stripe_double, new_shopper, checkout_order, laptop, mouse
):
    Product.objects.filter(pk=laptop.pk).update(stock=1)
    shopper = new_shopper(laptop)
    first = checkout_order(shopper)
    shopper.post(reverse("storefront:cart-add"), {"product": mouse.pk, "quantity": 1})

    second = checkout_order(shopper)

    first.refresh_from_db()
    assert first.status == Order.Status.EXPIRED
    assert stripe_double.sessions[first.checkout_session_id]["status"] == "expired"
    assert second.items.get(product=laptop).stock_reserved
    assert counts(laptop) == (0, 1, 0)


def test_another_shoppers_checkout_is_never_expired_to_free_stock(
    stripe_double, new_shopper, checkout_order, laptop
):
    Product.objects.filter(pk=laptop.pk).update(stock=1)
    second = new_shopper(laptop)
    first = checkout_order(new_shopper(laptop))

    assert second.post(CHECKOUT_URL)["Location"] == CART_URL

    first.refresh_from_db()
    assert first.status == Order.Status.PENDING
    assert stripe_double.sessions[first.checkout_session_id]["status"] == "open"
