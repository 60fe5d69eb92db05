"""Admin sign-in throttling (django-axes): who is signing in, from where."""

from __future__ import annotations

import ipaddress

from django.http import HttpRequest

from storefront.rate_limits import client_ip


def client_ip_for_axes(request: HttpRequest) -> str:
    """Return the client's address as the trusted router saw it, for django-axes.

    The same address the rate limits count by. Axes stores it in an IP address
    column, so anything that is not an address (a misconfigured
    TRUSTED_PROXY_HOPS lets the client choose it) falls back to the peer's.
    """
    address = client_ip("admin-login", request)
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return request.META.get("REMOTE_ADDR", "")
