"""Headers and policy: a strict CSP the pages keep to, CSRF everywhere, cookies.

Every page's HTML is checked against the policy it is sent with: no inline
script, style or event handler could run under it, so none may be there.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from payments.models import Order
from payments.stripe_api import CHECKOUT_ORIGIN
from storefront.models import Product

from .conftest import HTMX, stored_session
from .processes import process_environment, settings_loaded

pytestmark = pytest.mark.django_db

ADD = reverse("storefront:cart-add")
CHECKOUT = reverse("payments:checkout")
WEBHOOK = reverse("payments:stripe-webhook")

SCRIPT_TAG = re.compile(r"<script\b[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=|\shx-on[:-]", re.IGNORECASE)
POST_FORM = re.compile(r"<form\b[^>]*method=\"post\"[^>]*>(.*?)</form>", re.S | re.I)


def policy(response) -> dict[str, list[str]]:
    """Return the Content-Security-Policy header as {directive: sources}."""
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


@pytest.fixture
def shopper_pages(
    client: Client, stripe_double, laptop: Product, mouse: Product
) -> dict[str, Callable[[], object]]:
    """Every page a shopper meets, with items in the cart and a paid order.

    The paid order shows on the home page; the current cart has its own lines.
    """
    client.post(ADD, {"product": laptop.pk, "quantity": 1})
    client.post(CHECKOUT)
    paid = Order.objects.get()
    stripe_double.pay(paid.checkout_session_id)
    success = f"{reverse('payments:success')}?session_id={paid.checkout_session_id}"
    assert "is paid" in client.get(success).content.decode()
    client.post(ADD, {"product": mouse.pk, "quantity": 2})
    client.post(CHECKOUT)
    pending = Order.objects.exclude(pk=paid.pk).get()
    pending_success = (
        f"{reverse('payments:success')}?session_id={pending.checkout_session_id}"
    )
    return {
        "home": lambda: client.get("/"),
        "cart page": lambda: client.get("/cart/"),
        "cart fragment": lambda: client.get("/cart/", **HTMX),
        "success page, paid": lambda: client.get(success),
        "success page, pending": lambda: client.get(pending_success),
        "success fragment": lambda: client.get(pending_success, **HTMX),
        "order not found": lambda: client.get(f"{reverse('payments:success')}?x=1"),
        "refused change, page": lambda: client.post(ADD, {"quantity": "x"}),
        "refused change, fragment": lambda: client.post(ADD, {"quantity": "x"}, **HTMX),
        "changed cart, fragment": lambda: client.post(
            ADD, {"product": laptop.pk, "quantity": 1}, **HTMX
        ),
    }


def test_every_page_sends_a_strict_content_security_policy(
    shopper_pages, stripe_double
):
    for name, page in shopper_pages.items():
        response = page()
        directives = policy(response)

        assert directives["default-src"] == ["'self'"], name
        assert directives["script-src"] == ["'self'"], name
        assert directives["style-src"] == ["'self'"], name
        assert directives["object-src"] == ["'none'"], name
        assert directives["base-uri"] == ["'none'"], name
        assert directives["frame-ancestors"] == ["'none'"], name
        assert sorted(directives["form-action"]) == sorted(
            ["'self'", CHECKOUT_ORIGIN, stripe_double.url]
        ), name
        header = response["Content-Security-Policy"]
        assert "unsafe-inline" not in header and "unsafe-eval" not in header, name
        assert response["X-Frame-Options"] == "DENY", name
        assert response["X-Content-Type-Options"] == "nosniff", name
        assert response["Referrer-Policy"] == "same-origin", name


def test_without_the_double_form_action_allows_only_the_shop_and_stripe(
    client, settings, laptop
):
    settings.STRIPE_API_BASE = ""

    response = client.get("/")

    assert sorted(policy(response)["form-action"]) == sorted(
        ["'self'", CHECKOUT_ORIGIN]
    )


def test_no_page_has_inline_script_style_or_event_handler(shopper_pages):
    checked = 0
    for name, page in shopper_pages.items():
        html = page().content.decode()

        for tag in SCRIPT_TAG.findall(html):
            assert re.search(r"\ssrc=\"/", tag), (name, tag)
        assert not INLINE_STYLE.search(html), name
        assert not EVENT_HANDLER.search(html), name
        assert "javascript:" not in html.lower(), name
        checked += 1
    assert checked == len(shopper_pages) == 10


def test_every_post_form_on_every_page_carries_a_csrf_token(shopper_pages):
    forms = 0
    for name in ("home", "cart page", "cart fragment", "success page, paid"):
        html = shopper_pages[name]().content.decode()
        for form in POST_FORM.findall(html):
            assert 'name="csrfmiddlewaretoken" value="' in form, (name, form)
            forms += 1
        if "<body" in html:  # htmx requests send the page's token in a header
            assert re.search(r"<body hx-headers='\{\"x-csrftoken\": \"\w+\"\}'>", html)
    # Home: two add forms; home, cart page and fragment: a cart line, checkout.
    assert forms >= 8


def routes(
    patterns: list | None = None, prefix: str = "/"
) -> Iterator[tuple[str, URLPattern]]:
    """Yield (example path, pattern) for every URL the shop answers."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from routes(pattern.url_patterns, prefix + route)
        else:
            example = re.sub(r"\(\?P<\w+>[^)]*\)", "auth", route)
            example = re.sub(r"<uuid:\w+>", str(uuid.UUID(int=1)), example)
            example = re.sub(r"<(?:\w+:)?\w+>", "1", example)
            yield prefix + example.strip("^$"), pattern


