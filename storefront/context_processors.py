from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from storefront.cart import Cart
from storefront.catalog import SEARCH_MAX_LENGTH


def cart(request: HttpRequest) -> dict[str, object]:
    """Give every page the cart's item count (read lazily), the cart's limits
    and the search form's."""
    return {
        "cart_count": SimpleLazyObject(lambda: Cart(request.session).count),
        "cart_max_quantity": settings.CART_MAX_QUANTITY,
        "search_max_length": SEARCH_MAX_LENGTH,
    }
