"""Two gunicorn processes, one PostgreSQL database: the web tier keeps no state.

Each run starts two gunicorn instances as the Procfile does (DEBUG off,
WEB_CONCURRENCY=1) on a fresh database, the Stripe double as its own process
delivering webhooks to the second instance, and runs twice: rate limits in
local memory only, and with Redis (shared rate-limit counters) when Redis
answers on 127.0.0.1:6379.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from .processes import (
    Service,
    Shopper,
    catalog_ids,
    checkout_session_id,
    double_control,
    free_port,
    orders_by_session,
    shop_settings,
    start_shop,
    start_stripe_double,
)

pytestmark = pytest.mark.postgres

CART_BUDGET = 25


@dataclass
class ShopPair:
    a: Service
    b: Service
    double: Service
    database_url: str
    redis: bool


@pytest.fixture(scope="module", params=["database", "redis"])
def pair(
    request, process_database: str, redis_url: str | None, tmp_path_factory
) -> Iterator[ShopPair]:
    if request.param == "redis" and redis_url is None:
        pytest.skip("no Redis on 127.0.0.1:6379")
    log_dir = tmp_path_factory.mktemp(f"two-processes-{request.param}")
    port_a, port_b = free_port(), free_port()
    services: list[Service] = []
    try:
        double = start_stripe_double(
            webhook_url=f"http://127.0.0.1:{port_b}/stripe/webhook/", log_dir=log_dir
        )
        services.append(double)
        for name, port in (("shop-a", port_a), ("shop-b", port_b)):
            settings = shop_settings(
                database_url=process_database,
                double_url=double.url,
                redis_url=redis_url if request.param == "redis" else None,
                port=port,
                RATELIMIT_CART=f"{CART_BUDGET}/h",
            )
            services.append(start_shop(name, settings=settings, log_dir=log_dir))
        yield ShopPair(
            a=services[1],
            b=services[2],
            double=double,
            database_url=process_database,
            redis=request.param == "redis",
        )
    finally:
        for service in reversed(services):
            service.stop()


def test_a_cart_built_on_one_process_is_seen_and_paid_through_the_other(pair):
    a, b = pair.a.url, pair.b.url
    shopper = Shopper()
    laptop, mouse, *_ = catalog_ids(shopper.get(a, "/").text)

    assert shopper.post(a, "/cart/add/", {"product": laptop, "quantity": 2}).ok
    assert (
        shopper.post(b, "/cart/add/", {"product": mouse, "quantity": 1}, htmx=True)
    ).status_code == 200
    assert (
        shopper.post(a, "/cart/update/", {"product": laptop, "quantity": 3})
    ).status_code == 303
    assert shopper.cart(b) == {laptop: 3, mouse: 1}
    assert shopper.cart(a) == {laptop: 3, mouse: 1}

    checkout = shopper.post(a, "/checkout/")
    assert checkout.status_code == 303
    assert checkout.headers["Location"].startswith(pair.double.url)
    session_id = checkout_session_id(checkout.headers["Location"])
    assert double_control(pair.double, "pay", session_id).status_code == 200

    [(status, history, public_id)] = orders_by_session(
        pair.database_url, [session_id]
    ).values()
    assert status == "paid"
    assert [entry["by"] for entry in history] == ["webhook:checkout.session.completed"]
    assert "POST /checkout/" in pair.a.log()
    assert "POST /checkout/" not in pair.b.log()
    assert "POST /stripe/webhook/" in pair.b.log()
    assert f"order paid: order_id={public_id}" in pair.b.log()
    assert f"order paid: order_id={public_id}" not in pair.a.log()

    success = shopper.get(b, f"/checkout/success/?session_id={session_id}")
    assert "Thank you! Your order is paid." in success.text
    home = shopper.get(a, "/").text
    assert "Your cart is empty." in home
    assert public_id[:8].upper() in home  # under "Your orders"


def concurrently(calls) -> list[requests.Response]:
    barrier = threading.Barrier(len(calls))
    results: list[requests.Response | BaseException] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = calls[index]()
        except BaseException as error:  # reported below, in the test's thread
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def test_concurrent_adds_from_one_session_split_over_both_processes_all_count(pair):
    shopper = Shopper()
    products = catalog_ids(shopper.get(pair.a.url, "/").text)
    servers = [pair.a.url, pair.b.url]

    def add(product: int, server: str):
        tab = shopper.clone()
        data = {"product": product, "quantity": 1}
        return lambda: tab.post(server, "/cart/add/", data, htmx=True)

    # The session row exists before the race, as it does once a shopper has a cart.
    shopper.post(pair.a.url, "/cart/add/", {"product": products[-1], "quantity": 1})
    same = concurrently([add(products[0], servers[i % 2]) for i in range(10)])
    different = concurrently(
        [add(product, servers[i % 2]) for i, product in enumerate(products[1:10])]
    )

    assert [response.status_code for response in same + different] == [200] * 19
    assert shopper.cart(pair.b.url) == {
        products[-1]: 1,
        products[0]: 10,
        **dict.fromkeys(products[1:10], 1),
    }


def test_the_rate_limit_budget_is_shared_by_both_processes_only_through_redis(pair):
    shopper = Shopper()
    product = catalog_ids(shopper.get(pair.a.url, "/").text)[0]
    servers = [pair.a.url, pair.b.url]
    statuses = [
        shopper.post(
            servers[number % 2], "/cart/add/", {"product": product, "quantity": 1}
        ).status_code
        for number in range(CART_BUDGET + 2)
    ]

    if pair.redis:
        # One budget for the client, wherever its requests land.
        assert statuses == [303] * CART_BUDGET + [429, 429]
    else:
        # Each process counts in its own memory: N processes, N budgets.
        assert statuses == [303] * (CART_BUDGET + 2)
