from __future__ import annotations

import logging
import re
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from payments import stripe_api
from payments.checkout import (
    SHOPPER_SESSION_KEY,
    CheckoutError,
    checkout_settle_cart,
    checkout_start,
)
from payments.models import Order
from payments.reconcile import order_check_with_stripe
from payments.webhooks import EventMalformed, stripe_event_receive
from storefront.cart import Cart
from storefront.throttle import over_limit, serialize_session
from storefront.views import HtmxHttpRequest

logger = logging.getLogger(__name__)

SESSION_ID = re.compile(r"^cs_[A-Za-z0-9_]{1,250}$")
# Checkout Session events are a few kilobytes; refuse anything far larger unread.
WEBHOOK_MAX_BYTES = 256 * 1024


TOO_MANY_CHECKOUTS = (
    "Too many checkout attempts in a short time. Please wait a minute and try again."
)


@require_POST
@serialize_session
def checkout(request: HttpRequest) -> HttpResponse:
    if over_limit(request, group="checkout", rate=settings.RATELIMIT_CHECKOUT):
        messages.error(request, TOO_MANY_CHECKOUTS)
        context = {"cart": Cart(request.session).contents()}
        return render(request, "storefront/cart.html", context, status=429)
    cart_url = request.build_absolute_uri(reverse("storefront:cart"))
    success_url = request.build_absolute_uri(reverse("payments:success"))
    try:
        url = checkout_start(
            session=request.session,
            success_url=f"{success_url}?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=cart_url,
        )
    except CheckoutError as error:
        messages.error(request, error.message)
        return HttpResponseRedirect(reverse("storefront:cart"), status=303)
    # The session now gives access to an order: a new key defeats fixation.
    request.session.cycle_key()
    return HttpResponseRedirect(url, status=303)


@require_GET
def checkout_success(request: HtmxHttpRequest) -> HttpResponse:
    session_id = request.GET.get("session_id", "")
    shopper = request.session.get(SHOPPER_SESSION_KEY)
    order = None
    if SESSION_ID.match(session_id) and shopper:
        order = Order.objects.filter(
            checkout_session_id=session_id, shopper_key=shopper
        ).first()
    if order is None:
        # Someone else's session, or none at all: show nothing about it.
        return render(request, "payments/order_not_found.html", status=404)

    order = order_check_with_stripe(order=order, by="success-page")
    checkout_settle_cart(request.session)

    context = {
        "order": order,
        "items": order.items.all(),
        "poll_seconds": poll_interval(order),
    }
    if not request.htmx:
        return render(request, "payments/checkout_success.html", context)
    html = render_to_string(
        "payments/checkout_success.html#order_status", context, request
    )
    html += render_to_string(
        "base.html#cart_count",
        {"cart_count": Cart(request.session).count, "oob": True},
        request,
    )
    return HttpResponse(html)


def poll_interval(order: Order) -> int:
    """Return how often a processing order's page checks again, in seconds.

    Most delayed payments settle in seconds in tests and in days for real bank
    debits; after the first minutes, checking twice a minute is plenty.
    """
    if timezone.now() - order.created_at < timedelta(minutes=10):
        return 2
    return 30


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    # Read at most one byte past the limit, whatever Content-Length says (a
    # chunked body has none): an oversized body is refused unparsed.
    payload = request.read(WEBHOOK_MAX_BYTES + 1)
    if len(payload) > WEBHOOK_MAX_BYTES:
        return HttpResponse("Payload too large.", status=413)
    try:
        event = stripe_api.webhook_event_verify(
            payload=payload,
            signature=request.headers.get("Stripe-Signature", ""),
        )
    except stripe_api.WebhookBodyInvalid as error:
        logger.warning("webhook refused: %s", error)
        return HttpResponseBadRequest(str(error))
    except stripe_api.WebhookSignatureInvalid as error:
        logger.warning("webhook refused: %s", error)
        return HttpResponseBadRequest("Invalid signature.")
    try:
        outcome = stripe_event_receive(event=event)
    except EventMalformed as error:
        logger.warning("webhook refused: event_id=%s %s", event.get("id"), error)
        return HttpResponseBadRequest(str(error))
    except stripe_api.StripeUnavailable as error:
        # Stripe delivers the event again later; by then it may answer.
        logger.warning("webhook deferred: event_id=%s %s", event.get("id"), error)
        return HttpResponse("Stripe could not be asked; try again.", status=503)
    return JsonResponse({"received": True, "outcome": outcome})
