"""Checkout: from the server-side cart to a Stripe Checkout Session.

In two steps, so that nobody waits on Stripe while holding a lock:

1. ``checkout_order_for_cart``, under the session's lock: the PENDING order for
   the cart as it is, new, or the one that a click a moment ago is still
   sending to Stripe (a double click gives one order and one Checkout Session).
2. ``checkout_session_create``, with no lock and no transaction: the order's
   Checkout Session at Stripe, under an idempotency key derived from the order.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from payments import stripe_api
from payments.fulfillment import (
    is_uuid,
    order_sync_with_checkout_session,
    order_transition,
)
from payments.models import Order, OrderItem
from payments.shipping import shipping_session_params
from storefront.cart import Cart, CartContents, SettledCheckouts
from storefront.money import MAX_AMOUNT, format_money
from storefront.stock import StockShortage, stock_reserve

logger = logging.getLogger(__name__)

SHOPPER_SESSION_KEY = "shopper"
# An open Checkout Session is offered again only while it has this long left.
REUSE_MARGIN = timedelta(minutes=5)
# How long a new order may wait for its Checkout Session before it counts as
# stuck: longer than the Stripe client's worst case, timeouts and retry included.
STARTING_TIME = timedelta(seconds=30)
CHECKOUT_FAILED = (
    "We could not reach our payment provider, so nothing was charged. "
    "Your cart is unchanged; please try again in a moment."
)


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


@dataclass(frozen=True)
class CheckoutStart:
    order: Order | None
    # True for a new order, whose Checkout Session this request must create.
    created: bool
    # No order: some items sold out, the cart now holds what is left. For the shopper.
    cart_changed: str = ""
    # No order: the shopper's own earlier checkouts hold what the cart needs.
    held_by_own: tuple[Order, ...] = ()


@transaction.atomic
def order_create_from_cart(*, contents: CartContents, shopper: str) -> Order:
    """Create a PENDING order and its items from the cart's current prices.

    The stock of its products is held for it; ``StockShortage`` if there is
    not enough, and nothing is created.
    """
    held = stock_reserve(
        {
            line.product.pk: line.quantity
            for line in contents
            if line.product.stock is not None
        }
    )
    order = Order.objects.create(
        total_cents=contents.total_cents,
        subtotal_cents=contents.total_cents,
        requires_shipping=any(line.product.requires_shipping for line in contents),
        stock_held=bool(held),
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
            stock_reserved=line.product.pk in held,
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
        **shipping_session_params(order=order),
    }


def open_order_for_cart(*, shopper: str, contents: CartContents) -> Order | None:
    """Return this shopper's PENDING order for exactly this cart, if any.

    That is one whose Checkout Session is open for a while yet, or one whose
    session another request is creating right now.
    """
    now = timezone.now()
    open_at_stripe = Q(checkout_expires_at__gt=now + REUSE_MARGIN) & ~Q(checkout_url="")
    starting = Q(checkout_session_id__isnull=True, created_at__gt=now - STARTING_TIME)
    return (
        Order.objects.filter(
            shopper_key=shopper,
            status=Order.Status.PENDING,
            cart_key=contents_key(contents),
            total_cents=contents.total_cents,
            currency=settings.SHOP_CURRENCY,
        )
        .filter(open_at_stripe | starting)
        .order_by("-created_at")
        .first()
    )


def checkout_order_for_cart(
    *, session: SessionBase, own_checkouts_expired: bool = False
) -> CheckoutStart:
    """Return the PENDING order for the session's cart; create it if need be.

    Runs under the session's lock, which it never holds while Stripe answers.
    Stock short because the shopper's own earlier checkouts hold it: those are
    returned to be expired (``checkouts_holding_stock_expire``), then call again.
    """
    cart = Cart(session)
    contents = cart.contents()
    if not contents.lines:
        raise CheckoutError("Your cart is empty. Add something before checking out.")
    if contents.total_cents > MAX_AMOUNT:
        raise CheckoutError(
            f"Your cart comes to {format_money(contents.total_cents)}, more than "
            f"the {format_money(MAX_AMOUNT)} we can take in one payment. Please "
            "split it into smaller orders."
        )
    if not stripe_api.is_configured():
        raise CheckoutError(
            "Payments are not set up on this shop yet, so checkout is closed. "
            "Your cart is saved."
        )
    shopper = shopper_key(session)
    existing = open_order_for_cart(shopper=shopper, contents=contents)
    if existing is not None:
        return CheckoutStart(order=existing, created=False)
    try:
        order = order_create_from_cart(contents=contents, shopper=shopper)
    except StockShortage as shortage:
        held_by_own = (
            ()
            if own_checkouts_expired
            else own_checkouts_holding(shopper=shopper, product_ids=shortage.available)
        )
        if held_by_own:
            return CheckoutStart(order=None, created=False, held_by_own=held_by_own)
        # Saved under the lock: the shopper sees the cart that can be bought.
        cart.quantities_cap(shortage.available)
        return CheckoutStart(order=None, created=False, cart_changed=shortage.message)
    cart.checkout_started(reference=str(order.public_id))
    return CheckoutStart(order=order, created=True)


def own_checkouts_holding(
    *, shopper: str, product_ids: Iterable[int]
) -> tuple[Order, ...]:
    """Return the shopper's open checkouts that hold stock of these products."""
    return tuple(
        Order.objects.filter(
            shopper_key=shopper,
            status=Order.Status.PENDING,
            stock_held=True,
            checkout_session_id__isnull=False,
            items__product_id__in=list(product_ids),
            items__stock_reserved=True,
        ).distinct()
    )


