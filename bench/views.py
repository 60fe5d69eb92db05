"""The floors: views that do only the unavoidable part of a request."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

MAX_BYTES = 1_000_000


def body_of_size(request: HttpRequest) -> bytes:
    """Return as many bytes as ``?bytes=`` asks for (the page being compared)."""
    try:
        size = int(request.GET.get("bytes", "0"))
    except ValueError:
        size = 0
    return b"x" * max(0, min(size, MAX_BYTES))


def bare_floor(request: HttpRequest) -> HttpResponse:
    return HttpResponse(body_of_size(request), content_type="text/html; charset=utf-8")


def session_floor(request: HttpRequest) -> HttpResponse:
    """Read the cart from the session and write it back, as a cart change does."""
    request.session["cart"] = request.session.get("cart", {})
    return HttpResponse(body_of_size(request), content_type="text/html; charset=utf-8")
