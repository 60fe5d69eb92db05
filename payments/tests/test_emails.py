"""Emails about orders: queued with the payment, sent once by the task, retried.

The webhook runs through the real view; the queue is django-tasks' DummyBackend
(``tasks_queued``), which records tasks without running them, except where a
test needs the database queue itself. Tasks run here by calling them as the
worker does; test_worker.py runs the real worker process.
"""

from __future__ import annotations

import smtplib
from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from payments.emails import (
    order_email_send,
    order_refund_email_queue,
    order_shipped_email_queue,
)
from payments.fulfillment import order_transition
from payments.models import Order, OrderEmail
from payments.tests.conftest import deliver_events, event_copy

pytestmark = pytest.mark.django_db

STAFF = "orders@shop.example"
SHOPPER = "ada@example.com"
DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
SUCCEEDED = "checkout.session.async_payment_succeeded"


@pytest.fixture(autouse=True)
def _email_settings(settings):
    settings.SHOP_STAFF_EMAIL = STAFF
    settings.SHOP_BASE_URL = "https://shop.example"
    settings.DEFAULT_FROM_EMAIL = "Shop <shop@shop.example>"
    settings.SHOP_EMAIL_RETRY_SECONDS = [60, 300, 1800]


class RefusingBackend(BaseEmailBackend):
    """An email server that refuses every message."""

    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


def pay_through_webhook(stripe_double, order: Order) -> dict:
    """Pay the order's session on the double and deliver its event; return it."""
    stripe_double.pay(order.checkout_session_id, email=SHOPPER)
    [event] = stripe_double.events
    assert deliver_events(event) == [(200, "processed")]
    return event


def mark_paid(order: Order) -> Order:
    """Mark an order paid by SHOPPER through fulfillment, which queues its emails."""
    return order_transition(
        order_id=order.pk, to=Order.Status.PAID, by="test", customer_email=SHOPPER
    ).order


def run_queued(backend) -> list[str]:
    """Run every task queued so far, as the worker would; return their results."""
    return [result.task.call(**result.kwargs) for result in backend.results]


def queued_emails(backend) -> list[tuple[str, str]]:
    emails = OrderEmail.objects.in_bulk(
        [result.kwargs["email_id"] for result in backend.results]
    )
    return sorted(
        (
            emails[result.kwargs["email_id"]].kind,
            emails[result.kwargs["email_id"]].recipient,
        )
        for result in backend.results
    )


def test_paying_through_the_webhook_queues_both_emails_and_sends_none(
    stripe_double, pending_order, tasks_queued
):
    pay_through_webhook(stripe_double, pending_order)

    assert [result.task for result in tasks_queued.results] == [order_email_send] * 2
    assert queued_emails(tasks_queued) == [
        ("confirmation", SHOPPER),
        ("staff_new_order", STAFF),
    ]
    assert mail.outbox == []


def test_the_same_payment_reported_again_and_again_queues_nothing_more(
    stripe_double, new_shopper, checkout_order, laptop, tasks_queued
):
    shopper = new_shopper(laptop)
    order = checkout_order(shopper)
    event = pay_through_webhook(stripe_double, order)

    again = [event, event_copy(event), event_copy(event, event_type=SUCCEEDED)]
    assert [status for status, _ in deliver_events(*again)] == [200, 200, 200]
    success = shopper.get(
        reverse("payments:success"), {"session_id": order.checkout_session_id}
    )
    assert success.status_code == 200

    assert len(tasks_queued.results) == 2
    assert OrderEmail.objects.filter(order=order).count() == 2


def test_a_payment_rolled_back_queues_no_email_and_no_task(pending_order, settings):
    settings.TASKS = DATABASE_QUEUE

    with pytest.raises(RuntimeError), transaction.atomic():
        mark_paid(pending_order)
        assert DBTaskResult.objects.count() == 2  # queued, inside the transaction
        raise RuntimeError("something later in the same transaction failed")

    assert Order.objects.get(pk=pending_order.pk).status == Order.Status.PENDING
    assert DBTaskResult.objects.count() == 0
    assert OrderEmail.objects.count() == 0


