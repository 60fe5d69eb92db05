from __future__ import annotations

from django.contrib import admin
from django.forms import ModelForm
from django.http import HttpRequest

from storefront.models import Product
from storefront.money import format_money


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "price",
        "is_active",
        "stock",
        "reserved",
        "sold",
        "requires_shipping",
        "updated_at",
    ]
    list_filter = ["is_active", "requires_shipping"]
    list_editable = ["is_active"]
    search_fields = ["name", "description"]
    readonly_fields = ["reserved", "sold", "created_at", "updated_at"]
    fields = [
        "name",
        "description",
        "price_cents",
        "is_active",
        "requires_shipping",
        "stock",
        "reserved",
        "sold",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="Price", ordering="price_cents")
    def price(self, product: Product) -> str:
        return format_money(product.price_cents)

    def save_model(
        self, request: HttpRequest, obj: Product, form: ModelForm, change: bool
    ) -> None:
        if not change:
            obj.save()
            return
        # Checkouts move reserved and sold all the time: write only what the form
        # edits, never the counts read when the page was opened.
        obj.save(update_fields=[*form.changed_data, "updated_at"])
