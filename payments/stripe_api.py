"""The one module that talks to Stripe.

Everything else in the shop works with plain dicts in Stripe's shapes and the two
exceptions below, so that no other module imports ``stripe``. The same code talks
to real Stripe or to the local Stripe double: only ``STRIPE_API_BASE`` differs.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import stripe
from django.conf import settings


class StripeUnavailable(Exception):
    """Stripe could not do what was asked: down, slow, refusing, or misconfigured."""


class StripeUnreachable(StripeUnavailable):
    """Stripe cannot be asked anything: no answer (network, DNS, a timeout), no
    secret key, or a key it refuses."""


class StripeObjectMissing(StripeUnavailable):
    """Stripe answered that the object asked for does not exist (404)."""


class StripeRequestRefused(StripeUnavailable):
    """Stripe refused the request itself (400): asking again changes nothing."""


class EventNotificationInvalid(Exception):
    """A correctly signed thin event that stripe-python cannot read."""


class WebhookSignatureInvalid(Exception):
    """A webhook body whose signature is missing, wrong or too old."""


class WebhookBodyInvalid(WebhookSignatureInvalid):
    """A correctly signed body that is not JSON the shop can store."""


CHECKOUT_ORIGIN = "https://checkout.stripe.com"
# The API version this SDK speaks; events of another version are still read.
API_VERSION: str = stripe.api_version
# Deeper than any event Stripe sends; also keeps nesting away from recursion.
WEBHOOK_MAX_DEPTH = 32
# What Stripe's ids are made of ("evt_1Ryx0dGfwWrHI2ZU...", "cs_test_a1..."):
# they go into URLs and headers of requests to Stripe.
STRIPE_ID = re.compile(r"[A-Za-z0-9_]{1,255}")
CHECKOUT_SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]{1,252}")
REFUND_ID = re.compile(r"(re|pyr)_[A-Za-z0-9_]{1,251}")
CHARGE_ID = re.compile(r"(ch|py)_[A-Za-z0-9_]{1,252}")
DISPUTE_ID = re.compile(r"(dp|du)_[A-Za-z0-9_]{1,252}")


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
        raise StripeUnreachable("STRIPE_SECRET_KEY is not set.")
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
        message = f"{description} failed: {type(error).__name__}: {detail}"
        if isinstance(error, stripe.APIConnectionError | stripe.AuthenticationError):
            raise StripeUnreachable(message) from error
        if error.http_status == 404:
            raise StripeObjectMissing(message) from error
        if error.http_status == 400:
            raise StripeRequestRefused(message) from error
        raise StripeUnavailable(message) from error


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


def checkout_session_expire(session_id: str) -> dict:
    """Expire an open Checkout Session so that nobody can pay it; return it."""
    sessions = client().v1.checkout.sessions
    return _call("Expiring the Checkout Session", sessions.expire, session_id)


def payment_intent_retrieve(payment_intent_id: str) -> dict:
    """Return a PaymentIntent as Stripe has it now."""
    payment_intents = client().v1.payment_intents
    return _call(
        "Retrieving the PaymentIntent", payment_intents.retrieve, payment_intent_id
    )


def refund_create(*, params: dict, idempotency_key: str) -> dict:
    """Ask Stripe to refund (part of) a payment; return the refund."""
    return _call(
        "Creating the refund",
        client().v1.refunds.create,
        params=params,
        options={"idempotency_key": idempotency_key},
    )


def refund_retrieve(refund_id: str) -> dict:
    """Return a refund as Stripe has it now."""
    return _call("Retrieving the refund", client().v1.refunds.retrieve, refund_id)


def refunds_list(*, payment_intent: str = "", charge: str = "") -> list[dict]:
    """Return the refunds of a payment (a PaymentIntent or a charge), newest first."""
    params: dict[str, Any] = {"limit": 100}
    if payment_intent:
        params["payment_intent"] = payment_intent
    if charge:
        params["charge"] = charge
    page = _call("Listing the refunds", client().v1.refunds.list, params=params)
    return list(page.get("data") or [])


def webhook_event_verify(*, payload: bytes, signature: str) -> dict:
    """Return the event in a webhook body after checking its signature.

    Snapshot events (``"object": "event"``) and thin event notifications
    (``"object": "v2.core.event"``) are signed alike, with the same secret.
    """
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret or not signature:
        raise WebhookSignatureInvalid("Missing signature or webhook secret.")
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(
            text, signature, secret, stripe.Webhook.DEFAULT_TOLERANCE
        )
    except (stripe.SignatureVerificationError, UnicodeDecodeError) as error:
        raise WebhookSignatureInvalid(str(error)) from error
    try:
        event = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise WebhookBodyInvalid(f"The body is not JSON: {error}") from error
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise WebhookBodyInvalid("The body is not a Stripe event.")
    if not STRIPE_ID.fullmatch(event["id"]):
        raise WebhookBodyInvalid("The event's id is not a Stripe id.")
    json_check_storable(event)
    return event


def json_check_storable(value: object) -> None:
    """Refuse JSON that the database cannot store or that nests absurdly deep.

    PostgreSQL's jsonb has no NUL character, and no text column takes a lone
    surrogate (``"\\ud800"`` is valid JSON but not Unicode).
    """
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > WEBHOOK_MAX_DEPTH:
            raise WebhookBodyInvalid("The body nests too deep.")
        if isinstance(item, dict):
            pending.extend((key, depth) for key in item)
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise WebhookBodyInvalid("The body holds a NUL character.")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise WebhookBodyInvalid("The body holds a lone surrogate.") from None


def is_thin_event(event: dict) -> bool:
    return event.get("object") == "v2.core.event"


def thin_event_related_object(event: dict) -> dict | None:
    """Return what a thin event points to, fetched from Stripe; None if nothing.

    stripe-python parses the notification and fetches its related object (for
    the Checkout types, ``GET /v1/checkout/sessions/{id}``) in the SDK's API
    version.
    """
    try:
        notification = client().parse_event_notification_without_verification(
            json.dumps(event)
        )
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise EventNotificationInvalid(
            f"stripe-python cannot read the notification: {error!r}"
        ) from error
    if getattr(notification, "related_object", None) is None:
        return None
    return _call(
        "Fetching the event's related object", notification.fetch_related_object
    )
