"""What both ways of benchmarking share: the command line, the database, the shop
under gunicorn, the shoppers and the endpoints with their floors.

``bench/run.py`` times them with wrk; ``bench/instructions.py`` counts their CPU
instructions under callgrind. Both import this module, never each other.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent


DRIVE_SCRIPT = Path(__file__).resolve().parent / "wrk" / "drive.lua"


DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/shop_bench"


DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"


WEBHOOK_SECRET = "whsec_bench_only_" + secrets.token_hex(8)


# wrk sends this many webhook events per second of a run at most; beyond it a
# thread starts its list again and the repeats take the idempotent path.
EVENTS_PER_SECOND = 1_000


SHOP_VARIABLES = {
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "DATABASE_URL",
    "DEBUG",
    "RATELIMIT_ENABLE",
    "REDIS_URL",
    "SECRET_KEY",
    "SECURE_SSL_REDIRECT",
    "STRIPE_API_BASE",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "TRUSTED_PROXY_HOPS",
}


BARE_FLOOR = "bare floor"


SESSION_FLOOR = "session floor"


HOME_VISITOR = "home page, new visitor"


HOME_SHOPPER = "home page, shopper with 3 in cart"


CART_CHANGE = "htmx cart change"


CART_FRAGMENT = "cart fragment (htmx GET)"


WEBHOOK = "webhook delivery (new event)"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the shop under gunicorn against floors served by "
        "the same process. Needs wrk (apt-get install -y wrk).",
    )
    database = parser.add_mutually_exclusive_group()
    database.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="PostgreSQL database to drop and recreate; its name must contain "
        "'bench' (default: %(default)s)",
    )
    database.add_argument(
        "--sqlite", action="store_true", help="use a fresh SQLite file instead"
    )
    parser.add_argument(
        "--redis",
        nargs="?",
        const=DEFAULT_REDIS_URL,
        metavar="URL",
        help="set REDIS_URL (shared rate-limit counters); default URL %(const)s",
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--products", type=int, default=1_000)
    parser.add_argument(
        "--shoppers",
        type=int,
        default=32,
        help="sessions with a cart that wrk takes turns with (default: %(default)s)",
    )
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument(
        "--admin-requests", type=int, default=20, help="timed requests per admin page"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="TEXT",
        help="drive only the endpoints whose name contains TEXT (and the floors)",
    )
    parser.add_argument(
        "--markdown", type=Path, help="also write the result tables to this file"
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="instead of timing, count the CPU instructions one gunicorn worker "
        "spends per request under valgrind's callgrind: slow, but the same "
        "however busy the machine is (apt-get install -y valgrind)",
    )
    return parser.parse_args(argv)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_recreate(url: str) -> None:
    """Drop and create the benchmark's PostgreSQL database."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z0-9_]*bench[a-z0-9_]*", name):
        raise SystemExit(f"Refusing to drop {name!r}: its name must contain 'bench'.")
    admin_url = parts._replace(path="/postgres").geturl()
    if admin_url.startswith("postgres://"):
        admin_url = "postgresql://" + admin_url.removeprefix("postgres://")
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def production_environment(
    args: argparse.Namespace, workdir: Path, port: int
) -> dict[str, str]:
    """Return the environment of a production dyno, pointed at the bench data."""
    # The shop's own settings come from here only; WEB_CONCURRENCY and
    # CONN_MAX_AGE pass through, to try other values.
    env = {
        name: value for name, value in os.environ.items() if name not in SHOP_VARIABLES
    }
    database_url = (
        f"sqlite:///{workdir / 'bench.sqlite3'}" if args.sqlite else args.database_url
    )
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=database_url,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        BENCH_STATIC_ROOT=str(workdir / "staticfiles"),
        PORT=str(port),
        PYTHONUNBUFFERED="1",
        # wrk is one client: at the shop's per-client limit the runs would
        # measure 429 answers. The limiter still counts every request.
        RATELIMIT_CART="1000000/m",
        RATELIMIT_CHECKOUT="1000000/m",
    )
    if args.redis:
        env["REDIS_URL"] = args.redis
    return env


@dataclass
class Seeded:
    product_ids: list[int]
    admin_username: str
    admin_password: str


def database_prepare(args: argparse.Namespace) -> Seeded:
    """Migrate and seed, in this process, with the environment already set."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from bench import seed

    started = time.monotonic()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)
    product_ids = seed.products_create(args.products)
    password = secrets.token_urlsafe(16)
    username = seed.superuser_create(password)
    seed.orders_create(args.orders)
    # As autovacuum would before long: the planner needs the new tables' stats.
    with connections["default"].cursor() as cursor:
        cursor.execute("ANALYZE")
    connections.close_all()
    log(
        f"migrated and seeded {len(product_ids):,} products and {args.orders:,} "
        f"orders in {time.monotonic() - started:.1f} s"
    )
    return Seeded(product_ids, username, password)


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def cookies(self) -> dict[str, str]:
        found = {}
        for name, value in self.headers:
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                found[key.strip()] = rest.split(";", 1)[0]
        return found


@dataclass
class Browser:
    """A client that speaks to gunicorn as the platform's router would (https)."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        # What the platform's router adds: the client's address and the scheme.
        headers = {
            "Host": f"127.0.0.1:{self.port}",
            "X-Forwarded-For": "203.0.113.7",
            "X-Forwarded-Proto": "https",
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return {**headers, **(extra or {})}

    def send(
        self, method: str, path: str, headers: dict[str, str], body: str = ""
    ) -> Response:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body or None, headers=headers)
            answer = connection.getresponse()
            response = Response(answer.status, answer.getheaders(), answer.read())
        finally:
            connection.close()
        self.cookies.update(response.cookies())
        return response


