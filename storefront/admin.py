from __future__ import annotations

from django.contrib import admin
from django.forms import BaseInlineFormSet, ModelForm
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
    list_filter = ["is_active", "requires_shipping", "categories"]
    list_editable = ["is_active"]
    search_fields = ["name", "description"]
    readonly_fields = ["reserved", "sold", "created_at", "updated_at"]
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
        # edits, never the counts read when the page was opened. Categories are a
        # many-to-many the admin saves after this, on its own table.
        concrete = {field.name for field in Product._meta.concrete_fields}
        edited = [name for name in form.changed_data if name in concrete]
        obj.save(update_fields=[*edited, "updated_at"])

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
