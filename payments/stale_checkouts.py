"""No second payment through a stale Checkout Session.

A shopper who checked out, changed the cart and checked out again holds two open
Checkout Sessions; paying one must not leave the other payable. Once an order
is paid (after its transaction commits, never under its lock) the shopper's
other open sessions are expired at Stripe and their orders become EXPIRED. A
failure is recorded on the order; the reconciler tries again.
"""

from __future__ import annotations

import logging

from django.db.models import QuerySet

from payments import stripe_api
from payments.fulfillment import (
    OrderNotFound,
    Transition,
    order_problem_record,
    order_sync_with_checkout_session,
)
from payments.models import PAID_STATUSES, Order

logger = logging.getLogger(__name__)

BY = "paid-elsewhere"


def other_open_checkouts(*, paid_order: Order) -> QuerySet[Order]:
    """Return the shopper's other PENDING orders that Stripe could still take."""
    return Order.objects.filter(
        shopper_key=paid_order.shopper_key,
        status=Order.Status.PENDING,
        created_at__lte=paid_order.paid_at,
        checkout_session_id__isnull=False,
    ).exclude(pk=paid_order.pk)


def shopper_paid_since(order: Order) -> Order | None:
    """Return an order of the same shopper paid after this one was created."""
    return (
        Order.objects.filter(
            shopper_key=order.shopper_key,
            status__in=PAID_STATUSES,
            paid_at__gte=order.created_at,
        )
        .exclude(pk=order.pk)
        .order_by("paid_at")
        .first()
    )


def shopper_other_checkouts_expire(*, paid_order_id: int) -> list[Transition]:
    """Expire the other open Checkout Sessions of a paid order's shopper."""
    paid_order = Order.objects.get(pk=paid_order_id)
    if not paid_order.was_paid:
        return []
    transitions = [
        checkout_expire(order=order, paid_order=paid_order)
        for order in other_open_checkouts(paid_order=paid_order)
    ]
    # Two sessions paid at once: neither saw the other open. Whichever of the
    # two orders' hooks runs last finds both paid.
    double_payments_flag(order=paid_order)
    return transitions


def double_payments_flag(*, order: Order) -> None:
    """Record a problem on the second of two orders open and paid at once.

    A shopper who pays, then checks out a new cart and pays again has paid
    twice on purpose: the second order was created after the first was paid.
    Two orders each created before the other was paid were open together, and
    paying both is what expiring stale sessions is for.
    """
    if order.status != Order.Status.PAID:
        return
    overlapping = Order.objects.filter(
        shopper_key=order.shopper_key,
        status=Order.Status.PAID,
        created_at__lt=order.paid_at,
        paid_at__gt=order.created_at,
    ).exclude(pk=order.pk)
    for other in overlapping:
        first, second = sorted([order, other], key=lambda o: (o.paid_at, o.pk))
        logger.error(
            "order paid twice: order_id=%s and order_id=%s of the same shopper",
            first.public_id,
            second.public_id,
        )
        order_problem_record(
            order_id=second.pk,
            message=(
                f"Paid while order {first.public_id} of the same shopper was paid "
                "too. Refund one of them if the shopper did not mean both."
            ),
            by=f"{BY}:{first.public_id}",
        )


def checkout_expire(*, order: Order, paid_order: Order) -> Transition:
    """Expire one order's Checkout Session at Stripe, then the order.

    If Stripe will not expire it, the session is no longer open: it expired
    (the order follows) or was paid after all (the order is paid, and the
    double payment is recorded for an operator to refund).
    """
    by = f"{BY}:{paid_order.public_id}"
    try:
        checkout_session = stripe_api.checkout_session_expire(order.checkout_session_id)
    except stripe_api.StripeUnavailable as error:
        checkout_session = _checkout_session_if_closed(order, error, by=by)
        if checkout_session is None:
            return Transition(order=order, changed=False, previous=order.status)
    try:
        transition = order_sync_with_checkout_session(
            checkout_session=checkout_session, by=by
        )
    except OrderNotFound:
        return Transition(order=order, changed=False, previous=order.status)
    double_payments_flag(order=transition.order)
    return transition


def _checkout_session_if_closed(
    order: Order, error: stripe_api.StripeUnavailable, *, by: str
) -> dict | None:
    try:
        checkout_session = stripe_api.checkout_session_retrieve(
            order.checkout_session_id
        )
    except stripe_api.StripeUnavailable:
        checkout_session = None
    if checkout_session is not None and checkout_session.get("status") != "open":
        return checkout_session
    logger.warning("stale checkout not expired: order_id=%s %s", order.public_id, error)
    order_problem_record(
        order_id=order.pk,
        message=(
            "Another order of this shopper was paid, but this order's Checkout "
            f"Session could not be expired at Stripe ({error}). It can still be "
            "paid; reconcile_orders tries again."
        ),
        by=by,
    )
    return None
