"""Build and start the shop the way a Heroku-style platform does.

The platform copies the code, installs requirements.txt into a fresh
environment, runs collectstatic, runs the Procfile's release line, then starts
its web line on $PORT behind a router that terminates TLS and says so in
X-Forwarded-Proto. Everything here does the same on this machine, against
PostgreSQL and the local Stripe double, with DEBUG off.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
import requests
from django.conf import settings

from payments.stripe_double import DEFAULT_API_KEY

ROOT = Path(__file__).resolve().parents[2]
# What a build never ships: local environments, caches, databases, outputs.
NOT_SHIPPED = shutil.ignore_patterns(
    ".git",
    ".venv",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "staticfiles",
    "artifacts",
    "db.sqlite3*",
    "node_modules",
)
STARTUP_SECONDS = 30
WEBHOOK_SECRET = "whsec_production_test"
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "content-length",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def procfile(root: Path) -> dict[str, str]:
    """Return the Procfile's process types and their command lines."""
    processes = {}
    for line in (root / "Procfile").read_text().splitlines():
        name, separator, command = line.partition(":")
        if separator and name.strip() and not name.startswith("#"):
            processes[name.strip()] = command.strip()
    return processes


def log_tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Slug:
    """The built application: a copy of the code and its own virtualenv."""

    root: Path
    bin: Path
    # The app's config vars, as the platform's settings page holds them.
    config: dict[str, str] = field(default_factory=dict)

    def environment(self, **overrides: str) -> dict[str, str]:
        """Return a dyno's environment: only the config vars, bin first on PATH."""
        return {
            "PATH": f"{self.bin}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.root),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            **self.config,
            **overrides,
        }

    def run(self, command: str, timeout: float = 120, **overrides: str):
        """Run a one-off command in the shell, as `heroku run` does."""
        return subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=self.root,
            env=self.environment(**overrides),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, command: str, log: Path, **overrides: str) -> subprocess.Popen:
        """Start a long-running process; exec, so that signals reach it."""
        with log.open("ab") as output:
            return subprocess.Popen(
                ["/bin/sh", "-c", f"exec {command}"],
                cwd=self.root,
                env=self.environment(**overrides),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


def stop(process: subprocess.Popen, timeout: float = 25) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def wait_until_answers(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited ({process.returncode}):\n{log_tail(log)}")
        try:
            requests.get(url, headers={"X-Forwarded-Proto": "https"}, timeout=10)
            return
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {STARTUP_SECONDS}s:\n{log_tail(log)}")


class Router(ThreadingHTTPServer):
    """The platform's router: TLS ends here, so it tells the dyno so.

    It forwards every request to the web process, adding X-Forwarded-Proto:
    https and the client's address to X-Forwarded-For.
    """

    daemon_threads = True

    def __init__(self, upstream_port: int) -> None:
        super().__init__(("127.0.0.1", 0), _RouterHandler)
        self.upstream_port = upstream_port
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _RouterHandler(BaseHTTPRequestHandler):
    server: Router

    def forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {
            name: value
            for name, value in self.headers.items()
            if name.lower() not in HOP_BY_HOP | {"x-forwarded-proto"}
        }
        earlier = self.headers.get("X-Forwarded-For")
        client = self.client_address[0]
        headers["X-Forwarded-For"] = f"{earlier}, {client}" if earlier else client
        headers["X-Forwarded-Proto"] = "https"
        upstream = http.client.HTTPConnection(
            "127.0.0.1", self.server.upstream_port, timeout=30
        )
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
        except OSError:
            self.send_error(503, "The web process did not answer.")
            return
        finally:
            upstream.close()
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_HEAD = forward

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Platform:
    """The running shop: the router's URL, the web process, and its parts."""

    slug: Slug
    database_url: str
    router: Router
    web: subprocess.Popen
    web_url: str
    web_log: Path
    double_url: str
    tmp: Path
    release_output: str = ""

    @property
    def url(self) -> str:
        return self.router.url

    def query(self, sql: str, *params: object) -> list[tuple]:
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            return connection.execute(sql, params).fetchall()


def server_url(database: str) -> str:
    """Return a URL for `database` on the PostgreSQL server the tests use."""
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{database}"


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    name = f"shop_prod_{secrets.token_hex(4)}"
    with psycopg.connect(server_url("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield server_url(name)
    with psycopg.connect(server_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def slug(tmp_path_factory) -> Slug:
    """Copy the code and install requirements.txt alone into a new virtualenv."""
    tmp = tmp_path_factory.mktemp("slug")
    root = tmp / "app"
    shutil.copytree(ROOT, root, ignore=NOT_SHIPPED)
    venv = tmp / "venv"
    # No pip inside: the slug needs none, and making one costs seconds. This
    # process's pip installs into it.
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=60
    )
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", venv / "bin" / "python"]
        + ["install", "--quiet", "--disable-pip-version-check"]
        + ["-r", "requirements.txt"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return Slug(root=root, bin=venv / "bin")


@pytest.fixture(scope="module")
def platform(slug: Slug, database_url: str, tmp_path_factory) -> Iterator[Platform]:
    """Build, release and start the shop; stop everything afterwards."""
    tmp = tmp_path_factory.mktemp("platform")
    web_port = free_port()
    router = Router(upstream_port=web_port)
    double_log = tmp / "stripe-double.log"
    double = slug.start(
        "python -m payments.stripe_double --port 0 --quiet"
        f" --webhook-url {router.url}/stripe/webhook/"
        f" --webhook-secret {WEBHOOK_SECRET} --retry-delays 0.2,0.5,1",
        double_log,
    )
    web: subprocess.Popen | None = None
    try:
        double_url = wait_for_double(double, double_log)
        slug.config = {
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": database_url,
            "STRIPE_SECRET_KEY": DEFAULT_API_KEY,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_API_BASE": double_url,
        }
        collected = slug.run("python manage.py collectstatic --noinput")
        assert collected.returncode == 0, collected.stdout + collected.stderr
        processes = procfile(slug.root)
        release = slug.run(processes["release"])
        assert release.returncode == 0, release.stdout + release.stderr
        seeded = slug.run("python manage.py seed_products")
        assert seeded.returncode == 0, seeded.stdout + seeded.stderr

        web_log = tmp / "web.log"
        web = slug.start(processes["web"], web_log, PORT=str(web_port))
        web_url = f"http://127.0.0.1:{web_port}"
        wait_until_answers(f"{web_url}/", web, web_log)
        yield Platform(
            slug=slug,
            database_url=database_url,
            router=router,
            web=web,
            web_url=web_url,
            web_log=web_log,
            double_url=double_url,
            tmp=tmp,
            release_output=release.stdout,
        )
    finally:
        if web is not None:
            stop(web)
        stop(double)
        router.shutdown()
        router.server_close()


def wait_for_double(process: subprocess.Popen, log: Path) -> str:
    """Return the Stripe double's URL once it says it is listening."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        found = re.search(r"listening on (http://\S+)", log.read_text())
        if found:
            return found.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"the Stripe double did not start:\n{log_tail(log)}")
