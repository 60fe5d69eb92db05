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

import re
from functools import lru_cache
from typing import NamedTuple

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.core.paginator import Page, Paginator
from django.db import connections
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from storefront.images import Picture
from storefront.models import Category, Product, ProductImage

# HTML comments: autoescaping turns a "<" in product data into "&lt;", so these
# can only come from the slots in the template, never from a product.
CSRF_TOKEN_SLOT = mark_safe("<!--csrf-token-->")
NEXT_SLOT = mark_safe("<!--next-->")


class ProductCard(NamedTuple):
    pk: int
    slug: str
    name: str
    description: str
    price_cents: int
    # Only when low enough to show ("only 3 left", "sold out"); else None.
    stock: int | None
    picture: Picture | None


# The columns of a card's row: the product's (its picture comes apart).
CARD_COLUMNS = ProductCard._fields[:-1]
# The same expression as the GIN index of migration 0004_catalog, which
# PostgreSQL uses only for this exact expression.
SEARCH_VECTOR_FIELDS = ("name", "description")
SEARCH_CONFIG = "english"
SEARCH_MAX_WORDS = 8
# The longest search the form takes (its input's maxlength).
SEARCH_MAX_LENGTH = 200


def products_on_sale(*, query: str = "", category: Category | None = None) -> QuerySet:
    """Return the products on sale, in the catalog's order."""
    products = Product.objects.filter(is_active=True)
    if category is not None:
        products = products.filter(categories=category)
    if query:
        products = products_search(products, query)
    return products


def first_pictures(product_ids: list[int]) -> dict[int, Picture | None]:
    """Return the first picture of each of these products that has one."""
    if not product_ids:
        return {}
    images = (
        # product__id: a plain IN of ids, lighter than a relation's lookup.
        ProductImage.objects.filter(product__id__in=product_ids)
        .order_by("position", "id")
        .values_list("product_id", "alt_text", "variants")
    )
    pictures: dict[int, Picture | None] = {}
    for product_id, alt_text, variants in images:
        if product_id not in pictures:
            pictures[product_id] = Picture.from_variants(alt_text, variants)
    return pictures


def products_search(products: QuerySet, query: str) -> QuerySet:
    """Keep the products whose name or description has every word of the query.

    PostgreSQL: full-text search (stemmed, each word also a prefix, so results
    come while the shopper types), best matches first. Elsewhere (SQLite): a
    case-insensitive match of each word, in the catalog's order.
    """
    words = re.findall(r"[^\W_]+", query)[:SEARCH_MAX_WORDS]
    if not words:
        return products
    if connections[products.db].vendor == "postgresql":
        vector = SearchVector(*SEARCH_VECTOR_FIELDS, config=SEARCH_CONFIG)
        # Only letters and digits reach the raw query: no tsquery syntax to escape.
        search_query = SearchQuery(
            " & ".join(f"{word}:*" for word in words),
            config=SEARCH_CONFIG,
            search_type="raw",
        )
        return (
            products.annotate(search=vector, rank=SearchRank(vector, search_query))
            .filter(search=search_query)
            .order_by("-rank", "name", "id")
        )
    for word in words:
        products = products.filter(
            Q(name__icontains=word) | Q(description__icontains=word)
        )
    return products


def catalog_page(
    number: str | None, *, query: str = "", category: Category | None = None
) -> Page:
    """Return a page of the products on sale (any bad number gives a real page).

    The page's products are the hashable rows the cards show: their own
    columns, their pictures coming apart (first_pictures()), so that neither
    the paginator's count nor the page's query carries a subquery per row. The
    paginator counts the products themselves: lighter to compile than a count
    of those rows.
    """
    paginator = Paginator(
        products_on_sale(query=query, category=category), settings.PRODUCTS_PER_PAGE
    )
    page = paginator.get_page(number)
    page.object_list = page.object_list.values_list(*CARD_COLUMNS)
    return page


def product_card(row: tuple, picture: Picture | None) -> ProductCard:
    """Return the card for one row of catalog_page() and its picture."""
    card = ProductCard(*row, picture)
    if card.stock is not None and card.stock > settings.SHOP_LOW_STOCK_THRESHOLD:
        return card._replace(stock=None)
    return card


def product_cards(rows: list[tuple], *, csrf_token: str, here: str) -> SafeString:
    """Return the HTML of the cards for these rows, ready for this request."""
    pictures = first_pictures([row[0] for row in rows])
    html = _product_cards_html(
        tuple(product_card(row, pictures.get(row[0])) for row in rows)
    )
    return mark_safe(
        html.replace(CSRF_TOKEN_SLOT, csrf_token).replace(NEXT_SLOT, escape(here))
    )


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
