from __future__ import annotations

from django.contrib import admin

from storefront.models import Product
from storefront.money import format_money


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "price", "is_active", "updated_at"]
    list_filter = ["is_active"]
    list_editable = ["is_active"]
    search_fields = ["name", "description"]
    readonly_fields = ["created_at", "updated_at"]
    fields = [
        "name",
        "description",
        "price_cents",
        "is_active",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="Price", ordering="price_cents")
    def price(self, product: Product) -> str:
        return format_money(product.price_cents)
