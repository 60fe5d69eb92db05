"""Response headers for pages that show what is in the shopper's session."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec

from django.http import HttpResponse
from django.utils.cache import patch_cache_control, patch_vary_headers

P = ParamSpec("P")


def session_page(view: Callable[P, HttpResponse]) -> Callable[P, HttpResponse]:
    """Mark a page that shows session state: private, revalidated, per cookie.

    Shared caches must not keep it, and a browser asks again before showing it
    (the back button too), so a cart never shows what it held before.
    """

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        response = view(*args, **kwargs)
        patch_cache_control(response, private=True, no_cache=True)
        patch_vary_headers(response, ["Cookie"])
        return response

    return wrapper
