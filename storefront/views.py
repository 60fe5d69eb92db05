from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect, QueryDict
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from shop.http import HtmxHttpRequest, here, redirect_target
from shop.pages import session_page
from storefront.cart import Cart, CartError
from storefront.cart_panel import cart_panel
from storefront.catalog import catalog_page, product_cards
from storefront.forms import (
    CartAddForm,
    CartRemoveForm,
    CartUpdateForm,
    CatalogFilterForm,
    first_error,
)
from storefront.images import Picture
from storefront.models import Category, Product
from storefront.rate_limits import TOO_MANY_CHANGES, cart_change_over_limit
from storefront.session_lock import serialize_session

# What the shopper typed in a refused plain cart change, kept in the URL of the
# page the change sends them back to. Longer input is cut to this length.
REFUSED_INPUT_LENGTH = 20


def refused_input(query: QueryDict) -> dict[str, int | str] | None:
    """Return the product and quantity of a refused change, from the page's URL."""
    product = query.get("product", "")
    if not (product.isascii() and product.isdigit() and len(product) < 19):
        return None
    return {
        "product": int(product),
        "quantity": query.get("quantity", "")[:REFUSED_INPUT_LENGTH],
    }


def cart_return_url(request: HtmxHttpRequest, *, refused: bool, line: bool) -> str:
    """Return the page a plain cart change goes back to.

    A refused change goes to the status, which says why, and a cart line's form
    shows what was typed. The product cards are the same for every shopper
    (storefront/catalog.py), so they show no one's input.
    """
    parts = urlsplit(redirect_target(request))
    query = QueryDict(parts.query, mutable=True)
    for name in ("product", "quantity"):
        query.pop(name, None)
    fragment = parts.fragment
    if refused:
        fragment = "status"
        product = request.POST.get("product", "")
        valid_id = product.isascii() and product.isdigit() and len(product) < 19
        if line and valid_id and "quantity" in request.POST:
            query["product"] = product
            query["quantity"] = request.POST["quantity"][:REFUSED_INPUT_LENGTH]
    return urlunsplit(parts._replace(query=query.urlencode(), fragment=fragment))


@require_GET
@session_page
def index(request: HtmxHttpRequest) -> HttpResponse:
    query, category_slug, number, filter_error = "", "", None, ""
    # Most visits have no query string: nothing to check.
    if request.GET:
        filters = CatalogFilterForm(request.GET)
        if filters.is_valid():
            query = filters.cleaned_data["q"].strip()
            category_slug = filters.cleaned_data["category"]
            number = filters.cleaned_data["page"]
        else:
            # The whole catalog, and above it why the filter was not used.
            filter_error = first_error(filters)
    categories = list(Category.objects.all())
    category = None
    if category_slug:
        category = next((c for c in categories if c.slug == category_slug), None)
        if category is None:
            raise Http404("No such category.")
    page = catalog_page(number, query=query, category=category)
    # One token for the whole page: each get_token() call masks it anew.
    csrf_token = get_token(request)
    page_here = here(request)
    context = {
        "page": page,
        "product_cards": product_cards(
            page.object_list, csrf_token=csrf_token, here=page_here
        ),
        "query": query,
        "categories": categories,
        "category": category,
        "csrf_token": csrf_token,
        "here": page_here,
        "refused": refused_input(request.GET),
        "filter_error": filter_error,
    }
    status = 400 if filter_error else 200
    if request.htmx.target == "catalog-results" and not (
        request.htmx.history_restore_request
    ):
        # Active search: the results, and out of band how many there are.
        response = render(
            request, "storefront/index.html#catalog_swap", context, status=status
        )
    else:
        context.update(cart_panel(request), active_search=True)
        response = render(request, "storefront/index.html", context, status=status)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


@require_GET
@session_page
def product_detail(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    product = get_object_or_404(
        Product.objects.filter(is_active=True).prefetch_related("images", "categories"),
        slug=slug,
    )
    pictures = [
        picture
        for image in product.images.all()
        if (picture := Picture.from_variants(image.alt_text, image.variants))
    ]
    context = {
        "product": product,
        "pictures": pictures,
        **cart_panel(request),
        "refused": refused_input(request.GET),
    }
    return render(request, "storefront/product_detail.html", context)


@require_GET
def robots_txt(request: HtmxHttpRequest) -> HttpResponse:
    return render(
        request, "storefront/robots.txt", content_type="text/plain; charset=utf-8"
    )


@require_GET
@session_page
@vary_on_headers("HX-Request")
def cart_detail(request: HtmxHttpRequest) -> HttpResponse:
    context = {**cart_panel(request), "refused": refused_input(request.GET)}
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

    return cart_change(request, CartUpdateForm, update, line=True)


@require_POST
@serialize_session
def cart_remove(request: HtmxHttpRequest) -> HttpResponse:
    def remove(cart: Cart, data: dict) -> str:
        product = cart.product_on_sale(data["product"])
        cart.remove(product_id=data["product"])
        name = product.name if product else "the item"
        return f"Removed {name} from your cart."

    return cart_change(request, CartRemoveForm, remove, line=True)


def cart_change(
    request: HtmxHttpRequest,
    form_class: type[CartAddForm | CartRemoveForm],
    change: Callable[[Cart, dict], str],
    *,
    line: bool = False,
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

    if not request.htmx and status != 429:
        # Post/redirect/get, refused or not: the page is safe to reload, and a
        # refused change comes back with the message and what was typed.
        target = cart_return_url(request, refused=status != 200, line=line)
        return HttpResponseRedirect(target, status=303)
    context = cart_panel(request, cart)
    if request.htmx:
        # The cart, and out of band the status and the header's count.
        return render(
            request, "storefront/index.html#cart_swap", context, status=status
        )
    # Too many changes: a client that retries must see the 429 itself.
    return render(request, "storefront/cart.html", context, status=status)
