"""The order's life: the one place where an order changes status.

PENDING moves to PAID, FAILED or EXPIRED, once; FAILED and EXPIRED are final. A
paid order moves between PAID, PARTIALLY_REFUNDED and REFUNDED only as the
refunds Stripe confirms add up (``order_refund_status_update``). The webhook, the
success page and the reconciler all call ``order_sync_with_checkout_session``, so any
number of them, in any order and at the same time, move an order once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from payments.emails import order_paid_emails_queue
from payments.models import PAID_STATUSES, Order, OrderItem, OrderProblem, Refund
from payments.shipping import shipping_amount, shipping_fields, shipping_mismatch
from storefront.stock import stock_release, stock_sell

logger = logging.getLogger(__name__)

Status = Order.Status

ASYNC_PAYMENT_FAILED = "checkout.session.async_payment_failed"


class OrderNotFound(Exception):
    """No order of this shop belongs to this Checkout Session."""


@dataclass(frozen=True)
class Transition:
    order: Order
    changed: bool
    previous: str


@transaction.atomic
def order_transition(
    *, order_id: int, to: str, by: str, reason: str = "", **fields: Any
) -> Transition:
    """Move an order out of PENDING, unless it has already left it."""
    order = Order.objects.select_for_update().get(pk=order_id)
    previous = order.status
    if order.status != Status.PENDING:
        return Transition(order=order, changed=False, previous=previous)
    now = timezone.now()
    order.status = to
    if to == Status.PAID:
        order.paid_at = now
        transaction.on_commit(
            lambda: _other_checkouts_expire(paid_order_id=order_id), robust=True
        )
    # What was wrong while the order waited is settled by this change.
    order.problems.filter(resolved_at__isnull=True).update(
        resolved_at=now, resolved_by=by[:100]
    )
    if reason:
        order_problem_record(order_id=order.pk, message=reason, by=by)
    for name, value in fields.items():
        setattr(order, name, value)
    order.status_history = [
        *order.status_history,
        {"at": now.isoformat(), "from": previous, "to": to, "by": by},
    ]
    order.save()
    _order_stock_settle(order)
    if to == Status.PAID:
        order_paid_emails_queue(order=order)
    logger.info(
        "order %s: order_id=%s by=%s total_cents=%s%s",
        to,
        order.public_id,
        by,
        order.total_cents,
        f" reason={reason!r}" if reason else "",
    )
    return Transition(order=order, changed=True, previous=previous)


def order_refund_status_update(*, order: Order, by: str) -> bool:
    """Set a paid order's status from the refunds Stripe has confirmed.

    Call it inside the transaction that holds the order's row lock (``order``
    read with ``select_for_update``); return whether the status changed.
    """
    if order.status not in PAID_STATUSES:
        return False
    refunded = sum(
        order.refunds.filter(status=Refund.Status.SUCCEEDED).values_list(
            "amount_cents", flat=True
        )
    )
    to = Status.PAID
    if refunded >= order.total_cents:
        to = Status.REFUNDED
    elif refunded:
        to = Status.PARTIALLY_REFUNDED
    previous = order.status
    if to == previous:
        return False
    now = timezone.now()
    order.status = to
    order.status_history = [
        *order.status_history,
        {"at": now.isoformat(), "from": previous, "to": to, "by": by},
    ]
    order.save(update_fields=["status", "status_history", "updated_at"])
    logger.info(
        "order %s: order_id=%s by=%s refunded_cents=%s",
        to,
        order.public_id,
        by,
        refunded,
    )
    return True


def _order_stock_settle(order: Order) -> None:
    """Sell the units checkout held for a paid order; free them for any other end.

    Called once per order, in the transaction that moves it out of PENDING.
    """
    if not order.stock_held:
        return
    held = dict(
        OrderItem.objects.filter(
            order=order, stock_reserved=True, product__isnull=False
        ).values_list("product_id", "quantity")
    )
    if held:
        (stock_sell if order.status == Status.PAID else stock_release)(held)


@transaction.atomic
def order_problem_record(*, order_id: int, message: str, by: str) -> OrderProblem:
    """Record a problem for an operator, unless the same one is still open."""
    # The order's row lock makes concurrent records of one problem wait, then
    # find it.
    Order.objects.select_for_update().filter(pk=order_id).values_list("pk").get()
    problem, _ = OrderProblem.objects.get_or_create(
        order_id=order_id,
        message=message,
        resolved_at=None,
        defaults={"by": by[:100]},
    )
    return problem


def order_problems_resolve(*, orders: QuerySet[Order], by: str) -> int:
    """Mark the unresolved problems of these orders resolved; return how many."""
    return OrderProblem.objects.filter(
        order__in=orders, resolved_at__isnull=True
    ).update(resolved_at=timezone.now(), resolved_by=by[:100])


def order_references(checkout_session: Mapping[str, Any]) -> list[str]:
    """Return the order ids the shop put into a Checkout Session."""
    metadata = checkout_session.get("metadata")
    candidates = [
        checkout_session.get("client_reference_id"),
        metadata.get("order_id") if isinstance(metadata, Mapping) else None,
    ]
    return list(dict.fromkeys(str(c) for c in candidates if c and is_uuid(c)))


def order_for_checkout_session(checkout_session: Mapping[str, Any]) -> Order:
    """Return the order a Checkout Session was created for.

    The order is committed before Stripe is asked for the session and named in
    it (``client_reference_id``, ``metadata.order_id``), so an event can find it
    before checkout has saved the session's id. A session that names an order
    already holding another session is not that order's: the shop made only one.
    """
    checkout_session_id = checkout_session.get("id")
    query = Q(checkout_session_id=checkout_session_id)
    references = order_references(checkout_session)
    if references:
        query |= Q(public_id__in=references) & (
            Q(checkout_session_id__isnull=True)
            | Q(checkout_session_id=checkout_session_id)
        )
    order = Order.objects.filter(query).first() if checkout_session_id else None
    if order is None:
        raise OrderNotFound(f"No order for Checkout Session {checkout_session_id!r}.")
    return order


def order_sync_with_checkout_session(
    *,
    checkout_session: Mapping[str, Any],
    by: str,
    event_type: str = "",
    payment_failed: str = "",
) -> Transition:
    """Bring an order in line with what Stripe says of its Checkout Session.

    A completed session whose payment is still processing changes nothing: the
    async_payment_succeeded or _failed event (or the reconciler, which asks the
    PaymentIntent and passes ``payment_failed``) settles it later.
    """
    order = order_for_checkout_session(checkout_session)
    previous = order.status
    details = _details(checkout_session)

    if event_type == ASYNC_PAYMENT_FAILED:
        payment_failed = "The delayed payment failed."
    if payment_failed:
        return order_transition(
            order_id=order.pk,
            to=Status.FAILED,
            by=by,
            reason=payment_failed,
            **details,
        )
    status = checkout_session.get("status")
    if status == "expired":
        return order_transition(order_id=order.pk, to=Status.EXPIRED, by=by, **details)
    # A tuple, not a set: a signed but odd payload may hold a list here.
    payment_status = checkout_session.get("payment_status")
    if status == "complete" and payment_status in ("paid", "no_payment_required"):
        mismatch = _amount_mismatch(order, checkout_session)
        if mismatch:
            return _record_mismatch(order, mismatch, by=by)
        return order_transition(
            order_id=order.pk,
            to=Status.PAID,
            by=by,
            **details,
            **shipping_fields(order, checkout_session),
        )
    if details and order.status == Status.PENDING:
        Order.objects.filter(pk=order.pk, status=Status.PENDING).update(**details)
    return Transition(order=order, changed=False, previous=previous)


def _details(checkout_session: Mapping[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if isinstance(checkout_session.get("id"), str) and checkout_session["id"]:
        details["checkout_session_id"] = checkout_session["id"][:255]
    payment_intent = checkout_session.get("payment_intent")
    if isinstance(payment_intent, Mapping):
        payment_intent = payment_intent.get("id")
    if isinstance(payment_intent, str):
        details["payment_intent_id"] = payment_intent[:255]
    customer = checkout_session.get("customer_details")
    if not isinstance(customer, Mapping):
        customer = {}
    email = customer.get("email") or checkout_session.get("customer_email")
    if isinstance(email, str):
        details["customer_email"] = email[:254]
    return details


def _amount_mismatch(order: Order, checkout_session: Mapping[str, Any]) -> str:
    amount = checkout_session.get("amount_total")
    currency = str(checkout_session.get("currency") or "").lower()
    # Stripe charged the items' subtotal plus the shipping rate chosen.
    expected = order.subtotal_cents + shipping_amount(checkout_session)
    if amount == expected and currency == order.currency:
        mismatch = shipping_mismatch(order, checkout_session)
        return f"{mismatch} Not marked paid." if mismatch else ""
    return (
        f"Amount mismatch: Stripe says {amount} {currency}, "
        f"the order says {expected} {order.currency}. Not marked paid."
    )


def _record_mismatch(order: Order, mismatch: str, *, by: str) -> Transition:
    logger.error(
        "order amount mismatch: order_id=%s by=%s %s", order.public_id, by, mismatch
    )
    # A final order keeps its record: a later, tampered event changes nothing.
    order.refresh_from_db()
    if order.status == Status.PENDING:
        order_problem_record(order_id=order.pk, message=mismatch, by=by)
    return Transition(order=order, changed=False, previous=order.status)


def order_sync_with_payment_intent(
    *, checkout_session: Mapping[str, Any], payment_intent: Mapping[str, Any], by: str
) -> Transition:
    """Settle a completed, unpaid session's order from its PaymentIntent.

    A delayed payment whose async_payment event never arrived is told apart
    here: succeeded is paid; requires_payment_method (the attempt failed) and
    canceled are failed; anything else is still processing.
    """
    status = payment_intent.get("status")
    if status == "succeeded":
        order = order_for_checkout_session(checkout_session)
        amount = payment_intent.get("amount_received", payment_intent.get("amount"))
        currency = str(payment_intent.get("currency") or "").lower()
        if amount != order.total_cents or currency != order.currency:
            mismatch = (
                f"Amount mismatch: the PaymentIntent says {amount} {currency}, "
                f"the order says {order.total_cents} {order.currency}. Not marked paid."
            )
            return _record_mismatch(order, mismatch, by=by)
        return order_sync_with_checkout_session(
            checkout_session={**checkout_session, "payment_status": "paid"}, by=by
        )
    if status in {"requires_payment_method", "canceled"}:
        return order_sync_with_checkout_session(
            checkout_session=checkout_session,
            by=by,
            payment_failed=f"The payment failed: its PaymentIntent is {status}.",
        )
    return order_sync_with_checkout_session(checkout_session=checkout_session, by=by)


def _other_checkouts_expire(*, paid_order_id: int) -> None:
    # Imported here: stale_checkouts moves orders through this module.
    from payments.stale_checkouts import shopper_other_checkouts_expire

    shopper_other_checkouts_expire(paid_order_id=paid_order_id)


def is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