def test_the_queued_tasks_send_the_confirmation_with_items_totals_and_link(
    stripe_double, pending_order, tasks_queued
):
    pay_through_webhook(stripe_double, pending_order)

    assert run_queued(tasks_queued) == ["sent", "sent"]

    [confirmation] = [m for m in mail.outbox if m.to == [SHOPPER]]
    order = Order.objects.get(pk=pending_order.pk)
    number = str(order.public_id)[:8].upper()
    link = f"https://shop.example/orders/{order.access_token}/"
    assert confirmation.subject == f"Your order {number} is confirmed"
    assert confirmation.from_email == "Shop <shop@shop.example>"
    assert "1 x Laptop at $999.99: $999.99" in confirmation.body
    assert "1 x Mouse at $29.99: $29.99" in confirmation.body
    assert "Total: $1,029.98" in confirmation.body
    assert link in confirmation.body
    [(html, mimetype)] = confirmation.alternatives
    assert mimetype == "text/html"
    assert f'<a href="{link}">' in html
    assert "$1,029.98" in html
    assert "style=" not in html
    # The link in the email opens the order, from a browser that never saw it.
    page = Client().get(link.removeprefix("https://shop.example"))
    assert page.status_code == 200
    assert "Paid. We are preparing your order." in page.content.decode()

    [notice] = [m for m in mail.outbox if m.to == [STAFF]]
    assert notice.subject == f"New order {number}: $1,029.98"
    assert str(order.public_id) in notice.body
    assert SHOPPER in notice.body
    assert OrderEmail.objects.filter(status="sent", attempts=1).count() == 2


def test_a_task_run_again_after_a_success_sends_nothing_more(
    stripe_double, pending_order, tasks_queued
):
    pay_through_webhook(stripe_double, pending_order)
    run_queued(tasks_queued)

    assert run_queued(tasks_queued) == ["already sent", "already sent"]
    assert len(mail.outbox) == 2


def test_a_failed_send_is_retried_later_with_growing_delays_then_given_up(
    stripe_double, pending_order, tasks_queued, settings
):
    settings.SHOP_STAFF_EMAIL = ""
    pay_through_webhook(stripe_double, pending_order)
    [first] = tasks_queued.results
    email = OrderEmail.objects.get(pk=first.kwargs["email_id"])
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"

    delays = []
    for attempt in range(1, 5):
        before = timezone.now()
        with pytest.raises(smtplib.SMTPServerDisconnected):
            tasks_queued.results[-1].task.call(email_id=email.pk)
        email.refresh_from_db()
        assert email.attempts == attempt
        assert email.last_error.startswith("SMTPServerDisconnected: Connection")
        if attempt <= 3:
            retry = tasks_queued.results[-1]
            assert retry.kwargs == {"email_id": email.pk}
            delays.append(round((retry.task.run_after - before).total_seconds()))
            assert email.status == "queued"

    assert delays == [60, 300, 1800]
    assert len(tasks_queued.results) == 4  # the first and three retries, no more
    assert email.status == "failed"
    # A failed email stays failed: no late task sends it.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert order_email_send.call(email_id=email.pk) == "already failed"
    assert mail.outbox == []


def test_a_retry_that_works_sends_the_email_once(
    stripe_double, pending_order, tasks_queued, settings
):
    settings.SHOP_STAFF_EMAIL = ""
    pay_through_webhook(stripe_double, pending_order)
    [first] = tasks_queued.results
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    with pytest.raises(smtplib.SMTPServerDisconnected):
        first.task.call(**first.kwargs)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    assert run_queued(tasks_queued) == ["sent", "already sent"]

    assert len(mail.outbox) == 1
    email = OrderEmail.objects.get()
    assert (email.status, email.attempts, email.last_error) == ("sent", 2, "")


def test_no_staff_notice_without_a_staff_address_and_no_confirmation_without_email(
    pending_order, tasks_queued, settings
):
    settings.SHOP_STAFF_EMAIL = ""
    Order.objects.filter(pk=pending_order.pk).update(customer_email="")

    order_transition(order_id=pending_order.pk, to=Order.Status.PAID, by="test")

    assert tasks_queued.results == []


