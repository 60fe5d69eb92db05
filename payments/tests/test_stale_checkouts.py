"""No double charge through a stale Checkout Session.

When one of a shopper's orders is paid, their other open Checkout Sessions are
expired at Stripe after the payment commits. Transactional: the expiry runs on
commit, as in production.
"""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from payments.models import Order, OrderProblem
from payments.tests.conftest import CART_ADD_URL, deliver_events
from payments.tests.test_concurrency import COMPLETED, delivery, run_together
from storefront.models import Product

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_checkouts(
    new_shopper: Callable[..., Client],
    checkout_order: Callable[[Client], Order],
    laptop: Product,
    mouse: Product,
) -> tuple[Order, Order]:
    """One shopper's two open checkouts: a laptop, then a laptop and a mouse."""
    shopper = new_shopper(laptop)
    first = checkout_order(shopper)
    shopper.post(CART_ADD_URL, {"product": mouse.pk, "quantity": 1})
    second = checkout_order(shopper)
    assert first.shopper_key == second.shopper_key and first.pk != second.pk
    return first, second


def pay_and_deliver(stripe_double, order: Order) -> None:
    stripe_double.pay(order.checkout_session_id)
    [event] = [
        e
        for e in stripe_double.events
        if e["type"] == "checkout.session.completed"
        and e["data"]["object"]["id"] == order.checkout_session_id
    ]
    assert deliver_events(event) == [(200, "processed")]


def status_of(order: Order) -> str:
    order.refresh_from_db()
    return order.status


def test_paying_one_checkout_expires_the_shoppers_other_open_session(
    stripe_double, two_checkouts, new_shopper, checkout_order, keyboard
):
    stale, paid = two_checkouts
    stranger = checkout_order(new_shopper(keyboard))

    pay_and_deliver(stripe_double, paid)

    assert status_of(paid) == Order.Status.PAID
    assert stripe_double.sessions[stale.checkout_session_id]["status"] == "expired"
    assert status_of(stale) == Order.Status.EXPIRED
    assert stale.status_history[-1]["by"] == f"paid-elsewhere:{paid.public_id}"
    # Another shopper's checkout is nobody's business here.
    assert stripe_double.sessions[stranger.checkout_session_id]["status"] == "open"
    assert status_of(stranger) == Order.Status.PENDING
    expires = [r for r in stripe_double.requests if r["path"].endswith("/expire")]
    assert [r["path"] for r in expires] == [
        f"/v1/checkout/sessions/{stale.checkout_session_id}/expire"
    ]


def test_stale_sessions_are_expired_outside_any_transaction(
    stripe_double, two_checkouts, stripe_calls_in_transaction
):
    stale, paid = two_checkouts
    in_transaction = stripe_calls_in_transaction("checkout_session_expire")

    pay_and_deliver(stripe_double, paid)

    assert in_transaction == [False]
    assert status_of(stale) == Order.Status.EXPIRED


def test_a_failed_expiry_is_recorded_and_the_reconciler_retries_it(
    stripe_double, two_checkouts
):
    stale, paid = two_checkouts
    # The expiry, and the look at the session after it, both fail.
    stripe_double.fail_next(2, status=500)

    pay_and_deliver(stripe_double, paid)

    assert status_of(paid) == Order.Status.PAID
    assert status_of(stale) == Order.Status.PENDING
    assert stripe_double.sessions[stale.checkout_session_id]["status"] == "open"
    [problem] = OrderProblem.objects.filter(order=stale)
    assert problem.resolved_at is None
    assert "could not be expired" in problem.message
    assert problem.by == f"paid-elsewhere:{paid.public_id}"

    # Young as it is, the order's open problem brings it into the next run.
    stdout = StringIO()
    call_command("reconcile_orders", stdout=stdout, stderr=StringIO())

    assert status_of(stale) == Order.Status.EXPIRED
    assert stripe_double.sessions[stale.checkout_session_id]["status"] == "expired"
    problem.refresh_from_db()
    assert problem.resolved_at is not None
    assert problem.resolved_by == f"paid-elsewhere:{paid.public_id}"
    assert f"order {stale.public_id}: pending -> expired" in stdout.getvalue()


def test_a_stale_session_paid_meanwhile_is_paid_and_flagged_for_a_refund(
    stripe_double, two_checkouts
):
    stale, paid = two_checkouts
    # The shopper paid the stale session too, in another tab; its webhook is late.
    stripe_double.pay(stale.checkout_session_id)

    pay_and_deliver(stripe_double, paid)

    assert status_of(paid) == Order.Status.PAID
    assert status_of(stale) == Order.Status.PAID
    [problem] = OrderProblem.objects.filter(order=stale, resolved_at=None)
    assert f"order {paid.public_id}" in problem.message
    assert "Refund" in problem.message


def test_an_order_checked_out_after_the_payment_is_left_open(
    stripe_double, new_shopper, checkout_order, laptop, mouse
):
    shopper = new_shopper(laptop)
    paid = checkout_order(shopper)
    pay_and_deliver(stripe_double, paid)
    shopper.get("/")  # the paid cart empties
    shopper.post(CART_ADD_URL, {"product": mouse.pk, "quantity": 1})
    later = checkout_order(shopper)

    # The reconciler, looking at every pending order, leaves the new one open.
    call_command(
        "reconcile_orders", "--older-than", "0", stdout=StringIO(), stderr=StringIO()
    )

    assert status_of(later) == Order.Status.PENDING
    assert stripe_double.sessions[later.checkout_session_id]["status"] == "open"


def test_an_order_checked_out_after_the_payment_and_paid_too_is_no_problem(
    stripe_double, new_shopper, checkout_order, laptop, mouse
):
    shopper = new_shopper(laptop)
    first = checkout_order(shopper)
    pay_and_deliver(stripe_double, first)
    shopper.get("/")
    shopper.post(CART_ADD_URL, {"product": mouse.pk, "quantity": 1})
    second = checkout_order(shopper)

    pay_and_deliver(stripe_double, second)

    assert status_of(first) == status_of(second) == Order.Status.PAID
    assert not OrderProblem.objects.exists()


@pytest.mark.postgres
def test_two_open_sessions_paid_at_once_flag_the_second_payment_once(
    stripe_double, two_checkouts
):
    first, second = two_checkouts
    stripe_double.pay(first.checkout_session_id)
    stripe_double.pay(second.checkout_session_id)
    events = [e for e in stripe_double.events if e["type"] == COMPLETED]

    outcomes = run_together(*(delivery(event) for event in events))

    assert outcomes == [(200, "processed"), (200, "processed")]
    assert status_of(first) == status_of(second) == Order.Status.PAID
    [problem] = OrderProblem.objects.all()
    paid_second = max(first, second, key=lambda order: (order.paid_at, order.pk))
    paid_first = first if paid_second == second else second
    assert problem.order_id == paid_second.pk
    assert str(paid_first.public_id) in problem.message
    assert problem.resolved_at is None
