from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from storefront.cart import Cart, CartContents, CartError
from storefront.catalog import CatalogPaginator, product_cards
from storefront.forms import CartAddForm, CartRemoveForm, CartUpdateForm, first_error
from storefront.throttle import over_limit, serialize_session

TOO_MANY = "Too many changes in a short time. Please wait a minute and try again."


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def cart_contents(request: HttpRequest, cart: Cart | None = None) -> CartContents:
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
    page = CatalogPaginator().get_page(request.GET.get("page"))
    # One token for the whole page: each get_token() call masks it anew.
    csrf_token = get_token(request)
    page_here = here(request)
    context = {
        "page": page,
        "product_cards": product_cards(
            page.object_list, csrf_token=csrf_token, here=page_here
        ),
        "csrf_token": csrf_token,
        "cart": cart_contents(request),
        "here": page_here,
    }
    return render(request, "storefront/index.html", context)


@require_GET
def cart_detail(request: HtmxHttpRequest) -> HttpResponse:
    if request.htmx:
        return render_cart_fragment(request, cart_contents(request))
    context = {"cart": cart_contents(request), "here": here(request)}
    return render(request, "storefront/cart.html", context)


@require_POST
@serialize_session
def cart_add(request: HtmxHttpRequest) -> HttpResponse:
    def add(cart: Cart, data: dict) -> str:
        cart.add(product=data["product"], quantity=data["quantity"])
        return f"Added {data['quantity']} × {data['product'].name} to your cart."

    return cart_change(request, CartAddForm, add)


@require_POST
@serialize_session
def cart_update(request: HtmxHttpRequest) -> HttpResponse:
    def update(cart: Cart, data: dict) -> str:
        cart.set_quantity(product=data["product"], quantity=data["quantity"])
        return f"{data['product'].name}: quantity set to {data['quantity']}."

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
    if over_limit(request, group="cart", rate=settings.RATELIMIT_CART):
        messages.error(request, TOO_MANY)
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

    if request.htmx:
        return render_cart_fragment(
            request, cart_contents(request, cart), status=status
        )
    if status != 200:
        context = {"cart": cart_contents(request, cart), "here": here(request)}
        return render(request, "storefront/cart.html", context, status=status)
    return HttpResponseRedirect(redirect_target(request), status=303)


def render_cart_fragment(
    request: HtmxHttpRequest, contents: CartContents, status: int = 200
) -> HttpResponse:
    """Render the cart and, out of band, the header's cart count."""
    context = {
        "cart": contents,
        "cart_count": contents.count,
        "here": here(request),
        # A string, not the context processor's lazy object: every line's form
        # prints it.
        "csrf_token": get_token(request),
    }
    return render(request, "storefront/_cart_fragment.html", context, status=status)


def here(request: HtmxHttpRequest) -> str:
    """Return the page the shopper is on, for the forms' ``next`` field."""
    if request.method == "POST":
        return redirect_target(request)
    if request.htmx and request.htmx.current_url_abs_path:
        return request.htmx.current_url_abs_path
    return request.get_full_path()


def redirect_target(request: HttpRequest) -> str:
    """Return the safe local URL the form came from, or the home page."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("storefront:index")
