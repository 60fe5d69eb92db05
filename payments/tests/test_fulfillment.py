"""The order's life, driven by the events the Stripe double makes.

PENDING moves once, to PAID, FAILED or EXPIRED, whatever order the events come in,
however often, and however late.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from django.urls import reverse

from payments.models import Order, OrderProblem, StripeEvent
from payments.tests.conftest import deliver_events, event_copy

pytestmark = pytest.mark.django_db

COMPLETED = "checkout.session.completed"
SUCCEEDED = "checkout.session.async_payment_succeeded"
FAILED = "checkout.session.async_payment_failed"
EXPIRED = "checkout.session.expired"


def types_of(events: list[dict]) -> list[str]:
    return [event["type"] for event in events]


def test_completed_and_paid_session_marks_the_order_paid_with_its_details(
    stripe_double, pending_order
):
    session = stripe_double.pay(pending_order.checkout_session_id, email="ada@ex.com")

    assert deliver_events(*stripe_double.events) == [(200, "processed")]

    order = Order.objects.get(pk=pending_order.pk)
    assert order.status == Order.Status.PAID
    assert order.paid_at is not None
    assert order.payment_intent_id == session["payment_intent"]
    assert order.payment_intent_id.startswith("pi_")
    assert order.customer_email == "ada@ex.com"
    assert order.problem == ""
    [entry] = order.status_history
    assert entry["from"] == "pending"
    assert entry["to"] == "paid"
    assert entry["by"] == f"webhook:{COMPLETED}"
    assert entry["at"] == order.paid_at.isoformat()


def test_delayed_payment_stays_pending_until_it_succeeds(stripe_double, pending_order):
    session_id = pending_order.checkout_session_id
    session = stripe_double.pay(session_id, delayed=True, email="bank@ex.com")
    [completed] = stripe_double.events

    assert deliver_events(completed) == [(200, "processed")]

    order = Order.objects.get(pk=pending_order.pk)
    assert order.status == Order.Status.PENDING
    assert order.paid_at is None
    assert order.status_history == []
    # What the session already says is kept while the debit is processing.
    assert order.payment_intent_id == session["payment_intent"]
    assert order.customer_email == "bank@ex.com"

    stripe_double.settle(session_id)
    [succeeded] = stripe_double.events[1:]
    assert succeeded["type"] == SUCCEEDED

    assert deliver_events(succeeded) == [(200, "processed")]

    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.paid_at is not None
    assert [entry["by"] for entry in order.status_history] == [f"webhook:{SUCCEEDED}"]


def test_delayed_payment_that_fails_marks_the_order_failed(
    stripe_double, pending_order
):
    session_id = pending_order.checkout_session_id
    stripe_double.pay(session_id, delayed=True)
    stripe_double.settle(session_id, succeeded=False)
    assert types_of(stripe_double.events) == [COMPLETED, FAILED]

    deliver_events(*stripe_double.events)

    order = Order.objects.get(pk=pending_order.pk)
    assert order.status == Order.Status.FAILED
    assert order.paid_at is None
    assert order.problem == "The delayed payment failed."
    assert [entry["to"] for entry in order.status_history] == ["failed"]


def test_expired_session_marks_the_order_expired(stripe_double, pending_order):
    stripe_double.expire(pending_order.checkout_session_id)
    assert types_of(stripe_double.events) == [EXPIRED]

    assert deliver_events(*stripe_double.events) == [(200, "processed")]

    order = Order.objects.get(pk=pending_order.pk)
    assert order.status == Order.Status.EXPIRED
    assert order.paid_at is None
    assert [entry["to"] for entry in order.status_history] == ["expired"]


def _expired_then_paid(double, session_id: str) -> tuple[str, list[dict]]:
    double.expire(session_id)
    [expired] = double.events
    paid = event_copy(
        expired, event_type=COMPLETED, status="complete", payment_status="paid"
    )
    return "expired", [expired, paid]


def _failed_then_succeeded(double, session_id: str) -> tuple[str, list[dict]]:
    double.pay(session_id, delayed=True)
    double.settle(session_id, succeeded=False)
    completed, failed = double.events
    succeeded = event_copy(failed, event_type=SUCCEEDED, payment_status="paid")
    return "failed", [completed, failed, succeeded]


def _paid_then_expired(double, session_id: str) -> tuple[str, list[dict]]:
    double.pay(session_id)
    [completed] = double.events
    expired = event_copy(completed, event_type=EXPIRED, status="expired")
    failed = event_copy(completed, event_type=FAILED, payment_status="unpaid")
    return "paid", [completed, expired, failed]


@pytest.mark.parametrize(
    "story",
    [_expired_then_paid, _failed_then_succeeded, _paid_then_expired],
    ids=lambda story: story.__name__.strip("_"),
)
def test_final_state_never_moves_again(stripe_double, pending_order, story):
    final, events = story(stripe_double, pending_order.checkout_session_id)

    outcomes = deliver_events(*events)

    assert outcomes == [(200, "processed")] * len(events)
    order = Order.objects.get(pk=pending_order.pk)
    assert order.status == final
    assert [entry["to"] for entry in order.status_history] == [final]
    assert (order.paid_at is not None) == (final == "paid")


def _paid(double, session_id: str) -> str:
    double.pay(session_id)
    return "paid"


def _delayed_then_succeeded(double, session_id: str) -> str:
    double.pay(session_id, delayed=True)
    double.settle(session_id)
    return "paid"


def _delayed_then_failed(double, session_id: str) -> str:
    double.pay(session_id, delayed=True)
    double.settle(session_id, succeeded=False)
    return "failed"


def _expired(double, session_id: str) -> str:
    double.expire(session_id)
    return "expired"


ARRIVALS: dict[str, Callable[[list[dict]], list[dict]]] = {
    "in-order": lambda events: events,
    "reversed": lambda events: events[::-1],
    "each-twice": lambda events: events + events,
    "reversed-each-twice": lambda events: [e for e in events[::-1] for _ in (1, 2)],
}


@pytest.mark.parametrize("arrival", ARRIVALS)
@pytest.mark.parametrize(
    "story",
    [_paid, _delayed_then_succeeded, _delayed_then_failed, _expired],
    ids=lambda story: story.__name__.strip("_"),
)
def test_final_state_does_not_depend_on_arrival_order_or_repeats(
    stripe_double, pending_order, story, arrival
):
    final = story(stripe_double, pending_order.checkout_session_id)
    events = stripe_double.events

    outcomes = deliver_events(*ARRIVALS[arrival](events))

    order = Order.objects.get(pk=pending_order.pk)
    assert order.status == final
    assert [entry["to"] for entry in order.status_history] == [final]
    assert StripeEvent.objects.count() == len(events)
    assert outcomes.count((200, "processed")) == len(events)
    assert len(outcomes) - len(events) == outcomes.count((200, "repeat"))
    if final == "paid":
        assert order.payment_intent_id == stripe_double.sessions[
            order.checkout_session_id
        ].get("payment_intent")


def test_async_success_before_completed_marks_the_order_paid(
    stripe_double, pending_order
):
    session_id = pending_order.checkout_session_id
    stripe_double.pay(session_id, delayed=True, email="late@ex.com")
    stripe_double.settle(session_id)
    completed, succeeded = stripe_double.events

    deliver_events(succeeded)
    order = Order.objects.get(pk=pending_order.pk)
    assert order.status == Order.Status.PAID
    paid_at = order.paid_at

    deliver_events(completed)

    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.paid_at == paid_at
    assert order.customer_email == "late@ex.com"
    assert len(order.status_history) == 1


@pytest.mark.parametrize(
    "tamper",
    [{"amount_total": 102997}, {"amount_total": 1}, {"currency": "eur"}],
    ids=["one-cent-less", "a-cent-in-all", "other-currency"],
)
def test_amount_mismatch_is_not_paid_and_is_flagged_for_an_admin(
    stripe_double, pending_order, tamper, caplog, admin_client
):
    assert pending_order.total_cents == 102998
    stripe_double.pay(pending_order.checkout_session_id)
    [event] = stripe_double.events
    event["data"]["object"].update(tamper)

    assert deliver_events(event) == [(200, "processed")]

    order = Order.objects.get(pk=pending_order.pk)
    assert order.status == Order.Status.PENDING
    assert order.paid_at is None
    assert order.problem.startswith("Amount mismatch")
    stripe_says = f"{event['data']['object']['amount_total']} "
    stripe_says += event["data"]["object"]["currency"]
    assert f"Stripe says {stripe_says}" in order.problem
    assert "the order says 102998 usd" in order.problem
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any(
        "amount mismatch" in r.getMessage() and str(order.public_id) in r.getMessage()
        for r in errors
    )
    [problem] = OrderProblem.objects.all()
    assert (problem.order, problem.resolved_at) == (order, None)
    assert problem.by == "webhook:checkout.session.completed"
    changelist = reverse("admin:payments_order_changelist")
    flagged = admin_client.get(changelist, {"problem": "yes"})
    fine = admin_client.get(changelist, {"problem": "no"})
    assert str(order.public_id) in flagged.content.decode()
    assert str(order.public_id) not in fine.content.decode()


def test_order_whose_session_id_was_lost_is_found_by_client_reference_id(
    stripe_double, pending_order
):
    session_id = pending_order.checkout_session_id
    Order.objects.filter(pk=pending_order.pk).update(checkout_session_id=None)
    stripe_double.pay(session_id)

    assert deliver_events(*stripe_double.events) == [(200, "processed")]

    order = Order.objects.get(pk=pending_order.pk)
    assert order.status == Order.Status.PAID
    assert order.checkout_session_id == session_id


def test_client_reference_id_does_not_claim_an_order_with_another_session(
    stripe_double, pending_order
):
    stripe_double.pay(pending_order.checkout_session_id)
    [event] = stripe_double.events
    stranger = event_copy(event, id="cs_test_someone_elses_session")

    assert deliver_events(stranger) == [(200, "ignored")]

    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PENDING


# Through the double's own webhook delivery, over HTTP, to the shop on live_server.


def test_held_delayed_events_released_in_reverse_end_paid(live_webhooks, pending_order):
    session_id = pending_order.checkout_session_id
    live_webhooks.hold_events()
    live_webhooks.pay(session_id, delayed=True)
    live_webhooks.settle(session_id)

    live_webhooks.release_events("reverse")
    live_webhooks.wait_for_deliveries(2)

    order = Order.objects.get(pk=pending_order.pk)
    assert types_of(live_webhooks.deliveries) == [SUCCEEDED, COMPLETED]
    assert order.status == Order.Status.PAID
    assert [entry["by"] for entry in order.status_history] == [f"webhook:{SUCCEEDED}"]
    assert StripeEvent.objects.count() == 2


def test_every_event_delivered_twice_moves_the_order_once(live_webhooks, pending_order):
    session_id = pending_order.checkout_session_id
    live_webhooks.duplicate_deliveries = True
    live_webhooks.pay(session_id, delayed=True)
    live_webhooks.settle(session_id, succeeded=False)

    live_webhooks.wait_for_deliveries(4)

    deliveries = live_webhooks.deliveries
    assert sorted(types_of(deliveries)) == sorted([COMPLETED, FAILED] * 2)
    assert [d["status"] for d in deliveries] == [200] * 4
    order = Order.objects.get(pk=pending_order.pk)
    assert order.status == Order.Status.FAILED
    assert len(order.status_history) == 1
    assert StripeEvent.objects.count() == 2


def test_late_webhook_finds_the_order_already_paid_by_the_success_page(
    live_webhooks, new_shopper, checkout_order, laptop
):
    shopper = new_shopper(laptop)
    order = checkout_order(shopper)
    live_webhooks.delivery_delay = 1.0
    live_webhooks.pay(order.checkout_session_id)

    page = shopper.get(
        reverse("payments:success"), {"session_id": order.checkout_session_id}
    )

    assert live_webhooks.deliveries == []
    assert "Your order is paid" in page.content.decode()
    live_webhooks.wait_for_deliveries(1)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert [entry["by"] for entry in order.status_history] == ["success-page"]
    assert StripeEvent.objects.get().processed_at is not None
