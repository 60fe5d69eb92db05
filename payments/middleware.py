from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from payments.checkout import CHECKOUT_SESSION_KEY, checkout_settle_cart


def paid_cart_clearing_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Empty a shopper's cart on their first request after its order is paid.

    Costs one query, and only while a checkout is outstanding.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        if CHECKOUT_SESSION_KEY in request.session:
            checkout_settle_cart(request.session)
        return get_response(request)

    return middleware
