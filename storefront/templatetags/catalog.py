"""Template tags of the product pages."""

from __future__ import annotations

import json
from decimal import Decimal

from django import template
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.template.defaultfilters import truncatechars
from django.utils.safestring import SafeString, mark_safe

from storefront.images import Picture
from storefront.models import Product
from storefront.money import ZERO_DECIMAL

register = template.Library()

# What django.utils.html.json_script escapes: the JSON can never close the
# <script> element or open a comment, whatever a product's text holds.
JSON_SCRIPT_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


def json_for_script(data: object) -> SafeString:
    """Return JSON safe to put inside a <script> element (as json_script does)."""
    text = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False)
    return mark_safe(text.translate(JSON_SCRIPT_ESCAPES))


def price_amount(price_cents: int) -> str:
    """Return a price as schema.org and Open Graph want it: "999.99"."""
    if settings.SHOP_CURRENCY in ZERO_DECIMAL:
        return str(price_cents)
    return str(Decimal(price_cents).scaleb(-2))


@register.inclusion_tag("storefront/_product_meta.html", takes_context=True)
def product_meta(
    context: template.Context, product: Product, pictures: list[Picture]
) -> dict[str, object]:
    """Describe a product for search engines and link previews."""
    request = context["request"]
    url = request.build_absolute_uri(product.get_absolute_url())
    images = [request.build_absolute_uri(p.largest_jpeg_url) for p in pictures]
    price = price_amount(product.price_cents)
    currency = settings.SHOP_CURRENCY.upper()
    description = truncatechars(product.description or product.name, 160)
    json_ld = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.name,
        "description": product.description or product.name,
        "sku": str(product.pk),
        "url": url,
        "image": images,
        "category": [category.name for category in product.categories.all()],
        "offers": {
            "@type": "Offer",
            "url": url,
            "price": price,
            "priceCurrency": currency,
            "availability": "https://schema.org/OutOfStock"
            if product.stock == 0
            else "https://schema.org/InStock",
        },
    }
    return {
        "product": product,
        "url": url,
        "description": description,
        "image_url": images[0] if images else "",
        "image_alt": pictures[0].alt if pictures else "",
        "price": price,
        "currency": currency,
        "json_ld": json_for_script(json_ld),
    }
