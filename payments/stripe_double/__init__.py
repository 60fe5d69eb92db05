"""A local Stripe double for development and tests: API, hosted page, webhooks."""

from __future__ import annotations

from .server import (
    API_VERSION,
    DEFAULT_API_KEY,
    DEFAULT_WEBHOOK_SECRET,
    SessionStateError,
    StripeDouble,
)

__all__ = [
    "API_VERSION",
    "DEFAULT_API_KEY",
    "DEFAULT_WEBHOOK_SECRET",
    "SessionStateError",
    "StripeDouble",
]
