"""The shop started as the platform starts it: DEBUG off, gunicorn, PostgreSQL.

The `platform` fixture installs requirements.txt alone into a new virtualenv,
runs collectstatic and the Procfile's release line, and starts its web line
behind a router that terminates TLS. These tests then speak HTTP to it.
"""

from __future__ import annotations

import email
import re
import signal
import subprocess
import time
from urllib.parse import urlsplit

import pytest
import requests

from .conftest import (
    Platform,
    free_port,
    log_tail,
    procfile,
    stop,
    wait_until_answers,
)

pytestmark = pytest.mark.postgres

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
# A card: its picture, then its name, a link to the product's page.
PRODUCT = re.compile(
    r'<li class="product" id="product-(\d+)">.*?<h2[^>]*><a [^>]*>([^<]+)<', re.DOTALL
)
STYLESHEET = re.compile(r'<link rel="stylesheet" href="([^"]+)"')
DEBUG_DETAIL = ("Traceback", "OperationalError", "DEBUG = True", "Django", "settings")
ONE_YEAR = 365 * 24 * 60 * 60
GRACEFUL_TIMEOUT_SECONDS = 20
SENT_EMAILS = (
    "SELECT e.kind, e.status FROM payments_orderemail e JOIN payments_order o"
    " ON o.id = e.order_id WHERE o.checkout_session_id = %s"
)  # gunicorn.conf.py's graceful_timeout


class Shopper:
    """A browser on the public side of the router: cookies, forms, redirects.

    The shop's cookies are Secure, so a client that sees plain http (the
    router's side of the TLS here) would hold them back; this one keeps and
    sends them itself, as a browser on https does.
    """

    def __init__(self, platform: Platform) -> None:
        self.base = platform.url
        self.cookies: dict[str, str] = {}
        self.csrf_token = ""

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Origin": f"https://{urlsplit(self.base).netloc}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = requests.request(
            method,
            f"{self.base}{path}",
            headers={**headers, **kwargs.pop("headers", {})},
            allow_redirects=False,
            timeout=15,
            **kwargs,
        )
        self.cookies.update(response.cookies.get_dict())
        found = CSRF_INPUT.search(response.text)
        if found:
            self.csrf_token = found.group(1)
        return response

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, data: dict) -> requests.Response:
        data = {"csrfmiddlewaretoken": self.csrf_token, **data}
        return self.request("POST", path, data=data)


def catalog(shopper: Shopper) -> dict[str, str]:
    """Return the home page's products as {name: id}."""
    page = shopper.get("/")
    assert page.status_code == 200, page.text
    return {name.strip(): pk for pk, name in PRODUCT.findall(page.text)}


def set_cookie_headers(response: requests.Response) -> list[str]:
    return response.raw.headers.getlist("Set-Cookie")


def test_home_page_and_a_cart_change_work_behind_the_https_router(platform):
    shopper = Shopper(platform)
    products = catalog(shopper)

    added = shopper.post(
        "/cart/add/", {"product": products["Mouse"], "quantity": "2", "next": "/"}
    )
    home = shopper.get("/")

    assert set(products) == {"Keyboard", "Laptop", "Mouse"}
    assert (added.status_code, added.headers["Location"]) == (303, "/")
    quantity = rf'id="cart-quantity-{products["Mouse"]}"[^>]*value="(\d+)"'
    assert re.findall(quantity, home.text) == ["2"]
    assert "Added 2 × Mouse to your cart." in home.text


def test_plain_http_is_redirected_to_https(platform):
    response = requests.get(
        f"{platform.web_url}/cart/?page=2",
        headers={"X-Forwarded-Proto": "http"},
        allow_redirects=False,
        timeout=5,
    )

    assert response.status_code == 301
    host = urlsplit(platform.web_url).netloc
    assert response.headers["Location"] == f"https://{host}/cart/?page=2"


def test_responses_carry_hsts_secure_cookies_and_security_headers(platform):
    shopper = Shopper(platform)
    home = shopper.get("/")
    products = catalog(shopper)
    added = shopper.post("/cart/add/", {"product": products["Laptop"], "quantity": 1})

    headers = home.headers
    assert headers["Strict-Transport-Security"] == (
        f"max-age={ONE_YEAR}; includeSubDomains; preload"
    )
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    cookies = set_cookie_headers(home) + set_cookie_headers(added)
    names = {cookie.split("=", 1)[0] for cookie in cookies}
    assert {"__Host-csrftoken", "__Host-sessionid"} <= names
    for cookie in cookies:
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"secure", "httponly", "samesite=lax"} <= attributes, cookie
        if cookie.startswith("__Host-"):
            assert "path=/" in attributes and not any(
                attribute.startswith("domain=") for attribute in attributes
            ), cookie


def test_static_files_are_hashed_cached_for_a_year_and_compressed(platform):
    home = requests.get(f"{platform.url}/", timeout=5)
    stylesheet = STYLESHEET.search(home.text).group(1)

    response = requests.get(
        f"{platform.url}{stylesheet}", headers={"Accept-Encoding": "gzip"}, timeout=5
    )

    assert re.fullmatch(r"/static/css/shop\.[0-9a-f]{12}\.css", stylesheet)
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["Vary"]
    max_age = re.search(r"max-age=(\d+)", response.headers["Cache-Control"])
    assert int(max_age.group(1)) >= ONE_YEAR
    assert "immutable" in response.headers["Cache-Control"]
    assert ":root" in response.text  # requests undid the gzip: it is the CSS


