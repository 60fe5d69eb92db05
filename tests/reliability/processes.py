"""Real processes for the reliability tests: gunicorn, the Stripe double, shoppers.

Everything here talks HTTP to processes started from the repository, configured
the way production is (DEBUG off, PostgreSQL, Redis when there is one), behind a
pretend Heroku-style router: each request says X-Forwarded-Proto: https and
carries the client's address as the last X-Forwarded-For entry.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import requests

from config.environment import environment_without_shop_settings
from payments.stripe_double import DEFAULT_API_KEY

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WEBHOOK_SECRET = "whsec_reliability_two_processes"
STARTUP_SECONDS = 30
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CATALOG_ITEM = re.compile(r'<li class="product" id="product-(\d+)"')
CART_LINE = re.compile(r'id="cart-quantity-(\d+)"[^>]*value="(\d+)"')


def process_environment(overrides: dict[str, str]) -> dict[str, str]:
    """Return this process's environment without shop settings, plus `overrides`."""
    return {**environment_without_shop_settings(), **overrides}


def settings_loaded(names: Sequence[str], environment: dict[str, str]) -> dict:
    """Return these settings as a fresh process loads them from just `environment`.

    Settings that refuse to start raise SystemExit with their one-line message.
    """
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {list(names)!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode:
        raise SystemExit(result.stderr.strip())
    return json.loads(result.stdout)


def run_manage(*args: str, environment: dict[str, str]) -> str:
    """Run a management command against the given settings; return its output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=process_environment(environment),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(
            f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def shop_settings(
    *,
    database_url: str,
    double_url: str,
    redis_url: str | None,
    port: int,
    workers: int = 1,
    **extra: str,
) -> dict[str, str]:
    """Return the environment of a production-like shop process."""
    return {
        "DEBUG": "false",
        "SECRET_KEY": "reliability-tests-secret-key-shared-by-every-process",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # The double posts webhooks straight to gunicorn over http, not through a
        # TLS-terminating router; shoppers' requests say https as the router does.
        "SECURE_SSL_REDIRECT": "false",
        "TRUSTED_PROXY_HOPS": "1",
        "DATABASE_URL": database_url,
        "STRIPE_SECRET_KEY": DEFAULT_API_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": double_url,
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        **({"REDIS_URL": redis_url} if redis_url else {}),
        **extra,
    }


@dataclass
class Service:
    """A process started by a test, in a process group of its own."""

    name: str
    process: subprocess.Popen
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Stop the process group gracefully, then by force."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def worker_pids(self) -> list[int]:
        """Return the pids of the master's children: gunicorn's workers."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return sorted(int(child) for child in children)

    def wait_for_workers(
        self, count: int, timeout: float = STARTUP_SECONDS
    ) -> list[int]:
        """Return the workers' pids once `count` are running (bounded wait).

        The shop answers as soon as its first worker is up; gunicorn may still
        be forking the others.
        """
        deadline = time.monotonic() + timeout
        while len(workers := self.worker_pids()) < count:
            if time.monotonic() > deadline:
                return workers
            time.sleep(0.1)
        return workers


def rss_kib(pid: int) -> int:
    """Return a process's resident set size in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def start_service(
    name: str,
    command: Sequence[str],
    *,
    env: dict[str, str],
    port: int,
    log_dir: Path,
) -> Service:
    """Start a command and wait (bounded) until it answers HTTP on `port`."""
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=process_environment(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    service = Service(name, process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {process.returncode}:\n{service.log()[-3000:]}"
            )
        try:
            requests.get(
                f"{service.url}/",
                headers={"X-Forwarded-Proto": "https"},
                timeout=5,
                allow_redirects=False,
            )
            return service
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            service.stop()
            raise RuntimeError(
                f"{name} did not answer within {STARTUP_SECONDS}s:\n"
                f"{service.log()[-3000:]}"
            )
        time.sleep(0.1)


def start_stripe_double(*, webhook_url: str, log_dir: Path) -> Service:
    """Start the Stripe double as its own process, delivering to `webhook_url`."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "payments.stripe_double",
        "--port",
        str(port),
        "--webhook-url",
        webhook_url,
        "--webhook-secret",
        WEBHOOK_SECRET,
        "--retry-delays",
        "0.2,0.5,1,2,4",
        "--quiet",
    ]
    return start_service("stripe-double", command, env={}, port=port, log_dir=log_dir)


