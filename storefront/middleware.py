from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

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
