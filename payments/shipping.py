"""Shipping and fulfilment: what checkout asks for, what a paid order keeps.

A cart with at least one product that needs shipping (``Product.requires_shipping``)
asks Stripe's Checkout for an address in ``SHOP_SHIPPING_COUNTRIES`` and offers
two rates built from settings: standard (free for a subtotal at or above
``SHOP_FREE_SHIPPING_OVER_CENTS``) and express. A cart of only digital or pickup
goods asks for neither. Once paid, the order keeps the recipient, the rate and
its amount; Stripe charged the subtotal plus that amount, which fulfillment
checks against the rates offered.

A paid order that needs shipping starts unfulfilled; an admin marks it shipped
(carrier and tracking number), then delivered. Each move is a conditional
change of one state to the next, so a repeated or concurrent click moves an
order once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from payments.emails import order_shipped_email_queue
from payments.models import Order

Fulfillment = Order.Fulfillment
# A partly refunded order still has goods to send; a fully refunded one has not.
SHIPPABLE_STATUSES = (Order.Status.PAID, Order.Status.PARTIALLY_REFUNDED)


@dataclass(frozen=True)
class ShippingRate:
    name: str
    amount_cents: int
    # Business days, for the estimate Checkout shows.
    days_min: int
    days_max: int


def shipping_rates(*, subtotal_cents: int) -> list[ShippingRate]:
    """Return the rates offered for an order of this subtotal, cheapest first."""
    free_over = settings.SHOP_FREE_SHIPPING_OVER_CENTS
    standard = settings.SHOP_SHIPPING_STANDARD_CENTS
    if free_over and subtotal_cents >= free_over:
        standard = 0
    return [
        ShippingRate(
            name="Free standard shipping" if standard == 0 else "Standard shipping",
            amount_cents=standard,
            days_min=3,
            days_max=7,
        ),
        ShippingRate(
            name="Express shipping",
            amount_cents=settings.SHOP_SHIPPING_EXPRESS_CENTS,
            days_min=1,
            days_max=2,
        ),
    ]


def shipping_session_params(*, order: Order) -> dict[str, Any]:
    """Return the Checkout Session parameters that collect shipping, if needed."""
    if not order.requires_shipping:
        return {}
    return {
        "shipping_address_collection": {
            "allowed_countries": list(settings.SHOP_SHIPPING_COUNTRIES)
        },
        "shipping_options": [
            {
                "shipping_rate_data": {
                    "type": "fixed_amount",
                    "display_name": rate.name,
                    "fixed_amount": {
                        "amount": rate.amount_cents,
                        "currency": order.currency,
                    },
                    "delivery_estimate": {
                        "minimum": {"unit": "business_day", "value": rate.days_min},
                        "maximum": {"unit": "business_day", "value": rate.days_max},
                    },
                }
            }
            for rate in shipping_rates(subtotal_cents=order.subtotal_cents)
        ],
        "phone_number_collection": {"enabled": settings.SHOP_SHIPPING_PHONE},
    }


def shipping_amount(checkout_session: Mapping[str, Any]) -> int:
    """Return the shipping Stripe charged for a session, in cents."""
    amount = _mapping(checkout_session.get("total_details")).get("amount_shipping")
    if amount is None:
        amount = _mapping(checkout_session.get("shipping_cost")).get("amount_total")
    return amount if type(amount) is int else 0


def shipping_mismatch(order: Order, checkout_session: Mapping[str, Any]) -> str:
    """Return why a paid session's shipping is not one the order was offered."""
    charged = shipping_amount(checkout_session)
    if not order.requires_shipping:
        if charged:
            return f"Shipping of {charged} charged for an order that ships nothing."
        return ""
    offered = [
        rate.amount_cents
        for rate in shipping_rates(subtotal_cents=order.subtotal_cents)
    ]
    if charged not in offered:
        return f"Shipping of {charged} charged; the rates offered were {offered}."
    if not _shipping_details(checkout_session):
        return "No shipping address was collected for an order that needs one."
    return ""


