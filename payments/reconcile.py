"""The safety net for webhooks that never arrived: ask Stripe, then fulfil."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from payments import stripe_api
from payments.fulfillment import (
    Transition,
    order_sync_with_checkout_session,
    order_sync_with_payment_intent,
    order_transition,
)
from payments.models import Order, OrderProblem
from payments.stale_checkouts import checkout_expire, shopper_paid_since

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reconciled:
    order: Order
    changed: bool = False
    previous: str = ""
    error: str = ""
    # Stripe did not answer at all: asking about the next order is pointless.
    unreachable: bool = False

    def __str__(self) -> str:
        if self.error:
            return f"order {self.order.public_id}: could not ask Stripe: {self.error}"
        if self.changed:
            return (
                f"order {self.order.public_id}: {self.previous} -> {self.order.status}"
            )
        return f"order {self.order.public_id}: still {self.order.status}"


def order_reconcile(*, order: Order) -> Reconciled:
    """Bring one order in line with what Stripe says of its Checkout Session."""
    if not order.checkout_session_id:
        # Stripe never gave this order a session, so nobody could have paid it.
        transition = order_transition(
            order_id=order.pk,
            to=Order.Status.FAILED,
            by="reconcile",
            reason="No Checkout Session was ever attached to this order.",
        )
    else:
        try:
            checkout_session = stripe_api.checkout_session_retrieve(
                order.checkout_session_id
            )
            transition = _sync(order, checkout_session)
        except stripe_api.StripeUnavailable as error:
            return Reconciled(
                order=order,
                error=str(error),
                unreachable=isinstance(error, stripe_api.StripeUnreachable),
            )
    return Reconciled(
        order=transition.order,
        changed=transition.changed,
        previous=transition.previous,
    )


def _sync(order: Order, checkout_session: Mapping[str, Any]) -> Transition:
    payment_intent = checkout_session.get("payment_intent")
    if isinstance(payment_intent, Mapping):
        payment_intent = payment_intent.get("id")
    if (
        checkout_session.get("status") == "complete"
        and checkout_session.get("payment_status") == "unpaid"
        and isinstance(payment_intent, str)
    ):
        # A delayed payment whose outcome event never came: its PaymentIntent knows.
        return order_sync_with_payment_intent(
            checkout_session=checkout_session,
            payment_intent=stripe_api.payment_intent_retrieve(payment_intent),
            by="reconcile",
        )
    if checkout_session.get("status") == "open":
        paid_order = shopper_paid_since(order)
        if paid_order is not None:
            return checkout_expire(order=order, paid_order=paid_order)
    return order_sync_with_checkout_session(
        checkout_session=checkout_session, by="reconcile"
    )


def order_check_with_stripe(*, order: Order, by: str) -> Order:
    """Ask Stripe about a PENDING order, unless a request did so moments ago.

    However many requests (processes, browsers, polls) arrive at once, the one
    whose conditional UPDATE moves ``stripe_checked_at`` asks Stripe; the others
    answer with the order as it stands. Never called in a transaction.
    """
    if order.status != Order.Status.PENDING or not order.checkout_session_id:
        return order
    now = timezone.now()
    interval = timedelta(seconds=settings.STRIPE_CHECK_INTERVAL_SECONDS)
    claimed = (
        Order.objects.filter(pk=order.pk, status=Order.Status.PENDING)
        .filter(
            Q(stripe_checked_at__isnull=True) | Q(stripe_checked_at__lte=now - interval)
        )
        .update(stripe_checked_at=now)
    )
    if not claimed:
        # Another request asked moments ago, or the order has just been settled.
        order.refresh_from_db()
        return order
    try:
        checkout_session = stripe_api.checkout_session_retrieve(
            order.checkout_session_id
        )
    except stripe_api.StripeUnavailable as error:
        # The webhook or the reconciler will settle it; say it is processing.
        logger.warning("%s: order_id=%s %s", by, order.public_id, error)
        return order
    return order_sync_with_checkout_session(
        checkout_session=checkout_session, by=by
    ).order


def stale_pending_orders(*, older_than: timedelta) -> Iterator[Order]:
    """Return PENDING orders to ask Stripe about, oldest first.

    Those created before ``older_than`` ago, and those with an unresolved
    problem (a Checkout Session that could not be expired), whatever their age.
    """
    cutoff = timezone.now() - older_than
    unresolved = OrderProblem.objects.filter(
        order=OuterRef("pk"), resolved_at__isnull=True
    )
    return (
        Order.objects.filter(status=Order.Status.PENDING)
        .filter(Q(created_at__lt=cutoff) | Exists(unresolved))
        .order_by("created_at")
        .iterator()
    )
