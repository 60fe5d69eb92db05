"""Stripe webhook events: recorded once, routed by type to fulfillment.

Snapshot events carry the Checkout Session (or the refund, charge or dispute);
thin events (``v1.checkout.session.*``, ``v1.refund.*``...) carry only a reference
to it, which is fetched. Either way the object is read from Stripe before the
transaction that records the event, never inside it; so are a refunded charge's
refunds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from payments import stripe_api
from payments.disputes import dispute_sync
from payments.fulfillment import OrderNotFound, order_sync_with_checkout_session
from payments.models import StripeEvent
from payments.refunds import order_for_payment, refund_sync

logger = logging.getLogger(__name__)


class EventMalformed(Exception):
    """A correctly signed event without the fields its type needs."""


def _checkout_session_event(event: dict[str, Any]) -> bool:
    checkout_session = event["data"]["object"]
    try:
        order_sync_with_checkout_session(
            checkout_session=checkout_session,
            by=f"webhook:{event['type']}",
            event_type=_snapshot_type(event["type"]),
        )
    except OrderNotFound:
        # A Payment Link, another integration, `stripe trigger`: not ours.
        logger.info(
            "webhook ignored: event_id=%s type=%s checkout_session_id=%s "
            "is not a Checkout Session this shop created",
            event["id"],
            event["type"],
            checkout_session.get("id"),
        )
        return False
    return True


def _refund_event(event: dict[str, Any]) -> bool:
    refund = refund_sync(
        stripe_refund=event["data"]["object"], by=f"webhook:{event['type']}"
    )
    return refund is not None


def _charge_refunded_event(event: dict[str, Any]) -> bool:
    charge = event["data"]["object"]
    refunds = charge.get("refunds")
    found = refunds.get("data") if isinstance(refunds, Mapping) else None
    handled = False
    for refund in found if isinstance(found, list) else []:
        if isinstance(refund, dict):
            synced = refund_sync(stripe_refund=refund, by=f"webhook:{event['type']}")
            handled = handled or synced is not None
    return handled


def _dispute_event(event: dict[str, Any]) -> bool:
    dispute = dispute_sync(
        dispute=event["data"]["object"], by=f"webhook:{event['type']}"
    )
    return dispute is not None


CHECKOUT_SESSION_TYPES = [
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
]
THIN_PREFIX = "v1."

REFUND_TYPES = ["refund.created", "refund.updated", "refund.failed"]
DISPUTE_TYPES = [
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
]
CHARGE_REFUNDED = "charge.refunded"
_HANDLED: list[tuple[list[str], Callable[[dict[str, Any]], bool]]] = [
    (CHECKOUT_SESSION_TYPES, _checkout_session_event),
    (REFUND_TYPES, _refund_event),
    ([CHARGE_REFUNDED], _charge_refunded_event),
    (DISPUTE_TYPES, _dispute_event),
]
HANDLERS: dict[str, Callable[[dict[str, Any]], bool]] = {
    event_type: handler
    for names, handler in _HANDLED
    for name in names
    for event_type in (name, THIN_PREFIX + name)
}
# The object each handled type is about: where a thin event's related_object
# must point (the SDK fetches it with the shop's secret key) and its ids.
RELATED_OBJECTS = {
    "checkout.session": ("/v1/checkout/sessions/", stripe_api.CHECKOUT_SESSION_ID),
    "refund": ("/v1/refunds/", stripe_api.REFUND_ID),
    "charge": ("/v1/charges/", stripe_api.CHARGE_ID),
    "dispute": ("/v1/disputes/", stripe_api.DISPUTE_ID),
}
OBJECT_OF_TYPE = {
    **dict.fromkeys(CHECKOUT_SESSION_TYPES, "checkout.session"),
    **dict.fromkeys(REFUND_TYPES, "refund"),
    CHARGE_REFUNDED: "charge",
    **dict.fromkeys(DISPUTE_TYPES, "dispute"),
}
# What fulfilment reads from a session; a snapshot without one of them (an
# older API version, a trimmed payload) is completed by fetching the session.
SESSION_FIELDS = ("status", "payment_status", "amount_total", "currency")


def _snapshot_type(event_type: str) -> str:
    return event_type.removeprefix(THIN_PREFIX)


def stripe_event_receive(*, event: dict[str, Any]) -> str:
    """Complete a verified event from Stripe if need be, then process it once."""
    return stripe_event_process(event=event_with_object(event=event))


def event_with_object(*, event: dict[str, Any]) -> dict[str, Any]:
    """Return the event with the whole object its handler needs.

    A thin event's object is fetched through stripe-python; so is a Checkout
    Session that lacks a field, and a refunded charge's refunds. An object
    Stripe does not know is left out: the event is
    recorded and ignored. Raises StripeUnavailable when Stripe cannot answer, so
    that the webhook fails and Stripe delivers the event again.
    """
    event_type = event.get("type")
    if not isinstance(event_type, str):
        raise EventMalformed("The event has no type.")
    api_version = event.get("api_version")
    if api_version and api_version != stripe_api.API_VERSION:
        logger.warning(
            "webhook: event_id=%s api_version=%s differs from the SDK's %s; "
            "processed all the same",
            event["id"],
            api_version,
            stripe_api.API_VERSION,
        )
    if stripe_api.is_thin_event(event):
        return _thin_event_with_object(event, event_type)
    data = event.get("data")
    stripe_object = data.get("object") if isinstance(data, dict) else None
    if not isinstance(stripe_object, dict):
        raise EventMalformed("The event has no data.object.")
    if event_type not in HANDLERS:
        return event
    if not isinstance(stripe_object.get("id"), str):
        raise EventMalformed("The event's object has no id.")
    if event_type == CHARGE_REFUNDED:
        return _with_charge_refunds(event, stripe_object)
    if event_type not in CHECKOUT_SESSION_TYPES:
        return event
    if all(field in stripe_object for field in SESSION_FIELDS):
        return event
    if not stripe_api.CHECKOUT_SESSION_ID.fullmatch(stripe_object["id"]):
        return event  # not a session id Stripe makes: not the shop's either
    logger.info("webhook: event_id=%s lacks session fields; fetching", event["id"])
    try:
        fetched = stripe_api.checkout_session_retrieve(stripe_object["id"])
    except stripe_api.StripeObjectMissing:
        return event
    return {**event, "data": {**data, "object": fetched}}


def _thin_event_with_object(event: dict[str, Any], event_type: str) -> dict[str, Any]:
    related = event.get("related_object")
    if related is not None and not (
        isinstance(related, Mapping)
        and isinstance(related.get("id"), str)
        and isinstance(related.get("url"), str)
    ):
        raise EventMalformed("The thin event's related_object has no id or url.")
    stripe_object: dict[str, Any] = {"id": related["id"]} if related else {}
    if event_type in HANDLERS:
        object_type = OBJECT_OF_TYPE[_snapshot_type(event_type)]
        path, object_id = RELATED_OBJECTS[object_type]
        # The SDK fetches the url with the shop's secret key: only ever the
        # object's own path on Stripe's API.
        if not (
            related
            and object_id.fullmatch(related["id"])
            and related["url"] == f"{path}{related['id']}"
        ):
            raise EventMalformed(
                f"The thin event's related_object is not a {object_type}."
            )
        try:
            stripe_object = stripe_api.thin_event_related_object(event) or stripe_object
        except stripe_api.StripeObjectMissing:
            pass
        except stripe_api.EventNotificationInvalid as error:
            raise EventMalformed(str(error)) from error
        if object_type == "charge":
            return {**event, "data": {"object": _charge_refunds(stripe_object)}}
    return {**event, "data": {"object": stripe_object}}


def _with_charge_refunds(event: dict[str, Any], charge: dict[str, Any]) -> dict:
    return {**event, "data": {**event["data"], "object": _charge_refunds(charge)}}


def _charge_refunds(charge: dict[str, Any]) -> dict[str, Any]:
    """Return a refunded charge of the shop's with its refunds, as Stripe lists them.

    Stripe stopped sending a charge's refunds with it (API 2022-11-15); they
    are listed, as ``expand[]=refunds`` would give them.
    """
    if order_for_payment(charge) is None or not isinstance(charge.get("id"), str):
        return charge
    refunds = stripe_api.refunds_list(charge=charge["id"])
    return {**charge, "refunds": {"object": "list", "data": refunds}}


@transaction.atomic
def stripe_event_process(*, event: dict[str, Any]) -> str:
    """Handle a verified event once; return "processed", "ignored" or "repeat".

    The event is recorded in the same transaction as its effect, so an error
    undoes both and Stripe's retry starts afresh. A concurrent delivery of the
    same event waits on the unique event id and then finds it recorded. An event
    about a Checkout Session that is not the shop's is recorded and ignored.
    """
    event_type = event.get("type")
    data = event.get("data")
    stripe_object = data.get("object") if isinstance(data, dict) else None
    if not isinstance(event_type, str) or not isinstance(stripe_object, dict):
        raise EventMalformed("The event has no type or no data.object.")
    handler = HANDLERS.get(event_type)
    if handler is not None and not isinstance(stripe_object.get("id"), str):
        raise EventMalformed("The event's object has no id.")

    # A thin event is recorded as it came; what was fetched for it is not kept.
    payload = {k: v for k, v in event.items() if k != "data"}
    if not stripe_api.is_thin_event(event):
        payload = event
    record, created = StripeEvent.objects.get_or_create(
        event_id=event["id"][:255],
        defaults={
            "type": event_type[:100],
            "checkout_session_id": str(stripe_object.get("id") or "")[:255],
            "livemode": bool(event.get("livemode")),
            "payload": payload,
        },
    )
    if not created:
        return "repeat"
    handled = handler is not None and handler(event)
    record.processed_at = timezone.now()
    record.save(update_fields=["processed_at"])
    return "processed" if handled else "ignored"
