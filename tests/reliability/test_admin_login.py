"""Admin sign-in throttling with django-axes, behind the platform's router.

Failures are counted per client address (the one the rate limits use, from
X-Forwarded-For and TRUSTED_PROXY_HOPS) and per username; once either reaches
AXES_FAILURE_LIMIT, sign-in is refused with a lockout page and no password is
hashed until the cool-off has passed.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from storefront.admin_login import client_ip_for_axes

from .test_error_pages_and_input import assert_security_headers

pytestmark = pytest.mark.django_db

LOGIN = reverse("admin:login")
PASSWORD = "correct horse battery staple"
LOCKED = "Too many failed sign-in attempts"


class CountingHasher(MD5PasswordHasher):
    """A fast hasher that counts how often a password is hashed."""

    calls = 0

    def encode(self, password, salt):
        CountingHasher.calls += 1
        return super().encode(password, salt)


@pytest.fixture
def axes(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXY_HOPS = 1
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    CountingHasher.calls = 0
    return settings


@pytest.fixture
def operator(axes, django_user_model):
    user = django_user_model(username="operator", is_staff=True, is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def sign_in(username: str, password: str, *, client_address: str, spoofed: str = ""):
    """Post the admin's sign-in form through the router, as a fresh browser."""
    forwarded = f"{spoofed}, {client_address}" if spoofed else client_address
    return Client().post(
        LOGIN,
        {"username": username, "password": password, "next": "/admin/"},
        HTTP_X_FORWARDED_FOR=forwarded,
        REMOTE_ADDR="10.1.2.3",
    )


def assert_signed_in(response) -> None:
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def assert_locked_out(response) -> None:
    assert response.status_code == 429
    assert LOCKED in response.content.decode()


def test_the_right_password_signs_in(operator):
    assert_signed_in(sign_in("operator", PASSWORD, client_address="203.0.113.5"))


def test_after_the_limit_one_client_is_locked_out_for_every_username(operator):
    for username in ("operator", "nobody"):
        response = sign_in(username, "wrong", client_address="203.0.113.5")
        assert response.status_code == 200  # the form again, with its error
    # The failure that reaches the limit is answered with the lockout already.
    assert_locked_out(sign_in("admin", "wrong", client_address="203.0.113.5"))

    locked = sign_in("operator", PASSWORD, client_address="203.0.113.5")

    assert_locked_out(locked)
    assert_security_headers(locked)
    # Another client signs in as usual.
    assert_signed_in(sign_in("operator", PASSWORD, client_address="198.51.100.7"))


def test_after_the_limit_one_username_is_locked_out_from_every_client(
    operator, django_user_model
):
    for number in range(3):
        sign_in("operator", "wrong", client_address=f"203.0.113.{number}")

    assert_locked_out(sign_in("operator", PASSWORD, client_address="198.51.100.7"))
    clerk = django_user_model(username="clerk", is_staff=True)
    clerk.set_password(PASSWORD)
    clerk.save()
    assert_signed_in(sign_in("clerk", PASSWORD, client_address="198.51.100.7"))


def test_no_password_is_hashed_while_locked_out(operator):
    for _ in range(3):
        sign_in("operator", "wrong", client_address="203.0.113.5")
    hashed_before = CountingHasher.calls

    for password in (PASSWORD, "wrong", "also wrong"):
        assert_locked_out(sign_in("operator", password, client_address="203.0.113.5"))
    assert_locked_out(sign_in("ghost", "wrong", client_address="203.0.113.5"))

    assert CountingHasher.calls == hashed_before
    # While not locked out, a failure does hash (for unknown users too).
    sign_in("ghost", "wrong", client_address="198.51.100.7")
    assert CountingHasher.calls == hashed_before + 1


def test_a_spoofed_forwarded_for_does_not_evade_the_lockout(operator):
    for number in range(3):
        sign_in(
            f"user{number}",
            "wrong",
            client_address="203.0.113.5",
            spoofed=f"192.0.2.{number}",
        )

    assert_locked_out(
        sign_in("operator", PASSWORD, client_address="203.0.113.5", spoofed="192.0.2.9")
    )
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {
        "203.0.113.5"
    }


def test_the_lockout_ends_after_the_cool_off(operator, settings):
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    for _ in range(3):
        sign_in("operator", "wrong", client_address="203.0.113.5")
    assert_locked_out(sign_in("operator", PASSWORD, client_address="203.0.113.5"))

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))

    assert_signed_in(sign_in("operator", PASSWORD, client_address="203.0.113.5"))


def test_a_successful_sign_in_clears_the_clients_failures(operator):
    for _ in range(2):
        sign_in("operator", "wrong", client_address="203.0.113.5")
    assert_signed_in(sign_in("operator", PASSWORD, client_address="203.0.113.5"))

    for _ in range(2):
        sign_in("operator", "wrong", client_address="203.0.113.5")

    assert_signed_in(sign_in("operator", PASSWORD, client_address="203.0.113.5"))


@pytest.mark.parametrize(
    ("hops", "forwarded", "remote", "expected"),
    [
        (1, "192.0.2.1, 203.0.113.5", "10.1.2.3", "203.0.113.5"),
        (2, "192.0.2.1, 203.0.113.5", "10.1.2.3", "192.0.2.1"),
        (0, "192.0.2.1, 203.0.113.5", "10.1.2.3", "10.1.2.3"),
        (2, "not-an-address, 203.0.113.5", "10.1.2.3", "10.1.2.3"),
        (1, "2001:db8::1", "10.1.2.3", "2001:db8::1"),
    ],
)
def test_axes_counts_by_the_address_the_rate_limits_use(
    rf, settings, hops, forwarded, remote, expected
):
    settings.TRUSTED_PROXY_HOPS = hops
    request = rf.post(LOGIN, HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR=remote)

    assert client_ip_for_axes(request) == expected


def test_a_forged_address_behind_a_misconfigured_router_is_not_a_server_error(
    operator, settings
):
    settings.TRUSTED_PROXY_HOPS = 2
    client = Client(raise_request_exception=False)

    response = client.post(
        LOGIN,
        {"username": "operator", "password": "wrong"},
        HTTP_X_FORWARDED_FOR="'; DROP TABLE axes--, 203.0.113.5",
        REMOTE_ADDR="10.1.2.3",
    )

    assert response.status_code == 200
    assert AccessAttempt.objects.get().ip_address == "10.1.2.3"
