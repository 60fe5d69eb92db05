"""Settings for the shop: one file, every knob read from the environment.

With no environment at all the shop runs in development mode on a SQLite file.
The README lists every variable; production sets at least DEBUG=false,
SECRET_KEY, ALLOWED_HOSTS and DATABASE_URL.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SystemExit(f"{name} must be true or false, not {value!r}.")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {value!r}.") from None


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise SystemExit(f"{name} must be a number, not {value!r}.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name, "")
    items = [item.strip() for item in value.split(",") if item.strip()]
    return items or default


def email_settings(url: str) -> dict[str, object]:
    """Return the email backend's settings for an EMAIL_URL.

    console: (the default) prints each message; file:///path writes one file per
    message; smtp://user:password@host:587 uses STARTTLS, smtps:// TLS from the
    start (port 465), smtp+plain:// neither (a relay on the same machine);
    anymail://<esp> sends through an email provider's API with django-anymail,
    its credentials in ANYMAIL_<ESP>_<SETTING> variables.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if scheme == "file":
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": unquote(parts.path),
        }
    if scheme in {"smtp", "smtps", "smtp+plain"}:
        if not parts.hostname:
            raise SystemExit(f"EMAIL_URL needs a host: {scheme}://user:pass@host:port")
        options = parse_qs(parts.query)
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": parts.hostname,
            "EMAIL_PORT": parts.port
            or {"smtps": 465, "smtp+plain": 25}.get(scheme, 587),
            "EMAIL_HOST_USER": unquote(parts.username or ""),
            "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
            "EMAIL_USE_TLS": scheme == "smtp",
            "EMAIL_USE_SSL": scheme == "smtps",
            "EMAIL_TIMEOUT": int(options.get("timeout", ["10"])[0]),
        }
    if scheme == "anymail" and parts.hostname:
        return {"EMAIL_BACKEND": f"anymail.backends.{parts.hostname}.EmailBackend"}
    raise SystemExit(
        "EMAIL_URL must start with console:, file://, smtp://, smtps://, "
        f"smtp+plain:// or anymail://<provider>, not {scheme or url!r}."
    )


DEBUG = env_bool("DEBUG", default=True)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise SystemExit("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-development-only-never-use-in-production"

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django.contrib.sitemaps",
    "django_htmx",
    "template_partials",
    "axes",
    "django_tasks",
    "django_tasks_db",
    "storefront",
    "payments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "payments.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "storefront.middleware.malformed_session_cookie_middleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: it answers before any view, and its answer passes every header above.
    "storefront.middleware.unreadable_input_middleware",
    "axes.middleware.AxesMiddleware",
]

# django-axes first: a locked-out sign-in is refused before any password is
# hashed.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "storefront.context_processors.cart",
            ],
            # Built into Django 6.0; then this line goes.
            "builtins": ["template_partials.templatetags.partials"],
        },
    },
]

# Persistent connections: a new connection per request costs more than the
# request itself. Health checks recover from a database restart.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers work while a write is in progress; IMMEDIATE takes the
    # write lock up front so concurrent writers wait instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis is optional: when REDIS_URL is set it holds the cache, so the rate
# limits' counters are shared by every process. While it is down or slower than
# REDIS_TIMEOUT_SECONDS, shop/cache.py counts in each process's memory instead,
# as the shop does with no Redis at all. Sessions always live in the database
# (Django's `db` engine): every change locks the session's row there anyway.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    redis_timeout = env_float("REDIS_TIMEOUT_SECONDS", 0.5)
    CACHES = {
        "default": {
            "BACKEND": "shop.cache.RedisOrMemoryCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": redis_timeout,
                "SOCKET_TIMEOUT": redis_timeout,
                # Heroku Data for Redis uses self-signed certificates.
                **(
                    {"CONNECTION_POOL_KWARGS": {"ssl_cert_reqs": None}}
                    if REDIS_URL.startswith("rediss://")
                    else {}
                ),
            },
        }
    }
    # django-ratelimit knows only its own list of backends; this one is Redis.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # django-ratelimit wants a shared cache; without Redis it counts per process.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

