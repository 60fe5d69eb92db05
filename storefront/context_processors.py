from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from storefront.cart import Cart


def cart(request: HttpRequest) -> dict[str, object]:
    """Give every page the cart's item count (read lazily) and its limits."""
    return {
        "cart_count": SimpleLazyObject(lambda: Cart(request.session).count),
        "cart_max_quantity": settings.CART_MAX_QUANTITY,
    }
