"""Fixtures for the reliability tests: catalogs, hostile clients, real processes."""

from __future__ import annotations

import secrets
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from importlib import import_module

import psycopg
import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from psycopg import sql

# The in-process Stripe double and its settings, as the payments tests use them.
from payments.tests.conftest import stripe_double  # noqa: F401
from storefront.models import Product

from .processes import run_manage

CATALOG_SIZE = 52
# What htmx sends with each request it makes, for the tests that pose as htmx.
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/"}


@pytest.fixture
def catalog(db) -> list[Product]:
    """Enough active products to fill a cart past its 50-line limit."""
    return Product.objects.bulk_create(
        Product(name=f"Product {number:02}", price_cents=100 + 37 * number)
        for number in range(CATALOG_SIZE)
    )


@pytest.fixture
def hostile_client() -> Client:
    """A client that hands back a server error as a 500 instead of raising it."""
    return Client(raise_request_exception=False)


@pytest.fixture
def rate_limits(settings):
    """Rate limits switched back on, with small per-hour budgets and a clean count.

    Per-hour windows: django-ratelimit's windows start at a per-key offset, and a
    one-minute window would now and then roll over in the middle of a test.
    """
    settings.RATELIMIT_ENABLE = True
    settings.RATELIMIT_CART = "3/h"
    settings.RATELIMIT_CHECKOUT = "2/h"
    cache.clear()
    yield settings
    cache.clear()


def stored_session(client: Client) -> dict:
    """Return the session data saved for a client's cookie, without creating one."""
    cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
    if cookie is None or not cookie.value:
        return {}
    store = import_module(settings.SESSION_ENGINE).SessionStore(cookie.value)
    return dict(store.load())


# Real processes on PostgreSQL, for the two-process and soak tests.


def postgres_server() -> dict[str, str]:
    database = settings.DATABASES["default"]
    return {
        "host": database.get("HOST") or "127.0.0.1",
        "port": str(database.get("PORT") or 5432),
        "user": database.get("USER") or "postgres",
        "password": database.get("PASSWORD") or "",
    }


def prepare_process_database(url: str) -> None:
    """Migrate and seed a database for gunicorn, and collect the static files."""
    environment = {"DATABASE_URL": url}
    run_manage("migrate", "--noinput", environment=environment)
    run_manage("seed_products", environment=environment)
    # DEBUG off serves static files from collectstatic's manifest.
    run_manage("collectstatic", "--noinput", environment=environment)


@contextmanager
def new_postgres_database(prefix: str) -> Iterator[str]:
    """Create a PostgreSQL database on the run's server; drop it afterwards."""
    server = postgres_server()
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = psycopg.connect(dbname="postgres", autocommit=True, **server)
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    password = f":{server['password']}" if server["password"] else ""
    try:
        yield (
            f"postgres://{server['user']}{password}@{server['host']}:{server['port']}"
            f"/{name}"
        )
    finally:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)
            )
        )
        admin.close()


def running_on_postgres() -> bool:
    return "postgresql" in settings.DATABASES["default"]["ENGINE"]


@pytest.fixture(scope="session")
def process_database() -> Iterator[str]:
    """A fresh, migrated and seeded PostgreSQL database for gunicorn; dropped after.

    Named shop_he_two_<random> on the server the test run uses.
    """
    with new_postgres_database("shop_he_two") as url:
        prepare_process_database(url)
        # Through the ORM, so that every field gets its model's default.
        run_manage(
            "shell",
            "-c",
            "from storefront.models import Product\n"
            "for n in range(1, 10):\n"
            "    Product.objects.create(\n"
            "        name=f'Accessory {n}', price_cents=500 + 111 * n\n"
            "    )",
            environment={"DATABASE_URL": url},
        )
        yield url


@pytest.fixture(scope="module")
def shop_database(tmp_path_factory) -> Iterator[str]:
    """A fresh database for gunicorn, of the kind this test run uses.

    A SQLite file on a SQLite run, a new PostgreSQL database on a PostgreSQL
    run: the same tests prove the same things on both.
    """
    if running_on_postgres():
        with new_postgres_database("shop_processes") as url:
            prepare_process_database(url)
            yield url
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('shop') / 'shop.sqlite3'}"
        prepare_process_database(url)
        yield url


def count_rows(database_url: str, query: str) -> int:
    """Run a COUNT query against a process's database, SQLite or PostgreSQL."""
    if database_url.startswith("sqlite:"):
        with closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as db:
            return db.execute(query).fetchone()[0]
    with psycopg.connect(database_url) as database:
        return database.execute(query).fetchone()[0]


@pytest.fixture(scope="session")
def redis_url() -> str | None:
    """A Redis database number of its own on 127.0.0.1:6379, or None if no Redis."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            pass
    except OSError:
        return None
    return f"redis://127.0.0.1:6379/{secrets.choice(range(1, 16))}"
