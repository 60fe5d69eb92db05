from __future__ import annotations

import logging
import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, QueryDict

from storefront.errors import error_page

logger = logging.getLogger(__name__)

# Django's session keys: 32 characters of lower-case letters and digits.
SESSION_KEY = re.compile(r"[a-z0-9]{8,64}")


def malformed_session_cookie_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Ignore a session cookie that no session store could have issued.

    Django's stores check only a key's length, and PostgreSQL refuses a NUL
    byte in a query, which would turn a forged cookie into a server error.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        if key is not None and not SESSION_KEY.fullmatch(key):
            del request.COOKIES[settings.SESSION_COOKIE_NAME]
        return get_response(request)

    return middleware


def unreadable_input_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Refuse, with a clear 4xx and before any view, input the shop cannot read.

    Browsers send forms in the page's encoding, and every page is UTF-8: a body
    declared in another charset (latin-1, utf-16, utf-32, an alias such as
    utf8, or one Python does not know) is refused, as Django itself refuses
    such url-encoded forms, but for every body and in the shop's words. A NUL
    character in a field, query parameter or header is never input a person
    typed, and PostgreSQL refuses it in a query.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        charset = request.content_params.get("charset")
        if charset is not None and charset.strip().lower() != "utf-8":
            logger.info("refused charset=%r path=%s", charset[:40], request.path)
            return error_page(
                request,
                "400.html",
                status=415,
                message="Please send forms as UTF-8. Nothing was changed.",
            )
        if (
            _has_nul(request.GET)
            or any("\x00" in value for value in request.headers.values())
            or (request.content_type in FORM_TYPES and _has_nul(request.POST))
        ):
            logger.info("refused a NUL character: path=%s", request.path)
            return error_page(request, "400.html", status=400)
        return get_response(request)

    return middleware


FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}


def _has_nul(data: QueryDict) -> bool:
    return any(
        "\x00" in key or any("\x00" in value for value in values)
        for key, values in data.lists()
    )
