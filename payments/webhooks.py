"""Stripe webhook events: recorded once, routed by type to fulfillment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from payments.fulfillment import order_sync_with_session
from payments.models import StripeEvent


class EventMalformed(Exception):
    """A correctly signed event without the fields its type needs."""


def _checkout_session_event(event: dict[str, Any]) -> None:
    session = event["data"]["object"]
    order_sync_with_session(
        session=session, by=f"webhook:{event['type']}", event_type=event["type"]
    )


HANDLERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "checkout.session.completed": _checkout_session_event,
    "checkout.session.async_payment_succeeded": _checkout_session_event,
    "checkout.session.async_payment_failed": _checkout_session_event,
    "checkout.session.expired": _checkout_session_event,
}


@transaction.atomic
def stripe_event_process(*, event: dict[str, Any]) -> str:
    """Handle a verified event once; return "processed", "ignored" or "repeat".

    The event is recorded in the same transaction as its effect, so an error
    (or an order that is not there yet) undoes both and Stripe's retry starts
    afresh. A concurrent delivery of the same event waits on the unique event id
    and then finds it recorded.
    """
    event_type = event.get("type")
    data = event.get("data")
    session = data.get("object") if isinstance(data, dict) else None
    if not isinstance(event_type, str) or not isinstance(session, dict):
        raise EventMalformed("The event has no type or no data.object.")
    handler = HANDLERS.get(event_type)
    if handler is not None and not isinstance(session.get("id"), str):
        raise EventMalformed("The event's object has no id.")

    record, created = StripeEvent.objects.get_or_create(
        event_id=event["id"][:255],
        defaults={
            "type": event_type[:100],
            "checkout_session_id": str(session.get("id") or "")[:255],
            "livemode": bool(event.get("livemode")),
            "payload": event,
        },
    )
    if not created:
        return "repeat"
    if handler is not None:
        handler(event)
    record.processed_at = timezone.now()
    record.save(update_fields=["processed_at"])
    return "processed" if handler is not None else "ignored"
