from __future__ import annotations

from collections.abc import Callable

from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from payments import stripe_api
from payments.checkout import CHECKOUT_SESSION_KEY, checkout_pending
from storefront.throttle import serialize_session


class PaidCartClearingMiddleware:
    """Empty a shopper's cart on their first request after its order is paid.

    Costs one query while a checkout is outstanding, and a few more once, when
    it is settled. A view that changes the session locks it first
    (``serialize_session``) and the cart is settled under that lock, when
    ``session_locked`` is sent; before other views it is settled here, under
    the same lock.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponse],
        view_args: tuple,
        view_kwargs: dict,
    ) -> None:
        if getattr(view_func, "locks_session", False):
            return
        session = request.session
        if CHECKOUT_SESSION_KEY in session and not checkout_pending(session):
            settle_under_lock(request)


@serialize_session
def settle_under_lock(request: HttpRequest) -> HttpResponse:
    """Lock the session, which settles its cart (``session_locked``), and save it."""
    return HttpResponse()


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
