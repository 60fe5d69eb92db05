from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.urls import reverse
from model_bakery import baker

from payments import stripe_api
from payments.models import Order
from payments.stripe_double import DEFAULT_API_KEY, DEFAULT_WEBHOOK_SECRET, StripeDouble
from storefront.models import Product

# The fixtures of the tests that drive the double directly (test_stripe_double*).
from .stripe_double_support import (  # noqa: F401
    double_client,
    double_receiver,
    double_server,
    double_session,
)

WEBHOOK_URL = reverse("payments:stripe-webhook")


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


# Shoppers and checkouts, for the checkout, success page, reconcile, admin and
# end-to-end tests.

CHECKOUT_URL = reverse("payments:checkout")
CART_ADD_URL = reverse("storefront:cart-add")


@pytest.fixture
def new_shopper(db) -> Callable[..., Client]:
    """Return a factory of fresh browsers, each holding one of every product given."""

    def make(*products: Product, quantity: int = 1) -> Client:
        shopper = Client()
        for product in products:
            response = shopper.post(
                CART_ADD_URL, {"product": product.pk, "quantity": quantity}
            )
            assert response.status_code == 303
        return shopper

    return make


@pytest.fixture
def checkout_order(stripe_double: StripeDouble) -> Callable[[Client], Order]:
    """Return a function that presses Checkout for a browser and returns its order."""

    def press(shopper: Client) -> Order:
        response = shopper.post(CHECKOUT_URL)
        assert response.status_code == 303
        assert response["Location"].startswith(stripe_double.url)
        return Order.objects.get(public_id=shopper.session["cart_checkouts"][-1])

    return press


# Orders at checkout and the events about them, for the webhook, fulfillment and
# concurrency tests.


@pytest.fixture
def pending_order(
    new_shopper: Callable[..., Client],
    checkout_order: Callable[[Client], Order],
    laptop: Product,
    mouse: Product,
) -> Order:
    """A PENDING order for a laptop and a mouse, its Checkout Session on the double."""
    return checkout_order(new_shopper(laptop, mouse))


@pytest.fixture
def paid_order(stripe_double: StripeDouble, pending_order: Order) -> Order:
    """The pending order, paid on the double and its events delivered."""
    stripe_double.pay(pending_order.checkout_session_id, email="a@ex.com")
    deliver_events(*stripe_double.events)
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PAID
    return pending_order


@pytest.fixture
def live_webhooks(
    stripe_double: StripeDouble, live_server, transactional_db
) -> Iterator[StripeDouble]:
    """The double, delivering its webhooks over HTTP to the shop on live_server."""
    httpd = live_server.thread.httpd
    app = httpd.get_app()
    if httpd.connections_override:
        # The in-memory SQLite test database is one connection, shared by the
        # server's threads: let one request at a time use it. (Locking requests,
        # not connections, so an idle keep-alive connection blocks nobody.) On
        # PostgreSQL each request has its own connection and they run in parallel.
        httpd.set_app(_one_request_at_a_time(app))
    stripe_double.webhook_url = live_server.url + WEBHOOK_URL
    yield stripe_double
    # Stop in-flight deliveries and retries before the database is flushed.
    stripe_double.reset()
    stripe_double.webhook_url = None
    httpd.set_app(app)


def _one_request_at_a_time(app: Callable) -> Callable:
    lock = threading.Lock()

    def serve(environ: dict, start_response: Callable) -> list[bytes]:
        with lock:
            response = app(environ, start_response)
            try:
                return [b"".join(response)]
            finally:
                if hasattr(response, "close"):
                    response.close()

    return serve


def event_copy(event: dict, *, event_type: str = "", **session_fields) -> dict:
    """Return a new event (new id) like `event`, its type or session changed."""
    new = json.loads(json.dumps(event))
    new["id"] = f"evt_{secrets.token_hex(12)}"
    if event_type:
        new["type"] = event_type
    new["data"]["object"].update(session_fields)
    return new


def deliver_events(*events: dict) -> list[tuple[int, str | None]]:
    """Deliver events to the webhook one after another, as a fresh client.

    Return each delivery's status code and, when it was 200, its outcome.
    """
    results = []
    for event in events:
        response = post_event(Client(), event)
        outcome = response.json()["outcome"] if response.status_code == 200 else None
        results.append((response.status_code, outcome))
    return results


@pytest.fixture
def superuser_client(client: Client, django_user_model) -> Client:
    """A client signed in as a superuser (made without slow password hashing)."""
    client.force_login(
        baker.make(
            django_user_model, username="operator", is_staff=True, is_superuser=True
        )
    )
    return client


@pytest.fixture
def sign_in_staff(client: Client, django_user_model) -> Callable[..., Client]:
    """Return a function that signs `client` in as staff with just these permissions."""

    def sign_in(*codenames: str, username: str = "clerk") -> Client:
        user = baker.make(django_user_model, username=username, is_staff=True)
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def stripe_calls_in_transaction(monkeypatch) -> Callable[[str], list[bool]]:
    """Return a function that watches one `stripe_api` function.

    The list it returns grows by one a call: whether the call ran inside a
    database transaction.
    """

    def watch(name: str) -> list[bool]:
        real = getattr(stripe_api, name)
        in_transaction: list[bool] = []

        def call(*args, **kwargs):
            in_transaction.append(connection.in_atomic_block)
            return real(*args, **kwargs)

        monkeypatch.setattr(stripe_api, name, call)
        return in_transaction

    return watch
