"""The one module that talks to Stripe.

Everything else in the shop works with plain dicts in Stripe's shapes and the two
exceptions below, so that no other module imports ``stripe``. The same code talks
to real Stripe or to the local Stripe double: only ``STRIPE_API_BASE`` differs.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import stripe
from django.conf import settings


class StripeUnavailable(Exception):
    """Stripe could not do what was asked: down, slow, refusing, or misconfigured."""


class WebhookSignatureInvalid(Exception):
    """A webhook body whose signature is missing, wrong or too old."""


CHECKOUT_ORIGIN = "https://checkout.stripe.com"


def is_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def checkout_origins() -> list[str]:
    """Return the origins that Checkout pages are served from."""
    if not settings.STRIPE_API_BASE:
        return [CHECKOUT_ORIGIN]
    parts = urlsplit(settings.STRIPE_API_BASE)
    return [CHECKOUT_ORIGIN, f"{parts.scheme}://{parts.netloc}"]


@cache
def _client(
    api_key: str, api_base: str, timeout: tuple[float, float], retries: int
) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def client() -> stripe.StripeClient:
    """Return a client for the configured account (one per process and settings)."""
    if not is_configured():
        raise StripeUnavailable("STRIPE_SECRET_KEY is not set.")
    return _client(
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_API_BASE,
        tuple(settings.STRIPE_TIMEOUT_SECONDS),
        settings.STRIPE_MAX_NETWORK_RETRIES,
    )


def _call(description: str, function: Any, *args: Any, **kwargs: Any) -> dict:
    try:
        return function(*args, **kwargs).to_dict()
    except stripe.StripeError as error:
        detail = error.user_message or str(error) or type(error).__name__
        raise StripeUnavailable(
            f"{description} failed: {type(error).__name__}: {detail}"
        ) from error


def checkout_session_create(*, params: dict, idempotency_key: str) -> dict:
    """Create a Checkout Session and return it."""
    sessions = client().v1.checkout.sessions
    return _call(
        "Creating the Checkout Session",
        sessions.create,
        params=params,
        options={"idempotency_key": idempotency_key},
    )


def checkout_session_retrieve(session_id: str) -> dict:
    """Return a Checkout Session as Stripe has it now."""
    sessions = client().v1.checkout.sessions
    return _call("Retrieving the Checkout Session", sessions.retrieve, session_id)


def webhook_event_verify(*, payload: bytes, signature: str) -> dict:
    """Return the event in a webhook body after checking its signature."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret or not signature:
        raise WebhookSignatureInvalid("Missing signature or webhook secret.")
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(
            text, signature, secret, stripe.Webhook.DEFAULT_TOLERANCE
        )
        event = json.loads(text)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as e:
        raise WebhookSignatureInvalid(str(e)) from e
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise WebhookSignatureInvalid("The body is not a Stripe event.")
    return event
