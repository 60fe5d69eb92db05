"""Slow Stripe, missing Redis: the shop keeps serving, under gunicorn as deployed.

Each test starts gunicorn with the production configuration (gunicorn.conf.py,
DEBUG off) on a fresh database of the run's kind, SQLite or PostgreSQL, and the
Stripe double as its own process.

- A double click on Checkout while Stripe takes 3 s: one order, one Checkout
  Session, both answers lead to it, no 409 and the session cookie untouched.
- While two checkouts wait 3 s on Stripe, another shopper's home page answers
  within a second: nobody waits on Stripe holding a lock, and gunicorn's
  threads serve others meanwhile.
- With REDIS_URL set but Redis refusing, hanging, or dying while the shop runs,
  every page, cart change, checkout and the admin login still work, and the
  log says so once, not on every request.
"""

from __future__ import annotations

import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from .conftest import count_rows
from .processes import (
    Service,
    Shopper,
    catalog_ids,
    free_port,
    shop_settings,
    start_shop,
    start_stripe_double,
)

STRIPE_SECONDS = 3.0
SESSION_COOKIE = "__Host-sessionid"
REDIS_WARNING = "is not answering"


@contextmanager
def running_shop(
    tmp_path: Path, database: str, *, redis_url: str | None = None, **extra: str
) -> Iterator[tuple[Service, Service]]:
    """Run the double and one gunicorn (one worker, its threads) on `database`."""
    port = free_port()
    double = start_stripe_double(
        webhook_url=f"http://127.0.0.1:{port}/stripe/webhook/", log_dir=tmp_path
    )
    try:
        settings = shop_settings(
            database_url=database,
            double_url=double.url,
            redis_url=redis_url,
            port=port,
            **extra,
        )
        web = start_shop("shop", settings=settings, log_dir=tmp_path)
        try:
            yield web, double
        finally:
            web.stop()
    finally:
        double.stop()


@pytest.fixture
def shop(shop_database: str, tmp_path: Path) -> Iterator[tuple[Service, Service]]:
    with running_shop(tmp_path, shop_database) as services:
        yield services


def slow_stripe(double: Service, *, calls: int) -> None:
    """Make the double's next API calls answer only after STRIPE_SECONDS."""
    response = requests.post(
        f"{double.url}/_double/fail",
        json={"count": calls, "status": None, "hang": STRIPE_SECONDS},
        timeout=5,
    )
    response.raise_for_status()


def shopper_with_cart(base: str) -> tuple[Shopper, int]:
    shopper = Shopper()
    product = catalog_ids(shopper.get(base, "/").text)[0]
    added = shopper.post(base, "/cart/add/", {"product": product, "quantity": 1})
    assert added.status_code == 303
    return shopper, product


def in_threads(**calls) -> dict[str, requests.Response]:
    """Run each call on a thread of its own, started in order 0.2 s apart."""
    answers: dict[str, requests.Response] = {}
    threads = []
    for name, call in calls.items():
        thread = threading.Thread(
            target=lambda n=name, c=call: answers.update({n: c()})
        )
        thread.start()
        threads.append(thread)
        time.sleep(0.2)
    for thread in threads:
        thread.join(timeout=30)
    return answers


def sessions_at_double(double: Service) -> int:
    return len(requests.get(f"{double.url}/_double/sessions", timeout=5).json())


def test_double_click_on_checkout_while_stripe_is_slow_gives_one_order_no_409(
    shop, shop_database
):
    web, double = shop
    shopper, product = shopper_with_cart(web.url)
    second_tab = shopper.clone()
    orders_before = count_rows(shop_database, "SELECT COUNT(*) FROM payments_order")
    sessions_before = sessions_at_double(double)
    slow_stripe(double, calls=1)

    answers = in_threads(
        first=lambda: shopper.post(web.url, "/checkout/"),
        second=lambda: second_tab.post(web.url, "/checkout/"),
    )

    first, second = answers["first"], answers["second"]
    assert first.status_code == second.status_code == 303
    for answer in (first, second):
        # No new session, and above all no deleted one: the cart stays.
        assert SESSION_COOKIE not in answer.headers.get("Set-Cookie", "")
    stripe_page = first.headers["Location"]
    assert stripe_page.startswith(double.url)
    # The second click lands on the shop's page that sends the shopper on to
    # the same Checkout Session once the first click has created it.
    location = second.headers["Location"]
    deadline = time.monotonic() + 10
    while location.startswith("/checkout/") and time.monotonic() < deadline:
        page = second_tab.get(web.url, location)
        if page.status_code == 303:
            location = page.headers["Location"]
        else:
            assert page.status_code == 200 and 'http-equiv="refresh"' in page.text
            time.sleep(0.5)
    assert location == stripe_page
    assert count_rows(shop_database, "SELECT COUNT(*) FROM payments_order") == (
        orders_before + 1
    )
    assert sessions_at_double(double) == sessions_before + 1
    assert shopper.cart(web.url) == {product: 1}


