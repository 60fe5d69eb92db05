from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.contrib import messages
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from payments import stripe_api
from payments.checkout import (
    CHECKOUT_FAILED,
    SHOPPER_SESSION_KEY,
    CheckoutError,
    checkout_order_for_cart,
    checkout_session_create,
    checkouts_holding_stock_expire,
    order_is_starting,
)
from payments.models import Order
from payments.reconcile import order_check_with_stripe
from payments.webhooks import EventMalformed, stripe_event_receive
from shop.http import HtmxHttpRequest
from shop.pages import session_page
from storefront.cart_panel import cart_panel
from storefront.rate_limits import TOO_MANY_CHECKOUTS, checkout_over_limit
from storefront.session_lock import session_lock

logger = logging.getLogger(__name__)

# How often, at most, a processing order's page reloads itself without JavaScript.
MIN_RELOAD_SECONDS = 15
# Checkout Session events are a few kilobytes; refuse anything far larger unread.
WEBHOOK_MAX_BYTES = 256 * 1024


@require_POST
def checkout(request: HtmxHttpRequest) -> HttpResponse:
    if checkout_over_limit(request):
        messages.error(request, TOO_MANY_CHECKOUTS)
        context = cart_panel(request)
        return render(request, "storefront/cart.html", context, status=429)
    try:
        with session_lock(request):
            start = checkout_order_for_cart(session=request.session)
        if start.held_by_own:
            # The shopper changed the cart: their earlier checkouts give way.
            checkouts_holding_stock_expire(orders=start.held_by_own)
            with session_lock(request):
                start = checkout_order_for_cart(
                    session=request.session, own_checkouts_expired=True
                )
        if start.order is None:
            raise CheckoutError(start.cart_changed)
        # Stripe is called with the session's lock released.
        if not start.created:
            # The same cart again: its open Checkout Session, or the page that
            # waits for the click a moment ago to create it.
            url = start.order.checkout_url or reverse(
                "payments:checkout-continue", args=[start.order.public_id]
            )
            return HttpResponseRedirect(url, status=303)
        success_url = request.build_absolute_uri(reverse("payments:success"))
        url = checkout_session_create(
            order=start.order,
            success_url=f"{success_url}?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=request.build_absolute_uri(reverse("storefront:cart")),
        )
    except CheckoutError as error:
        messages.error(request, error.message)
        return HttpResponseRedirect(reverse("storefront:cart"), status=303)
    return HttpResponseRedirect(url, status=303)


@require_GET
@never_cache
def checkout_continue(request: HtmxHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Send the shopper on to the order's Checkout Session once it exists.

    A second click on Checkout lands here while the first is still waiting for
    Stripe; the page looks again every second until the session is there.
    """
    shopper = request.session.get(SHOPPER_SESSION_KEY)
    order = Order.objects.filter(public_id=public_id, shopper_key=shopper).first()
    if not shopper or order is None:
        return render(request, "payments/order_not_found.html", status=404)
    if order.status == Order.Status.PENDING and order.checkout_url:
        return HttpResponseRedirect(order.checkout_url, status=303)
    if order_is_starting(order):
        return render(request, "payments/checkout_continue.html", {"order": order})
    if order.status in {Order.Status.PENDING, Order.Status.FAILED}:
        # Stripe refused, or the request died before it answered (the
        # reconciler fails such an order). Either way the cart is intact.
        messages.error(request, CHECKOUT_FAILED)
        return HttpResponseRedirect(reverse("storefront:cart"), status=303)
    return HttpResponseRedirect(order.get_absolute_url(), status=303)


@require_GET
@session_page
@vary_on_headers("HX-Request")
def checkout_success(request: HtmxHttpRequest) -> HttpResponse:
    # Stripe names the Checkout Session in the success URL.
    checkout_session_id = request.GET.get("session_id", "")
    shopper = request.session.get(SHOPPER_SESSION_KEY)
    order = None
    if stripe_api.CHECKOUT_SESSION_ID.fullmatch(checkout_session_id) and shopper:
        order = Order.objects.filter(
            checkout_session_id=checkout_session_id, shopper_key=shopper
        ).first()
    if order is None:
        # Someone else's Checkout Session, or none at all: show nothing. A
        # poll whose session ended swaps in the message, not a whole page.
        template = "payments/order_not_found.html"
        if request.htmx:
            template += "#not_found"
        return render(request, template, status=404)

    order = order_check_with_stripe(order=order, by="success-page")

    poll_seconds = poll_interval(order)
    context = {
        "order": order,
        "items": order.items.all(),
        "poll_seconds": poll_seconds,
        # A whole page reloaded (no JavaScript) restarts a screen reader.
        "reload_seconds": max(poll_seconds, MIN_RELOAD_SECONDS),
    }
    template = "payments/checkout_success.html"
    if request.htmx:
        # The order's status, and the cart's count out of band: a paid order
        # has emptied the cart.
        template += "#status_swap"
    return render(request, template, context)


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
