from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from shop.http import HtmxHttpRequest, here, redirect_target
from storefront.cart import Cart, CartContents, CartError
from storefront.catalog import catalog_page, product_cards
from storefront.forms import CartAddForm, CartRemoveForm, CartUpdateForm, first_error
from storefront.rate_limits import TOO_MANY_CHANGES, cart_change_over_limit
from storefront.session_lock import serialize_session


def cart_contents(request: HtmxHttpRequest, cart: Cart | None = None) -> CartContents:
    """Return the visitor's cart, telling them about products that left it."""
    if cart is None:
        cart = Cart(request.session)
    contents = cart.contents()
    for name in contents.removed:
        messages.warning(
            request, f"{name} is no longer available and was removed from your cart."
        )
    return contents


@require_GET
def index(request: HtmxHttpRequest) -> HttpResponse:
    page = catalog_page(request.GET.get("page"))
    # One token for the whole page: each get_token() call masks it anew.
    csrf_token = get_token(request)
    page_here = here(request)
    cart = cart_contents(request)
    context = {
        "page": page,
        "product_cards": product_cards(
            page.object_list, csrf_token=csrf_token, here=page_here
        ),
        "csrf_token": csrf_token,
        "cart": cart,
        "cart_count": cart.count,
        "here": page_here,
    }
    return render(request, "storefront/index.html", context)


@require_GET
def cart_detail(request: HtmxHttpRequest) -> HttpResponse:
    cart = cart_contents(request)
    context = {"cart": cart, "cart_count": cart.count, "here": here(request)}
    if request.htmx:
        return render(request, "storefront/index.html#cart", context)
    return render(request, "storefront/cart.html", context)


@require_POST
@serialize_session
def cart_add(request: HtmxHttpRequest) -> HttpResponse:
    def add(cart: Cart, data: dict) -> str:
        notice = cart.add(product=data["product"], quantity=data["quantity"])
        return notice or (
            f"Added {data['quantity']} × {data['product'].name} to your cart."
        )

    return cart_change(request, CartAddForm, add)


@require_POST
@serialize_session
def cart_update(request: HtmxHttpRequest) -> HttpResponse:
    def update(cart: Cart, data: dict) -> str:
        notice = cart.set_quantity(product=data["product"], quantity=data["quantity"])
        return notice or f"{data['product'].name}: quantity set to {data['quantity']}."

    return cart_change(request, CartUpdateForm, update)


@require_POST
@serialize_session
def cart_remove(request: HtmxHttpRequest) -> HttpResponse:
    def remove(cart: Cart, data: dict) -> str:
        cart.remove(product_id=data["product"])
        return "Removed the item from your cart."

    return cart_change(request, CartRemoveForm, remove)


def cart_change(
    request: HtmxHttpRequest,
    form_class: type[CartAddForm | CartRemoveForm],
    change: Callable[[Cart, dict], str],
) -> HttpResponse:
    """Validate a cart form, apply the change, and answer htmx or plain requests.

    A refused change leaves the session exactly as it was: the cart only writes
    to the session after every check has passed.
    """
    cart = Cart(request.session)
    form = form_class(request.POST, cart=cart)
    status = 200
    if cart_change_over_limit(request):
        messages.error(request, TOO_MANY_CHANGES)
        status = 429
    elif not form.is_valid():
        messages.error(request, first_error(form))
        status = 400
    else:
        try:
            messages.success(request, change(cart, form.cleaned_data))
        except CartError as error:
            messages.error(request, error.message)
            status = 422

    if status == 200 and not request.htmx:
        return HttpResponseRedirect(redirect_target(request), status=303)
    contents = cart_contents(request, cart)
    context = {"cart": contents, "cart_count": contents.count, "here": here(request)}
    if request.htmx:
        # The cart, and out of band the header's count.
        return render(
            request, "storefront/index.html#cart_swap", context, status=status
        )
    return render(request, "storefront/cart.html", context, status=status)