def shipping_fields(
    order: Order, checkout_session: Mapping[str, Any]
) -> dict[str, Any]:
    """Return the order's fields for a paid session: recipient, rate, amounts."""
    if not order.requires_shipping:
        return {}
    charged = shipping_amount(checkout_session)
    details = _shipping_details(checkout_session)
    address = _mapping(details.get("address"))
    customer = _mapping(checkout_session.get("customer_details"))
    fields = {
        "shipping_cents": charged,
        "total_cents": order.subtotal_cents + charged,
        "shipping_rate_name": _rate_name(order, checkout_session, charged),
        "shipping_name": details.get("name"),
        "shipping_line1": address.get("line1"),
        "shipping_line2": address.get("line2"),
        "shipping_city": address.get("city"),
        "shipping_state": address.get("state"),
        "shipping_postal_code": address.get("postal_code"),
        "shipping_country": address.get("country"),
        "shipping_phone": customer.get("phone"),
        "fulfillment": Fulfillment.UNFULFILLED,
    }
    limits = {
        field.name: field.max_length
        for field in Order._meta.get_fields()
        if getattr(field, "max_length", None)
    }
    return {
        name: (
            (value if isinstance(value, str) else "")[: limits[name]]
            if name in limits
            else value
        )
        for name, value in fields.items()
    }


def _mapping(value: object) -> Mapping[str, Any]:
    """Return a JSON object as it is, anything else (null, a list) as empty."""
    return value if isinstance(value, Mapping) else {}


def _shipping_details(checkout_session: Mapping[str, Any]) -> Mapping[str, Any]:
    collected = _mapping(checkout_session.get("collected_information"))
    return _mapping(collected.get("shipping_details"))


def _rate_name(order: Order, checkout_session: Mapping[str, Any], charged: int) -> str:
    rate = _mapping(checkout_session.get("shipping_cost")).get("shipping_rate")
    if isinstance(rate, Mapping) and rate.get("display_name"):
        return str(rate["display_name"])
    # Unexpanded, the session names the rate by id only: the amount tells which
    # of the offered rates it was (the cheaper one when two cost the same).
    for offered in shipping_rates(subtotal_cents=order.subtotal_cents):
        if offered.amount_cents == charged:
            return offered.name
    return ""


@dataclass(frozen=True)
class FulfillmentMove:
    moved: list[Order]
    skipped: int


def orders_mark_shipped(
    *, shipments: Mapping[int, str], carrier: str, by: str
) -> FulfillmentMove:
    """Mark paid, unshipped orders shipped: ``shipments`` maps order id to tracking."""
    return _orders_move(
        order_ids=shipments,
        expected=Fulfillment.UNFULFILLED,
        to=Fulfillment.SHIPPED,
        by=by,
        fields=lambda order: {
            "carrier": carrier,
            "tracking_number": shipments[order.pk],
            "shipped_at": timezone.now(),
        },
    )


def orders_mark_delivered(*, order_ids: Iterable[int], by: str) -> FulfillmentMove:
    """Mark shipped orders delivered."""
    return _orders_move(
        order_ids=order_ids,
        expected=Fulfillment.SHIPPED,
        to=Fulfillment.DELIVERED,
        by=by,
        fields=lambda order: {"delivered_at": timezone.now()},
    )


@transaction.atomic
def _orders_move(
    *, order_ids: Iterable[int], expected: str, to: str, by: str, fields: Any
) -> FulfillmentMove:
    ids = sorted(set(order_ids))
    orders = list(
        Order.objects.select_for_update()
        .filter(pk__in=ids, status__in=SHIPPABLE_STATUSES, fulfillment=expected)
        .order_by("pk")
    )
    now = timezone.now().isoformat()
    for order in orders:
        for name, value in fields(order).items():
            setattr(order, name, value)
        order.fulfillment = to
        order.status_history = [
            *order.status_history,
            {"at": now, "from": expected, "to": to, "by": by},
        ]
        order.save()
        if to == Fulfillment.SHIPPED:
            order_shipped_email_queue(
                order=order,
                carrier=order.carrier,
                tracking_number=order.tracking_number,
            )
    return FulfillmentMove(moved=orders, skipped=len(ids) - len(orders))