def test_an_order_that_fails_or_expires_queues_no_email(pending_order, tasks_queued):
    order_transition(order_id=pending_order.pk, to=Order.Status.EXPIRED, by="test")

    assert tasks_queued.results == []


def test_shipped_notice_names_carrier_and_tracking_and_goes_once_per_shipment(
    pending_order, tasks_queued
):
    order = mark_paid(pending_order)
    tasks_queued.clear()

    with transaction.atomic():
        order_shipped_email_queue(
            order=order,
            carrier="UPS",
            tracking_number="1Z999AA10123456784",
            tracking_url="https://www.ups.com/track?tracknum=1Z999AA10123456784",
        )
    assert (
        order_shipped_email_queue(
            order=order, carrier="UPS", tracking_number="1Z999AA10123456784"
        )
        is None
    )
    assert run_queued(tasks_queued) == ["sent"]

    [message] = mail.outbox
    assert message.to == [SHOPPER]
    assert message.subject.endswith("is on its way")
    assert "Carrier: UPS" in message.body
    assert "Tracking number: 1Z999AA10123456784" in message.body
    assert "https://www.ups.com/track?tracknum=1Z999AA10123456784" in message.body
    html, _ = message.alternatives[0]
    assert '<a href="https://www.ups.com/track?tracknum=1Z999AA10123456784">' in html


def test_shipped_notice_drops_a_tracking_link_that_is_not_a_web_address(
    pending_order, tasks_queued
):
    order = Order.objects.get(pk=pending_order.pk)
    Order.objects.filter(pk=order.pk).update(customer_email=SHOPPER)
    order.customer_email = SHOPPER

    order_shipped_email_queue(
        order=order,
        carrier="Post",
        tracking_number="RR123",
        tracking_url="javascript:alert(1)",
    )
    run_queued(tasks_queued)

    [message] = mail.outbox
    assert "javascript" not in message.body
    assert "javascript" not in message.alternatives[0][0]


def test_refund_notice_states_the_amount_and_goes_once_per_refund(
    pending_order, tasks_queued
):
    order = mark_paid(pending_order)
    tasks_queued.clear()

    order_refund_email_queue(order=order, refund_id="re_1", amount_cents=2999)
    order_refund_email_queue(order=order, refund_id="re_1", amount_cents=2999)
    order_refund_email_queue(order=order, refund_id="re_2", amount_cents=500)
    assert run_queued(tasks_queued) == ["sent", "sent"]

    bodies = sorted(message.body for message in mail.outbox)
    assert bodies[0].startswith("We have refunded $29.99 for your order")
    assert bodies[1].startswith("We have refunded $5.00 for your order")
    assert all(message.subject.startswith("A refund for") for message in mail.outbox)


def test_a_retry_is_queued_in_the_database_to_run_after_its_delay(
    pending_order, settings
):
    settings.TASKS = DATABASE_QUEUE
    settings.SHOP_STAFF_EMAIL = ""
    mark_paid(pending_order)
    [queued] = DBTaskResult.objects.all()
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"

    with pytest.raises(smtplib.SMTPServerDisconnected):
        queued.task.call(**queued.task_result.kwargs)

    retry = DBTaskResult.objects.exclude(pk=queued.pk).get()
    assert retry.status == "READY"
    assert retry.run_after - timezone.now() > timedelta(seconds=55)
    assert not DBTaskResult.objects.ready().filter(pk=retry.pk).exists()


