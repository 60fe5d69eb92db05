from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse

from payments.stripe_double import DEFAULT_API_KEY, DEFAULT_WEBHOOK_SECRET, StripeDouble

WEBHOOK_URL = reverse("payments:stripe-webhook")


@pytest.fixture(scope="session")
def stripe_double_server() -> Iterator[StripeDouble]:
    double = StripeDouble(retry_delays=(0.05, 0.1, 0.2, 0.4)).start()
    yield double
    double.stop()


@pytest.fixture
def stripe_double(stripe_double_server: StripeDouble, settings) -> StripeDouble:
    """The local Stripe double, reset, with the shop's settings pointing at it."""
    stripe_double_server.reset()
    stripe_double_server.webhook_url = None
    stripe_double_server.duplicate_deliveries = False
    stripe_double_server.delivery_delay = 0.0
    settings.STRIPE_SECRET_KEY = DEFAULT_API_KEY
    settings.STRIPE_WEBHOOK_SECRET = DEFAULT_WEBHOOK_SECRET
    settings.STRIPE_API_BASE = stripe_double_server.url
    settings.STRIPE_TIMEOUT_SECONDS = (2.0, 2.0)
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    return stripe_double_server


def sign(payload: bytes, secret: str = DEFAULT_WEBHOOK_SECRET, at: int | None = None):
    """Return a Stripe-Signature header for a body, made as Stripe makes it."""
    timestamp = int(time.time()) if at is None else at
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def post_event(client: Client, event: dict, **kwargs):
    """Deliver an event to the shop's webhook, signed."""
    body = json.dumps(event).encode()
    return client.post(
        WEBHOOK_URL,
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(body, **kwargs),
    )


@pytest.fixture
def cart_with_items(client: Client, laptop, mouse) -> Client:
    """A shopper's client holding 1 laptop and 2 mice (total $1,059.97)."""
    add = reverse("storefront:cart-add")
    client.post(add, {"product": laptop.pk, "quantity": 1})
    client.post(add, {"product": mouse.pk, "quantity": 2})
    return client
