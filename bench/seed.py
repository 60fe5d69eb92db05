"""Data for the benchmark, written through the ORM of the benchmark's own process.

Django must be set up (``django.setup()``) with the benchmark's environment
before anything here runs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from payments.models import Order, OrderProblem
from storefront.models import Product

BATCH = 5_000


# Units of each product that counts its stock: more than any run sells.
STOCK = 1_000_000_000


# The benchmark's search looks for it: every product matches.
WORD_IN_EVERY_DESCRIPTION = "sturdy"


def products_create(count: int) -> list[int]:
    """Create a catalog of ``count`` active products; return their ids.

    Every other product counts its stock, the rest do not.
    """
    rng = random.Random(6)
    Product.objects.bulk_create(
        Product(
            name=f"Product {number:04d}",
            description=(
                f"Product {number:04d}: a {WORD_IN_EVERY_DESCRIPTION} thing "
                "for everyday use."
            ),
            price_cents=rng.randrange(100, 100_000),
            stock=STOCK if number % 2 == 0 else None,
        )
        for number in range(1, count + 1)
    )
    return list(Product.objects.order_by("id").values_list("id", flat=True))


def product_ids_by_stock() -> tuple[list[int], list[int]]:
    """Return the ids of the products that count their stock, then the others."""
    products = Product.objects.order_by("id").values_list("id", "stock")
    return (
        [pk for pk, stock in products if stock is not None],
        [pk for pk, stock in products if stock is None],
    )


@contextmanager
def created_at_settable() -> Iterator[None]:
    """Let bulk_create keep the given ``created_at`` instead of now."""
    field = Order._meta.get_field("created_at")
    field.auto_now_add = False
    try:
        yield
    finally:
        field.auto_now_add = True


def orders_create(count: int) -> None:
    """Create ``count`` orders over the past year, mostly paid, a few with problems."""
    rng = random.Random(100_000)
    now = timezone.now()
    statuses = [Order.Status.PAID] * 16 + [
        Order.Status.PENDING,
        Order.Status.PENDING,
        Order.Status.FAILED,
        Order.Status.EXPIRED,
    ]
    with created_at_settable(), transaction.atomic():
        for start in range(0, count, BATCH):
            batch = []
            for number in range(start, min(start + BATCH, count)):
                status = rng.choice(statuses)
                created_at = now - timedelta(seconds=rng.randrange(365 * 86_400))
                batch.append(
                    Order(
                        status=status,
                        total_cents=(total_cents := rng.randrange(100, 500_000)),
                        subtotal_cents=total_cents,
                        currency="usd",
                        shopper_key=secrets.token_urlsafe(24),
                        cart_key=f"{number:064x}",
                        checkout_session_id=f"cs_seed_{number}",
                        customer_email=f"shopper{number}@example.com",
                        created_at=created_at,
                        paid_at=(
                            created_at + timedelta(minutes=2)
                            if status == Order.Status.PAID
                            else None
                        ),
                    )
                )
            created = Order.objects.bulk_create(batch)
            OrderProblem.objects.bulk_create(
                OrderProblem(order=order, message="Amount mismatch.")
                for order in created
                if int(order.cart_key, 16) % 100 == 0
            )


def superuser_create(password: str) -> str:
    """Create the operator who looks at the admin; return the username."""
    username = "bench-admin"
    get_user_model().objects.create_superuser(
        username=username, email="admin@example.com", password=password
    )
    return username


def webhook_events(*, count: int, label: str, secret: str) -> list[tuple[str, str]]:
    """Create ``count`` pending orders and a signed completion event for each.

    Return each event's Stripe-Signature header and body, signed as Stripe signs.
    """
    with transaction.atomic():
        orders = Order.objects.bulk_create(
            Order(
                total_cents=2999,
                subtotal_cents=2999,
                currency="usd",
                shopper_key=f"bench-{label}-{number}",
                cart_key=f"bench-{label}-{number}",
                checkout_session_id=f"cs_bench_{label}_{number}",
            )
            for number in range(count)
        )
    timestamp = int(time.time())
    events = []
    for number, order in enumerate(orders):
        event = {
            "id": f"evt_bench_{label}_{number}",
            "object": "event",
            "type": "checkout.session.completed",
            "livemode": False,
            "created": timestamp,
            "data": {
                "object": {
                    "id": order.checkout_session_id,
                    "object": "checkout.session",
                    "status": "complete",
                    "payment_status": "paid",
                    "amount_total": order.total_cents,
                    "currency": order.currency,
                    "client_reference_id": str(order.public_id),
                    "payment_intent": f"pi_bench_{label}_{number}",
                    "customer_details": {"email": "shopper@example.com"},
                }
            },
        }
        body = json.dumps(event, separators=(",", ":"))
        signed = f"{timestamp}.{body}".encode()
        digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        events.append((f"t={timestamp},v1={digest}", body))
    return events
