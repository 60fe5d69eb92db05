"""What the cart panel beside a page shows: the one context every cart view gives.

Storefront's pages and payments' checkout page both render the cart panel; both
take its context from here, so neither imports the other's views.
"""

from __future__ import annotations

from django.contrib import messages

from shop.http import HtmxHttpRequest, here
from storefront.cart import Cart


def cart_panel(request: HtmxHttpRequest, cart: Cart | None = None) -> dict:
    """Return what a page's cart panel shows, telling the visitor about products
    that left the cart."""
    if cart is None:
        cart = Cart(request.session)
    contents = cart.contents()
    for name in contents.removed:
        messages.warning(
            request, f"{name} is no longer available and was removed from your cart."
        )
    return {
        "cart": contents,
        "cart_count": contents.count,
        # The checkouts not yet over: payments shows one that is processing.
        "checkouts": cart.checkouts,
        "here": here(request),
    }
