"""The catalog's product cards, rendered once for each content they show.

Rendering two dozen cards, each a form, is most of the cost of the home page,
and the cards are the same for every visitor but for two values: the CSRF token
and the ``next`` field. So the cards are rendered with a marker in place of
each, kept per process keyed by the rows they show, and the markers are
replaced on every request. The key is the content itself, so a changed product
shows at once, in every process, with nothing to invalidate; a stock count
is part of the key only once it is low enough to show. The rest of what
the cards show (the currency, the cart's URL, the cart's limits) is fixed for a
process's life.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from storefront.models import Product

# HTML comments: autoescaping turns a "<" in product data into "&lt;", so these
# can only come from the slots in the template, never from a product.
CSRF_TOKEN_SLOT = mark_safe("<!--csrf-token-->")
NEXT_SLOT = mark_safe("<!--next-->")


class ProductCard(NamedTuple):
    pk: int
    name: str
    description: str
    price_cents: int
    # Only when low enough to show ("only 3 left", "sold out"); else None.
    stock: int | None


def product_cards_queryset() -> QuerySet:
    """Return the products on sale, as the hashable rows the cards show."""
    return Product.objects.filter(is_active=True).values_list(*ProductCard._fields)


def catalog_page(number: str | None) -> Page:
    """Return a page of the products on sale (any bad number gives a real page)."""
    paginator = Paginator(product_cards_queryset(), settings.PRODUCTS_PER_PAGE)
    return paginator.get_page(number)


def product_cards(rows: list[tuple], *, csrf_token: str, here: str) -> SafeString:
    """Return the HTML of the cards for these rows, ready for this request."""
    html = _product_cards_html(tuple(_card(row) for row in rows))
    return mark_safe(
        html.replace(CSRF_TOKEN_SLOT, csrf_token).replace(NEXT_SLOT, escape(here))
    )


def _card(row: tuple) -> ProductCard:
    card = ProductCard(*row)
    if card.stock is not None and card.stock > settings.SHOP_LOW_STOCK_THRESHOLD:
        return card._replace(stock=None)
    return card


# A catalog page is about 10 KB of HTML: 128 pages is about 1.3 MB per process.
@lru_cache(maxsize=128)
def _product_cards_html(cards: tuple[ProductCard, ...]) -> str:
    context = {
        "products": cards,
        "cart_add_url": reverse("storefront:cart-add"),
        "cart_max_quantity": settings.CART_MAX_QUANTITY,
        "csrf_token": CSRF_TOKEN_SLOT,
        "here": NEXT_SLOT,
    }
    return render_to_string("storefront/_product_cards.html", context)