def test_signed_webhook_from_the_stripe_double_pays_the_order(platform):
    shopper = Shopper(platform)
    products = catalog(shopper)
    shopper.post("/cart/add/", {"product": products["Keyboard"], "quantity": 3})

    checkout = shopper.post("/checkout/", {})
    hosted_page = checkout.headers["Location"]
    session_id = hosted_page.rsplit("/", 1)[1]
    paid = requests.post(
        f"{platform.double_url}/_double/sessions/{session_id}/pay", json={}, timeout=15
    )
    deliveries = requests.get(f"{platform.double_url}/_double/deliveries", timeout=5)

    assert checkout.status_code == 303
    assert hosted_page.startswith(f"{platform.double_url}/c/pay/cs_")
    assert paid.status_code == 200, paid.text
    assert [(d["type"], d["status"]) for d in deliveries.json()] == [
        ("checkout.session.completed", 200)
    ]
    # Paid by the webhook alone: nobody has visited the success page yet.
    assert platform.query(
        "SELECT status, total_cents FROM payments_order WHERE checkout_session_id = %s",
        session_id,
    ) == [("paid", 3 * 7999)]
    success = shopper.get(f"/checkout/success/?session_id={session_id}")
    assert "Thank you! Your order is paid." in success.text


def test_missing_page_shows_the_shops_own_404_page(platform):
    response = requests.get(f"{platform.url}/no-such-page/", timeout=5)

    assert response.status_code == 404
    assert "We could not find that page" in response.text
    assert '<link rel="stylesheet" href="/static/css/shop.' in response.text
    assert not [word for word in DEBUG_DETAIL if word in response.text]


def test_crash_shows_the_shops_own_500_page_without_debug_detail(platform):
    # A second web process whose database does not exist: every request that
    # needs the database fails inside the shop.
    port = str(free_port())
    log = platform.tmp / "broken-web.log"
    broken = platform.slug.start(
        procfile(platform.slug.root)["web"],
        log,
        PORT=port,
        WEB_CONCURRENCY="1",
        DATABASE_URL=platform.database_url.rsplit("/", 1)[0] + "/no_such_database",
    )
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/", broken, log)
        response = requests.get(
            f"http://127.0.0.1:{port}/",
            headers={"X-Forwarded-Proto": "https"},
            timeout=10,
        )
    finally:
        stop(broken)

    assert response.status_code == 500, log_tail(log)
    assert "Something went wrong on our side" in response.text
    stylesheet = STYLESHEET.search(response.text).group(1)
    styles = requests.get(f"{platform.url}{stylesheet}", timeout=5)
    assert styles.status_code == 200
    assert styles.headers["Content-Type"].startswith("text/css")
    assert not [word for word in DEBUG_DETAIL if word in response.text]
    assert 'database "no_such_database" does not exist' in log.read_text()


def test_worker_dyno_emails_the_confirmation_with_a_working_order_link(
    platform, tmp_path
):
    outbox = tmp_path / "outbox"
    log = tmp_path / "worker.log"
    worker = platform.slug.start(
        procfile(platform.slug.root)["worker"], log, EMAIL_URL=f"file://{outbox}"
    )
    try:
        shopper = Shopper(platform)
        products = catalog(shopper)
        shopper.post("/cart/add/", {"product": products["Mouse"], "quantity": 2})
        session_id = (
            shopper.post("/checkout/", {}).headers["Location"].rsplit("/", 1)[1]
        )
        paid = requests.post(
            f"{platform.double_url}/_double/sessions/{session_id}/pay",
            json={"email": "ada@example.com"},
            timeout=15,
        )
        assert paid.status_code == 200, paid.text
        deadline = time.monotonic() + 30
        while platform.query(SENT_EMAILS, session_id) != [("confirmation", "sent")]:
            assert worker.poll() is None, log_tail(log)
            assert time.monotonic() < deadline, log_tail(log)
            time.sleep(0.2)
    finally:
        code = stop(worker)

    assert code == 0, log_tail(log)
    # The worker also sends what earlier tests queued: find this order's email.
    # Django's file backend may write two messages to one file, each ending
    # with a line of 79 dashes.
    messages = [
        email.message_from_bytes(raw)
        for path in outbox.glob("*.log")
        for raw in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n")
        if raw.strip()
    ]
    texts = [
        part.get_payload(decode=True).decode()
        for message in messages
        for part in message.walk()
        if part.get_content_type() == "text/plain"
    ]
    [text] = [text for text in texts if "Mouse" in text]
    assert {message["To"] for message in messages} >= {"ada@example.com"}
    assert "2 x Mouse at $29.99: $59.98" in text
    path = re.search(r"https?://[^/\s]+(/orders/[A-Za-z0-9_-]{43}/)", text).group(1)
    page = requests.get(f"{platform.url}{path}", timeout=5)
    assert page.status_code == 200
    assert "Paid. We are preparing your order." in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"


def test_deploy_checks_pass_and_no_migration_is_missing(platform):
    deploy = platform.slug.run("python manage.py check --deploy --fail-level WARNING")
    migrations = platform.slug.run("python manage.py makemigrations --check --dry-run")
    applied = platform.slug.run("python manage.py migrate --check")

    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    assert "System check identified no issues (0 silenced)." in deploy.stdout
    assert migrations.returncode == 0, migrations.stdout + migrations.stderr
    assert "No changes detected" in migrations.stdout
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Applying payments.0001_initial... OK" in platform.release_output


def test_web_process_stops_cleanly_on_sigterm(platform):
    platform.web.send_signal(signal.SIGTERM)
    try:
        code = platform.web.wait(timeout=GRACEFUL_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        code = None

    assert code == 0, log_tail(platform.web_log)
    assert "Shutting down: Master" in platform.web_log.read_text()
