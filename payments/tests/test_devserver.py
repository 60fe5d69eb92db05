"""`make run`'s server: with no keys and no services, a purchase ends in an email.

`manage.py devserver` on a SQLite file starts the local Stripe double and a task
worker beside the development server; the worker prints the confirmation to
the terminal.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
PRODUCT = re.compile(r'id="product-(\d+)"')
# A developer's shell may hold settings; `make run` on a fresh machine has none.
SHOP_VARIABLES = {
    "DATABASE_URL",
    "DEBUG",
    "EMAIL_URL",
    "REDIS_URL",
    "SHOP_BASE_URL",
    "SHOP_STAFF_EMAIL",
    "STRIPE_API_BASE",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


@pytest.fixture
def environment(tmp_path) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in SHOP_VARIABLES}
    environment["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    environment["PYTHONUNBUFFERED"] = "1"
    for command in (["migrate", "--noinput"], ["seed_products"]):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=environment,
            check=True,
            capture_output=True,
            timeout=120,
        )
    return environment


@pytest.mark.skipif(
    not Path("/proc/self/task").exists(), reason="reads child processes from /proc"
)
def test_devserver_starts_a_worker_that_emails_the_confirmation(environment, tmp_path):
    port, double_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "devserver.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "devserver",
                f"127.0.0.1:{port}",
                "--noreload",
                "--stripe-double-port",
                str(double_port),
            ],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                home = requests.get(f"{base}/", timeout=2)
                break
            except requests.ConnectionError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        assert "Task worker started" in log.read_text()
        [worker] = [
            pid
            for pid in children(server.pid)
            if b"db_worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]

        browser = requests.Session()
        home = browser.get(f"{base}/", timeout=5)
        form = {"csrfmiddlewaretoken": CSRF_INPUT.search(home.text).group(1)}
        product = PRODUCT.search(home.text).group(1)
        headers = {"Referer": f"{base}/"}
        browser.post(
            f"{base}/cart/add/",
            {**form, "product": product, "quantity": 1},
            headers=headers,
            timeout=5,
        )
        checkout = browser.post(
            f"{base}/checkout/",
            form,
            headers=headers,
            allow_redirects=False,
            timeout=10,
        )
        assert checkout.status_code == 303, log.read_text()
        hosted_page = requests.get(checkout.headers["Location"], timeout=10).text
        rate = re.search(r'name="shipping_rate" value="([^"]+)"', hosted_page)
        paid = requests.post(
            checkout.headers["Location"],
            {
                "action": "pay",
                "email": "ada@example.com",
                "name": "Ada Lovelace",
                "line1": "1 Main St",
                "city": "Springfield",
                "postal_code": "97477",
                "country": "US",
                "phone": "+15555550100",
                "shipping_rate": rate.group(1),
            },
            allow_redirects=False,
            timeout=10,
        )
        assert paid.status_code == 303

        # Two emails, each its own task: the shopper's and the staff's.
        deadline = time.monotonic() + 30
        while not all(
            subject in log.read_text()
            for subject in ("Subject: Your order", "Subject: New order")
        ):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=20)

    text = log.read_text()
    assert "To: ada@example.com" in text
    assert re.search(r"http://127\.0\.0\.1:8000/orders/[A-Za-z0-9_-]{43}/", text)
    assert "Subject: New order" in text  # to staff@localhost in development
    # The worker went with the server.
    deadline = time.monotonic() + 10
    while Path(f"/proc/{worker}").exists():
        assert time.monotonic() < deadline, "the worker outlived the server"
        time.sleep(0.1)
