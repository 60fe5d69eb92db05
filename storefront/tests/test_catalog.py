"""The product cards are rendered once per content and finished per request."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from storefront.catalog import CSRF_TOKEN_SLOT, NEXT_SLOT
from storefront.models import Product

pytestmark = pytest.mark.django_db

CARD_TOKENS = re.compile(
    r'class="product__form".*?name="csrfmiddlewaretoken" value="([^"]+)"', re.DOTALL
)


def test_a_changed_product_shows_at_once(client, laptop):
    assert "$999.99" in client.get("/").content.decode()

    laptop.price_cents = 89900
    laptop.name = "Laptop Pro"
    laptop.save()
    html = client.get("/").content.decode()

    assert "$899.00" in html and "Laptop Pro" in html
    assert "$999.99" not in html


def test_a_product_taken_off_sale_leaves_at_once(client, laptop, mouse):
    client.get("/")

    Product.objects.filter(pk=mouse.pk).update(is_active=False)

    assert "Mouse" not in client.get("/").content.decode()


def test_each_visitor_gets_their_own_working_csrf_token(laptop):
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)

    first_tokens = CARD_TOKENS.findall(first.get("/").content.decode())
    second_tokens = CARD_TOKENS.findall(second.get("/").content.decode())

    assert first_tokens and second_tokens
    assert set(first_tokens).isdisjoint(second_tokens)
    for visitor, token in ((first, first_tokens[0]), (second, second_tokens[0])):
        response = visitor.post(
            "/cart/add/",
            {"product": laptop.pk, "quantity": 1, "csrfmiddlewaretoken": token},
        )
        assert response.status_code == 303
        assert visitor.session["cart"] == {str(laptop.pk): 1}


def test_next_is_this_page_escaped_and_no_slot_is_left(client, laptop):
    html = client.get("/?page=1&x='").content.decode()

    assert html.count('name="next" value="/?page=1&amp;x=&#x27;"') == 1
    assert CSRF_TOKEN_SLOT not in html and NEXT_SLOT not in html


def test_product_text_cannot_pose_as_a_slot(client, db):
    Product.objects.create(
        name=f"Odd {CSRF_TOKEN_SLOT}", description=NEXT_SLOT, price_cents=100
    )

    html = client.get("/").content.decode()

    assert "Odd &lt;!--csrf-token--&gt;" in html
    assert "&lt;!--next--&gt;" in html


def test_ids_in_forms_are_never_localized(client, settings, db):
    settings.USE_THOUSAND_SEPARATOR = True
    product = Product.objects.create(pk=12345, name="Cable", price_cents=500)
    client.post("/cart/add/", {"product": product.pk, "quantity": 1})

    html = client.get("/").content.decode()

    assert 'name="product" value="12345"' in html
    assert 'id="cart-quantity-12345"' in html
    assert "12,345" not in html


def test_the_page_count_follows_the_catalog_at_once(client, db):
    products = [
        Product.objects.create(name=f"Item {number:02d}", price_cents=100)
        for number in range(25)
    ]
    assert "Page 1 of 2" in client.get("/").content.decode()

    products[0].is_active = False
    products[0].save()
    html = client.get("/").content.decode()

    assert "Page 1 of" not in html and 'href="?page=2"' not in html
    assert client.get("/?page=2").context["page"].number == 1
