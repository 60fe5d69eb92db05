from __future__ import annotations

import pytest
from django.contrib.sessions.backends.db import SessionStore
from model_bakery import baker

from storefront.cart import Cart, CartError
from storefront.models import Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def session() -> SessionStore:
    return SessionStore()


def test_add_stores_only_ids_and_quantities(session, laptop, mouse):
    cart = Cart(session)
    cart.add(product=laptop, quantity=2)
    cart.add(product=mouse)
    cart.add(product=laptop, quantity=1)

    assert session["cart"] == {str(laptop.pk): 3, str(mouse.pk): 1}
    assert cart.count == 4


def test_contents_reads_current_prices_in_one_query(
    session, laptop, mouse, django_assert_num_queries
):
    cart = Cart(session)
    cart.add(product=laptop, quantity=2)
    cart.add(product=mouse, quantity=3)
    Product.objects.filter(pk=mouse.pk).update(price_cents=1000)

    with django_assert_num_queries(1):
        contents = Cart(session).contents()

    assert [(line.product.name, line.quantity) for line in contents] == [
        ("Laptop", 2),
        ("Mouse", 3),
    ]
    assert contents.total_cents == 2 * 99999 + 3 * 1000
    assert contents.count == 5


def test_set_quantity_and_remove(session, laptop, mouse):
    cart = Cart(session)
    cart.add(product=laptop)
    cart.add(product=mouse)
    cart.set_quantity(product=laptop, quantity=7)
    cart.remove(product_id=mouse.pk)

    assert session["cart"] == {str(laptop.pk): 7}


@pytest.mark.parametrize("quantity", [0, -1, 100])
def test_add_refuses_quantity_out_of_range(session, laptop, quantity):
    cart = Cart(session)
    with pytest.raises(CartError, match="from 1 to 99"):
        cart.add(product=laptop, quantity=quantity)
    assert "cart" not in session


def test_add_refuses_to_pass_the_line_maximum(session, laptop):
    cart = Cart(session)
    cart.add(product=laptop, quantity=98)
    with pytest.raises(CartError, match="at most 99 of Laptop"):
        cart.add(product=laptop, quantity=2)
    assert session["cart"] == {str(laptop.pk): 98}


def test_add_refuses_a_51st_line(session, settings):
    products = baker.make(Product, _quantity=51, price_cents=100)
    cart = Cart(session)
    for product in products[:50]:
        cart.add(product=product)
    with pytest.raises(CartError, match="at most 50 different products"):
        cart.add(product=products[50])
    assert len(Cart(session)) == 50


def test_set_quantity_of_product_not_in_cart_is_refused(session, laptop):
    with pytest.raises(CartError, match="not in your cart"):
        Cart(session).set_quantity(product=laptop, quantity=2)


def test_inactive_and_deleted_products_drop_out_with_their_names(
    session, laptop, mouse, keyboard
):
    cart = Cart(session)
    for product in (laptop, mouse, keyboard):
        cart.add(product=product)
    Product.objects.filter(pk=mouse.pk).update(is_active=False)
    keyboard.delete()

    contents = Cart(session).contents()

    assert [line.product.name for line in contents] == ["Laptop"]
    assert contents.removed == ["Mouse", "An item"]
    # Reading never writes the session; the next change saves the cart without them.
    assert len(session["cart"]) == 3
    cart = Cart(session)
    cart.add(product=laptop)
    assert session["cart"] == {str(laptop.pk): 2}


def test_malformed_session_data_is_ignored(session, laptop):
    session["cart"] = {
        str(laptop.pk): 2,
        "abc": 1,
        "7": "lots",
        "8": 1000,
        "9": -1,
        "10": True,
        "١": 1,
    }
    assert Cart(session).quantities == {laptop.pk: 2}
    session["cart"] = ["not", "a", "dict"]
    assert Cart(session).quantities == {}
