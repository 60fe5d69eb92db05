"""Disputes (chargebacks): recorded, and flagged for an operator until won.

``charge.dispute.created``, ``.updated`` and ``.closed`` all go through
``dispute_sync``, in whatever order they arrive: a closed dispute stays closed.
An open dispute is an unresolved OrderProblem, so the admin's "needs attention"
filter shows the order; a won dispute resolves it; a lost one leaves a problem
saying so, for an operator to settle.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from payments.fulfillment import order_problem_record
from payments.models import Dispute, Order, OrderProblem
from payments.refunds import order_for_payment
from storefront.money import format_money

logger = logging.getLogger(__name__)


@transaction.atomic
def dispute_sync(*, dispute: Mapping[str, Any], by: str) -> Dispute | None:
    """Record what Stripe says of a dispute on one of the shop's orders; None if
    the payment is not the shop's."""
    order = order_for_payment(dispute)
    dispute_id = dispute.get("id")
    amount = dispute.get("amount")
    if order is None or not isinstance(dispute_id, str):
        return None
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        return None
    order = Order.objects.select_for_update().get(pk=order.pk)
    details = dispute.get("evidence_details")
    due_by = details.get("due_by") if isinstance(details, Mapping) else None
    status = str(dispute.get("status") or "")[:30]
    known = Dispute.objects.filter(stripe_dispute_id=dispute_id[:255]).first()
    if known is not None and not known.is_open:
        # Stripe's events come in any order: a late "created" or "updated"
        # never reopens a dispute that was closed.
        return known
    record, _ = Dispute.objects.update_or_create(
        stripe_dispute_id=dispute_id[:255],
        defaults={
            "order": order,
            "amount_cents": amount,
            "currency": str(dispute.get("currency") or order.currency)[:3],
            "reason": str(dispute.get("reason") or "")[:50],
            "status": status,
            "evidence_due_by": (
                datetime.fromtimestamp(due_by, tz=UTC)
                if isinstance(due_by, int)
                else None
            ),
        },
    )
    message = dispute_problem_message(record)
    # The dispute's earlier problems say an older status: this one replaces them.
    OrderProblem.objects.filter(
        order=order,
        resolved_at__isnull=True,
        message__startswith=f"Dispute {record.stripe_dispute_id}:",
    ).exclude(message=message).update(resolved_at=timezone.now(), resolved_by=by[:100])
    if record.is_open or record.status == "lost":
        order_problem_record(order_id=order.pk, message=message, by=by)
    if not record.is_open and record.closed_at is None:
        record.closed_at = timezone.now()
        record.save(update_fields=["closed_at"])
    logger.info(
        "dispute %s: dispute_id=%s order_id=%s amount_cents=%s by=%s",
        record.status,
        record.stripe_dispute_id,
        order.public_id,
        amount,
        by,
    )
    return record


def dispute_problem_message(dispute: Dispute) -> str:
    """Return what an operator is told about a dispute."""
    amount = format_money(dispute.amount_cents, dispute.currency)
    head = f"Dispute {dispute.stripe_dispute_id}:"
    if dispute.status == "lost":
        return f"{head} lost; {amount} was taken back (reason: {dispute.reason})."
    due = (
        f"; evidence due by {dispute.evidence_due_by:%Y-%m-%d %H:%M} UTC"
        if dispute.evidence_due_by
        else ""
    )
    return (
        f"{head} {amount} disputed (reason: {dispute.reason}), "
        f"status {dispute.status}{due}."
    )
