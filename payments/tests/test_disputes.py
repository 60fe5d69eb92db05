"""Disputes (chargebacks) from Stripe's events: recorded, flagged until settled."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from payments.models import Dispute, Order, OrderProblem
from payments.stripe_double.events import thin_notification
from payments.tests.conftest import deliver_events, event_copy

pytestmark = pytest.mark.django_db

ORDERS_URL = reverse("admin:payments_order_changelist")


def dispute_events(stripe_double, seen: int) -> list[dict]:
    return [
        event
        for event in stripe_double.events[seen:]
        if event["type"].startswith("charge.dispute.")
    ]


def needing_attention(client) -> list[int]:
    listed = client.get(ORDERS_URL, {"problem": "yes"})
    assert listed.status_code == 200
    return [order.pk for order in listed.context["cl"].result_list]


def unresolved(order: Order) -> list[str]:
    return list(
        OrderProblem.objects.filter(order=order, resolved_at__isnull=True).values_list(
            "message", flat=True
        )
    )


def test_opened_dispute_flags_the_order_with_reason_and_evidence_deadline(
    stripe_double, paid_order, superuser_client
):
    seen = len(stripe_double.events)
    opened = stripe_double.dispute(paid_order.payment_intent_id, reason="fraudulent")
    [event] = dispute_events(stripe_double, seen)
    assert event["type"] == "charge.dispute.created"

    assert deliver_events(event) == [(200, "processed")]

    dispute = Dispute.objects.get()
    due_by = datetime.fromtimestamp(opened["evidence_details"]["due_by"], tz=UTC)
    assert dispute.order == paid_order
    assert dispute.stripe_dispute_id == opened["id"]
    assert dispute.reason == "fraudulent"
    assert dispute.amount_cents == paid_order.total_cents
    assert dispute.evidence_due_by == due_by
    assert dispute.is_open
    [message] = unresolved(paid_order)
    assert "fraudulent" in message
    assert f"evidence due by {due_by:%Y-%m-%d %H:%M} UTC" in message
    assert needing_attention(superuser_client) == [paid_order.pk]
    change_page = superuser_client.get(
        reverse("admin:payments_order_change", args=[paid_order.pk])
    ).content.decode()
    assert opened["id"] in change_page
    assert "needs_response" in change_page


def test_the_same_dispute_delivered_again_flags_the_order_once(
    stripe_double, paid_order
):
    seen = len(stripe_double.events)
    stripe_double.dispute(paid_order.payment_intent_id)
    [event] = dispute_events(stripe_double, seen)

    # The same event again, and the same news in an event of its own.
    assert deliver_events(event, event, event_copy(event)) == [
        (200, "processed"),
        (200, "repeat"),
        (200, "processed"),
    ]

    assert Dispute.objects.count() == 1
    assert len(unresolved(paid_order)) == 1


def test_won_dispute_settles_the_order(stripe_double, paid_order, superuser_client):
    seen = len(stripe_double.events)
    opened = stripe_double.dispute(paid_order.payment_intent_id)
    stripe_double.close_dispute(opened["id"], won=True)
    created, closed = dispute_events(stripe_double, seen)
    assert closed["type"] == "charge.dispute.closed"

    assert deliver_events(created, closed) == [(200, "processed"), (200, "processed")]

    dispute = Dispute.objects.get()
    assert dispute.status == "won"
    assert dispute.closed_at is not None
    assert unresolved(paid_order) == []
    assert needing_attention(superuser_client) == []
    paid_order.refresh_from_db()
    assert paid_order.status == Order.Status.PAID


def test_lost_dispute_leaves_the_order_needing_attention(
    stripe_double, paid_order, superuser_client
):
    seen = len(stripe_double.events)
    opened = stripe_double.dispute(
        paid_order.payment_intent_id, reason="product_not_received"
    )
    stripe_double.close_dispute(opened["id"], won=False)
    created, closed = dispute_events(stripe_double, seen)

    deliver_events(created, closed)

    [message] = unresolved(paid_order)
    assert message.startswith(f"Dispute {opened['id']}: lost")
    assert "product_not_received" in message
    assert needing_attention(superuser_client) == [paid_order.pk]


def test_closed_event_that_arrives_first_is_not_undone_by_the_late_created(
    stripe_double, paid_order
):
    seen = len(stripe_double.events)
    opened = stripe_double.dispute(paid_order.payment_intent_id)
    stripe_double.close_dispute(opened["id"], won=True)
    created, closed = dispute_events(stripe_double, seen)

    deliver_events(closed, created)

    assert Dispute.objects.get().status == "won"
    assert unresolved(paid_order) == []


def test_thin_dispute_event_is_fetched_and_recorded(stripe_double, paid_order):
    stripe_double.event_payloads = "thin"
    stripe_double.dispute(paid_order.payment_intent_id)
    [thin] = [
        event
        for event in stripe_double.thin_events
        if event["type"] == "v1.charge.dispute.created"
    ]

    assert deliver_events(thin_notification(thin)) == [(200, "processed")]

    assert Dispute.objects.get().order == paid_order
    assert len(unresolved(paid_order)) == 1


def test_dispute_of_a_payment_not_the_shops_is_ignored(stripe_double, paid_order):
    seen = len(stripe_double.events)
    stripe_double.dispute(paid_order.payment_intent_id)
    Order.objects.filter(pk=paid_order.pk).update(payment_intent_id="pi_other")

    assert deliver_events(*dispute_events(stripe_double, seen)) == [(200, "ignored")]
    assert Dispute.objects.count() == 0
