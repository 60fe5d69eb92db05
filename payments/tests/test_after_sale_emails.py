"""The shipped and refund notices: queued with the change, sent once by the worker.

The shipment goes through the admin's real form, the refund through Stripe's
events from the double to the real webhook. The queue is django-tasks'
DummyBackend (``tasks_queued``); its tasks run here as the worker runs them, and
the last test runs the real worker process on PostgreSQL.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from payments.models import Order, OrderEmail
from payments.tests.conftest import deliver_events, event_copy
from payments.tests.test_emails import run_queued
from payments.tests.test_worker import run_worker_batch, sent_messages

pytestmark = pytest.mark.django_db

SHOPPER = "ada@example.com"
Kind = OrderEmail.Kind


@pytest.fixture(autouse=True)
def _email_settings(settings):
    settings.SHOP_STAFF_EMAIL = ""
    settings.SHOP_BASE_URL = "https://shop.example"


@pytest.fixture
def paid_order(stripe_double, pending_order) -> Order:
    """A paid order for goods to ship; its confirmation already sent."""
    stripe_double.pay(pending_order.checkout_session_id, email=SHOPPER)
    deliver_events(*stripe_double.events)
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PAID
    assert pending_order.fulfillment == Order.Fulfillment.UNFULFILLED
    return pending_order


def ship(client, order: Order, tracking: str):
    return client.post(
        reverse("admin:payments_order_ship", args=[order.pk]),
        {"carrier": "UPS", f"tracking_{order.pk}": tracking},
    )


def test_shipping_from_the_admin_sends_one_notice_with_carrier_tracking_and_link(
    superuser_client, paid_order, tasks_queued
):
    tasks_queued.clear()

    assert ship(superuser_client, paid_order, "1Z999AA10123456784").status_code == 302
    # Shipped already: a second press of the button ships and queues nothing.
    ship(superuser_client, paid_order, "1Z-OTHER")

    [email] = OrderEmail.objects.filter(order=paid_order, kind=Kind.SHIPPED)
    assert email.event_key == "UPS:1Z999AA10123456784"
    assert len(tasks_queued.results) == 1
    assert mail.outbox == []  # nothing is sent in the admin's request
    assert run_queued(tasks_queued) == ["sent"]
    assert run_queued(tasks_queued) == ["already sent"]
    [message] = mail.outbox
    assert message.to == [SHOPPER]
    assert message.subject.endswith("is on its way")
    assert "Carrier: UPS" in message.body
    assert "Tracking number: 1Z999AA10123456784" in message.body
    assert f"https://shop.example/orders/{paid_order.access_token}/" in message.body
    html, _ = message.alternatives[0]
    assert "1Z999AA10123456784" in html


def test_refund_notice_goes_once_however_often_stripe_reports_the_refund(
    stripe_double, paid_order, tasks_queued
):
    tasks_queued.clear()
    seen = len(stripe_double.events)
    stripe_double.refund(paid_order.payment_intent_id, amount=700)
    events = stripe_double.events[seen:]
    assert [event["type"] for event in events] == ["refund.created", "charge.refunded"]

    # Every event twice, and the same news again under new event ids.
    outcomes = deliver_events(*events, *events, *[event_copy(e) for e in events])

    assert outcomes[2:4] == [(200, "repeat"), (200, "repeat")]
    [email] = OrderEmail.objects.filter(order=paid_order, kind=Kind.REFUNDED)
    assert email.context["amount_cents"] == 700
    assert len(tasks_queued.results) == 1
    assert mail.outbox == []  # nothing is sent inside the webhook
    assert run_queued(tasks_queued) == ["sent"]
    [message] = mail.outbox
    assert message.to == [SHOPPER]
    assert message.subject.startswith("A refund for your order")
    assert message.body.startswith("We have refunded $7.00 for your order")


def test_each_refund_of_an_order_has_its_own_notice(
    stripe_double, paid_order, tasks_queued
):
    tasks_queued.clear()
    seen = len(stripe_double.events)
    stripe_double.refund(paid_order.payment_intent_id, amount=700)
    stripe_double.refund(paid_order.payment_intent_id, amount=300)

    deliver_events(*stripe_double.events[seen:])
    run_queued(tasks_queued)

    assert sorted(message.body.split(" for ")[0] for message in mail.outbox) == [
        "We have refunded $3.00",
        "We have refunded $7.00",
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_worker_process_sends_the_shipped_and_refund_notices_once(
    settings, superuser_client, stripe_double, paid_order, tmp_path
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    OrderEmail.objects.update(status=OrderEmail.Status.SENT, sent_at=paid_order.paid_at)
    ship(superuser_client, paid_order, "RM123")
    seen = len(stripe_double.events)
    stripe_double.refund(paid_order.payment_intent_id, amount=700)
    events = stripe_double.events[seen:]
    deliver_events(*events, *events)
    outbox = tmp_path / "outbox"

    first = run_worker_batch(EMAIL_URL=f"file://{outbox}")
    again = run_worker_batch(EMAIL_URL=f"file://{outbox}")

    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    messages = sent_messages(outbox)
    assert sorted(message["Subject"].split(" ")[0] for message in messages) == [
        "A",
        "Your",
    ]
    assert all(message["To"] == SHOPPER for message in messages)
    shipped = next(m for m in messages if m["Subject"].startswith("Your"))
    assert "Tracking number: RM123" in shipped.as_string()
    assert set(
        OrderEmail.objects.filter(kind__in=[Kind.SHIPPED, Kind.REFUNDED]).values_list(
            "status", flat=True
        )
    ) == {OrderEmail.Status.SENT}
    assert DBTaskResult.objects.successful().filter(return_value="sent").count() == 2
