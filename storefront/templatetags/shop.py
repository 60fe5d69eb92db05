from __future__ import annotations

from django import template

from storefront.money import format_money

register = template.Library()


@register.filter
def money(amount: int | None, currency: str | None = None) -> str:
    """Format integer cents as money: {{ product.price_cents|money }}."""
    if amount is None:
        return ""
    return format_money(int(amount), currency)
