"""Emails about orders: queued with the change that causes them, sent by the worker.

Queueing writes an ``OrderEmail`` row and a task row (django-tasks' database
backend) in the caller's transaction, so a change that rolls back queues
nothing, and the unique (order, kind, event) row means the same event never
queues a second email. The task sends under a lock on that row and marks it
sent, so a task that runs again after a success sends nothing. A failed send
is tried again later, with growing delays, and after the last try marked
failed for an operator.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django_tasks import task
from django_tasks_db.models import DBTaskResult

from payments.models import Order, OrderEmail
from storefront.money import format_money

logger = logging.getLogger(__name__)

Kind = OrderEmail.Kind

TEMPLATES = {
    Kind.CONFIRMATION: "emails/order_confirmation",
    Kind.STAFF_NEW_ORDER: "emails/staff_new_order",
    Kind.SHIPPED: "emails/order_shipped",
    Kind.REFUNDED: "emails/order_refunded",
}
SUBJECTS = {
    Kind.CONFIRMATION: "Your order {number} is confirmed",
    Kind.STAFF_NEW_ORDER: "New order {number}: {total}",
    Kind.SHIPPED: "Your order {number} is on its way",
    Kind.REFUNDED: "A refund for your order {number}",
}
# Longer than any error worth keeping; the task's own record has the traceback.
ERROR_MAX_CHARS = 2000


def order_email_queue(
    *,
    order: Order,
    kind: str,
    recipient: str,
    event_key: str,
    context: dict[str, Any] | None = None,
) -> OrderEmail | None:
    """Queue one email about an order, unless this event already queued it.

    Call it inside the transaction that makes the change the email reports.
    """
    if not recipient:
        return None
    with transaction.atomic():
        email, created = OrderEmail.objects.get_or_create(
            order=order,
            kind=kind,
            event_key=event_key[:255],
            defaults={"recipient": recipient, "context": context or {}},
        )
        if not created:
            return None
        order_email_send.enqueue(email_id=email.pk)
    logger.info(
        "email queued: order_id=%s kind=%s email_id=%s",
        order.public_id,
        kind,
        email.pk,
    )
    return email


def order_paid_emails_queue(*, order: Order) -> None:
    """Queue the shopper's confirmation and the staff's notice of a paid order.

    The transition to PAID, which happens once, calls this inside its
    transaction: the rows are inserted in one statement rather than looked up
    first, and the unique constraint would refuse a second set.
    """
    wanted = [
        OrderEmail(
            order=order,
            kind=Kind.CONFIRMATION,
            event_key="paid",
            recipient=order.customer_email,
        ),
        OrderEmail(
            order=order,
            kind=Kind.STAFF_NEW_ORDER,
            event_key="paid",
            recipient=settings.SHOP_STAFF_EMAIL,
        ),
    ]
    with transaction.atomic(savepoint=False):
        emails = OrderEmail.objects.bulk_create(
            [email for email in wanted if email.recipient]
        )
        for email in emails:
            order_email_send.enqueue(email_id=email.pk)
    for email in emails:
        logger.info(
            "email queued: order_id=%s kind=%s email_id=%s",
            order.public_id,
            email.kind,
            email.pk,
        )


def order_shipped_email_queue(
    *, order: Order, carrier: str, tracking_number: str, tracking_url: str = ""
) -> OrderEmail | None:
    """Queue the shopper's notice that an order has shipped, once per shipment."""
    if not tracking_url.startswith(("https://", "http://")):
        tracking_url = ""
    return order_email_queue(
        order=order,
        kind=Kind.SHIPPED,
        recipient=order.customer_email,
        event_key=f"{carrier}:{tracking_number}",
        context={
            "carrier": carrier,
            "tracking_number": tracking_number,
            "tracking_url": tracking_url,
        },
    )


def order_refund_email_queue(
    *, order: Order, refund_id: str, amount_cents: int
) -> OrderEmail | None:
    """Queue the shopper's notice of a refund, once per Stripe refund."""
    return order_email_queue(
        order=order,
        kind=Kind.REFUNDED,
        recipient=order.customer_email,
        event_key=refund_id,
        context={"refund_id": refund_id, "amount_cents": amount_cents},
    )


