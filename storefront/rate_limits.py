"""Per-client rate limits on cart changes and checkout (django-ratelimit).

The counters live in the default cache: Redis when ``REDIS_URL`` is set, shared
by every process (and counted per process while Redis is down, see
``shop/cache.py``); otherwise each process's memory.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import is_ratelimited

TOO_MANY_CHANGES = (
    "Too many changes in a short time. Please wait a minute and try again."
)
TOO_MANY_CHECKOUTS = (
    "Too many checkout attempts in a short time. Please wait a minute and try again."
)


def client_ip(group: str, request: HttpRequest) -> str:
    """Return the client's address, as the trusted router saw it.

    The router appends the address it received the request from to
    X-Forwarded-For; anything to the left of that came from the client and
    cannot be trusted.
    """
    hops = settings.TRUSTED_PROXY_HOPS
    if hops > 0:
        forwarded = [
            address.strip()
            for address in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if address.strip()
        ]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR", "")


def cart_change_over_limit(request: HttpRequest) -> bool:
    """Count a cart change against the client's limit; say if it is over."""
    return _over_limit(request, group="cart", rate=settings.RATELIMIT_CART)


def checkout_over_limit(request: HttpRequest) -> bool:
    """Count a checkout against the client's limit; say if it is over."""
    return _over_limit(request, group="checkout", rate=settings.RATELIMIT_CHECKOUT)


def _over_limit(request: HttpRequest, *, group: str, rate: str) -> bool:
    return is_ratelimited(
        request, group=group, key=client_ip, rate=rate, method="POST", increment=True
    )
