"""Per-client rate limits (django-ratelimit) and per-session serialisation."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, wraps
from importlib import import_module

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import OperationalError, connection, transaction
from django.dispatch import Signal
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

# Sent with ``request`` once a session-changing view holds its session's lock
# and has read the session: what must happen to a session before any change to
# it (the payments app empties a paid cart) happens here, under the lock.
session_locked = Signal()

# PostgreSQL's "lock_not_available": a NOWAIT lock found the row already locked.
LOCK_NOT_AVAILABLE = "55P03"


class SessionBusy(Exception):
    """Another request of the same browser holds the session's lock."""


def serialize_session(view: View) -> View:
    """Run a view that changes the session one request at a time per session.

    Two quick clicks can reach two processes at once; each would read the cart,
    change it and write it back, and one change would be lost. Here the
    session's row is locked first (SELECT ... FOR UPDATE; on SQLite the
    transaction's write lock), the session is read in the query that locks it,
    and written before the lock is released.

    The session is not read before the lock: the first try locks without
    waiting, so a row it does not find was not there when the request came
    (an unknown or expired key, and the view starts a new session). Only a
    request that had to wait can find its session gone meanwhile.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        # The cookie's key; nothing has been read from the store yet.
        session_key = request.session.session_key
        if session_key:
            try:
                with transaction.atomic():
                    data = session_data_locked(session_key, wait=False)
                    if data is not None:
                        return view_under_lock(
                            request, session_key, data, view, *args, **kwargs
                        )
            except SessionBusy:
                with transaction.atomic():
                    data = session_data_locked(session_key, wait=True)
                    if data is None:
                        # A checkout in another tab gave the session a new key
                        # while this request waited. Carrying on would start an
                        # empty session whose cookie replaces the new one.
                        return session_changed(request)
                    return view_under_lock(
                        request, session_key, data, view, *args, **kwargs
                    )
        # No session, or one that no longer exists: there is nothing to lock,
        # and the view's changes start a new session.
        return view(request, *args, **kwargs)

    wrapper.locks_session = True  # type: ignore[attr-defined]
    return wrapper


def session_data_locked(session_key: str, *, wait: bool) -> str | None:
    """Lock the session's row and return its data, or None if it has none.

    Without ``wait``, raise SessionBusy rather than wait for another request's
    lock.
    """
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    try:
        with connection.cursor() as cursor:
            cursor.execute(_lock_statement(wait=wait), (session_key, now))
            row = cursor.fetchone()
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise SessionBusy from error
        raise
    return row[0] if row else None


@lru_cache(maxsize=2)
def _lock_statement(*, wait: bool) -> str:
    """Return the SQL that locks and reads a session, compiled once.

    Compiling the ORM's query costs about as much as running it, on every cart
    change. Compiled inside a transaction, as FOR UPDATE must be.
    """
    sessions = (
        Session.objects.select_for_update(nowait=not wait)
        .filter(session_key="key")
        .filter(expire_date__gt=timezone.now())
    )
    sql, params = sessions.values_list("session_data").query.sql_with_params()
    assert len(params) == 2 and params[0] == "key", "parameters: key, then time"
    return sql


def view_under_lock(
    request: HttpRequest,
    session_key: str,
    data: str,
    view: View,
    *args: object,
    **kwargs: object,
) -> HttpResponse:
    """Run the view on the session as read under the lock; save it before release."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    request.session = store(session_key)
    # What the store's own load() would set, one query later.
    request.session._session_cache = request.session.decode(data)
    session_locked.send(sender=serialize_session, request=request)
    response = view(request, *args, **kwargs)
    session = request.session
    if session.modified and not session.is_empty():
        session.save()
        # A view that gave the session a new key (checkout's cycle_key) leaves
        # it to the session middleware to send the new cookie.
        session.modified = session.session_key != session_key
    return response


def session_changed(request: HttpRequest) -> HttpResponse:
    """Ask the shopper to reload: their session changed under this request."""
    template = "storefront/session_changed.html"
    if getattr(request, "htmx", False):
        template += "#message"
    return render(request, template, status=409)
