"""Soak: mixed shopper traffic against gunicorn on PostgreSQL, nothing lost.

A few threads play shoppers for SOAK_SECONDS (default 20; the documented run
uses 120): browse, add, update, remove, a refused change now and then, check
out, pay (or let the session expire, or walk away) through the Stripe double,
whose webhooks reach the shop, and see the success page. Then:

- not one 5xx or connection error, and no status other than the expected one;
- every session the double completed is a PAID order, changed once, with one
  "order paid" log line; every expired one is EXPIRED; no checkout is lost;
- the workers are the ones that started (none crashed or timed out), and their
  resident memory after the run is within 25 MB of what it was after warm-up.

Run it with ``-s`` to see the figures.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
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
    rss_kib,
    shop_settings,
    start_shop,
    start_stripe_double,
)

pytestmark = [pytest.mark.postgres, pytest.mark.soak]

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "20"))
SHOPPERS = int(os.environ.get("SOAK_SHOPPERS", "4"))
WORKERS = 2
RSS_GROWTH_LIMIT_KIB = 25 * 1024


class Traffic:
    """What the shoppers did and saw, shared by their threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.timings: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.unexpected: list[str] = []
        self.outcomes: dict[str, str] = {}

    def send(self, label: str, expected: int, call) -> requests.Response | None:
        """Make one request; record its time and anything wrong with it."""
        started = time.monotonic()
        try:
            response = call()
        except requests.RequestException as error:
            with self.lock:
                self.errors.append(f"{label}: {type(error).__name__}: {error}")
            return None
        elapsed = time.monotonic() - started
        with self.lock:
            self.timings[label].append(elapsed)
            if response.status_code >= 500:
                self.errors.append(f"{label}: {response.status_code}")
            elif response.status_code != expected:
                self.unexpected.append(
                    f"{label}: {response.status_code}, not {expected}: "
                    f"{response.text[:300]}"
                )
        return response if response.status_code == expected else None

    def outcome(self, session_id: str, what: str) -> None:
        with self.lock:
            self.outcomes[session_id] = what

    @property
    def requests(self) -> int:
        return sum(len(times) for times in self.timings.values())


def shop_visit(shop: Service, double: Service, traffic: Traffic, rng) -> None:
    """One shopper's visit, from the home page to a paid (or not) order."""
    base = shop.url
    shopper = Shopper()
    home = traffic.send("GET /", 200, lambda: shopper.get(base, "/"))
    if home is None:
        return
    products = catalog_ids(home.text)
    cart: dict[int, int] = {}

    def change(action: str, data: dict, htmx: bool) -> bool:
        label = f"POST /cart/{action}/ ({'htmx' if htmx else 'plain'})"
        response = traffic.send(
            label,
            200 if htmx else 303,
            lambda: shopper.post(base, f"/cart/{action}/", data, htmx=htmx),
        )
        return response is not None

    for product in rng.sample(products, rng.randint(1, 3)):
        quantity = rng.randint(1, 3)
        if change(
            "add", {"product": product, "quantity": quantity}, rng.random() < 0.5
        ):
            cart[product] = cart.get(product, 0) + quantity
    if cart and rng.random() < 0.4:
        product, quantity = rng.choice(list(cart)), rng.randint(1, 5)
        if change("update", {"product": product, "quantity": quantity}, True):
            cart[product] = quantity
    if len(cart) > 1 and rng.random() < 0.3:
        product = rng.choice(list(cart))
        if change("remove", {"product": product}, rng.random() < 0.5):
            del cart[product]
    if rng.random() < 0.1:
        traffic.send(
            "POST /cart/add/ (refused: back to the page with the message)",
            303,
            lambda: shopper.post(base, "/cart/add/", {"quantity": "lots"}),
        )
    traffic.send("GET /cart/", 200, lambda: shopper.get(base, "/cart/"))
    if not cart or rng.random() < 0.15:
        return

    checkout = traffic.send(
        "POST /checkout/", 303, lambda: shopper.post(base, "/checkout/")
    )
    if checkout is None:
        return
    session_id = checkout_session_id(checkout.headers["Location"])
    choice = rng.random()
    if choice < 0.1:
        traffic.outcome(session_id, "abandoned")
        return
    if choice < 0.25:
        if traffic.send(
            "double: expire",
            200,
            lambda: double_control(double, "expire", session_id),
        ):
            traffic.outcome(session_id, "expired")
        return
    if not traffic.send(
        "double: pay", 200, lambda: double_control(double, "pay", session_id)
    ):
        return
    traffic.outcome(session_id, "paid")
    success = traffic.send(
        "GET /checkout/success/",
        200,
        lambda: shopper.get(base, f"/checkout/success/?session_id={session_id}"),
    )
    if success is not None and "Your order is paid." not in success.text:
        with traffic.lock:
            traffic.unexpected.append(f"success page not paid for {session_id}")
    after = traffic.send("GET / (after paying)", 200, lambda: shopper.get(base, "/"))
    if after is not None and "Your cart is empty." not in after.text:
        with traffic.lock:
            traffic.unexpected.append(f"cart not emptied after paying {session_id}")


