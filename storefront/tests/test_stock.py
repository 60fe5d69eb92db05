"""What shoppers see of stock: the catalog's notes and the cart's caps."""

from __future__ import annotations

import re

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.db import transaction
from django.urls import reverse

from storefront.cart import Cart, CartError
from storefront.models import Product
from storefront.stock import StockShortage, stock_release, stock_reserve, stock_sell

pytestmark = pytest.mark.django_db

ADD = reverse("storefront:cart-add")
UPDATE = reverse("storefront:cart-update")


def with_stock(product: Product, stock: int | None) -> Product:
    Product.objects.filter(pk=product.pk).update(stock=stock)
    product.refresh_from_db()
    return product


def card(html: str, product: Product) -> str:
    return re.search(
        rf'<li class="product" id="product-{product.pk}">.*?</li>', html, re.S
    ).group(0)


def test_catalog_says_only_n_left_at_or_below_the_threshold(
    client, laptop, mouse, keyboard, settings
):
    settings.SHOP_LOW_STOCK_THRESHOLD = 5
    with_stock(laptop, 5)
    with_stock(mouse, 6)

    html = client.get("/").content.decode()

    assert "Only 5 left" in card(html, laptop)
    assert "left" not in card(html, mouse)
    assert "left" not in card(html, keyboard)  # stock not counted
    assert 'max="5"' in card(html, laptop)


def test_catalog_lists_a_sold_out_product_with_add_disabled_and_says_why(
    client, laptop
):
    with_stock(laptop, 0)

    laptop_card = card(client.get("/").content.decode(), laptop)

    assert f'<p class="product__stock" id="stock-{laptop.pk}">Sold out</p>' in (
        laptop_card
    )
    button = f'class="button" disabled aria-describedby="stock-{laptop.pk}"'
    assert button in laptop_card


def test_catalog_shows_a_new_stock_count_at_once(client, laptop):
    with_stock(laptop, 2)
    assert "Only 2 left" in card(client.get("/").content.decode(), laptop)

    with_stock(laptop, 1)

    assert "Only 1 left" in card(client.get("/").content.decode(), laptop)


def test_add_beyond_stock_caps_the_quantity_and_says_why(client, laptop):
    with_stock(laptop, 3)

    response = client.post(ADD, {"product": laptop.pk, "quantity": 5}, follow=True)

    assert client.session["cart"] == {str(laptop.pk): 3}
    assert "Only 3 Laptop left: your cart now holds 3." in response.content.decode()


def test_add_of_a_sold_out_product_is_refused_and_cart_kept(client, laptop, mouse):
    client.post(ADD, {"product": mouse.pk, "quantity": 1})
    with_stock(laptop, 0)

    response = client.post(ADD, {"product": laptop.pk, "quantity": 1})

    # Without JavaScript a refused change goes back to the page, which says why.
    assert response.status_code == 303
    assert "Laptop is sold out." in client.get(response["Location"]).content.decode()
    assert client.session["cart"] == {str(mouse.pk): 1}


def test_update_beyond_stock_caps_the_quantity(client, laptop):
    with_stock(laptop, 4)
    client.post(ADD, {"product": laptop.pk, "quantity": 1})

    response = client.post(UPDATE, {"product": laptop.pk, "quantity": 9}, follow=True)

    assert client.session["cart"] == {str(laptop.pk): 4}
    assert "Only 4 Laptop left: your cart now holds 4." in response.content.decode()


def test_cart_never_takes_away_what_it_holds_when_stock_drops(laptop):
    cart = Cart(SessionStore())
    cart.add(product=with_stock(laptop, 2), quantity=2)

    with_stock(laptop, 0)  # held by the shopper's own open checkout, say

    with pytest.raises(CartError, match="Only 0 Laptop left, and your cart already"):
        cart.add(product=laptop)
    assert cart.set_quantity(product=laptop, quantity=1) == ""
    assert cart.quantities == {laptop.pk: 1}


def test_reserve_in_a_transaction_that_rolls_back_on_a_shortage_holds_nothing(
    laptop, mouse, keyboard
):
    with_stock(laptop, 5)
    with_stock(mouse, 1)

    with_stock(keyboard, 4)
    with pytest.raises(StockShortage) as shortage, transaction.atomic():
        stock_reserve({laptop.pk: 2, mouse.pk: 2, keyboard.pk: 9})

    assert shortage.value.available == {mouse.pk: 1, keyboard.pk: 4}
    assert shortage.value.message.startswith(
        "Only 4 Keyboard left; only 1 Mouse left: we changed your cart"
    )
    laptop.refresh_from_db()
    assert (laptop.stock, laptop.reserved) == (5, 0)


def test_reserve_skips_a_product_that_stopped_counting_its_stock(laptop, mouse):
    with_stock(laptop, 5)

    assert stock_reserve({laptop.pk: 2, mouse.pk: 3}) == {laptop.pk}

    mouse.refresh_from_db()
    assert (mouse.stock, mouse.reserved) == (None, 0)


def test_sell_and_release_move_held_units(laptop):
    with_stock(laptop, 5)
    stock_reserve({laptop.pk: 3})

    stock_sell({laptop.pk: 2})
    stock_release({laptop.pk: 1})

    laptop.refresh_from_db()
    assert (laptop.stock, laptop.reserved, laptop.sold) == (3, 0, 2)
