"""Prices stay within what Stripe charges at once: in the admin and the database."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from model_bakery import baker

from storefront.models import Product
from storefront.money import MAX_AMOUNT

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:storefront_product_add")
# The pictures inline's management form, with no picture.
NO_PICTURES = {
    "images-TOTAL_FORMS": "0",
    "images-INITIAL_FORMS": "0",
    "images-MIN_NUM_FORMS": "0",
    "images-MAX_NUM_FORMS": "1000",
}


def add_product(admin_client, price_cents: object):
    return admin_client.post(
        ADD_URL,
        {
            "name": "Yacht",
            "description": "",
            "price_cents": price_cents,
            "is_active": "on",
            **NO_PICTURES,
        },
    )


def test_admin_accepts_a_price_of_exactly_max_amount(admin_client):
    response = add_product(admin_client, MAX_AMOUNT)

    assert response.status_code == 302
    assert Product.objects.get().price_cents == 99_999_999


@pytest.mark.parametrize("price", [MAX_AMOUNT + 1, 2**31, 10**30, 0, -1])
def test_admin_refuses_a_price_out_of_bounds_with_a_message(admin_client, price):
    response = add_product(admin_client, price)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["price_cents"]
    assert errors
    assert not Product.objects.exists()


def test_admin_says_what_the_largest_price_is(admin_client):
    response = add_product(admin_client, MAX_AMOUNT + 1)

    [error] = response.context["adminform"].form.errors["price_cents"]
    assert "99999999" in error.replace(",", "").replace("\u202f", "")


def test_the_database_refuses_a_price_over_max_amount(laptop):
    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.filter(pk=laptop.pk).update(price_cents=MAX_AMOUNT + 1)

    laptop.refresh_from_db()
    assert laptop.price_cents == 99999


def test_the_database_accepts_a_price_of_exactly_max_amount(db):
    product = baker.make(Product, price_cents=MAX_AMOUNT)

    assert Product.objects.get(pk=product.pk).price_cents == MAX_AMOUNT
