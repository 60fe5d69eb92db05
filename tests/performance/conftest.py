from __future__ import annotations

# The local Stripe double, reset, with the shop's settings pointing at it.
from payments.tests.conftest import stripe_double

__all__ = ["stripe_double"]