@dataclass
class RequestSpec:
    """One request for wrk to send, also sent once by hand to check it."""

    method: str
    path: str
    headers: dict[str, str]
    body: str = ""

    def line(self) -> str:
        """Return the request as drive.lua reads it: tab-separated, one line."""
        fields = [self.method, self.path, self.body]
        fields += [f"{name}: {value}" for name, value in self.headers.items()]
        if any("\t" in field or "\n" in field for field in fields):
            raise ValueError(f"A tab or newline in {self}")
        return "\t".join(fields)

    @classmethod
    def from_line(cls, line: str) -> RequestSpec:
        method, path, body, *headers = line.rstrip("\n").split("\t")
        return cls(
            method,
            path,
            dict(header.split(": ", 1) for header in headers),
            body,
        )

    def check(self, port: int, what: str) -> Response:
        response = Browser(port).send(self.method, self.path, self.headers, self.body)
        return expect(response, 200, what)


def requests_file(path: Path, specs: list[RequestSpec], threads: int) -> Path:
    """Write the requests for wrk, enough lines for every thread to have some."""
    lines = [spec.line() for spec in specs]
    lines *= -(-threads // len(lines))
    path.write_text("\n".join(lines) + "\n")
    return path


def post_headers(browser: Browser, token: str) -> dict[str, str]:
    """Return the headers of an htmx POST from the shop's page."""
    return browser.headers(
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": browser.origin,
            "X-CSRFToken": token,
            "HX-Request": "true",
            "HX-Current-URL": f"{browser.origin}/",
        }
    )


def expect(response: Response, status: int, what: str) -> Response:
    if response.status != status:
        raise SystemExit(
            f"{what}: expected HTTP {status}, got {response.status}:\n"
            f"{response.body[:2000].decode(errors='replace')}"
        )
    return response


@dataclass
class Shopper:
    browser: Browser
    token: str
    product_ids: list[int]


def shoppers_with_carts(port: int, product_ids: list[int], count: int) -> list[Shopper]:
    """Return ``count`` shoppers, each with three products in the cart."""
    shoppers = []
    for number in range(count):
        browser = Browser(port)
        home = expect(browser.send("GET", "/", browser.headers()), 200, "home page")
        match = re.search(r'"x-csrftoken": "([^"]+)"', home.text)
        if match is None:
            raise SystemExit("The home page carries no CSRF token in hx-headers.")
        token = match.group(1)
        chosen = [product_ids[(number * 3 + i) % len(product_ids)] for i in range(3)]
        for product_id in chosen:
            body = urlencode({"product": product_id, "quantity": 1, "next": "/"})
            response = browser.send(
                "POST", "/cart/add/", post_headers(browser, token), body
            )
            expect(response, 200, "cart add")
        if not any(name.endswith("sessionid") for name in browser.cookies):
            raise SystemExit("Adding to the cart set no session cookie.")
        shoppers.append(Shopper(browser, token, chosen))
    return shoppers


