"""One request at a time per session, for the views that change it.

Two quick clicks can reach two processes at once; each would read the cart,
change it and write it back, and one change would be lost. So a view that
changes the session runs under ``@serialize_session`` (or, for the part of a
view that does, inside ``with session_lock(request):``). There the session's
row is locked (SELECT ... FOR UPDATE; on SQLite the write lock the transaction
takes at its start), the session is read afresh, and it is written before the
lock is released. A second click waits for the first, then sees its change.

Only these views write the session: every other view only reads it, and flash
messages live in a cookie (``MESSAGE_STORAGE``), so no write can slip past the
lock. The lock is a database transaction: never call Stripe, send email or
touch storage inside it.

A request without a session, or whose session has expired, has nothing to
lock: the view starts a new session and the session middleware saves it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from importlib import import_module

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.models import Session
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

View = Callable[..., HttpResponse]


@contextmanager
def session_lock(request: HttpRequest) -> Iterator[SessionBase]:
    """Hold the session's lock; yield the session as read under it."""
    key = request.session.session_key
    with transaction.atomic():
        locked = (
            key is not None
            and Session.objects.select_for_update()
            .filter(session_key=key, expire_date__gt=timezone.now())
            .exists()
        )
        if locked:
            # Whatever was read of the session before the lock may be stale.
            request.session = import_module(settings.SESSION_ENGINE).SessionStore(key)
        yield request.session
        if locked and request.session.modified:
            request.session.save()
            # Saved under the lock; the middleware must not save it again after
            # the lock is gone, unless it has to send a new key's cookie.
            request.session.modified = request.session.session_key != key


def serialize_session(view: View) -> View:
    """Run a view that changes the session under the session's lock."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        with session_lock(request):
            return view(request, *args, **kwargs)

    return wrapper