# Flash messages live in a cookie, so that only the views that hold the
# session's lock write the session (storefront/session_lock.py).
MESSAGE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Uploaded media (product pictures). On the file system under MEDIA_ROOT by
# default, served by Django itself when SERVE_MEDIA is on (development). With
# AWS_STORAGE_BUCKET_NAME set, in an S3-compatible bucket through django-storages
# (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, read by boto3),
# public and served from the bucket: picture names never repeat, so they are
# cached for a year and the URLs are not signed.
MEDIA_URL = os.environ.get("MEDIA_URL", "/media/")
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
AWS_STORAGE_BUCKET_NAME = os.environ.get("AWS_STORAGE_BUCKET_NAME", "")
MEDIA_ORIGINS: list[str] = []
if AWS_STORAGE_BUCKET_NAME:
    AWS_S3_CUSTOM_DOMAIN = os.environ.get("AWS_S3_CUSTOM_DOMAIN", "")
    AWS_S3_ENDPOINT_URL = os.environ.get("AWS_S3_ENDPOINT_URL", "")
    AWS_S3_REGION_NAME = os.environ.get("AWS_S3_REGION_NAME", "")
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "location": os.environ.get("AWS_LOCATION", "media"),
            "custom_domain": AWS_S3_CUSTOM_DOMAIN or None,
            "endpoint_url": AWS_S3_ENDPOINT_URL or None,
            "region_name": AWS_S3_REGION_NAME or None,
            "querystring_auth": False,
            "file_overwrite": False,
            "object_parameters": {
                "CacheControl": "public, max-age=31536000, immutable"
            },
        },
    }
    if AWS_S3_CUSTOM_DOMAIN:
        MEDIA_ORIGINS = [f"https://{AWS_S3_CUSTOM_DOMAIN}"]
    elif AWS_S3_ENDPOINT_URL:
        MEDIA_ORIGINS = [AWS_S3_ENDPOINT_URL.rstrip("/")]
    else:
        MEDIA_ORIGINS = ["https://*.amazonaws.com"]
SERVE_MEDIA = env_bool("SERVE_MEDIA", default=DEBUG and not AWS_STORAGE_BUCKET_NAME)

# Product pictures: the limits of an upload, and the widths stored for srcset.
PRODUCT_IMAGE_MAX_BYTES = env_int("PRODUCT_IMAGE_MAX_BYTES", 10 * 1024 * 1024)
PRODUCT_IMAGE_MAX_SIDE = env_int("PRODUCT_IMAGE_MAX_SIDE", 6000)
PRODUCT_IMAGE_MIN_SIDE = env_int("PRODUCT_IMAGE_MIN_SIDE", 200)
PRODUCT_IMAGE_WIDTHS = (320, 640, 1280)

# Security. The platform's router terminates TLS and says so in
# X-Forwarded-Proto; gunicorn.conf.py trusts that header from the router.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = not DEBUG
# Over HTTPS the cookies carry the __Host- prefix: browsers accept them only
# from this exact host, over HTTPS, so no other site or subdomain can plant a
# session (fixation). That is the defence, rather than a new key at checkout,
# which a double click's second request, still holding the old one, would lose.
if not DEBUG:
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# htmx sends the token from the page (hx-headers on <body>), so no script
# needs to read the cookie.
CSRF_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "storefront.errors.csrf_failure"

# Content-Security-Policy (django-csp): nothing inline, nothing from elsewhere.
# ContentSecurityPolicyMiddleware adds Stripe Checkout's origin to form-action,
# since the checkout form's redirect goes there.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", *MEDIA_ORIGINS],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

# Rate limits per client (django-ratelimit). Behind a Heroku-style router the
# client's address is the last one the router appended to X-Forwarded-For;
# TRUSTED_PROXY_HOPS says how many such proxies stand in front of the shop.
RATELIMIT_ENABLE = env_bool("RATELIMIT_ENABLE", default=True)
RATELIMIT_CART = os.environ.get("RATELIMIT_CART", "120/m")
RATELIMIT_CHECKOUT = os.environ.get("RATELIMIT_CHECKOUT", "10/m")
TRUSTED_PROXY_HOPS = env_int("TRUSTED_PROXY_HOPS", 0 if DEBUG else 1)

# Admin sign-in throttling (django-axes): after AXES_FAILURE_LIMIT failures
# from one client address, or for one username, sign-in is refused for
# AXES_COOLOFF_MINUTES without checking the password. The address is the one
# the rate limits use (TRUSTED_PROXY_HOPS above).
AXES_ENABLED = env_bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_MINUTES = env_int("AXES_COOLOFF_MINUTES", 15)
if AXES_FAILURE_LIMIT < 1 or AXES_COOLOFF_MINUTES < 1:
    raise SystemExit("AXES_FAILURE_LIMIT and AXES_COOLOFF_MINUTES must be at least 1.")
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_CLIENT_IP_CALLABLE = "storefront.admin_login.client_ip_for_axes"
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_RESET_ON_SUCCESS = True
# Failed sign-ins are logged by axes; successful ones need no table of their own.
AXES_DISABLE_ACCESS_LOG = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "django": {"level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
        "payments": {"level": os.environ.get("SHOP_LOG_LEVEL", "INFO")},
        "storefront": {"level": os.environ.get("SHOP_LOG_LEVEL", "INFO")},
    },
}

