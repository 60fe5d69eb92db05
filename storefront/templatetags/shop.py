from __future__ import annotations

from django import template

from storefront.money import format_money
from storefront.stock import stock_note as _stock_note

register = template.Library()


@register.filter
def money(amount: int | None, currency: str | None = None) -> str:
    """Format integer cents as money: {{ product.price_cents|money }}."""
    if amount is None:
        return ""
    return format_money(int(amount), currency)


@register.filter
def stock_note(stock: int | None) -> str:
    """Say "Sold out" or "Only 3 left" for a product's stock, else nothing."""
    return _stock_note(stock)
