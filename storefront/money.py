"""Money is integer minor units (cents) everywhere; this only formats it."""

from __future__ import annotations

from django.conf import settings

SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$"}
# Stripe's zero-decimal currencies: the amount is already in whole units.
ZERO_DECIMAL = {
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga",
    "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
}  # fmt: skip
# The largest amount Stripe charges at once, in minor units: eight digits
# ($999,999.99 in USD). A price, and a cart's total, must stay within it.
MAX_AMOUNT = 99_999_999


def format_money(amount: int, currency: str | None = None) -> str:
    """Return an amount in minor units as text, for example 99999 as "$999.99"."""
    currency = (currency or settings.SHOP_CURRENCY).lower()
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if currency in ZERO_DECIMAL:
        number = f"{amount:,}"
    else:
        number = f"{amount // 100:,}.{amount % 100:02d}"
    symbol = SYMBOLS.get(currency)
    if symbol:
        return f"{sign}{symbol}{number}"
    return f"{sign}{number} {currency.upper()}"
