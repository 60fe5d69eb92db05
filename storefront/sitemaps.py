from __future__ import annotations

from django.contrib.sitemaps import Sitemap
from django.db.models import QuerySet
from django.urls import reverse

from storefront.models import Category, Product


class CatalogSitemap(Sitemap):
    changefreq = "daily"
    priority = 1.0

    def items(self) -> list[str]:
        return ["storefront:index"]

    def location(self, item: str) -> str:
        return reverse(item)


class CategorySitemap(Sitemap):
    changefreq = "weekly"

    def items(self) -> QuerySet:
        return Category.objects.filter(products__is_active=True).distinct()


class ProductSitemap(Sitemap):
    changefreq = "weekly"
    limit = 10_000

    def items(self) -> QuerySet:
        return Product.objects.filter(is_active=True).only("slug", "updated_at")

    def lastmod(self, product: Product):
        return product.updated_at


SITEMAPS = {
    "catalog": CatalogSitemap,
    "categories": CategorySitemap,
    "products": ProductSitemap,
}
