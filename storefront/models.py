from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse

from storefront.money import MAX_AMOUNT


class Product(models.Model):
    name = models.CharField(max_length=200, unique=True)
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

    def get_absolute_url(self) -> str:
        return reverse("storefront:index") + f"#product-{self.pk}"
