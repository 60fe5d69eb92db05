from __future__ import annotations

from django import forms
from django.conf import settings

from storefront.models import Product

PRODUCT_ERRORS = {
    "required": "Choose a product.",
    "invalid_choice": "That product is not available.",
    "invalid": "That product is not available.",
}


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
    product = forms.ModelChoiceField(
        queryset=Product.objects.filter(is_active=True), error_messages=PRODUCT_ERRORS
    )
    quantity = quantity_field()


class CartUpdateForm(CartAddForm):
    pass


class CartRemoveForm(forms.Form):
    # A plain id: a product that was deactivated can still be removed.
    product = forms.IntegerField(min_value=1, error_messages=PRODUCT_ERRORS)


def first_error(form: forms.Form) -> str:
    """Return the first error message of an invalid form."""
    for errors in form.errors.values():
        return str(errors[0])
    return "Something was wrong with that request."
