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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from config.environment import environment_without_shop_settings
from payments.stripe_double import DEFAULT_API_KEY

BASE_DIR = Path(__file__).resolve().parent.parent


DRIVE_SCRIPT = Path(__file__).resolve().parent / "wrk" / "drive.lua"


DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/shop_bench"


DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"


WEBHOOK_SECRET = "whsec_bench_only_" + secrets.token_hex(8)


# wrk sends this many webhook events per second of a run at most; beyond it a
# thread starts its list again and the repeats take the idempotent path.
EVENTS_PER_SECOND = 1_000


# A cart checks out once (the same cart again reuses its open order), so a run
# prepares this many carts per second of it; run.py stops if wrk sends one twice.
CHECKOUTS_PER_SECOND = 300


BARE_FLOOR = "bare floor"


SESSION_FLOOR = "session floor"


HOME_VISITOR = "home page, new visitor"


HOME_SHOPPER = "home page, shopper with 3 in cart"


CART_CHANGE = "htmx cart change"


CART_FRAGMENT = "cart fragment (htmx GET)"


WEBHOOK = "webhook delivery (new event)"


SEARCH = "search, every product matching"


# No product has this word: a shop with search lists no product for it.
NO_SUCH_WORD = "nosuchword"


CHECKOUT_UNTRACKED = "checkout, stock not tracked"


CHECKOUT_TRACKED = "checkout, stock tracked"


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
    # Many more sessions than connections: with 32, two of wrk's 16 connections
    # often held the same session at once and waited on its lock, which no
    # real shopper does (docs/PERFORMANCE.md).
    parser.add_argument(
        "--shoppers",
        type=int,
        default=256,
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
        help="drive only the endpoints whose name contains TEXT (and their floors)",
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


def free_ports(count: int) -> list[int]:
    """Return ``count`` different free ports on loopback."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


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
    args: argparse.Namespace, workdir: Path, port: int, stripe_port: int
) -> dict[str, str]:
    """Return the environment of a production dyno, pointed at the bench data."""
    # The shop's own settings come from here only; WEB_CONCURRENCY and
    # CONN_MAX_AGE pass through, to try other values.
    env = environment_without_shop_settings(keep={"WEB_CONCURRENCY"})
    database_url = (
        f"sqlite:///{workdir / 'bench.sqlite3'}" if args.sqlite else args.database_url
    )
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=database_url,
        STRIPE_SECRET_KEY=DEFAULT_API_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_API_BASE=f"http://127.0.0.1:{stripe_port}",
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

    def check(self, port: int, what: str, status: int = 200) -> Response:
        response = Browser(port).send(self.method, self.path, self.headers, self.body)
        return expect(response, status, what)


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


def shoppers_with_one_product(
    *, port: int, like: Shopper, product_ids: list[int], count: int
) -> list[Shopper]:
    """Return ``count`` new shoppers, each with one of these products in the cart.

    Each adds to its cart with a real request, a few shoppers at a time. They
    share ``like``'s CSRF cookie and token, but each has a session of its own.
    """
    csrf_cookies = {
        name: value
        for name, value in like.browser.cookies.items()
        if name.endswith("csrftoken")
    }

    def shopper_create(product_id: int) -> Shopper:
        browser = Browser(port, dict(csrf_cookies))
        body = urlencode({"product": product_id, "quantity": 1, "next": "/"})
        response = browser.send(
            "POST", "/cart/add/", post_headers(browser, like.token), body
        )
        expect(response, 200, "cart add")
        if not any(name.endswith("sessionid") for name in browser.cookies):
            raise SystemExit("Adding to the cart set no session cookie.")
        return Shopper(browser, like.token, [product_id])

    chosen = (product_ids[number % len(product_ids)] for number in range(count))
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(shopper_create, chosen))


def checkout_request(shopper: Shopper) -> RequestSpec:
    """Return the cart page's checkout POST: a plain form, not htmx."""
    browser = shopper.browser
    headers = browser.headers(
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": browser.origin,
        }
    )
    body = urlencode({"csrfmiddlewaretoken": shopper.token})
    return RequestSpec("POST", "/checkout/", headers, body)