@transaction.atomic
def order_email_requeue(*, email_id: int) -> bool:
    """Queue a failed email again, with a fresh set of retries."""
    updated = OrderEmail.objects.filter(
        pk=email_id, status=OrderEmail.Status.FAILED
    ).update(status=OrderEmail.Status.QUEUED, attempts=0)
    if updated:
        order_email_send.enqueue(email_id=email_id)
    return bool(updated)


def order_emails_requeue_stuck(*, older_than: timedelta) -> list[int]:
    """Queue again the unsent emails that no task will send; return their ids.

    A worker killed in the middle of a task leaves it running for ever, and
    its email unsent. Sending twice is not a risk: the task checks the row.
    Reads django-tasks-db's table, the queue this shop runs on.
    """
    waiting = set(
        DBTaskResult.objects.filter(
            status="READY", task_path=order_email_send.module_path
        ).values_list("args_kwargs__kwargs__email_id", flat=True)
    )
    stuck = OrderEmail.objects.filter(
        status=OrderEmail.Status.QUEUED,
        created_at__lt=timezone.now() - older_than,
    ).exclude(pk__in=waiting)
    requeued = []
    for email_id in stuck.values_list("pk", flat=True).iterator():
        order_email_send.enqueue(email_id=email_id)
        requeued.append(email_id)
    if requeued:
        logger.warning("emails queued again: email_ids=%s", requeued)
    return requeued


@task()
def order_email_send(*, email_id: int) -> str:
    """Send one queued email unless it was sent already; retry it if sending fails."""
    try:
        return _send(email_id)
    except Exception as error:
        _record_failure(email_id, error)
        raise


def _send(email_id: int) -> str:
    # The row lock makes a second worker with the same email wait, then find
    # it sent. Nothing else writes these rows while a message is on its way.
    with transaction.atomic():
        email = (
            OrderEmail.objects.select_for_update()
            .select_related("order")
            .filter(pk=email_id)
            .first()
        )
        if email is None:
            return "gone"
        if email.status != OrderEmail.Status.QUEUED:
            return f"already {email.status}"
        email_message(email).send()
        email.status = OrderEmail.Status.SENT
        email.sent_at = timezone.now()
        email.attempts += 1
        email.last_error = ""
        email.save(update_fields=["status", "sent_at", "attempts", "last_error"])
    logger.info(
        "email sent: order_id=%s kind=%s email_id=%s attempts=%s",
        email.order.public_id,
        email.kind,
        email.pk,
        email.attempts,
    )
    return "sent"


@transaction.atomic
def _record_failure(email_id: int, error: Exception) -> None:
    email = OrderEmail.objects.select_for_update().filter(pk=email_id).first()
    if email is None or email.status != OrderEmail.Status.QUEUED:
        return
    delays = settings.SHOP_EMAIL_RETRY_SECONDS
    email.attempts += 1
    email.last_error = f"{type(error).__name__}: {error}"[:ERROR_MAX_CHARS]
    if email.attempts > len(delays):
        email.status = OrderEmail.Status.FAILED
        logger.error(
            "email failed for good: email_id=%s kind=%s attempts=%s %s",
            email.pk,
            email.kind,
            email.attempts,
            email.last_error,
        )
    else:
        delay = timedelta(seconds=delays[email.attempts - 1])
        order_email_send.using(run_after=timezone.now() + delay).enqueue(
            email_id=email.pk
        )
        logger.warning(
            "email failed, retrying in %ss: email_id=%s kind=%s attempts=%s %s",
            int(delay.total_seconds()),
            email.pk,
            email.kind,
            email.attempts,
            email.last_error,
        )
    email.save(update_fields=["status", "attempts", "last_error"])


def email_message(email: OrderEmail) -> EmailMultiAlternatives:
    """Return the message for a queued email: plain text with an HTML alternative."""
    order = email.order
    context = {
        **email.context,
        "order": order,
        "items": list(order.items.all()),
        "order_url": settings.SHOP_BASE_URL + order.get_absolute_url(),
    }
    template = TEMPLATES[email.kind]
    subject = SUBJECTS[email.kind].format(
        number=order.reference,
        total=format_money(order.total_cents, order.currency),
    )
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{template}.txt", context),
        to=[email.recipient],
        headers={"X-Shop-Email-Id": str(email.pk)},
    )
    html = render_to_string(f"{template}.html", context)
    message.attach_alternative(html, "text/html")
    return message