def test_home_page_answers_within_a_second_while_two_checkouts_wait_on_stripe(
    shop,
):
    web, double = shop
    first, _ = shopper_with_cart(web.url)
    second, _ = shopper_with_cart(web.url)
    third, _ = shopper_with_cart(web.url)
    slow_stripe(double, calls=2)
    timings: dict[str, float] = {}

    def home_page() -> requests.Response:
        time.sleep(0.5)  # both checkouts are waiting on Stripe by now
        started = time.monotonic()
        response = third.get(web.url, "/")
        timings["home"] = time.monotonic() - started
        return response

    answers = in_threads(
        first=lambda: first.post(web.url, "/checkout/"),
        second=lambda: second.post(web.url, "/checkout/"),
        home=home_page,
    )

    assert answers["home"].status_code == 200
    assert timings["home"] < 1.0, timings
    for name in ("first", "second"):
        assert answers[name].status_code == 303
        assert answers[name].headers["Location"].startswith(double.url)


# Redis ------------------------------------------------------------------------


def exercise(web: Service, *, within: float) -> None:
    """Browse, change the cart, check out and open the admin login, each quickly."""
    shopper = Shopper()
    timed = []

    def step(response: requests.Response, status: int) -> None:
        assert response.status_code == status, response.text[:500]
        timed.append(response.elapsed.total_seconds())

    step(shopper.get(web.url, "/"), 200)
    product = catalog_ids(shopper.get(web.url, "/").text)[0]
    step(shopper.post(web.url, "/cart/add/", {"product": product, "quantity": 2}), 303)
    step(
        shopper.post(
            web.url, "/cart/update/", {"product": product, "quantity": 1}, htmx=True
        ),
        200,
    )
    step(shopper.get(web.url, "/cart/"), 200)
    step(shopper.post(web.url, "/checkout/"), 303)
    step(shopper.get(web.url, "/admin/login/"), 200)
    # A new name each time: django-axes locks a name out after a few failures.
    username = f"nobody-{secrets.token_hex(4)}"
    login = shopper.post(
        web.url, "/admin/login/", {"username": username, "password": "wrong"}
    )
    step(login, 200)
    assert max(timed) < within, timed


def keeps_serving_and_says_so_once(web: Service) -> None:
    for _ in range(3):
        exercise(web, within=2.0)
    assert web.log().count(REDIS_WARNING) == 1, web.log()[-3000:]


class SilentServer:
    """Accepts connections and never answers: a Redis that hangs."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self) -> None:
        self.listener.close()
        for connection in self.held:
            connection.close()


@pytest.mark.parametrize("redis", ["refusing", "hanging"])
def test_with_redis_down_from_the_start_everything_works(
    shop_database, tmp_path, redis
):
    silent = SilentServer() if redis == "hanging" else None
    port = silent.port if silent else free_port()  # nothing listens on a free port
    try:
        redis_url = f"redis://127.0.0.1:{port}/0"
        with running_shop(tmp_path, shop_database, redis_url=redis_url) as (web, _):
            keeps_serving_and_says_so_once(web)
    finally:
        if silent:
            silent.close()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")
def test_when_redis_dies_while_the_shop_runs_everything_keeps_working(
    shop_database, tmp_path
):
    port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        redis_url = f"redis://127.0.0.1:{port}/0"
        with running_shop(tmp_path, shop_database, redis_url=redis_url) as (web, _):
            exercise(web, within=2.0)
            keys = subprocess.run(
                ["redis-cli", "-p", str(port), "--scan"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            assert keys, "the rate limits did not count in Redis while it was up"
            assert REDIS_WARNING not in web.log()

            redis.send_signal(signal.SIGKILL)
            redis.wait(timeout=5)
            keeps_serving_and_says_so_once(web)
    finally:
        if redis.poll() is None:
            redis.kill()


def test_a_hanging_stripe_costs_one_checkout_its_timeouts_and_no_worker(
    shop_database, tmp_path
):
    """Stripe accepts and never answers: the checkout gives up by itself.

    gunicorn's worker timeout is set far below what the request takes: with
    threads, a request waiting on Stripe is not a worker that stopped answering.
    """
    with running_shop(tmp_path, shop_database, GUNICORN_TIMEOUT="4") as (web, double):
        shopper, product = shopper_with_cart(web.url)
        requests.post(
            f"{double.url}/_double/fail",
            json={"count": 2, "status": None, "hang": 60},
            timeout=5,
        ).raise_for_status()
        other, _ = shopper_with_cart(web.url)

        answers = in_threads(
            checkout=lambda: shopper.post(web.url, "/checkout/"),
            home=lambda: other.get(web.url, "/"),
        )

        checkout = answers["checkout"]
        assert checkout.status_code == 303
        assert checkout.headers["Location"] == "/cart/"
        # Two attempts of at most 3 s to connect and 8 s to read, and a pause.
        assert 8 < checkout.elapsed.total_seconds() < 25
        assert answers["home"].status_code == 200
        assert "nothing was charged" in shopper.get(web.url, "/cart/").text
        assert shopper.cart(web.url) == {product: 1}
        assert "WORKER TIMEOUT" not in web.log()
