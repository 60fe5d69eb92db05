from __future__ import annotations

from collections.abc import Callable

from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from payments import stripe_api
from payments.checkout import CHECKOUT_SESSION_KEY, checkout_settle_cart


def paid_cart_clearing_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Empty a shopper's cart on their first request after its order is paid.

    Costs one query, and only while a checkout is outstanding.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        session = request.session
        if CHECKOUT_SESSION_KEY in session:
            checkout_settle_cart(session)
            if session.modified:
                # Saved now, so that a view that re-reads the session under a
                # lock (storefront.throttle.serialize_session) sees it.
                session.save()
        return get_response(request)

    return middleware


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, letting the checkout form go on to Stripe.

    Browsers check form-action against every redirect after a form is sent, so
    the pages with the checkout form must allow the Checkout page's origin.
    """

    def get_policy_parts(
        self,
        request: HttpRequest,
        response: HttpResponseBase,
        report_only: bool = False,
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        parts.update = {
            **(parts.update or {}),
            "form-action": stripe_api.checkout_origins(),
        }
        return parts
