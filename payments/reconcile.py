"""The safety net for webhooks that never arrived: ask Stripe, then fulfil."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from payments import stripe_api
from payments.fulfillment import order_sync_with_session, order_transition
from payments.models import Order


@dataclass(frozen=True)
class Reconciled:
    order: Order
    changed: bool = False
    previous: str = ""
    error: str = ""

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
            session = stripe_api.checkout_session_retrieve(order.checkout_session_id)
        except stripe_api.StripeUnavailable as error:
            return Reconciled(order=order, error=str(error))
        transition = order_sync_with_session(session=session, by="reconcile")
    return Reconciled(
        order=transition.order,
        changed=transition.changed,
        previous=transition.previous,
    )


def stale_pending_orders(*, older_than: timedelta) -> Iterator[Order]:
    """Return PENDING orders created before ``older_than`` ago, oldest first."""
    cutoff = timezone.now() - older_than
    return (
        Order.objects.filter(status=Order.Status.PENDING, created_at__lt=cutoff)
        .order_by("created_at")
        .iterator()
    )
