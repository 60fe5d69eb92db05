"""Refunds: asked by an admin or made in Stripe's dashboard, confirmed by Stripe.

An admin's refund is reserved first: a Refund row (PENDING) made in a short
transaction that locks the order and checks that the refunds not failed never
add up to more than was paid. Stripe is asked outside any transaction, with an
idempotency key derived from the row, and the row names itself in the refund's
metadata, so Stripe's event finds it even before its id is saved. Whatever
Stripe then says of a refund (the create call's answer, a webhook, the
reconciler) goes through ``refund_sync``; the order becomes PARTIALLY_REFUNDED or
REFUNDED only when Stripe says a refund succeeded, and a failed one frees its
amount again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from payments import stripe_api
from payments.emails import order_refund_email_queue
from payments.fulfillment import is_uuid, order_refund_status_update
from payments.models import Order, OrderItem, Refund
from storefront.money import format_money
from storefront.stock import stock_restock

logger = logging.getLogger(__name__)

DASHBOARD = "Stripe dashboard"
# The refund's metadata key that names the shop's Refund row.
METADATA_KEY = "shop_refund_id"
REFUNDABLE_STATUSES = (Order.Status.PAID, Order.Status.PARTIALLY_REFUNDED)
# The money a refund holds against its order until it fails or is canceled.
RESERVING = (Refund.Status.PENDING, Refund.Status.SUCCEEDED)
# A refund only ever moves forward: a late "pending" event never undoes a
# "succeeded" one; a succeeded refund can still fail (a closed card).
_RANK = {
    Refund.Status.PENDING: 0,
    Refund.Status.SUCCEEDED: 1,
    Refund.Status.FAILED: 2,
    Refund.Status.CANCELED: 2,
}
_STRIPE_STATUSES = {
    "pending": Refund.Status.PENDING,
    "requires_action": Refund.Status.PENDING,
    "succeeded": Refund.Status.SUCCEEDED,
    "failed": Refund.Status.FAILED,
    "canceled": Refund.Status.CANCELED,
}


class RefundRefused(Exception):
    """The refund cannot be made; the message says why, for the admin."""


class RefundUnconfirmed(Exception):
    """Stripe did not answer; the refund stays pending until it is asked again."""


def refund_reserved_cents(order: Order) -> int:
    """Return what the order's pending and succeeded refunds hold."""
    return (
        order.refunds.filter(status__in=RESERVING).aggregate(total=Sum("amount_cents"))[
            "total"
        ]
        or 0
    )


def refundable_cents(order: Order) -> int:
    """Return what is left to refund of an order."""
    if order.status not in REFUNDABLE_STATUSES:
        return 0
    return max(order.total_cents - refund_reserved_cents(order), 0)


@transaction.atomic
def refund_reserve(
    *,
    order_id: int,
    amount_cents: int,
    reason: str,
    requested_by: str,
    restock: bool = False,
) -> Refund:
    """Record a PENDING refund, unless it would give back more than was paid."""
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.status not in REFUNDABLE_STATUSES:
        raise RefundRefused(f"{order} is {order.get_status_display().lower()}.")
    if not order.payment_intent_id:
        raise RefundRefused(f"{order} has no payment in Stripe to refund.")
    if amount_cents <= 0:
        raise RefundRefused("The amount must be more than zero.")
    left = order.total_cents - refund_reserved_cents(order)
    if amount_cents > left:
        raise RefundRefused(
            f"Only {format_money(max(left, 0), order.currency)} of {order} is left "
            "to refund (pending refunds included)."
        )
    if restock and amount_cents != left:
        raise RefundRefused(
            "Items go back in stock only with a refund of everything left to refund."
        )
    return Refund.objects.create(
        order=order,
        amount_cents=amount_cents,
        reason=reason,
        requested_by=requested_by[:100],
        restock=restock,
    )


def refund_params(refund: Refund) -> dict[str, Any]:
    """Return what Stripe is asked for a refund: the row names itself in it."""
    params: dict[str, Any] = {
        "payment_intent": refund.order.payment_intent_id,
        "amount": refund.amount_cents,
        "metadata": {
            METADATA_KEY: str(refund.public_id),
            "order_id": str(refund.order.public_id),
        },
    }
    if refund.reason:
        params["reason"] = refund.reason
    return params


def refund_idempotency_key(refund: Refund) -> str:
    return f"refund-{refund.public_id}"


def refund_submit(*, refund: Refund) -> Refund:
    """Ask Stripe for a reserved refund, outside any transaction; save its answer.

    Raises RefundRefused (nothing refunded) or RefundUnconfirmed (Stripe did not
    answer: the refund stays pending and the reconciler asks again).
    """
    order = refund.order
    try:
        stripe_refund = stripe_api.refund_create(
            params=refund_params(refund), idempotency_key=refund_idempotency_key(refund)
        )
    except (stripe_api.StripeRequestRefused, stripe_api.StripeObjectMissing) as error:
        # Stripe refused the request itself: nothing was refunded.
        refund_fail(refund_id=refund.pk, reason=str(error))
        raise RefundRefused(str(error)) from error
    except stripe_api.StripeUnavailable as error:
        logger.warning(
            "refund unconfirmed: refund_id=%s order_id=%s %s",
            refund.public_id,
            order.public_id,
            error,
        )
        raise RefundUnconfirmed(
            f"Stripe did not answer ({error}). The refund stays pending; the "
            "reconciler asks Stripe again."
        ) from error
    return refund_sync(stripe_refund=stripe_refund, by=refund.requested_by) or refund