def checkouts_holding_stock_expire(*, orders: Iterable[Order]) -> None:
    """Expire a shopper's earlier checkouts so that a new cart can have their stock.

    Call it outside any transaction or lock: it waits on Stripe. A Checkout
    Session no longer open (paid meanwhile) is settled as Stripe has it.
    """
    for order in orders:
        try:
            checkout_session = stripe_api.checkout_session_expire(
                order.checkout_session_id
            )
        except stripe_api.StripeUnavailable:
            try:
                checkout_session = stripe_api.checkout_session_retrieve(
                    order.checkout_session_id
                )
            except stripe_api.StripeUnavailable as error:
                logger.warning(
                    "checkout holding stock not expired: order_id=%s %s",
                    order.public_id,
                    error,
                )
                continue
        order_sync_with_checkout_session(
            checkout_session=checkout_session, by="checkout:cart-changed"
        )


def checkout_session_create(*, order: Order, success_url: str, cancel_url: str) -> str:
    """Create the order's Checkout Session; return the URL to pay at.

    Call it outside any transaction or lock: it waits on Stripe.
    """
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
        raise CheckoutError(CHECKOUT_FAILED) from error

    Order.objects.filter(pk=order.pk).update(
        checkout_session_id=checkout_session["id"],
        checkout_url=checkout_session["url"],
        checkout_expires_at=datetime.fromtimestamp(
            checkout_session["expires_at"], tz=UTC
        ),
    )
    return checkout_session["url"]


def order_is_starting(order: Order) -> bool:
    """Return whether another request is still creating the order's session."""
    return (
        order.status == Order.Status.PENDING
        and order.checkout_session_id is None
        and order.created_at > timezone.now() - STARTING_TIME
    )


def checkouts_settled(references: list[str]) -> SettledCheckouts:
    """Say which of a cart's checkouts are over, and what the paid ones bought.

    The cart calls this (``storefront.cart.register_checkout_settler``) while
    it has checkouts outstanding: one query, and one more once one is paid.
    """
    statuses = {
        str(public_id): status
        for public_id, status in Order.objects.filter(
            public_id__in=[reference for reference in references if is_uuid(reference)]
        ).values_list("public_id", "status")
    }
    over = {
        reference
        for reference in references
        if statuses.get(reference) != Order.Status.PENDING
    }
    paid = [
        reference
        for reference in over
        if statuses.get(reference)
        not in {None, Order.Status.FAILED, Order.Status.EXPIRED}
    ]
    quantities: dict[int, int] = {}
    if paid:
        for product_id, quantity in OrderItem.objects.filter(
            order__public_id__in=paid, product__isnull=False
        ).values_list("product_id", "quantity"):
            quantities[product_id] = quantities.get(product_id, 0) + quantity
    return SettledCheckouts(references=frozenset(over), paid_quantities=quantities)
