"""Request helpers that every app's views use."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def redirect_target(request: HttpRequest) -> str:
    """Return the safe local URL the form came from, or the home page."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("storefront:index")


def here(request: HtmxHttpRequest) -> str:
    """Return the page the shopper is on, for the forms' ``next`` field."""
    if request.method == "POST":
        return redirect_target(request)
    if request.htmx and request.htmx.current_url_abs_path:
        return request.htmx.current_url_abs_path
    return request.get_full_path()
