from __future__ import annotations

from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from payments import stripe_api


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
