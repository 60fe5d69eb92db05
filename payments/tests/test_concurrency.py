"""Deliveries racing for one order on PostgreSQL: each order moves once.

Real threads, each with its own database connection, released together by a
barrier, call the real webhook view, success page and reconciler.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from payments.models import Order, StripeEvent
from payments.reconcile import order_reconcile
from payments.tests.conftest import WEBHOOK_URL, event_copy, sign

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

COMPLETED = "checkout.session.completed"
SUCCEEDED = "checkout.session.async_payment_succeeded"
EXPIRED = "checkout.session.expired"


def run_together(*calls: Callable[[], Any]) -> list[Any]:
    """Run each call in its own thread, all released at once; return the results."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(index, call))
        for index, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    assert errors == []
    return results


def delivery(event: dict) -> Callable[[], tuple[int, str | None]]:
    """Return a call that posts the event, signed now, as its own client."""
    body = json.dumps(event).encode()
    signature = sign(body)

    def deliver() -> tuple[int, str | None]:
        response = Client().post(
            WEBHOOK_URL,
            body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signature,
        )
        if response.status_code != 200:
            return response.status_code, None
        return 200, response.json()["outcome"]

    return deliver


def paid_log_lines(caplog) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.getMessage().startswith("order paid:")
    ]


@pytest.fixture
def paid_log(caplog):
    caplog.set_level(logging.INFO, logger="payments")
    return lambda: paid_log_lines(caplog)


@pytest.mark.parametrize("deliveries", [10, 20])
def test_same_event_delivered_at_once_is_processed_once(
    stripe_double, pending_order, paid_log, deliveries
):
    stripe_double.pay(pending_order.checkout_session_id)
    [event] = stripe_double.events

    outcomes = run_together(*[delivery(event)] * deliveries)

    assert Counter(outcomes) == {
        (200, "processed"): 1,
        (200, "repeat"): deliveries - 1,
    }
    order = Order.objects.get(pk=pending_order.pk)
    assert order.status == Order.Status.PAID
    assert len(order.status_history) == 1
    assert StripeEvent.objects.filter(event_id=event["id"]).count() == 1
    assert StripeEvent.objects.count() == 1
    assert len(paid_log()) == 1


@pytest.mark.parametrize("payment", ["instant", "delayed"])
def test_completed_and_async_succeeded_at_once_move_the_order_once(
    stripe_double, pending_order, paid_log, payment
):
    session_id = pending_order.checkout_session_id
    if payment == "delayed":
        stripe_double.pay(session_id, delayed=True, email="bank@ex.com")
        stripe_double.settle(session_id)
        completed, succeeded = stripe_double.events
    else:
        # Both can mark the order paid: only one may.
        stripe_double.pay(session_id, email="bank@ex.com")
        [completed] = stripe_double.events
        succeeded = event_copy(completed, event_type=SUCCEEDED)

    outcomes = run_together(*[delivery(completed), delivery(succeeded)] * 3)

    assert Counter(outcomes) == {(200, "processed"): 2, (200, "repeat"): 4}
    order = Order.objects.get(pk=pending_order.pk)
    assert order.status == Order.Status.PAID
    assert len(order.status_history) == 1
    assert order.customer_email == "bank@ex.com"
    assert order.payment_intent_id == completed["data"]["object"]["payment_intent"]
    assert StripeEvent.objects.count() == 2
    assert len(paid_log()) == 1


def test_webhook_success_page_and_reconciler_at_once_move_the_order_once(
    stripe_double, new_shopper, checkout_order, laptop, paid_log
):
    shopper = new_shopper(laptop)
    order = checkout_order(shopper)
    stripe_double.pay(order.checkout_session_id)
    [event] = stripe_double.events
    success_url = reverse("payments:success")

    def success_page() -> str:
        page = shopper.get(success_url, {"session_id": order.checkout_session_id})
        assert page.status_code == 200
        return page.content.decode()

    def reconcile() -> bool:
        return order_reconcile(order=order).changed

    webhook, page, reconciled = run_together(delivery(event), success_page, reconcile)

    assert webhook == (200, "processed")
    assert "Your order is paid" in page
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    [entry] = order.status_history
    assert entry["by"] in {f"webhook:{COMPLETED}", "success-page", "reconcile"}
    assert reconciled == (entry["by"] == "reconcile")
    assert len(paid_log()) == 1


def test_expired_racing_paid_ends_in_whichever_committed_first(
    stripe_double, new_shopper, checkout_order, laptop, paid_log
):
    winners = []
    for _ in range(4):
        order = checkout_order(new_shopper(laptop))
        stripe_double.pay(order.checkout_session_id)
        completed = stripe_double.events[-1]
        assert completed["type"] == COMPLETED
        expired = event_copy(
            completed, event_type=EXPIRED, status="expired", payment_status="unpaid"
        )

        outcomes = run_together(delivery(completed), delivery(expired))

        assert outcomes == [(200, "processed"), (200, "processed")]
        order.refresh_from_db()
        [entry] = order.status_history
        assert entry["to"] == order.status
        first, second = StripeEvent.objects.filter(
            checkout_session_id=order.checkout_session_id
        ).order_by("processed_at")
        # The loser waits on the winner's row lock, so it finishes after it.
        assert entry["by"] == f"webhook:{first.type}"
        assert {first.type, second.type} == {COMPLETED, EXPIRED}
        if order.status == Order.Status.PAID:
            assert first.type == COMPLETED
            assert order.paid_at is not None
        else:
            assert order.status == Order.Status.EXPIRED
            assert first.type == EXPIRED
            assert order.paid_at is None
        winners.append(order.status)

    assert len(paid_log()) == winners.count(Order.Status.PAID)