@transaction.atomic
def refund_fail(*, refund_id: int, reason: str) -> None:
    """Mark a refund Stripe never made failed, freeing its amount."""
    Refund.objects.filter(pk=refund_id, status=Refund.Status.PENDING).update(
        status=Refund.Status.FAILED,
        failure_reason=reason[:200],
        updated_at=timezone.now(),
    )


def order_for_payment(payment: Mapping[str, Any]) -> Order | None:
    """Return the order whose PaymentIntent a refund, charge or dispute names."""
    payment_intent = payment.get("payment_intent")
    if isinstance(payment_intent, Mapping):
        payment_intent = payment_intent.get("id")
    if not isinstance(payment_intent, str) or not payment_intent:
        return None
    return Order.objects.filter(payment_intent_id=payment_intent).first()


@transaction.atomic
def refund_sync(*, stripe_refund: Mapping[str, Any], by: str) -> Refund | None:
    """Bring the shop's record of a refund in line with Stripe's; None if not ours.

    A refund the shop has no row for (made in Stripe's dashboard) gets one.
    """
    order = order_for_payment(stripe_refund)
    refund_id = stripe_refund.get("id")
    status = _STRIPE_STATUSES.get(str(stripe_refund.get("status")))
    amount = stripe_refund.get("amount")
    if order is None or not isinstance(refund_id, str) or status is None:
        return None
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        return None
    order = Order.objects.select_for_update().get(pk=order.pk)
    refund = _refund_row(order, stripe_refund, refund_id=refund_id, amount=amount)
    previous = refund.status
    if _RANK[status] > _RANK[previous]:
        refund.status = status
    if refund.status in (Refund.Status.FAILED, Refund.Status.CANCELED):
        failure = stripe_refund.get("failure_reason")
        refund.failure_reason = str(failure or refund.status)[:200]
    refund.stripe_refund_id = refund_id
    refund.save()
    if refund.status != previous:
        logger.info(
            "refund %s: refund_id=%s order_id=%s amount_cents=%s by=%s",
            refund.status,
            refund_id,
            order.public_id,
            refund.amount_cents,
            by,
        )
    order_refund_status_update(order=order, by=by)
    if refund.status == Refund.Status.SUCCEEDED and previous != refund.status:
        order_refund_email_queue(
            order=order, refund_id=refund_id, amount_cents=refund.amount_cents
        )
        if refund.restock and refund.restocked_at is None:
            _restock(order, refund)
    return refund


def _refund_row(
    order: Order, stripe_refund: Mapping[str, Any], *, refund_id: str, amount: int
) -> Refund:
    refund = Refund.objects.filter(stripe_refund_id=refund_id).first()
    if refund is not None:
        return refund
    metadata = stripe_refund.get("metadata")
    reference = metadata.get(METADATA_KEY) if isinstance(metadata, Mapping) else None
    if reference:
        refund = (
            Refund.objects.filter(
                order=order, public_id=str(reference), stripe_refund_id__isnull=True
            ).first()
            if is_uuid(reference)
            else None
        )
        if refund is not None:
            return refund
    reason = stripe_refund.get("reason")
    return Refund.objects.create(
        order=order,
        amount_cents=amount,
        stripe_refund_id=refund_id,
        reason=reason if reason in Refund.Reason.values else "",
        requested_by=DASHBOARD,
    )


def _restock(order: Order, refund: Refund) -> None:
    if order.status != Order.Status.REFUNDED:
        return
    quantities = dict(
        OrderItem.objects.filter(
            order=order, stock_reserved=True, product__isnull=False
        ).values_list("product_id", "quantity")
    )
    stock_restock(quantities)
    refund.restocked_at = timezone.now()
    refund.save(update_fields=["restocked_at"])


@dataclass(frozen=True)
class RefundChecked:
    refund: Refund
    error: str = ""

    def __str__(self) -> str:
        name = self.refund.stripe_refund_id or self.refund.public_id
        if self.error:
            return f"refund {name}: could not ask Stripe: {self.error}"
        return f"refund {name}: {self.refund.status}"


def pending_refunds(*, older_than: timedelta) -> Iterator[Refund]:
    """Return the refunds still waiting for Stripe, oldest first."""
    return (
        Refund.objects.filter(
            status=Refund.Status.PENDING,
            created_at__lt=timezone.now() - older_than,
        )
        .select_related("order")
        .order_by("created_at")
        .iterator()
    )


def refund_reconcile(*, refund: Refund) -> RefundChecked:
    """Ask Stripe about a pending refund whose events never came.

    One without a Stripe id was never confirmed created: Stripe's refunds of
    the payment are searched for it by its metadata, and if none is found it is
    asked for again with the same idempotency key.
    """
    try:
        if refund.stripe_refund_id:
            found = stripe_api.refund_retrieve(refund.stripe_refund_id)
        else:
            found = next(
                (
                    item
                    for item in stripe_api.refunds_list(
                        payment_intent=refund.order.payment_intent_id
                    )
                    if (item.get("metadata") or {}).get(METADATA_KEY)
                    == str(refund.public_id)
                ),
                None,
            )
            if found is None:
                return RefundChecked(refund=refund_submit(refund=refund))
    except (RefundRefused, RefundUnconfirmed) as error:
        refund.refresh_from_db()
        return RefundChecked(refund=refund, error=str(error))
    except stripe_api.StripeUnavailable as error:
        return RefundChecked(refund=refund, error=str(error))
    return RefundChecked(
        refund=refund_sync(stripe_refund=found, by="reconcile") or refund
    )
