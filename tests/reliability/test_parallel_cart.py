"""Parallel cart changes from one session, on PostgreSQL: none is lost.

Every cart change runs under ``storefront.session_lock.serialize_session``: it
locks the session's row (SELECT ... FOR UPDATE), reads the session after the lock
is held, and writes it before the lock is released. So changes from one session
are serialised: each one starts from the cart the previous one saved.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from storefront.models import Product

from .conftest import HTMX, stored_session

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ADD = reverse("storefront:cart-add")
CHECKOUT = reverse("payments:checkout")
PARALLEL = 10


def session_with_cookie() -> tuple[Client, str]:
    """Return a browser whose session row exists, and the session's key."""
    browser = Client()
    session = browser.session  # saved, and its cookie set on the client
    return browser, session.session_key


def tab(session_key: str) -> Client:
    """Return another tab of the same browser: a new client, the same cookie."""
    browser = Client()
    browser.cookies[settings.SESSION_COOKIE_NAME] = session_key
    return browser


def all_at_once(calls: list[Callable[[], int]]) -> tuple[list[int], float]:
    """Run the calls on threads released together; return results and seconds."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], int]) -> int:
        try:
            barrier.wait(timeout=10)
            return call()
        finally:
            connection.close()

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        results = list(pool.map(run, calls))
    return results, time.monotonic() - started


def add(session_key: str, product: Product, htmx: bool) -> Callable[[], int]:
    def send() -> int:
        headers = HTMX if htmx else {}
        data = {"product": product.pk, "quantity": 1}
        return tab(session_key).post(ADD, data, **headers).status_code

    return send


@pytest.fixture
def products(db) -> list[Product]:
    return Product.objects.bulk_create(
        Product(name=f"Parallel {number}", price_cents=1000 + number)
        for number in range(PARALLEL)
    )


def test_ten_concurrent_adds_of_one_product_from_one_session_all_count(products):
    browser, key = session_with_cookie()
    product = products[0]

    statuses, seconds = all_at_once(
        [add(key, product, htmx=number % 2 == 0) for number in range(PARALLEL)]
    )

    assert sorted(statuses) == [200] * 5 + [303] * 5
    assert stored_session(browser)["cart"] == {str(product.pk): PARALLEL}
    print(f"{PARALLEL} concurrent adds of one product: {seconds:.3f}s")


def test_ten_concurrent_adds_of_ten_products_from_one_session_keep_every_line(
    products,
):
    browser, key = session_with_cookie()

    statuses, seconds = all_at_once(
        [add(key, product, htmx=False) for product in products]
    )

    assert statuses == [303] * PARALLEL
    assert stored_session(browser)["cart"] == {
        str(product.pk): 1 for product in products
    }
    print(f"{PARALLEL} concurrent adds of different products: {seconds:.3f}s")


def test_a_cart_change_locks_the_session_row_before_reading_it(products):
    browser, key = session_with_cookie()

    with CaptureQueriesContext(connection) as queries:
        browser.post(ADD, {"product": products[0].pk, "quantity": 1})

    statements = [query["sql"] for query in queries.captured_queries]
    [lock] = [sql for sql in statements if "FOR UPDATE" in sql]
    assert 'FROM "django_session"' in lock
    before_lock = statements[: statements.index(lock)]
    after_lock = statements[statements.index(lock) + 1 :]

    def reads_session(sql: str) -> bool:
        return sql.startswith("SELECT") and '"session_data"' in sql

    # The session the change builds on is read once the lock is held, and the
    # write comes after that.
    assert not any(reads_session(sql) for sql in before_lock)
    read = next(index for index, sql in enumerate(after_lock) if reads_session(sql))
    assert any(
        sql.startswith('UPDATE "django_session"') for sql in after_lock[read + 1 :]
    )


def test_a_change_waits_for_the_session_lock_and_builds_on_what_it_guarded(
    products,
):
    """Hold the lock, change the cart meanwhile: the waiting add sees that change."""
    browser, key = session_with_cookie()
    product = products[0]
    store = import_module(settings.SESSION_ENGINE).SessionStore
    statuses: list[int] = []

    def add_in_another_process() -> None:
        try:
            statuses.append(add(key, product, htmx=False)())
        finally:
            connection.close()

    waiting = threading.Thread(target=add_in_another_process)

    with transaction.atomic():
        Session.objects.select_for_update().get(pk=key)
        waiting.start()
        waiting.join(timeout=0.5)
        still_waiting = waiting.is_alive()
        held = store(key)
        held["cart"] = {str(product.pk): 5}
        held.save()
    waiting.join(timeout=10)

    assert still_waiting, "the add did not wait for the session's lock"
    assert statuses == [303]
    assert stored_session(browser)["cart"] == {str(product.pk): 6}


def test_a_cart_change_racing_checkout_is_kept_and_the_cookie_stays(
    products, stripe_double
):
    browser, key = session_with_cookie()
    browser.post(ADD, {"product": products[0].pk, "quantity": 1})
    answers: dict[str, object] = {}

    def press(name: str, path: str, data: dict) -> Callable[[], None]:
        def send() -> None:
            try:
                answers[name] = tab(key).post(path, data, **HTMX)
            finally:
                connection.close()

        return send

    checkout = threading.Thread(target=press("checkout", CHECKOUT, {}))
    change = threading.Thread(
        target=press("change", ADD, {"product": products[1].pk, "quantity": 1})
    )
    with transaction.atomic():
        Session.objects.select_for_update().get(pk=key)
        checkout.start()
        time.sleep(0.3)  # row-lock waiters are served in order: checkout first
        change.start()
        time.sleep(0.3)
    checkout.join(timeout=15)
    change.join(timeout=15)

    assert answers["checkout"].status_code == 303
    assert answers["change"].status_code == 200
    # Neither answer gives the browser a new session or deletes its cookie.
    for answer in answers.values():
        assert settings.SESSION_COOKIE_NAME not in answer.cookies
    session = stored_session(browser)
    assert "shopper" in session and len(session["cart_checkouts"]) == 1
    assert session["cart"] == {str(products[0].pk): 1, str(products[1].pk): 1}
