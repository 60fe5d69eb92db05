"""A local Stripe double for development and tests: API, hosted page, webhooks.

It speaks API version 2026-10-28.endive, as stripe-python 16.1.0 pins it, over
real HTTP: point the SDK at it with ``base_addresses={"api": double.url}`` (the
shop: ``STRIPE_API_BASE``). ``test_stripe_double_fidelity.py`` checks every field
it serves and every parameter it accepts against the installed SDK's types.

API (any ``sk_test_``/``rk_test_`` key; unknown parameters get 400
``parameter_unknown``, as from Stripe)
    POST /v1/checkout/sessions, GET .../{id}, POST .../{id}/expire
        ``mode=payment`` with ``price_data`` line items; ui_mode ``hosted_page``;
        ``allowed_payment_method_types`` (card, us_bank_account, sepa_debit);
        ``shipping_address_collection``, ``shipping_options``,
        ``phone_number_collection``; ``expand[]=payment_intent``,
        ``payment_intent.latest_charge`` and ``line_items``.
    GET /v1/checkout/sessions/{id}/line_items
    GET /v1/payment_intents/{id} (``expand[]=latest_charge``), POST .../cancel
    GET /v1/charges/{id}
    POST /v1/shipping_rates, GET /v1/shipping_rates/{id}
    POST /v1/refunds, GET /v1/refunds (?payment_intent=, ?charge=), GET .../{id}
    GET /v1/disputes/{id}
    GET /v2/core/events/{id}    the full v2 event behind a thin event

Hosted page: GET/POST /c/pay/{session id}, plain HTML forms (no JavaScript):
email, name, the shipping address, phone and rate when the session asks for
them, and the buttons ``action=pay`` (card), ``action=pay_delayed`` (bank debit,
settles later) and ``action=cancel``.

Knobs (attributes of StripeDouble; over HTTP, POST /_double/config with JSON)
    webhook_url, webhook_secret, retry_delays    where and how events are sent
    duplicate_deliveries     send every event twice
    delivery_delay           seconds before the first attempt (after the redirect)
    event_payloads           "snapshot" (default), "thin" or "both": what the
                             webhook receives. A thin event is what
                             StripeClient.parse_event_notification parses.

Test controls (methods; the same over HTTP under /_double/, JSON bodies)
    pay(session_id, delayed=, email=, name=, address=, phone=, shipping_rate=)
        POST /_double/sessions/{id}/pay. What the session collects and the test
        leaves out is filled in (an address in the first allowed country...).
    settle(session_id, succeeded=True, notify=True)
        POST /_double/sessions/{id}/settle. A bank debit clears or fails; with
        notify=False no event is sent, so only the PaymentIntent (status
        requires_payment_method) and its charge (failed) tell.
    expire(session_id)                     POST /_double/sessions/{id}/expire
    refund(payment_id, amount=, reason=, metadata=)
        POST /_double/refunds {"session" or "payment_intent", ...}: a refund
        made in the dashboard, which the shop did not ask for.
    settle_refund(refund_id, succeeded=True)  POST /_double/refunds/{id}/settle
    dispute(payment_id, reason="fraudulent", amount=None)
        POST /_double/disputes: charge.dispute.created, needs_response.
    close_dispute(dispute_id, won=)        POST /_double/disputes/{id}/close
    fail_next(count, status, hang)         POST /_double/fail
    revoke_key(api_key)                    POST /_double/revoke
    hold_events(), release_events(order)   POST /_double/events/hold, .../release
    reset()                                POST /_double/reset
    wait_for_deliveries(count)
    sessions, payment_intents, events, thin_events, deliveries, requests
        GET /_double/sessions, /payment_intents, /events, /thin_events,
        /deliveries, /requests

Example (thin events and a silently failed bank debit)::

    double.event_payloads = "thin"
    double.pay(session_id, delayed=True)
    double.settle(session_id, succeeded=False, notify=False)
"""

from __future__ import annotations

from .server import (
    API_VERSION,
    DEFAULT_API_KEY,
    DEFAULT_WEBHOOK_SECRET,
    SessionStateError,
    StripeDouble,
)

__all__ = [
    "API_VERSION",
    "DEFAULT_API_KEY",
    "DEFAULT_WEBHOOK_SECRET",
    "SessionStateError",
    "StripeDouble",
]
