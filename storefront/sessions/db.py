"""Django's database session store, updating a session in one statement."""

from __future__ import annotations

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import UpdateError
from django.db import DatabaseError, router


class SessionStore(db.SessionStore):
    def save(self, must_create: bool = False) -> None:
        """Save the session; an existing one with a single UPDATE.

        Django wraps every save in ``transaction.atomic``, which the INSERT of a
        new session needs (a duplicate key must not break an outer
        transaction). An UPDATE is atomic on its own: the wrapping costs two
        more round trips (BEGIN and COMMIT, or a savepoint inside the
        transaction that holds the session's lock) on every cart change.

        Without that savepoint, a failed update inside a transaction leaves the
        transaction to be rolled back. The one caller inside a transaction,
        ``serialize_session``, holds the row's lock and rolls back on any error.
        """
        if must_create or self.session_key is None:
            super().save(must_create=must_create)
            return
        session = self.create_model_instance(self._get_session())
        try:
            session.save(
                force_update=True,
                using=router.db_for_write(self.model, instance=session),
            )
        except DatabaseError as error:
            raise UpdateError from error
