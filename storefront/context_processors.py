from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from storefront.cart import Cart


def cart_count(request: HttpRequest) -> dict[str, object]:
    """Give every page the number of items in the cart, read lazily."""
    return {"cart_count": SimpleLazyObject(lambda: Cart(request.session).count)}
