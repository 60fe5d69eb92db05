"""Hostile, correctly signed webhook bodies: never a server error, never a change.

Whoever holds the signing secret (or Stripe on a bad day) can send any JSON.
Hypothesis takes a real snapshot or thin event about a pending order and
replaces parts of it with junk, or splices raw escapes into its text; every
answer is a 200 or a 400, and a 400 records nothing and changes no order.
"""

from __future__ import annotations

import json
import secrets

import hypothesis
import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from payments.models import Order, StripeEvent
from payments.tests.conftest import WEBHOOK_URL, sign

pytestmark = pytest.mark.django_db

HOSTILE = hypothesis.settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["", "cs_test_x", "v1.checkout.session.completed", "event"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)
# Raw JSON escapes spliced into a string value: valid JSON, odd text.
ESCAPES = [
    "\\ud800",
    "\\udfff",
    "\\ud83d\\ude00",
    "\\u0000",
    "\\u0001",
    "\\u202e",
    "\\ufeff",
    "\\/",
    "\\\\",
    "\\n",
    "%00",
]
SNAPSHOT_PATHS = [
    ("id",),
    ("type",),
    ("object",),
    ("api_version",),
    ("data",),
    ("data", "object"),
    ("data", "object", "id"),
    ("data", "object", "status"),
    ("data", "object", "payment_status"),
    ("data", "object", "amount_total"),
    ("data", "object", "currency"),
    ("data", "object", "client_reference_id"),
    ("data", "object", "metadata"),
    ("data", "object", "metadata", "order_id"),
    ("data", "object", "payment_intent"),
    ("data", "object", "customer_details"),
]
THIN_PATHS = [
    ("id",),
    ("type",),
    ("created",),
    ("context",),
    ("related_object",),
    ("related_object", "id"),
    ("related_object", "url"),
    ("related_object", "type"),
]


@pytest.fixture
def pending_order(stripe_double, catalog) -> Order:
    """A shopper's order at checkout, its Checkout Session on the double."""
    shopper = Client()
    add = reverse("storefront:cart-add")
    shopper.post(add, {"product": catalog[0].pk, "quantity": 1})
    assert shopper.post(reverse("payments:checkout")).status_code == 303
    return Order.objects.get()


def thin(event: dict) -> dict:
    session_id = event["data"]["object"]["id"]
    return {
        "id": f"evt_test_{secrets.token_hex(12)}",
        "object": "v2.core.event",
        "type": f"v1.{event['type']}",
        "created": "2026-12-01T00:00:00.000Z",
        "livemode": False,
        "related_object": {
            "id": session_id,
            "type": "checkout.session",
            "url": f"/v1/checkout/sessions/{session_id}",
        },
    }


def replaced(event: dict, path: tuple[str, ...], value: object) -> dict:
    event = json.loads(json.dumps(event))
    target = event
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    if value is ...:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return event


@HOSTILE
@given(data=st.data())
def test_hostile_signed_events_are_200_or_400_and_never_a_server_error(
    stripe_double, pending_order, data
):
    if not stripe_double.events:
        stripe_double.pay(pending_order.checkout_session_id)
    [completed] = stripe_double.events[:1]
    kind = data.draw(st.sampled_from(["snapshot", "thin"]), label="kind")
    event = completed if kind == "snapshot" else thin(completed)
    event = {**event, "id": f"evt_test_{secrets.token_hex(12)}"}
    paths = SNAPSHOT_PATHS if kind == "snapshot" else THIN_PATHS
    for path in data.draw(st.lists(st.sampled_from(paths), max_size=3), "paths"):
        value = data.draw(JSON_VALUES | st.just(...), label=f"{path}")
        event = replaced(event, path, value)
    body = json.dumps(event)
    escape = data.draw(st.none() | st.sampled_from(ESCAPES), label="escape")
    if escape and '": "' in body:
        at = data.draw(st.integers(0, body.count('": "') - 1), label="where")
        parts = body.split('": "')
        parts[at + 1] = escape + parts[at + 1]
        body = '": "'.join(parts)
    payload = body.encode()
    records_before = StripeEvent.objects.count()
    order_before = Order.objects.values().get(pk=pending_order.pk)
    client = Client(raise_request_exception=False)

    response = client.post(
        WEBHOOK_URL,
        payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(payload),
    )

    hypothesis.event(f"{kind} {response.status_code}")
    assert response.status_code in {200, 400}, response.content[:300]
    if response.status_code == 400:
        assert StripeEvent.objects.count() == records_before
        assert Order.objects.values().get(pk=pending_order.pk) == order_before