@pytest.fixture
def soak_shop(
    process_database: str, redis_url: str | None, tmp_path
) -> Iterator[tuple[Service, Service]]:
    """gunicorn (two workers, never recycled) and the double delivering to it."""
    port = free_port()
    services: list[Service] = []
    try:
        double = start_stripe_double(
            webhook_url=f"http://127.0.0.1:{port}/stripe/webhook/", log_dir=tmp_path
        )
        services.append(double)
        settings = shop_settings(
            database_url=process_database,
            double_url=double.url,
            redis_url=redis_url,
            port=port,
            workers=WORKERS,
        )
        # Recycling would hide a leak; this run must show memory stays flat.
        shop = start_shop(
            "soak",
            settings=settings,
            log_dir=tmp_path,
            extra_args=["--max-requests", "0"],
        )
        services.append(shop)
        yield shop, double
    finally:
        for service in reversed(services):
            service.stop()


def wait_for_webhooks(double: Service, timeout: float = 30) -> tuple[int, int]:
    """Wait until every event the double sent was accepted; return counts."""
    deadline = time.monotonic() + timeout
    while True:
        events = requests.get(f"{double.url}/_double/events", timeout=10).json()
        deliveries = requests.get(f"{double.url}/_double/deliveries", timeout=10).json()
        accepted = {
            d["event_id"] for d in deliveries if 200 <= (d["status"] or 0) < 300
        }
        missing = [event["id"] for event in events if event["id"] not in accepted]
        if not missing:
            return len(events), len(deliveries)
        if time.monotonic() > deadline:
            raise AssertionError(f"events never accepted: {missing[:10]}")
        time.sleep(0.2)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def test_soak_mixed_traffic_loses_nothing_and_memory_stays_flat(
    soak_shop, process_database, redis_url
):
    shop, double = soak_shop
    traffic = Traffic()
    started_at = datetime.now(UTC)
    began = time.monotonic()
    deadline = began + SOAK_SECONDS
    warm_up = max(3.0, SOAK_SECONDS * 0.2)
    workers = shop.wait_for_workers(WORKERS)
    assert len(workers) == WORKERS

    def shop_until_the_deadline(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < deadline:
            shop_visit(shop, double, traffic, rng)

    threads = [
        threading.Thread(target=shop_until_the_deadline, args=(seed,))
        for seed in range(SHOPPERS)
    ]
    for thread in threads:
        thread.start()
    time.sleep(warm_up)
    rss_warm = {pid: rss_kib(pid) for pid in workers}
    requests_warm = traffic.requests
    for thread in threads:
        thread.join(timeout=SOAK_SECONDS + 60)
    elapsed = time.monotonic() - began
    rss_end = {pid: rss_kib(pid) for pid in workers}
    events, deliveries = wait_for_webhooks(double)

    assert not any(thread.is_alive() for thread in threads)
    assert traffic.errors == []
    assert traffic.unexpected == []
    assert shop.worker_pids() == workers, "a worker died or was restarted"

    sessions = requests.get(f"{double.url}/_double/sessions", timeout=10).json()
    completed = {
        session_id
        for session_id, session in sessions.items()
        if session["status"] == "complete" and session["payment_status"] == "paid"
    }
    expired = {sid for sid, s in sessions.items() if s["status"] == "expired"}
    outcomes = Counter(traffic.outcomes.values())
    assert completed == {s for s, what in traffic.outcomes.items() if what == "paid"}
    assert expired == {s for s, what in traffic.outcomes.items() if what == "expired"}

    orders = orders_by_session(process_database, sessions)
    assert set(orders) == set(sessions), "a checkout has no order"
    with psycopg.connect(process_database) as database:
        [(created,)] = database.execute(
            "SELECT count(*) FROM payments_order WHERE created_at >= %s",
            [started_at],
        ).fetchall()
    assert created == len(sessions), "an order without a Checkout Session"
    log = shop.log()
    for session_id, (status, history, public_id) in orders.items():
        if session_id in completed:
            assert status == "paid", session_id
            assert [entry["to"] for entry in history] == ["paid"], session_id
            assert log.count(f"order paid: order_id={public_id} ") == 1, public_id
        elif session_id in expired:
            assert (status, len(history)) == ("expired", 1), session_id
        else:
            assert (status, history) == ("pending", []), session_id
    assert log.count("order paid: order_id=") == len(completed)
    assert "Traceback" not in log and "WORKER TIMEOUT" not in log

    growth = {pid: rss_end[pid] - rss_warm[pid] for pid in workers}
    summary = {
        "seconds": round(elapsed, 1),
        "shoppers (threads)": SHOPPERS,
        "gunicorn workers": WORKERS,
        "redis": bool(redis_url),
        "requests": traffic.requests,
        "requests per second": round(traffic.requests / elapsed, 1),
        "errors": len(traffic.errors),
        "checkouts": len(sessions),
        "outcomes": dict(outcomes),
        "webhook events / deliveries": f"{events} / {deliveries}",
        "RSS after warm-up (MiB)": {p: round(v / 1024, 1) for p, v in rss_warm.items()},
        "RSS at the end (MiB)": {p: round(v / 1024, 1) for p, v in rss_end.items()},
        "requests before the warm-up reading": requests_warm,
        "latency ms (p50 / p95 / max)": {
            label: (
                f"{statistics.median(times) * 1000:.0f} / "
                f"{percentile(times, 0.95) * 1000:.0f} / {max(times) * 1000:.0f}"
                f" (n={len(times)})"
            )
            for label, times in sorted(traffic.timings.items())
        },
    }
    print(json.dumps(summary, indent=2))
    for pid, kib in growth.items():
        assert kib <= RSS_GROWTH_LIMIT_KIB, f"worker {pid} grew by {kib} KiB"
    assert outcomes["paid"] > 0 and outcomes["expired"] > 0
