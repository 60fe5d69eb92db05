from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.text import slugify

from storefront.images import product_image_upload_to, product_image_validate
from storefront.money import MAX_AMOUNT


class Category(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("storefront:index") + f"?category={self.slug}"


class ProductQuerySet(models.QuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        """Give products created in bulk a slug from their name, as save() does."""
        objs = list(objs)
        for product in objs:
            if not product.slug:
                product.slug = slugify(product.name)
        return super().bulk_create(objs, *args, **kwargs)


class Product(models.Model):
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(
        max_length=200,
        unique=True,
        blank=True,
        help_text="The product page's address: /products/<slug>/. "
        "Left blank, it is made from the name.",
    )
    categories = models.ManyToManyField(Category, related_name="products", blank=True)
    description = models.TextField(blank=True)
    price_cents = models.PositiveIntegerField(
        help_text=(
            "Price in cents (integer minor units), for example 2999 for 29.99; "
            f"at most {MAX_AMOUNT:,}, the most Stripe charges at once."
        ),
        validators=[MinValueValidator(1), MaxValueValidator(MAX_AMOUNT)],
    )
    is_active = models.BooleanField(
        default=True, help_text="Inactive products are hidden and cannot be bought."
    )
    # Stock: see storefront/stock.py. Units free to sell; empty: not counted.
    stock = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Units free to sell, not counting those held by open checkouts. "
        "Leave empty for a product whose stock is not counted.",
    )
    # Held by checkouts not yet paid, and sold: moved only by storefront/stock.py.
    reserved = models.PositiveIntegerField(default=0, editable=False)
    sold = models.PositiveIntegerField(default=0, editable=False)
    requires_shipping = models.BooleanField(
        default=True,
        help_text="Untick for goods that are not shipped (digital, pickup): a cart "
        "of only such products asks for no address and no shipping rate.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price_cents__gt=0),
                name="product_price_cents_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(price_cents__lte=MAX_AMOUNT),
                name="product_price_cents_at_most_max_amount",
            ),
        ]
        indexes = [models.Index(fields=["is_active", "name"])]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if not self.slug:
            self.slug = self.slug_from_name()
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("storefront:product", args=[self.slug])

    def slug_from_name(self) -> str:
        """Return a slug made from the name that no other product has."""
        base = slugify(self.name)[:190] or "product"
        taken = set(
            Product.objects.filter(slug__startswith=base)
            .exclude(pk=self.pk)
            .values_list("slug", flat=True)
        )
        slug, number = base, 1
        while slug in taken:
            number += 1
            slug = f"{base}-{number}"
        return slug


class ProductImage(models.Model):
    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="images"
    )
    image = models.ImageField(
        upload_to=product_image_upload_to,
        validators=[product_image_validate],
        help_text="JPEG, PNG or WebP. Smaller copies are made when it is saved.",
    )
    alt_text = models.CharField(
        max_length=250,
        help_text="What the picture shows, for shoppers who cannot see it.",
    )
    position = models.PositiveSmallIntegerField(
        default=0, help_text="The lowest comes first and is the product's main picture."
    )
    width = models.PositiveIntegerField(default=0, editable=False)
    height = models.PositiveIntegerField(default=0, editable=False)
    # The stored copies, narrowest first:
    # [{"width": 320, "height": 240, "webp": "<storage name>", "jpeg": "<name>"}, …]
    variants = models.JSONField(default=list, editable=False)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["product", "position", "id"])]

    def __str__(self) -> str:
        return self.alt_text
