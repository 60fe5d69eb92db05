"""Thin events: a signed reference that the shop fetches through stripe-python."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime

import pytest
from django.test import Client

from payments.models import Order, StripeEvent
from payments.tests.conftest import WEBHOOK_URL, deliver_events, sign

pytestmark = pytest.mark.django_db


def thin_event(event_type: str, session_id: str, **fields) -> dict:
    """Return a thin event notification in Stripe's shape (an event destination's)."""
    return {
        "id": f"evt_test_{secrets.token_hex(12)}",
        "object": "v2.core.event",
        "type": event_type,
        "created": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "livemode": False,
        "related_object": {
            "id": session_id,
            "type": "checkout.session",
            "url": f"/v1/checkout/sessions/{session_id}",
        },
        **fields,
    }


def session_fetches(stripe_double, session_id: str) -> list[dict]:
    path = f"/v1/checkout/sessions/{session_id}"
    return [
        request
        for request in stripe_double.requests
        if request["method"] == "GET" and request["path"] == path
    ]


def _completed(stripe_double, session_id: str) -> None:
    stripe_double.pay(session_id)


def _async_succeeded(stripe_double, session_id: str) -> None:
    stripe_double.pay(session_id, delayed=True)
    stripe_double.settle(session_id)


def _async_failed(stripe_double, session_id: str) -> None:
    stripe_double.pay(session_id, delayed=True)
    stripe_double.settle(session_id, succeeded=False)


def _expired(stripe_double, session_id: str) -> None:
    stripe_double.expire(session_id)


@pytest.mark.parametrize(
    ("event_type", "happen", "status"),
    [
        ("v1.checkout.session.completed", _completed, Order.Status.PAID),
        (
            "v1.checkout.session.async_payment_succeeded",
            _async_succeeded,
            Order.Status.PAID,
        ),
        (
            "v1.checkout.session.async_payment_failed",
            _async_failed,
            Order.Status.FAILED,
        ),
        ("v1.checkout.session.expired", _expired, Order.Status.EXPIRED),
    ],
    ids=["completed", "async-succeeded", "async-failed", "expired"],
)
def test_thin_checkout_event_fetches_the_session_and_moves_the_order(
    stripe_double, pending_order, event_type, happen, status
):
    session_id = pending_order.checkout_session_id
    happen(stripe_double, session_id)
    event = thin_event(event_type, session_id)

    assert deliver_events(event) == [(200, "processed")]

    pending_order.refresh_from_db()
    assert pending_order.status == status
    assert pending_order.status_history[-1]["by"] == f"webhook:{event_type}"
    # Fetched by stripe-python's thin-event support, which names the event.
    [fetch] = session_fetches(stripe_double, session_id)
    headers = {name.lower(): value for name, value in fetch["headers"].items()}
    assert headers["stripe-request-trigger"] == f"event={event['id']}"
    record = StripeEvent.objects.get()
    assert (record.event_id, record.type) == (event["id"], event_type)
    assert record.checkout_session_id == session_id
    assert record.payload == event

    assert deliver_events(event) == [(200, "repeat")]
    assert len(pending_order.status_history) == 1


def test_thin_completed_event_of_a_delayed_payment_leaves_the_order_pending(
    stripe_double, pending_order
):
    session_id = pending_order.checkout_session_id
    stripe_double.pay(session_id, delayed=True)

    event = thin_event("v1.checkout.session.completed", session_id)

    assert deliver_events(event) == [(200, "processed")]
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PENDING
    assert pending_order.payment_intent_id.startswith("pi_")


def test_thin_event_with_a_bad_signature_is_400_and_fetches_nothing(
    stripe_double, pending_order
):
    stripe_double.pay(pending_order.checkout_session_id)
    asked = len(stripe_double.requests)
    body = json.dumps(
        thin_event("v1.checkout.session.completed", pending_order.checkout_session_id)
    ).encode()

    response = Client().post(
        WEBHOOK_URL,
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(body, secret="whsec_not_ours"),
    )

    assert response.status_code == 400
    assert len(stripe_double.requests) == asked
    assert not StripeEvent.objects.exists()
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PENDING


def test_thin_event_about_a_session_stripe_does_not_know_is_200_and_ignored(
    stripe_double, pending_order
):
    event = thin_event("v1.checkout.session.completed", "cs_test_not_this_account")

    assert deliver_events(event) == [(200, "ignored")]

    assert StripeEvent.objects.get().checkout_session_id == "cs_test_not_this_account"
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PENDING


def test_thin_event_about_a_session_of_another_integration_is_200_and_ignored(
    stripe_double, pending_order, new_shopper, checkout_order, laptop
):
    foreign = checkout_order(new_shopper(laptop))
    stripe_double.pay(foreign.checkout_session_id)
    # The session exists at Stripe, but nothing in this shop names it.
    Order.objects.filter(pk=foreign.pk).delete()
    event = thin_event("v1.checkout.session.completed", foreign.checkout_session_id)

    assert deliver_events(event) == [(200, "ignored")]
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PENDING


def test_thin_event_of_an_unhandled_type_is_recorded_without_fetching(
    stripe_double, pending_order
):
    asked = len(stripe_double.requests)
    event = thin_event(
        "v1.billing.meter.error_report_triggered", "mtr_test_123", related_object=None
    )

    assert deliver_events(event) == [(200, "ignored")]

    assert len(stripe_double.requests) == asked
    assert StripeEvent.objects.get().type == "v1.billing.meter.error_report_triggered"


def test_thin_event_while_stripe_is_down_is_503_unrecorded_and_the_retry_works(
    stripe_double, pending_order
):
    session_id = pending_order.checkout_session_id
    stripe_double.pay(session_id)
    event = thin_event("v1.checkout.session.completed", session_id)
    stripe_double.fail_next(1, status=500)

    assert deliver_events(event) == [(503, None)]
    assert not StripeEvent.objects.exists()

    assert deliver_events(event) == [(200, "processed")]
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PAID


@pytest.mark.parametrize(
    "change",
    [
        {"created": None},
        {"context": 5},
        {"related_object": {"id": "cs_test_1", "url": "/v1/x"}},
    ],
    ids=["no-created", "context-not-a-string", "no-type"],
)
def test_signed_thin_event_the_sdk_cannot_read_is_400_and_recorded_nowhere(
    stripe_double, pending_order, change
):
    event = thin_event("v1.checkout.session.completed", "cs_test_1")
    for name, value in change.items():
        if value is None:
            del event[name]
        else:
            event[name] = value

    status = deliver_events(event)[0][0]

    assert status == 400
    assert not StripeEvent.objects.exists()


@pytest.mark.parametrize(
    "related_object",
    [
        None,
        {"id": 5, "url": "/v1/x"},
        {"id": "cs_test_1"},
        "cs_test_1",
        {
            "id": "cs_test_1",
            "url": "https://evil.example/v1/checkout/sessions/cs_test_1",
        },
        {"id": "cs_test_1", "url": "/v1/customers/cus_1"},
        {"id": "cus_1", "url": "/v1/checkout/sessions/cus_1"},
        {"id": "cs_test_1/../x", "url": "/v1/checkout/sessions/cs_test_1/../x"},
    ],
    ids=[
        "missing",
        "id-not-a-string",
        "no-url",
        "not-an-object",
        "another-host",
        "another-object",
        "not-a-session-id",
        "path-tricks",
    ],
)
def test_thin_checkout_event_without_a_usable_related_object_is_400(
    stripe_double, related_object
):
    event = thin_event("v1.checkout.session.completed", "cs_test_1")
    event["related_object"] = related_object

    asked = len(stripe_double.requests)

    assert deliver_events(event) == [(400, None)]
    assert not StripeEvent.objects.exists()
    assert len(stripe_double.requests) == asked


@pytest.mark.parametrize(("payloads", "deliveries"), [("thin", 1), ("both", 2)])
def test_the_doubles_own_thin_deliveries_pay_the_order_once(
    live_webhooks, pending_order, payloads, deliveries
):
    live_webhooks.event_payloads = payloads

    live_webhooks.pay(pending_order.checkout_session_id)
    live_webhooks.wait_for_deliveries(deliveries)

    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PAID
    assert len(pending_order.status_history) == 1
    types = sorted(StripeEvent.objects.values_list("type", flat=True))
    expected = {
        "thin": ["v1.checkout.session.completed"],
        "both": ["checkout.session.completed", "v1.checkout.session.completed"],
    }
    assert types == expected[payloads]
