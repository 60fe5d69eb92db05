"""The order's life: the one place where an order changes status.

PENDING moves to PAID, FAILED or EXPIRED, once; the other states are final. The
webhook, the success page and the reconciler all call ``order_sync_with_session``,
so any number of them, in any order and at the same time, move an order once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from payments.models import Order, OrderItem
from payments.shipping import shipping_amount, shipping_fields, shipping_mismatch
from storefront.stock import stock_release, stock_sell

logger = logging.getLogger(__name__)

Status = Order.Status

ASYNC_PAYMENT_FAILED = "checkout.session.async_payment_failed"


class OrderNotFound(Exception):
    """No order belongs to this Checkout Session (yet)."""


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
    if reason:
        order.problem = reason
    for name, value in fields.items():
        setattr(order, name, value)
    order.status_history = [
        *order.status_history,
        {"at": now.isoformat(), "from": previous, "to": to, "by": by},
    ]
    order.save()
    _order_stock_settle(order)
    logger.info(
        "order %s: order_id=%s by=%s total_cents=%s%s",
        to,
        order.public_id,
        by,
        order.total_cents,
        f" reason={reason!r}" if reason else "",
    )
    return Transition(order=order, changed=True, previous=previous)


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


def order_for_session(session: Mapping[str, Any]) -> Order:
    """Return the order a Checkout Session was created for."""
    reference = session.get("client_reference_id") or ""
    query = Q(checkout_session_id=session.get("id"))
    # The session id is saved after Stripe answers; should that save have been
    # lost, the reference the session carries still names the order.
    if is_uuid(reference):
        query |= Q(public_id=reference, checkout_session_id__isnull=True)
    order = Order.objects.filter(query).first()
    if order is None:
        raise OrderNotFound(f"No order for Checkout Session {session.get('id')!r}.")
    return order


def order_sync_with_session(
    *, session: Mapping[str, Any], by: str, event_type: str = ""
) -> Transition:
    """Bring an order in line with what Stripe says of its Checkout Session.

    A completed session whose payment is still processing changes nothing: the
    async_payment_succeeded or _failed event settles it later.
    """
    order = order_for_session(session)
    previous = order.status
    details = _details(session)

    if event_type == ASYNC_PAYMENT_FAILED:
        return order_transition(
            order_id=order.pk,
            to=Status.FAILED,
            by=by,
            reason="The delayed payment failed.",
            **details,
        )
    if session.get("status") == "expired":
        return order_transition(order_id=order.pk, to=Status.EXPIRED, by=by, **details)
    if session.get("status") == "complete" and session.get("payment_status") in {
        "paid",
        "no_payment_required",
    }:
        mismatch = _amount_mismatch(order, session)
        if mismatch:
            return _record_mismatch(order, mismatch, by=by)
        return order_transition(
            order_id=order.pk,
            to=Status.PAID,
            by=by,
            **details,
            **shipping_fields(order, session),
        )
    if details and order.status == Status.PENDING:
        Order.objects.filter(pk=order.pk, status=Status.PENDING).update(**details)
    return Transition(order=order, changed=False, previous=previous)


def _details(session: Mapping[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if session.get("id"):
        details["checkout_session_id"] = session["id"]
    payment_intent = session.get("payment_intent")
    if isinstance(payment_intent, Mapping):
        payment_intent = payment_intent.get("id")
    if isinstance(payment_intent, str):
        details["payment_intent_id"] = payment_intent[:255]
    customer = session.get("customer_details") or {}
    email = customer.get("email") or session.get("customer_email")
    if isinstance(email, str):
        details["customer_email"] = email[:254]
    return details


def _amount_mismatch(order: Order, session: Mapping[str, Any]) -> str:
    amount = session.get("amount_total")
    currency = str(session.get("currency") or "").lower()
    # Stripe charged the items' subtotal plus the shipping rate chosen.
    expected = order.subtotal_cents + shipping_amount(session)
    if amount == expected and currency == order.currency:
        mismatch = shipping_mismatch(order, session)
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
    Order.objects.filter(pk=order.pk, status=Status.PENDING).update(problem=mismatch)
    order.refresh_from_db()
    return Transition(order=order, changed=False, previous=order.status)


def is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