def test_an_operator_sends_a_failed_email_again_from_the_admin(
    superuser_client, pending_order, tasks_queued
):
    failed = OrderEmail.objects.create(
        order=pending_order,
        kind=OrderEmail.Kind.CONFIRMATION,
        event_key="paid",
        recipient=SHOPPER,
        status=OrderEmail.Status.FAILED,
        attempts=4,
        last_error="SMTPServerDisconnected: Connection unexpectedly closed",
    )
    emails_url = reverse("admin:payments_orderemail_changelist")
    listing = superuser_client.get(emails_url, {"status__exact": "failed"})
    assert listing.status_code == 200
    assert SHOPPER in listing.content.decode()

    response = superuser_client.post(
        emails_url,
        {"action": "requeue", "_selected_action": [failed.pk]},
        follow=True,
    )

    assert "Queued 1 email(s) again." in response.content.decode()
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("queued", 0)
    [retry] = tasks_queued.results
    assert retry.kwargs == {"email_id": failed.pk}
    assert run_queued(tasks_queued) == ["sent"]
    assert len(mail.outbox) == 1


def test_emails_left_unsent_by_a_killed_worker_are_queued_again(
    pending_order, settings
):
    settings.TASKS = DATABASE_QUEUE
    old = timezone.now() - timedelta(minutes=20)

    def email(kind: str, **fields) -> OrderEmail:
        made = OrderEmail.objects.create(
            order=pending_order,
            kind=kind,
            event_key="paid",
            recipient=SHOPPER,
            **fields,
        )
        OrderEmail.objects.filter(pk=made.pk).update(
            created_at=fields.get("sent_at") or old
        )
        return made

    stuck = email("confirmation")  # its task was claimed, then the worker died
    stuck_task = order_email_send.enqueue(email_id=stuck.pk)
    DBTaskResult.objects.filter(pk=stuck_task.id).update(status="RUNNING")
    waiting = email("staff_new_order")  # a retry is due later
    order_email_send.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(
        email_id=waiting.pk
    )
    email("shipped", status="sent", sent_at=old)
    email("refunded", status="failed")
    recent = OrderEmail.objects.create(
        order=pending_order, kind="shipped", event_key="new", recipient=SHOPPER
    )
    order_email_send.enqueue(email_id=recent.pk)  # not yet run; too young anyway

    output = StringIO()
    call_command("requeue_stuck_emails", stdout=output)

    assert output.getvalue() == "Queued 1 stuck email(s) again.\n"
    new = DBTaskResult.objects.ready().order_by("-enqueued_at").first()
    assert new.task_result.kwargs == {"email_id": stuck.pk}
    call_command("requeue_stuck_emails", stdout=output)
    assert output.getvalue().endswith("Queued 0 stuck email(s) again.\n")


def test_html_email_escapes_what_the_shop_did_not_write(pending_order, tasks_queued):
    pending_order.items.update(product_name='<img src=x onerror=alert(1)> & "Co"')
    mark_paid(pending_order)

    run_queued(tasks_queued)

    for message in mail.outbox:
        html = message.alternatives[0][0]
        assert "<img" not in html
        assert "&lt;img src=x onerror=alert(1)&gt; &amp; &quot;Co&quot;" in html
        assert '1 x <img src=x onerror=alert(1)> & "Co" at' in message.body


def test_emails_of_an_order_that_ships_give_its_shipping_and_address(
    pending_order, tasks_queued
):
    subtotal = pending_order.total_cents
    Order.objects.filter(pk=pending_order.pk).update(
        requires_shipping=True,
        subtotal_cents=subtotal,
        shipping_cents=500,
        total_cents=subtotal + 500,
        shipping_rate_name="Standard shipping",
        shipping_name="Ada Lovelace",
        shipping_line1="1 Main St",
        shipping_city="Springfield",
        shipping_state="OR",
        shipping_postal_code="97477",
        shipping_country="US",
    )
    mark_paid(pending_order)

    assert run_queued(tasks_queued) == ["sent", "sent"]

    address = ["Ada Lovelace", "1 Main St", "SPRINGFIELD, OR 97477", "UNITED STATES"]
    for message in mail.outbox:  # the shopper's confirmation and the staff's notice
        assert "Subtotal: $1,029.98\nStandard shipping: $5.00\n" in message.body
        assert "Total: $1,034.98" in message.body
        assert "Shipping to:\n" + "\n".join(address) in message.body
        [(html, _)] = message.alternatives
        assert "<br>".join(address) in html
        assert "Standard shipping</th>" in html
