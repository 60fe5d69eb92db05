"""EMAIL_URL and friends: the email backend comes from the environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.reliability.processes import settings_loaded

ROOT = Path(__file__).resolve().parents[2]
NAMES = [
    "EMAIL_BACKEND",
    "EMAIL_HOST",
    "EMAIL_PORT",
    "EMAIL_HOST_USER",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_USE_TLS",
    "EMAIL_USE_SSL",
    "EMAIL_TIMEOUT",
    "EMAIL_FILE_PATH",
    "ANYMAIL",
    "DEFAULT_FROM_EMAIL",
    "SHOP_STAFF_EMAIL",
    "SHOP_BASE_URL",
]


def email_settings(**environment: str) -> dict:
    """Import the settings in a fresh process with only the given environment."""
    return settings_loaded(NAMES, {"PATH": os.environ["PATH"], **environment})


def test_development_prints_emails_to_the_console():
    settings = email_settings()

    assert settings["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert settings["SHOP_STAFF_EMAIL"] == "staff@localhost"


def test_smtp_url_with_starttls_and_quoted_credentials():
    settings = email_settings(
        EMAIL_URL="smtp://apikey:p%40ss%2Fword@smtp.example.com:587",
        DEFAULT_FROM_EMAIL="Shop <orders@shop.example>",
        SHOP_STAFF_EMAIL="staff@shop.example",
    )

    assert settings["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert settings["EMAIL_HOST"] == "smtp.example.com"
    assert settings["EMAIL_PORT"] == 587
    assert settings["EMAIL_HOST_USER"] == "apikey"
    assert settings["EMAIL_HOST_PASSWORD"] == "p@ss/word"
    assert (settings["EMAIL_USE_TLS"], settings["EMAIL_USE_SSL"]) == (True, False)
    assert settings["EMAIL_TIMEOUT"] == 10
    assert settings["DEFAULT_FROM_EMAIL"] == "Shop <orders@shop.example>"
    assert settings["SHOP_STAFF_EMAIL"] == "staff@shop.example"


def test_smtps_url_uses_tls_from_the_start_on_465():
    settings = email_settings(EMAIL_URL="smtps://u:p@mail.example.com")

    assert settings["EMAIL_PORT"] == 465
    assert (settings["EMAIL_USE_TLS"], settings["EMAIL_USE_SSL"]) == (False, True)


def test_anymail_url_picks_the_provider_and_reads_its_credentials():
    settings = email_settings(
        EMAIL_URL="anymail://postmark", ANYMAIL_POSTMARK_SERVER_TOKEN="server-token"
    )

    assert settings["EMAIL_BACKEND"] == "anymail.backends.postmark.EmailBackend"
    assert settings["ANYMAIL"] == {"POSTMARK_SERVER_TOKEN": "server-token"}


def test_production_sends_no_staff_notice_unless_asked():
    settings = email_settings(DEBUG="false", SECRET_KEY="x" * 50)

    assert settings["SHOP_STAFF_EMAIL"] == ""


def test_links_in_emails_go_to_the_first_allowed_host_unless_told():
    production = {"DEBUG": "false", "SECRET_KEY": "x" * 50}

    assert email_settings()["SHOP_BASE_URL"] == "http://127.0.0.1:8000"
    assert (
        email_settings(**production, ALLOWED_HOSTS="shop.example.com,www.shop.example")[
            "SHOP_BASE_URL"
        ]
        == "https://shop.example.com"
    )
    assert (
        email_settings(
            **production,
            ALLOWED_HOSTS="shop.example.com",
            SHOP_BASE_URL="https://www.shop.example/",
        )["SHOP_BASE_URL"]
        == "https://www.shop.example"
    )


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        (
            {"EMAIL_URL": "smtp.example.com:587"},
            "EMAIL_URL must start with console:, file://, smtp://, smtps://, "
            "smtp+plain:// or anymail://<provider>, not 'smtp.example.com'.",
        ),
        (
            {"EMAIL_URL": "smtp://"},
            "EMAIL_URL needs a host: smtp://user:pass@host:port",
        ),
        (
            {"SHOP_EMAIL_RETRY_SECONDS": "60,soon"},
            "SHOP_EMAIL_RETRY_SECONDS must be whole numbers, not '60,soon'.",
        ),
    ],
)
def test_bad_email_settings_refuse_to_start_with_one_line(environment, message):
    with pytest.raises(SystemExit) as refused:
        email_settings(**environment)

    assert str(refused.value) == message