# The shop.
SHOP_CURRENCY = os.environ.get("SHOP_CURRENCY", "usd").lower()
CART_MAX_QUANTITY = env_int("CART_MAX_QUANTITY", 99)
CART_MAX_LINES = env_int("CART_MAX_LINES", 50)
PRODUCTS_PER_PAGE = 24

# Stock and shipping (storefront/stock.py, payments/shipping.py). Money in cents.
SHOP_LOW_STOCK_THRESHOLD = env_int("SHOP_LOW_STOCK_THRESHOLD", 5)
SHOP_SHIPPING_COUNTRIES = [
    country.upper()
    for country in env_list(
        "SHOP_SHIPPING_COUNTRIES", ["US", "CA", "GB", "DE", "FR", "NL"]
    )
]
if not all(
    len(country) == 2 and country.isalpha() for country in SHOP_SHIPPING_COUNTRIES
):
    raise SystemExit("SHOP_SHIPPING_COUNTRIES must be two-letter codes, as US,CA,GB.")
SHOP_SHIPPING_STANDARD_CENTS = env_int("SHOP_SHIPPING_STANDARD_CENTS", 500)
SHOP_SHIPPING_EXPRESS_CENTS = env_int("SHOP_SHIPPING_EXPRESS_CENTS", 1500)
# Standard shipping is free for a subtotal at or above this; 0 turns it off.
SHOP_FREE_SHIPPING_OVER_CENTS = env_int("SHOP_FREE_SHIPPING_OVER_CENTS", 10000)
SHOP_SHIPPING_PHONE = env_bool("SHOP_SHIPPING_PHONE", default=True)
for name in (
    "SHOP_SHIPPING_STANDARD_CENTS",
    "SHOP_SHIPPING_EXPRESS_CENTS",
    "SHOP_FREE_SHIPPING_OVER_CENTS",
):
    if globals()[name] < 0:
        raise SystemExit(f"{name} must not be negative.")

# Stripe. Without STRIPE_SECRET_KEY checkout is switched off with a clear
# message; `python manage.py devserver` points the shop at the local Stripe
# double instead.
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "")
# Connect and read timeouts, and one retry (with the same idempotency key):
# the worst case stays under a Heroku-style router's 30 seconds.
STRIPE_TIMEOUT_SECONDS = (3.0, 8.0)
STRIPE_MAX_NETWORK_RETRIES = 1
# Stripe allows 30 minutes to 24 hours; an hour keeps abandoned orders short.
STRIPE_CHECKOUT_EXPIRES_AFTER_SECONDS = 60 * 60
# The success page asks Stripe about an order at most this often, however many
# browsers, tabs and processes refresh or poll it.
STRIPE_CHECK_INTERVAL_SECONDS = env_int("STRIPE_CHECK_INTERVAL_SECONDS", 5)
if STRIPE_CHECK_INTERVAL_SECONDS < 0:
    raise SystemExit("STRIPE_CHECK_INTERVAL_SECONDS must be at least 0.")

# Background work (django-tasks; the database is the queue). Tasks are queued
# in the same transaction as the change that causes them and run by
# `python manage.py db_worker` (the Procfile's worker).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def env_whole_numbers(name: str, default: list[str]) -> list[int]:
    try:
        return [int(item) for item in env_list(name, default)]
    except ValueError:
        raise SystemExit(
            f"{name} must be whole numbers, not {os.environ[name]!r}."
        ) from None


# Email. EMAIL_URL picks the backend (see email_settings above); the worker
# sends, never a web request.
globals().update(email_settings(os.environ.get("EMAIL_URL", "console:")))
ANYMAIL = {
    name.removeprefix("ANYMAIL_"): value
    for name, value in os.environ.items()
    if name.startswith("ANYMAIL_")
}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Shop <shop@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Where the new-order notice goes; none is sent when it is empty.
SHOP_STAFF_EMAIL = os.environ.get(
    "SHOP_STAFF_EMAIL", "staff@localhost" if DEBUG else ""
)
# The shop's address as shoppers reach it, for links in emails. Without it,
# production links go to the first allowed host over https.
SHOP_BASE_URL = os.environ.get(
    "SHOP_BASE_URL",
    f"https://{ALLOWED_HOSTS[0].lstrip('.')}"
    if not DEBUG and ALLOWED_HOSTS and ALLOWED_HOSTS[0] != "*"
    else "http://127.0.0.1:8000",
).rstrip("/")
# Seconds before each retry of a failed send; after the last, the email is
# marked failed for an operator.
SHOP_EMAIL_RETRY_SECONDS = env_whole_numbers(
    "SHOP_EMAIL_RETRY_SECONDS", ["60", "300", "1800", "7200"]
)
