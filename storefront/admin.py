from __future__ import annotations

from django.contrib import admin
from django.forms import BaseInlineFormSet
from django.http import HttpRequest
from django.utils.html import format_html

from storefront.images import (
    product_image_variants_create,
    product_image_variants_delete,
)
from storefront.models import Category, Product, ProductImage
from storefront.money import format_money


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


class ProductImageInline(admin.TabularInline):
    model = ProductImage
    extra = 1
    fields = ["preview", "image", "alt_text", "position"]
    readonly_fields = ["preview"]

    @admin.display(description="Preview")
    def preview(self, product_image: ProductImage) -> str:
        if not product_image.variants:
            return "—"
        return format_html(
            '<img src="{}" width="80" alt="">',
            product_image.image.storage.url(product_image.variants[0]["jpeg"]),
        )


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "price", "is_active", "updated_at"]
    list_filter = ["is_active", "categories"]
    list_editable = ["is_active"]
    search_fields = ["name", "description"]
    readonly_fields = ["created_at", "updated_at"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["categories"]
    inlines = [ProductImageInline]
    fields = [
        "name",
        "slug",
        "description",
        "price_cents",
        "categories",
        "is_active",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="Price", ordering="price_cents")
    def price(self, product: Product) -> str:
        return format_money(product.price_cents)

    def save_formset(
        self,
        request: HttpRequest,
        form: object,
        formset: BaseInlineFormSet,
        change: bool,
    ) -> None:
        """Resize each newly uploaded picture once, here, never on a shopper's page."""
        if formset.model is not ProductImage:
            return super().save_formset(request, form, formset, change)
        formset.save()
        uploaded = [
            product_image
            for product_image, changed in formset.changed_objects
            if "image" in changed
        ] + formset.new_objects
        for product_image in uploaded:
            product_image_variants_create(product_image=product_image)
        for product_image in formset.deleted_objects:
            product_image_variants_delete(variants=product_image.variants)
            product_image.image.delete(save=False)
        return None