def process_group_start(
    command: list[str], *, env: dict[str, str], log_path: Path
) -> subprocess.Popen:
    """Start a process in a session of its own, its output going to `log_path`."""
    with log_path.open("wb") as log_file:
        return subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def process_group_stop(process: subprocess.Popen | None) -> None:
    """Stop a process started in a session of its own, with its children."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


class StripeDouble:
    """The local Stripe double as its own process on loopback, as the shop's API."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path) -> None:
        self.env = env
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # No --webhook-url: a run pays for nothing and expires nothing, so the
        # double has no event to send.
        command = [
            sys.executable,
            "-m",
            "payments.stripe_double",
            "--port",
            str(self.port),
            "--webhook-secret",
            WEBHOOK_SECRET,
            "--quiet",
        ]
        self.process = process_group_start(
            command, env=self.env, log_path=self.log_path
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(
                    "The Stripe double exited early:\n"
                    + self.log_path.read_text(errors="replace")
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("The Stripe double did not listen within 30 s.")

    def stop(self) -> None:
        process_group_stop(self.process)


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
        self.process = process_group_start(
            command, env=self.env, log_path=self.log_path
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
        process_group_stop(self.process)

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
    # Requests sent a second time or more: wrk's threads start their lines again.
    repeated: int = 0


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
    # The answer each request must get (wrk counts only 4xx and 5xx as errors).
    status: int = 200
    # Each request may be sent once only: a run must not get through its file.
    single_use: bool = False
    # How many requests so far did their work, where the status cannot tell (a
    # checkout that fails is a 303 too): a run must add one for each request.
    work_done: Callable[[], int] | None = None
    samples: list[Sample] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    p99_ratios: list[float] = field(default_factory=list)


def endpoints_define(
    *,
    args: argparse.Namespace,
    workdir: Path,
    port: int,
    shoppers: list[Shopper],
    stripe_url: str,
    checkouts_per_file: int,
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

    search = search_request(port)
    if search is not None:
        files[SEARCH] = requests_file(workdir / "search.txt", [search], args.threads)

    return [
        Endpoint(BARE_FLOOR, None, fixed(BARE_FLOOR)),
        Endpoint(SESSION_FLOOR, None, fixed(SESSION_FLOOR)),
        Endpoint(HOME_VISITOR, BARE_FLOOR, fixed(HOME_VISITOR), min_ratio=0.25),
        Endpoint(HOME_SHOPPER, BARE_FLOOR, fixed(HOME_SHOPPER), min_ratio=0.25),
        *([Endpoint(SEARCH, BARE_FLOOR, fixed(SEARCH))] if search else []),
        Endpoint(
            CART_CHANGE,
            SESSION_FLOOR,
            fixed(CART_CHANGE),
            min_ratio=0.6,
            max_p99_ratio=1.3,
        ),
        Endpoint(CART_FRAGMENT, SESSION_FLOOR, fixed(CART_FRAGMENT)),
        Endpoint(WEBHOOK, BARE_FLOOR, webhook_file),
        *checkout_endpoints(
            args=args,
            workdir=workdir,
            port=port,
            like=shoppers[0],
            stripe_url=stripe_url,
            checkouts_per_file=checkouts_per_file,
        ),
    ]


def search_request(port: int) -> RequestSpec | None:
    """Return a new visitor's search for a word in every product's description.

    Return None, and say so, while the shop has no search: it then lists its
    catalog even for a word that no product has.
    """
    from bench import seed

    visitor = Browser(port).headers()
    probe = RequestSpec("GET", f"/?q={NO_SUCH_WORD}", visitor).check(port, SEARCH)
    if 'class="product"' in probe.text:
        log(
            f"{SEARCH}: skipped, the shop has no search yet "
            f"(GET /?q={NO_SUCH_WORD} lists products)"
        )
        return None
    search = RequestSpec("GET", f"/?q={seed.WORD_IN_EVERY_DESCRIPTION}", visitor)
    if search.check(port, SEARCH).text.count('class="product"') < 2:
        raise SystemExit(f"{SEARCH}: GET {search.path} lists no products.")
    return search


def checkout_endpoints(
    *,
    args: argparse.Namespace,
    workdir: Path,
    port: int,
    like: Shopper,
    stripe_url: str,
    checkouts_per_file: int,
) -> list[Endpoint]:
    """Return the checkout of a one-product cart, stock not tracked and tracked.

    Every request is a new cart (``like``'s CSRF cookie, a session of its own),
    checked out once, to a new Checkout Session at the Stripe double.
    """
    from django.db import connections

    from bench import seed
    from payments.models import Order

    tracked_ids, untracked_ids = seed.product_ids_by_stock()
    connections.close_all()

    def checkout_requests(product_ids: list[int], count: int) -> list[RequestSpec]:
        new_shoppers = shoppers_with_one_product(
            port=port, like=like, product_ids=product_ids, count=count
        )
        return [checkout_request(shopper) for shopper in new_shoppers]

    def checkout_file(name: str, product_ids: list[int]) -> Callable[[str], Path]:
        def prepare(label: str) -> Path:
            requests = checkout_requests(product_ids, checkouts_per_file)
            path = workdir / f"checkouts-{name}-{label}.txt"
            return requests_file(path, requests, args.threads)

        return prepare

    def checkouts_started() -> int:
        # Only a checkout that reached Stripe has a checkout_url; the seeded
        # orders and the webhook's have none.
        started = Order.objects.exclude(checkout_url="").count()
        connections.close_all()
        return started

    for name, product_ids, holds_stock in (
        (CHECKOUT_UNTRACKED, untracked_ids, False),
        (CHECKOUT_TRACKED, tracked_ids, True),
    ):
        response = checkout_requests(product_ids, 1)[0].check(port, name, 303)
        location = next(
            (value for key, value in response.headers if key.lower() == "location"),
            "",
        )
        if not location.startswith(f"{stripe_url}/c/pay/cs_"):
            raise SystemExit(f"{name}: redirected to {location!r}, not the double.")
        session_id = location.rsplit("/", 1)[-1]
        order = Order.objects.get(checkout_session_id=session_id)
        connections.close_all()
        if order.stock_held is not holds_stock:
            raise SystemExit(f"{name}: the order holds stock: {order.stock_held}.")

    return [
        Endpoint(
            CHECKOUT_UNTRACKED,
            None,
            checkout_file("untracked", untracked_ids),
            status=303,
            single_use=True,
            work_done=checkouts_started,
        ),
        Endpoint(
            CHECKOUT_TRACKED,
            CHECKOUT_UNTRACKED,
            checkout_file("tracked", tracked_ids),
            min_ratio=0.9,
            status=303,
            single_use=True,
            work_done=checkouts_started,
        ),
    ]


def endpoints_chosen(
    endpoints: list[Endpoint], only: list[str] | None
) -> list[Endpoint]:
    """Return the endpoints whose name contains a text of ``only``, and their floors."""
    if not only:
        return endpoints
    chosen = {
        endpoint.name
        for endpoint in endpoints
        if endpoint.floor and any(text in endpoint.name for text in only)
    }
    if not chosen:
        raise SystemExit(f"No endpoint's name contains {only}.")
    floors = {endpoint.floor for endpoint in endpoints if endpoint.name in chosen}
    return [
        endpoint
        for endpoint in endpoints
        if endpoint.name in chosen or endpoint.name in floors
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
