from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storefront.money import format_money

ROOT = Path(__file__).resolve().parent.parent


SETTINGS_CODE = (
    "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings';"
    "from django.conf import settings; django.setup();"
    "print(settings.DEBUG, settings.DATABASES['default']['ENGINE'],"
    " settings.SESSION_COOKIE_SECURE, settings.SECURE_SSL_REDIRECT)"
)


def run_settings(
    *, code: str = SETTINGS_CODE, **environment: str
) -> subprocess.CompletedProcess[str]:
    """Run `code` (by default: print the settings above) in a fresh process
    with only the given environment."""
    env = {"PATH": os.environ["PATH"], **environment}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_no_environment_means_development_on_sqlite():
    result = run_settings()

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True",
        "django.db.backends.sqlite3",
        "False",
        "False",
    ]


def test_debug_off_without_secret_key_refuses_to_start_with_one_line():
    result = run_settings(DEBUG="false")

    assert result.returncode != 0
    assert result.stderr.strip() == "SECRET_KEY must be set when DEBUG is off."


def test_production_environment_is_secure_and_uses_database_url():
    result = run_settings(
        DEBUG="false",
        SECRET_KEY="x" * 50,
        DATABASE_URL="postgres://user:secret@db.example:5432/shop",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False",
        "django.db.backends.postgresql",
        "True",
        "True",
    ]


def test_a_malformed_boolean_is_refused_by_name():
    result = run_settings(DEBUG="maybe")

    assert result.returncode != 0
    assert "DEBUG must be true or false" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("AXES_FAILURE_LIMIT", "0", "AXES_FAILURE_LIMIT and AXES_COOLOFF_MINUTES"),
        ("AXES_COOLOFF_MINUTES", "0", "AXES_FAILURE_LIMIT and AXES_COOLOFF_MINUTES"),
        ("AXES_FAILURE_LIMIT", "five", "AXES_FAILURE_LIMIT must be a whole number"),
        ("AXES_ENABLED", "perhaps", "AXES_ENABLED must be true or false"),
        (
            "STRIPE_CHECK_INTERVAL_SECONDS",
            "-1",
            "STRIPE_CHECK_INTERVAL_SECONDS must be at least 0",
        ),
    ],
)
def test_a_bad_admin_throttle_or_stripe_check_setting_is_refused_by_name(
    name, value, message
):
    result = run_settings(**{name: value})

    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (99999, "usd", "$999.99"),
        (5, "usd", "$0.05"),
        (123456789, "usd", "$1,234,567.89"),
        (1500, "eur", "€15.00"),
        (1500, "jpy", "¥1,500"),
        (1500, "chf", "15.00 CHF"),
        (-2999, "usd", "-$29.99"),
    ],
)
def test_format_money(amount, currency, text):
    assert format_money(amount, currency) == text


MEDIA_STORAGE_CODE = (
    "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings';"
    "from django.conf import settings; django.setup();"
    "from django.core.files.storage import storages; s = storages['default'];"
    "print(type(s).__name__, settings.SERVE_MEDIA, s.url('products/a.webp'),"
    " settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['img-src'][-1])"
)


def test_media_is_on_the_file_system_in_development_and_served_by_the_shop():
    code = MEDIA_STORAGE_CODE.replace(
        "settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['img-src'][-1]",
        "s.path('products/a.webp')",
    )
    result = run_settings(code=code, MEDIA_ROOT="/tmp/shop-media")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "FileSystemStorage",
        "True",
        "/media/products/a.webp",
        "/tmp/shop-media/products/a.webp",
    ]


def test_media_goes_to_an_s3_compatible_bucket_when_one_is_named():
    result = run_settings(
        code=MEDIA_STORAGE_CODE,
        DEBUG="false",
        SECRET_KEY="x" * 50,
        AWS_STORAGE_BUCKET_NAME="shop-media",
        AWS_S3_CUSTOM_DOMAIN="media.shop.example",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "S3Storage",
        "False",
        "https://media.shop.example/media/products/a.webp",
        "https://media.shop.example",
    ]