def start_shop(
    name: str,
    *,
    settings: dict[str, str],
    log_dir: Path,
    extra_args: Iterable[str] = (),
) -> Service:
    """Start gunicorn as the Procfile does, with the production settings given."""
    command = [
        str(BIN / "gunicorn"),
        "config.wsgi",
        "-c",
        "gunicorn.conf.py",
        *extra_args,
    ]
    return start_service(
        name, command, env=settings, port=int(settings["PORT"]), log_dir=log_dir
    )


def random_address() -> str:
    """Return a random client address in 10.0.0.0/8.

    One of sixteen million: rate-limit counters outlive a run in Redis, and a
    new run must not inherit an old client's spent budget.
    """
    return "10." + ".".join(str(random.randint(1, 254)) for _ in range(3))


class Shopper:
    """A browser behind the router: its cookies, its address and the page's token."""

    def __init__(self, address: str | None = None, timeout: float = 20) -> None:
        self.address = address or random_address()
        self.timeout = timeout
        self.http = requests.Session()
        self.http.trust_env = False
        self.csrf_token = ""

    def clone(self) -> Shopper:
        """Return another tab of the same browser (same cookies, own connection)."""
        tab = Shopper(self.address, self.timeout)
        tab.http.cookies.update(self.http.cookies)
        tab.csrf_token = self.csrf_token
        return tab

    def get(self, base: str, path: str, *, htmx: bool = False) -> requests.Response:
        return self._send("GET", base, path, None, htmx)

    def post(
        self,
        base: str,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        htmx: bool = False,
    ) -> requests.Response:
        form = {"csrfmiddlewaretoken": self.csrf_token, **(data or {})}
        return self._send("POST", base, path, form, htmx)

    def _send(
        self,
        method: str,
        base: str,
        path: str,
        data: dict[str, Any] | None,
        htmx: bool,
    ) -> requests.Response:
        origin = f"https://{urlsplit(base).netloc}"
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": self.address}
        if method == "POST":
            headers["Origin"] = origin
        if htmx:
            headers.update(
                {
                    "HX-Request": "true",
                    "HX-Current-URL": f"{origin}/",
                    "X-CSRFToken": self.csrf_token,
                }
            )
        response = self.http.request(
            method,
            base + path,
            data=data,
            headers=headers,
            allow_redirects=False,
            timeout=self.timeout,
        )
        token = CSRF_INPUT.search(response.text)
        if token:
            self.csrf_token = token.group(1)
        # Production cookies are Secure; the router speaks https to the browser,
        # but these requests reach gunicorn over plain http.
        for cookie in self.http.cookies:
            cookie.secure = False
        return response

    def cart(self, base: str) -> dict[int, int]:
        """Return the cart as the cart page shows it: {product id: quantity}."""
        html = self.get(base, "/cart/").text
        return {int(pk): int(quantity) for pk, quantity in CART_LINE.findall(html)}


def catalog_ids(html: str) -> list[int]:
    return [int(pk) for pk in CATALOG_ITEM.findall(html)]


def checkout_session_id(location: str) -> str:
    """Return the Checkout Session id from the double's hosted page URL."""
    return location.rstrip("/").rsplit("/", 1)[-1]


def double_control(double: Service, action: str, session_id: str) -> requests.Response:
    """Pay or expire a session through the double's control endpoint."""
    return requests.post(
        f"{double.url}/_double/sessions/{session_id}/{action}", json={}, timeout=30
    )


def orders_by_session(database_url: str, session_ids: Iterable[str]) -> dict:
    """Return {session id: (status, status_history, public_id)} from the database."""
    with psycopg.connect(database_url) as database:
        rows = database.execute(
            "SELECT checkout_session_id, status, status_history, public_id::text"
            " FROM payments_order WHERE checkout_session_id = ANY(%s)",
            [list(session_ids)],
        ).fetchall()
    return {row[0]: row[1:] for row in rows}
