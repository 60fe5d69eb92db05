"""Snapshot events (v1) and thin events (v2) about the double's objects.

A snapshot event carries a copy of the object as it was; a thin event names the
object (`related_object`) and the receiver fetches what it needs: the event with
GET /v2/core/events/{id}, the object with GET related_object.url.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from .payment_intents import new_id

API_VERSION = "2026-10-28.endive"
PAYLOADS = ("snapshot", "thin", "both")
# Where each object type is read from, for a thin event's related_object.url.
_OBJECT_PATHS = {
    "checkout.session": "/v1/checkout/sessions",
    "charge": "/v1/charges",
    "dispute": "/v1/disputes",
    "payment_intent": "/v1/payment_intents",
    "refund": "/v1/refunds",
}


def snapshot_event(
    event_type: str,
    data_object: dict[str, Any],
    *,
    now: float,
    request: dict[str, Any] | None = None,
    previous_attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a v1 event with a snapshot of `data_object`."""
    data: dict[str, Any] = {"object": copy.deepcopy(data_object)}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": new_id("evt_"),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(now),
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": request or {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def thin_event(snapshot: dict[str, Any], *, now: float) -> dict[str, Any]:
    """Return the full v2 event that goes with a snapshot event."""
    related = snapshot["data"]["object"]
    request = snapshot["request"]
    reason = None
    if request.get("id"):
        reason = {
            "type": "request",
            "request": {
                "id": request["id"],
                # The SDK types it as a string, never null.
                "idempotency_key": request.get("idempotency_key") or "",
            },
        }
    return {
        "id": new_id("evt_test_65", 48),
        "object": "v2.core.event",
        "context": None,
        "created": _rfc3339(now),
        "livemode": False,
        "reason": reason,
        "related_object": {
            "id": related["id"],
            "type": related["object"],
            "url": f"{_OBJECT_PATHS[related['object']]}/{related['id']}",
        },
        "snapshot_event": snapshot["id"],
        "type": f"v1.{snapshot['type']}",
    }


def thin_notification(event: dict[str, Any]) -> dict[str, Any]:
    """Return the small body an event destination posts for a thin event."""
    keys = ("id", "object", "type", "created", "livemode", "related_object")
    notification = {key: event[key] for key in keys}
    if event["reason"] is not None:
        notification["reason"] = event["reason"]
    return notification


def _rfc3339(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