class Gunicorn:
    """The shop under gunicorn, started with the project's gunicorn.conf.py."""

    def __init__(
        self,
        env: dict[str, str],
        port: int,
        log_path: Path,
        wrapper: tuple[str, ...] = (),
        startup_seconds: int = 30,
    ) -> None:
        self.env = env
        self.port = port
        self.log_path = log_path
        self.wrapper = wrapper
        self.startup_seconds = startup_seconds
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            *self.wrapper,
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--config",
            "gunicorn.conf.py",
            # The command line wins over the config file: loopback only.
            "--bind",
            f"127.0.0.1:{self.port}",
            # Leave the shared control socket to whoever else runs gunicorn.
            "--no-control-socket",
        ]
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited early:\n{self.log_tail()}")
            try:
                browser = Browser(self.port)
                if browser.send("GET", "/_bench/bare-floor/", browser.headers()).status:
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(
            f"gunicorn did not answer within {self.startup_seconds} s:\n"
            f"{self.log_tail()}"
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # The process group is gunicorn's own: start_new_session made it.
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Sample:
    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class Endpoint:
    name: str
    floor: str | None
    # Returns the requests file for a run (webhooks need fresh events each time).
    prepare: Callable[[str], Path]
    # Requests per second, at least this share of the floor's.
    min_ratio: float | None = None
    # p99 latency, at most this multiple of the floor's.
    max_p99_ratio: float | None = None
    samples: list[Sample] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    p99_ratios: list[float] = field(default_factory=list)


def endpoints_define(
    *, args: argparse.Namespace, workdir: Path, port: int, shoppers: list[Shopper]
) -> list[Endpoint]:
    """Describe every endpoint and floor, checking each request by hand once."""
    from django.db import connections

    from bench import seed

    visitor = Browser(port).headers()
    home = RequestSpec("GET", "/", shoppers[0].browser.headers()).check(port, "home")
    if home.text.count('class="product"') < 2 or "Your cart is empty" in home.text:
        raise SystemExit("The home page shows no catalog, or the cart is empty.")
    home_bytes = len(home.body)

    def cart_change(shopper: Shopper, path: str = "/cart/update/") -> RequestSpec:
        body = urlencode(
            {"product": shopper.product_ids[0], "quantity": 2, "next": "/"}
        )
        return RequestSpec(
            "POST", path, post_headers(shopper.browser, shopper.token), body
        )

    fragment_bytes = len(cart_change(shoppers[0]).check(port, "cart change").body)
    session_floor = f"/_bench/session-floor/?bytes={fragment_bytes}"
    specs = {
        BARE_FLOOR: [
            RequestSpec("GET", f"/_bench/bare-floor/?bytes={home_bytes}", visitor)
        ],
        SESSION_FLOOR: [cart_change(shopper, session_floor) for shopper in shoppers],
        HOME_VISITOR: [RequestSpec("GET", "/", visitor)],
        HOME_SHOPPER: [
            RequestSpec("GET", "/", shopper.browser.headers()) for shopper in shoppers
        ],
        CART_CHANGE: [cart_change(shopper) for shopper in shoppers],
        CART_FRAGMENT: [
            RequestSpec(
                "GET",
                "/cart/",
                shopper.browser.headers(
                    {
                        "HX-Request": "true",
                        "HX-Current-URL": f"{shopper.browser.origin}/",
                    }
                ),
            )
            for shopper in shoppers
        ],
    }
    files = {}
    for number, (name, requests) in enumerate(specs.items()):
        for spec in requests:
            spec.check(port, name)
        files[name] = requests_file(
            workdir / f"requests-{number}.txt", requests, args.threads
        )

    def webhook_requests(label: str, count: int) -> list[RequestSpec]:
        events = seed.webhook_events(count=count, label=label, secret=WEBHOOK_SECRET)
        connections.close_all()
        return [
            RequestSpec(
                "POST",
                "/stripe/webhook/",
                Browser(port).headers(
                    {"Content-Type": "application/json", "Stripe-Signature": signature}
                ),
                body,
            )
            for signature, body in events
        ]

    def webhook_file(label: str) -> Path:
        requests = webhook_requests(label, EVENTS_PER_SECOND * args.duration)
        return requests_file(workdir / f"events-{label}.txt", requests, args.threads)

    delivery = webhook_requests("check", 1)[0].check(port, "webhook")
    if b'"processed"' not in delivery.body:
        raise SystemExit(f"The webhook did not process the event: {delivery.text}")

    def fixed(name: str) -> Callable[[str], Path]:
        return lambda _label: files[name]

    return [
        Endpoint(BARE_FLOOR, None, fixed(BARE_FLOOR)),
        Endpoint(SESSION_FLOOR, None, fixed(SESSION_FLOOR)),
        Endpoint(HOME_VISITOR, BARE_FLOOR, fixed(HOME_VISITOR), min_ratio=0.25),
        Endpoint(HOME_SHOPPER, BARE_FLOOR, fixed(HOME_SHOPPER), min_ratio=0.25),
        Endpoint(
            CART_CHANGE,
            SESSION_FLOOR,
            fixed(CART_CHANGE),
            min_ratio=0.6,
            max_p99_ratio=1.3,
        ),
        Endpoint(CART_FRAGMENT, SESSION_FLOOR, fixed(CART_FRAGMENT)),
        Endpoint(WEBHOOK, BARE_FLOOR, webhook_file),
    ]


ORDER_LIST = "/admin/payments/order/"


def run_description(args: argparse.Namespace) -> str:
    from django.conf import settings
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            database = f"PostgreSQL {cursor.fetchone()[0].split()[0]}"
    else:
        import sqlite3

        database = f"SQLite {sqlite3.sqlite_version} (WAL)"
    connection.close()
    sessions = settings.SESSION_ENGINE.rsplit(".", 1)[-1]
    cache = "Redis" if args.redis else "process memory"
    wrk_version = (
        subprocess.run(["wrk", "--version"], capture_output=True, text=True)
        .stdout.split("[")[0]
        .strip()
    )
    return (
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs "
        f"({platform.processor() or platform.machine()}), {database}, "
        f"sessions: {sessions}, rate limits in {cache}, gunicorn "
        f"{os.environ.get('WEB_CONCURRENCY', '2')} workers of "
        f"{os.environ.get('GUNICORN_THREADS', '4')} threads "
        f"(gunicorn.conf.py), {wrk_version} with {args.threads} threads and "
        f"{args.connections} connections on the same machine, "
        f"{args.duration} s per run, each endpoint back to back with its floor, "
        f"median of {args.rounds} rounds; "
        f"{args.products:,} products."
    )
