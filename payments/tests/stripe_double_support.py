"""Fixtures and helpers for the tests that drive the local Stripe double."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import stripe

from payments.stripe_double import DEFAULT_WEBHOOK_SECRET, StripeDouble

API_KEY = "sk_test_double_suite_key"
SUCCESS_URL = "http://shop.test/checkout/success/?session_id={CHECKOUT_SESSION_ID}"
CANCEL_URL = "http://shop.test/cart/"
SESSION_PARAMS: dict[str, Any] = {
    "mode": "payment",
    "success_url": SUCCESS_URL,
    "cancel_url": CANCEL_URL,
    "client_reference_id": "order-42",
    "metadata": {"order_id": "42"},
    "line_items": [
        {
            "quantity": 2,
            "price_data": {
                "currency": "usd",
                "unit_amount": 99999,
                "product_data": {"name": "Laptop"},
            },
        },
        {
            "quantity": 1,
            "price_data": {
                "currency": "usd",
                "unit_amount": 1250,
                "product_data": {"name": "Mouse <wireless>"},
            },
        },
    ],
}
TOTAL = 2 * 99999 + 1250
SHIPPING_PARAMS: dict[str, Any] = {
    "shipping_address_collection": {"allowed_countries": ["US", "CA"]},
    "phone_number_collection": {"enabled": True},
    "shipping_options": [
        {
            "shipping_rate_data": {
                "type": "fixed_amount",
                "display_name": "Standard",
                "fixed_amount": {"amount": 500, "currency": "usd"},
                "delivery_estimate": {
                    "minimum": {"unit": "business_day", "value": 3},
                    "maximum": {"unit": "business_day", "value": 5},
                },
            }
        },
        {
            "shipping_rate_data": {
                "type": "fixed_amount",
                "display_name": "Express",
                "fixed_amount": {"amount": 1500, "currency": "usd"},
            }
        },
    ],
}


class WebhookReceiver:
    """Record webhook deliveries, answering scripted statuses and then 200."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.received.append(
                        {"headers": dict(self.headers), "body": body.decode()}
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/stripe/webhook/"
        threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        ).start()

    def events(self) -> list[stripe.Event]:
        """Return the received events, each verified with the SDK."""
        with self._lock:
            received = copy.deepcopy(self.received)
        return [
            stripe.Webhook.construct_event(
                item["body"],
                item["headers"]["Stripe-Signature"],
                DEFAULT_WEBHOOK_SECRET,
            )
            for item in received
        ]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def double_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def double_server(double_receiver: WebhookReceiver) -> Iterator[StripeDouble]:
    double = StripeDouble(
        webhook_url=double_receiver.url, retry_delays=(0.05, 0.05, 0.05)
    )
    with double:
        yield double


@pytest.fixture
def double_client(double_server: StripeDouble) -> stripe.StripeClient:
    return make_client(double_server)


@pytest.fixture
def double_session(double_client: stripe.StripeClient) -> stripe.checkout.Session:
    return double_client.v1.checkout.sessions.create(params=SESSION_PARAMS)


def pen_session(
    client: stripe.StripeClient, unit_amount: int, **params: Any
) -> stripe.checkout.Session:
    """Create a second, small Checkout Session: one pen at `unit_amount` cents."""
    return client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "http://shop.test/ok",
            **params,
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": unit_amount,
                        "product_data": {"name": "Pen"},
                    },
                }
            ],
        }
    )


def declared_fields(klass: type) -> set[str]:
    """Return the fields a StripeObject class declares, inherited ones included."""
    # A list declares its "object" only as OBJECT_NAME.
    fields = {"object"} if hasattr(klass, "OBJECT_NAME") else set()
    for base in klass.__mro__:
        fields.update(
            name
            for name in getattr(base, "__annotations__", {})
            if not name.startswith("_") and name != "OBJECT_NAME"
        )
    return fields


def make_client(
    double: StripeDouble,
    api_key: str = API_KEY,
    *,
    timeout: float = 2,
    retries: int = 0,
) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": double.url},
        http_client=stripe.RequestsClient(timeout=timeout),
        max_network_retries=retries,
    )


def press(
    session: stripe.checkout.Session, action: str, **form: str
) -> requests.Response:
    return requests.post(
        session.url, data={"action": action, **form}, allow_redirects=False, timeout=15
    )
