"""The shop's settings in the environment, for tools that start the shop.

The benchmark and the reliability tests start the shop as processes configured
only by what they are given: a setting left in a developer's shell must not
reach them.
"""

from __future__ import annotations

import os
from collections.abc import Collection

SHOP_VARIABLES = frozenset(
    {
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        "DATABASE_URL",
        "DEBUG",
        "PORT",
        "RATELIMIT_CART",
        "RATELIMIT_CHECKOUT",
        "RATELIMIT_ENABLE",
        "REDIS_URL",
        "SECRET_KEY",
        "SECURE_SSL_REDIRECT",
        "STRIPE_API_BASE",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "TRUSTED_PROXY_HOPS",
        "WEB_CONCURRENCY",
    }
)


def environment_without_shop_settings(*, keep: Collection[str] = ()) -> dict[str, str]:
    """Return this process's environment without the shop's settings but `keep`."""
    dropped = SHOP_VARIABLES.difference(keep)
    return {name: value for name, value in os.environ.items() if name not in dropped}
