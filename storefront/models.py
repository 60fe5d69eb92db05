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
