"""Django's cached_db session store over ``storefront.sessions.db``."""

from __future__ import annotations

from django.contrib.sessions.backends import cached_db

from storefront.sessions import db


class SessionStore(cached_db.SessionStore, db.SessionStore):
    """Reads from the cache; writes to the cache and, in one statement, the database."""
