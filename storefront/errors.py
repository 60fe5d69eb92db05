"""The shop's own error pages: 400, 403 (CSRF failures too) and 404.

Django's defaults are plain text or unstyled. These answer in the shop's look,
pass through every middleware (so they carry the security headers), and give
an htmx request only the message, which htmx swaps in where the shopper looks.
The 400 and 403 pages read nothing from the request beyond its htmx header:
the request may be the very thing that is broken.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def error_page(
    request: HttpRequest, template: str, *, status: int, message: str = ""
) -> HttpResponse:
    """Return an error page that needs no context, or its message for htmx."""
    name = f"{template}#message" if _is_htmx(request) else template
    return HttpResponse(render_to_string(name, {"message": message}), status=status)


def bad_request(
    request: HttpRequest, exception: Exception | None = None
) -> HttpResponse:
    return error_page(request, "400.html", status=400)


def permission_denied(
    request: HttpRequest, exception: Exception | None = None
) -> HttpResponse:
    return error_page(request, "403.html", status=403)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    logger.warning("csrf failure: path=%s reason=%s", request.path, reason)
    return error_page(request, "403_csrf.html", status=403)


def page_not_found(
    request: HttpRequest, exception: Exception | None = None
) -> HttpResponse:
    template = "404.html#message" if _is_htmx(request) else "404.html"
    return render(request, template, status=404)
