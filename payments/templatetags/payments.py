from __future__ import annotations

from django import template
from django.db.models import Q

from payments.checkout import SHOPPER_SESSION_KEY
from payments.fulfillment import is_uuid
from payments.models import PAID_STATUSES, Order

register = template.Library()

RECENT_ORDERS = 10
# "Your orders" shows these (refunded orders too), and pending orders whose payment
# is processing.
SHOPPER_ORDER_STATUSES = (*PAID_STATUSES, Order.Status.FAILED)


@register.filter
def status_in_words(order: Order) -> str:
    """Return the order's status as a shopper reads it."""
    if order.status == Order.Status.PENDING:
        return "Processing" if order.payment_intent_id else "Awaiting payment"
    return order.get_status_display()


@register.inclusion_tag("payments/_checkout_form.html", takes_context=True)
def checkout_form(context: template.Context) -> dict:
    """Render the Checkout button, or the order whose payment is processing.

    While a payment is processing, its items are about to leave the cart: the
    shopper is offered the order's page, not a second payment for them.
    """
    # The cart's outstanding checkouts, which the storefront's views pass on.
    references = [r for r in context.get("checkouts") or () if is_uuid(r)]
    processing = None
    if references:
        processing = (
            Order.objects.filter(public_id__in=references, status=Order.Status.PENDING)
            .exclude(payment_intent_id="")
            .exclude(checkout_session_id=None)
            .order_by("-created_at")
            .first()
        )
    return {
        "request": context.get("request"),
        "csrf_token": context.get("csrf_token"),
        "processing": processing,
    }


@register.inclusion_tag("payments/_your_orders.html", takes_context=True)
def your_orders(context: template.Context) -> dict:
    """Render this browser's paid (or refunded), processing and failed orders."""
    request = context.get("request")
    shopper = request.session.get(SHOPPER_SESSION_KEY) if request else None
    orders: list[Order] = []
    if shopper:
        # A pending order without a payment is a checkout left open, not an order.
        processing = Q(status=Order.Status.PENDING) & ~Q(payment_intent_id="")
        orders = list(
            Order.objects.filter(shopper_key=shopper)
            .filter(Q(status__in=SHOPPER_ORDER_STATUSES) | processing)
            .order_by("-created_at")
            .prefetch_related("items")[:RECENT_ORDERS]
        )
    return {"orders": orders}
