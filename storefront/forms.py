from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import QueryDict

from storefront.cart import Cart
from storefront.catalog import SEARCH_MAX_LENGTH
from storefront.models import Product

PRODUCT_ERRORS = {
    "required": "Choose a product.",
    "invalid": "That product is not available.",
    "min_value": "That product is not available.",
    "max_value": "That product is not available.",
}
# The largest id a database column can hold (a 64-bit integer).
MAX_PRODUCT_ID = 2**63 - 1


def product_id_field() -> forms.IntegerField:
    return forms.IntegerField(
        min_value=1, max_value=MAX_PRODUCT_ID, error_messages=PRODUCT_ERRORS
    )


def quantity_field() -> forms.IntegerField:
    maximum = settings.CART_MAX_QUANTITY
    message = f"Choose a quantity from 1 to {maximum}."
    return forms.IntegerField(
        min_value=1,
        max_value=maximum,
        error_messages={
            "required": "Enter a quantity.",
            "invalid": f"Enter a whole number from 1 to {maximum}.",
            "min_value": message,
            "max_value": message,
        },
    )


class CartAddForm(forms.Form):
    """A product on sale and a quantity.

    The product is looked up through the cart, which reads it in the same query
    as the products already in the cart (they are shown in the answer).
    """

    product = product_id_field()
    quantity = quantity_field()

    def __init__(self, data: QueryDict, *, cart: Cart) -> None:
        super().__init__(data)
        self.cart = cart

    def clean_product(self) -> Product:
        product = self.cart.product_on_sale(self.cleaned_data["product"])
        if product is None:
            raise ValidationError(
                "That product is not available.", code="invalid_choice"
            )
        return product


class CartUpdateForm(CartAddForm):
    pass


class CartRemoveForm(forms.Form):
    # A plain id: a product that was deactivated can still be removed.
    product = product_id_field()

    def __init__(self, data: QueryDict, *, cart: Cart) -> None:
        super().__init__(data)


def first_error(form: forms.Form) -> str:
    """Return the first error message of an invalid form."""
    for errors in form.errors.values():
        return str(errors[0])
    return "Something was wrong with that request."


class CatalogFilterForm(forms.Form):
    """The catalog's search words and category, from the query string.

    Only what no link of the shop makes fails here: a page number that is not
    one still gives a real page, and an unknown category is a 404.
    """

    q = forms.CharField(
        max_length=SEARCH_MAX_LENGTH,
        required=False,
        error_messages={
            "max_length": f"Search for at most {SEARCH_MAX_LENGTH} characters."
        },
    )
    category = forms.CharField(
        max_length=100,
        required=False,
        error_messages={"max_length": "There is no such category."},
    )
    page = forms.CharField(
        max_length=20,
        required=False,
        error_messages={"max_length": "There is no such page."},
    )
