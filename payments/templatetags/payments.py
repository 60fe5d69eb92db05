from __future__ import annotations

from django import template

from payments.checkout import SHOPPER_SESSION_KEY
from payments.models import PAID_STATUSES, Order

register = template.Library()

RECENT_ORDERS = 10


@register.inclusion_tag("payments/_checkout_form.html", takes_context=True)
def checkout_form(context: template.Context) -> dict:
    """Render the Checkout button: a plain form, no JavaScript needed."""
    return {"request": context.get("request"), "csrf_token": context.get("csrf_token")}


@register.inclusion_tag("payments/_your_orders.html", takes_context=True)
def your_orders(context: template.Context) -> dict:
    """Render this browser's paid orders, newest first, in two queries."""
    request = context.get("request")
    shopper = request.session.get(SHOPPER_SESSION_KEY) if request else None
    orders: list[Order] = []
    if shopper:
        orders = list(
            Order.objects.filter(shopper_key=shopper, status__in=PAID_STATUSES)
            .order_by("-paid_at")
            .prefetch_related("items")[:RECENT_ORDERS]
        )
    return {"orders": orders}