def test_the_webhook_is_the_only_csrf_exempt_view():
    exempt = [
        path
        for path, route in routes()
        if getattr(route.callback, "csrf_exempt", False)
    ]

    assert exempt == [WEBHOOK]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_every_post_without_a_csrf_token_is_refused_but_the_webhooks(
    csrf_client, laptop, htmx
):
    headers = HTMX if htmx else {}
    paths = sorted({path for path, _ in routes()})
    assert len(paths) > 20  # the shop's pages, and the admin's

    for path in paths:
        response = csrf_client.post(
            path, {"product": laptop.pk, "quantity": 1}, **headers
        )
        if path == WEBHOOK:
            assert response.status_code == 400  # refused for its signature
        else:
            assert response.status_code == 403, path
    assert "cart" not in stored_session(csrf_client)
    assert not Order.objects.exists()


COOKIE_SETTINGS = [
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SAMESITE",
    "MESSAGE_STORAGE",
    "SESSION_COOKIE_NAME",
    "CSRF_COOKIE_NAME",
]


def settings_with_debug_off() -> dict[str, object]:
    """Return the cookie settings as production (DEBUG off) loads them."""
    return settings_loaded(
        COOKIE_SETTINGS,
        process_environment(
            {
                "DEBUG": "false",
                "SECRET_KEY": "a-production-like-secret-key-for-this-test-only",
                "ALLOWED_HOSTS": "shop.example",
            }
        ),
    )


@pytest.mark.parametrize("debug", [True, False], ids=["debug", "production"])
def test_cookies_are_httponly_samesite_lax_and_secure_in_production(
    client, settings, laptop, debug
):
    if not debug:
        for name, value in settings_with_debug_off().items():
            setattr(settings, name, value)
    home = client.get("/")
    added = client.post(ADD, {"product": laptop.pk, "quantity": 1})
    cookies = {**home.cookies, **added.cookies}

    assert set(cookies) >= {
        settings.CSRF_COOKIE_NAME,
        settings.SESSION_COOKIE_NAME,
        "messages",
    }
    for name, cookie in cookies.items():
        assert cookie["httponly"] is True, name
        assert cookie["samesite"] == "Lax", name
        assert bool(cookie["secure"]) is (not debug), name


def test_checkout_keeps_the_session_key_and_another_browser_sees_nothing(
    client, stripe_double, laptop
):
    """A double click's second request still holds the old key: it must work.

    Fixation is kept out by the cookie's __Host- prefix in production instead.
    """
    client.post(ADD, {"product": laptop.pk, "quantity": 1})
    key = client.cookies[settings.SESSION_COOKIE_NAME].value

    response = client.post(CHECKOUT)

    assert response.status_code == 303
    assert client.cookies[settings.SESSION_COOKIE_NAME].value == key
    session = stored_session(client)
    assert session["cart"] == {str(laptop.pk): 1}
    assert {"shopper", "cart_checkouts"} <= set(session)

    order = Order.objects.get()
    stripe_double.pay(order.checkout_session_id)
    success = f"{reverse('payments:success')}?session_id={order.checkout_session_id}"
    stranger = Client()
    assert stranger.get(success).status_code == 404
    assert "is paid" in client.get(success).content.decode()
    assert "Your cart is empty." in client.get("/").content.decode()


def test_production_cookies_carry_the_host_prefix():
    """__Host- cookies come only from this host over HTTPS: no planted session."""
    production = settings_with_debug_off()
    assert production["SESSION_COOKIE_NAME"] == "__Host-sessionid"
    assert production["CSRF_COOKIE_NAME"] == "__Host-csrftoken"
