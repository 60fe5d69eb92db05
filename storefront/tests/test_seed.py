from __future__ import annotations

import pytest
from django.core.management import call_command

from storefront.models import Product

pytestmark = pytest.mark.django_db


def test_seed_products_is_idempotent_and_keeps_other_products():
    keep = Product.objects.create(name="Sticker", price_cents=150)
    Product.objects.create(name="Mouse", price_cents=1, is_active=False)

    call_command("seed_products")
    call_command("seed_products")

    prices = dict(Product.objects.values_list("name", "price_cents"))
    assert prices == {"Laptop": 99999, "Mouse": 2999, "Keyboard": 7999, "Sticker": 150}
    assert Product.objects.get(name="Mouse").is_active
    assert Product.objects.filter(pk=keep.pk).exists()
