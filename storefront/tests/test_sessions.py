from __future__ import annotations

import pytest
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from storefront.sessions import cached_db, db

pytestmark = pytest.mark.django_db

STORES = [db.SessionStore, cached_db.SessionStore]


def stored(session_key: str) -> dict:
    return Session.objects.get(pk=session_key).get_decoded()


@pytest.mark.parametrize("store", STORES)
def test_a_new_session_is_created(store):
    session = store()
    session["cart"] = {"1": 2}
    session.save()

    assert stored(session.session_key) == {"cart": {"1": 2}}


@pytest.mark.parametrize("store", STORES)
def test_an_existing_session_is_written_in_one_update(store):
    session = store()
    session["cart"] = {"1": 2}
    session.save()
    session["cart"] = {"1": 3}

    with CaptureQueriesContext(connection) as queries:
        session.save()

    # No BEGIN/COMMIT or savepoint around it, as Django's own store has.
    [update] = [query["sql"] for query in queries.captured_queries]
    assert update.startswith('UPDATE "django_session"')
    assert stored(session.session_key) == {"cart": {"1": 3}}
    assert store(session.session_key).load() == {"cart": {"1": 3}}


@pytest.mark.django_db(transaction=True)  # as SessionMiddleware saves: autocommit
@pytest.mark.parametrize("store", STORES)
def test_updating_a_session_that_is_gone_raises_update_error(store):
    session = store()
    session["cart"] = {"1": 2}
    session.save()
    Session.objects.filter(pk=session.session_key).delete()
    cache.clear()
    session["cart"] = {"1": 3}

    with pytest.raises(UpdateError):
        session.save()

    assert not Session.objects.exists()
