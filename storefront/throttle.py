"""Per-client rate limits (django-ratelimit) and per-session serialisation."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from importlib import import_module

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django_ratelimit.core import is_ratelimited


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


def over_limit(request: HttpRequest, *, group: str, rate: str) -> bool:
    """Count this request against the client's limit; say if it is over."""
    return is_ratelimited(
        request, group=group, key=client_ip, rate=rate, method="POST", increment=True
    )


View = Callable[..., HttpResponse]


def serialize_session(view: View) -> View:
    """Run a view that changes the session one request at a time per session.

    Two quick clicks can reach two processes at once; each would read the cart,
    change it and write it back, and one change would be lost. Here the
    session's row is locked first (SELECT ... FOR UPDATE; on SQLite the
    transaction's write lock), the session is read after the lock is held, and
    written before it is released.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        # Reading the session once settles whether its key is known: an unknown
        # or expired key reads as empty and is dropped.
        request.session.items()
        session_key = request.session.session_key
        if not session_key:
            return view(request, *args, **kwargs)
        store = import_module(settings.SESSION_ENGINE).SessionStore
        with transaction.atomic():
            data = (
                Session.objects.select_for_update()
                .filter(session_key=session_key, expire_date__gt=timezone.now())
                .values_list("session_data", flat=True)
                .first()
            )
            if data is None:
                # The session went away while this request waited: a checkout in
                # another tab gave it a new key. Carrying on would start an empty
                # session whose cookie replaces the new one.
                return session_changed(request)
            # The session as it is now, read in the same query that locked it
            # (what the store's own load() would set, one query later).
            request.session = store(session_key)
            request.session._session_cache = request.session.decode(data)
            response = view(request, *args, **kwargs)
            session = request.session
            if session.modified and not session.is_empty():
                session.save()
                # A view that gave the session a new key (checkout's cycle_key)
                # leaves it to the session middleware to send the new cookie.
                session.modified = session.session_key != session_key
        return response

    return wrapper


def session_changed(request: HttpRequest) -> HttpResponse:
    """Ask the shopper to reload: their session changed under this request."""
    template = "storefront/session_changed.html"
    if getattr(request, "htmx", False):
        template += "#message"
    return render(request, template, status=409)
