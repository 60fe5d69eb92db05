"""The order page: what a shopper sees at the secret link in their email."""

from __future__ import annotations

import re

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from payments.models import Order, Refund

# secrets.token_urlsafe(32): 43 characters. Anything else is not looked up.
ACCESS_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")

STATUS_WORDS = {
    Order.Status.PENDING: "We are waiting for the payment to be confirmed.",
    Order.Status.PAID: "Paid. We are preparing your order.",
    Order.Status.FAILED: "The payment did not go through. Nothing was charged.",
    Order.Status.EXPIRED: "The checkout expired before payment. Nothing was charged.",
    Order.Status.PARTIALLY_REFUNDED: "Paid; part of it has been refunded.",
    Order.Status.REFUNDED: "Refunded.",
}


@require_GET
def order_detail(request: HttpRequest, token: str) -> HttpResponse:
    order = None
    if ACCESS_TOKEN.match(token):
        order = Order.objects.filter(access_token=token).first()
    if order is None:
        # A wrong, revoked or malformed link: the page of any unknown order.
        response = render(request, "payments/order_not_found.html", status=404)
    else:
        context = {
            "order": order,
            "items": order.items.all(),
            # Failed and canceled refunds gave nothing back: the shopper sees none.
            "refunds": order.refunds.filter(
                status__in=[Refund.Status.PENDING, Refund.Status.SUCCEEDED]
            ).order_by("created_at", "id"),
            "status_words": STATUS_WORDS.get(order.status, order.get_status_display()),
        }
        response = render(request, "payments/order_detail.html", context)
    # The address is the secret: not cached by shared caches, not sent on as a
    # Referer, not indexed.
    response["Cache-Control"] = "private, no-cache"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response
