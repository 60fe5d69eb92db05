"""Checkout: from the server-side cart to a Stripe Checkout Session."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from payments import stripe_api
from payments.fulfillment import is_uuid, order_transition
from payments.models import Order, OrderItem
from storefront.cart import Cart, CartContents

logger = logging.getLogger(__name__)

SHOPPER_SESSION_KEY = "shopper"
CHECKOUT_SESSION_KEY = "checkout_order"
# An open Checkout Session is offered again only while it has this long left.
REUSE_MARGIN = timedelta(minutes=5)


class CheckoutError(Exception):
    """Checkout cannot go ahead; the message is for the shopper."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def shopper_key(session: SessionBase) -> str:
    """Return the random token that marks this browser's orders as its own."""
    key = session.get(SHOPPER_SESSION_KEY)
    if not isinstance(key, str) or not key:
        key = secrets.token_urlsafe(24)
        session[SHOPPER_SESSION_KEY] = key
    return key


def cart_key(quantities: Mapping[int, int]) -> str:
    """Return a digest of a cart's product ids and quantities."""
    items = ",".join(f"{pk}x{quantity}" for pk, quantity in sorted(quantities.items()))
    return hashlib.sha256(items.encode()).hexdigest()


def contents_key(contents: CartContents) -> str:
    return cart_key({line.product.pk: line.quantity for line in contents})


@transaction.atomic
def order_create_from_cart(*, contents: CartContents, shopper: str) -> Order:
    """Create a PENDING order and its items from the cart's current prices."""
    order = Order.objects.create(
        total_cents=contents.total_cents,
        currency=settings.SHOP_CURRENCY,
        shopper_key=shopper,
        cart_key=contents_key(contents),
    )
    OrderItem.objects.bulk_create(
        OrderItem(
            order=order,
            product=line.product,
            product_name=line.product.name,
            unit_price_cents=line.product.price_cents,
            quantity=line.quantity,
        )
        for line in contents
    )
    return order


def checkout_session_params(*, order: Order, success_url: str, cancel_url: str) -> dict:
    """Return the parameters of the Checkout Session for an order."""
    expires_at = timezone.now() + timedelta(
        seconds=settings.STRIPE_CHECKOUT_EXPIRES_AFTER_SECONDS
    )
    return {
        "mode": "payment",
        "line_items": [
            {
                "quantity": item.quantity,
                "price_data": {
                    "currency": order.currency,
                    "unit_amount": item.unit_price_cents,
                    "product_data": {"name": item.product_name},
                },
            }
            for item in order.items.all()
        ],
        "client_reference_id": str(order.public_id),
        "metadata": {"order_id": str(order.public_id)},
        "success_url": success_url,
        "cancel_url": cancel_url,
        "expires_at": int(expires_at.timestamp()),
    }


def open_order_for_cart(*, shopper: str, contents: CartContents) -> Order | None:
    """Return this shopper's open checkout for exactly this cart, if any."""
    return (
        Order.objects.filter(
            shopper_key=shopper,
            status=Order.Status.PENDING,
            cart_key=contents_key(contents),
            total_cents=contents.total_cents,
            currency=settings.SHOP_CURRENCY,
            checkout_expires_at__gt=timezone.now() + REUSE_MARGIN,
        )
        .exclude(checkout_url="")
        .order_by("-created_at")
        .first()
    )


def checkout_start(*, session: SessionBase, success_url: str, cancel_url: str) -> str:
    """Create (or reuse) the order and Checkout Session; return the URL to pay at."""
    contents = Cart(session).contents()
    if not contents.lines:
        raise CheckoutError("Your cart is empty. Add something before checking out.")
    if not stripe_api.is_configured():
        raise CheckoutError(
            "Payments are not set up on this shop yet, so checkout is closed. "
            "Your cart is saved."
        )
    shopper = shopper_key(session)
    existing = open_order_for_cart(shopper=shopper, contents=contents)
    if existing is not None:
        session[CHECKOUT_SESSION_KEY] = str(existing.public_id)
        return existing.checkout_url

    order = order_create_from_cart(contents=contents, shopper=shopper)
    params = checkout_session_params(
        order=order, success_url=success_url, cancel_url=cancel_url
    )
    try:
        checkout_session = stripe_api.checkout_session_create(
            params=params, idempotency_key=f"checkout-session-{order.public_id}"
        )
    except stripe_api.StripeUnavailable as error:
        logger.error("checkout failed: order_id=%s %s", order.public_id, error)
        order_transition(
            order_id=order.pk, to=Order.Status.FAILED, by="checkout", reason=str(error)
        )
        raise CheckoutError(
            "We could not reach our payment provider, so nothing was charged. "
            "Your cart is unchanged; please try again in a moment."
        ) from error

    Order.objects.filter(pk=order.pk).update(
        checkout_session_id=checkout_session["id"],
        checkout_url=checkout_session["url"],
        checkout_expires_at=datetime.fromtimestamp(
            checkout_session["expires_at"], tz=UTC
        ),
    )
    session[CHECKOUT_SESSION_KEY] = str(order.public_id)
    return checkout_session["url"]


def checkout_order(session: SessionBase) -> Order | None:
    """Return the order this session last checked out, if there is one."""
    public_id = session.get(CHECKOUT_SESSION_KEY)
    if not public_id or not is_uuid(public_id):
        return None
    return Order.objects.filter(public_id=public_id).only("status", "cart_key").first()


def checkout_pending(session: SessionBase) -> bool:
    """Return whether the session's last checkout still waits for payment."""
    order = checkout_order(session)
    return order is not None and order.status == Order.Status.PENDING


def checkout_settle_cart(session: SessionBase) -> None:
    """Empty the cart once the order it was checked out as is paid.

    Runs on the shopper's next request, so the cart empties whichever way they
    come back: the success page, the home page, or days later.
    """
    if CHECKOUT_SESSION_KEY not in session:
        return
    order = checkout_order(session)
    if order is None or order.status in {Order.Status.FAILED, Order.Status.EXPIRED}:
        del session[CHECKOUT_SESSION_KEY]
    elif order.status == Order.Status.PAID:
        del session[CHECKOUT_SESSION_KEY]
        cart = Cart(session)
        # A cart changed since checkout is a new cart; only the paid one goes.
        if cart_key(cart.quantities) == order.cart_key:
            cart.clear()


def checkout_settle_cart_when_locked(
    sender: object, *, request: HttpRequest, **kwargs: object
) -> None:
    """Settle the cart of a session that a view has just locked and read."""
    checkout_settle_cart(request.session)
