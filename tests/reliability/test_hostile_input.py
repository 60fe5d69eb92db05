"""Hostile input: hypothesis sends every cart and checkout endpoint junk.

The properties hold for any request: never a server error; the session's cart
stays valid and within its bounds; a refused change leaves the session exactly
as it was; a plain request is only ever redirected back into the shop; and a
price sent by the client is never used, neither for the order nor for the
Checkout Session that Stripe (here the double) receives.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode, urljoin, urlsplit

import hypothesis
import pytest
from django.conf import settings
from django.http import QueryDict
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from payments.models import Order
from storefront.models import Product

from .conftest import HTMX, stored_session

pytestmark = pytest.mark.django_db

ADD = reverse("storefront:cart-add")
UPDATE = reverse("storefront:cart-update")
REMOVE = reverse("storefront:cart-remove")
CHECKOUT = reverse("payments:checkout")
CART_URLS = [ADD, UPDATE, REMOVE]
CART_STATUSES = {200, 303, 400, 422}

# A modest number of examples keeps the file near 20 seconds; the example
# database in .hypothesis/ replays any failure first on the next run.
HOSTILE = hypothesis.settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NASTY = [
    "",
    " ",
    "0",
    "-0",
    "-1",
    "+1",
    "1.5",
    "1.0",
    "1e3",
    "1_0",
    "0x10",
    "0b1",
    "NaN",
    "Infinity",
    "\u0661",  # ARABIC-INDIC DIGIT ONE: int() reads it as 1
    "\uff19\uff19",  # FULLWIDTH 99
    "\u00bd",
    "\u216b",
    "9" * 5000,  # past Python's int() digit limit
    "1" + "0" * 40,
    str(2**31),
    str(2**63),
    str(-(2**63) - 1),
    "null",
    "None",
    "true",
    "[1]",
    '{"1": 1}',
    "1; DROP TABLE storefront_product",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "%00",
    "1\x00",
    "\r\nSet-Cookie: x=1",
    "\u202e1",
]
NEXT_URLS = [
    "/",
    "/?page=2",
    "/cart/",
    "//evil.example/",
    "https://evil.example/",
    "http://testserver@evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "data:text/html,hi",
    " //evil.example",
    "\x01//evil.example",
    "/%0d%0aSet-Cookie:x=1",
    "/\r\nLocation: https://evil.example/",
]
PRICE_FIELDS = [
    "price",
    "price_cents",
    "unit_amount",
    "total_cents",
    "amount_total",
    "currency",
    "line_items[0][price_data][unit_amount]",
    "line_items[0][quantity]",
    "success_url",
    "client_reference_id",
]
# Form bodies twice as often as bodies the form parser cannot read.
ENCODINGS = ["multipart", "urlencoded", "multipart", "urlencoded", "json", "raw"]
FULLWIDTH = {ord(digit): 0xFF10 + int(digit) for digit in "0123456789"}


def scalars() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers().map(str),
        st.integers(min_value=-(10**40), max_value=10**40).map(str),
        st.floats().map(str),
        st.text(max_size=30),
        st.sampled_from(NASTY),
    )


def product_values(ids: list[int]) -> st.SearchStrategy[str]:
    """Ids that exist (active, inactive, deleted, an order's), dressed up or not.

    Half are plain ids, so that many requests get through and change the cart.
    """
    known = st.sampled_from(ids)
    dressed = st.one_of(
        known.map(lambda pk: f" {pk} "),
        known.map(lambda pk: f"{pk}.0"),
        known.map(lambda pk: f"+{pk}"),
        known.map(lambda pk: f"-{pk}"),
        known.map(lambda pk: str(pk).translate(FULLWIDTH)),
        known.map(lambda pk: f"{pk},{pk}"),
        scalars(),
    )
    return known.map(str) | dressed


def quantity_values() -> st.SearchStrategy[str]:
    return st.one_of(st.integers(min_value=-3, max_value=110).map(str), scalars())


@st.composite
def form_fields(draw, ids: list[int], extra: list[str]) -> dict[str, list[str]]:
    """Draw a form: each field missing, once or repeated; extra fields added.

    Half the forms end in a well-formed product and quantity (what Django reads
    of a repeated field is its last value), so that many changes get through.
    """
    fields = {
        "product": draw(st.lists(product_values(ids), max_size=3)),
        "quantity": draw(st.lists(quantity_values(), max_size=3)),
        "next": draw(st.lists(st.sampled_from(NEXT_URLS) | scalars(), max_size=2)),
    }
    if draw(st.booleans()):
        fields["product"].append(str(draw(st.sampled_from(ids))))
        fields["quantity"].append(str(draw(st.integers(1, 99))))
    names = st.sampled_from(extra) | st.text(min_size=1, max_size=12)
    for name in draw(st.lists(names, max_size=3, unique=True)):
        fields[name] = draw(st.lists(scalars(), min_size=1, max_size=2))
    return {name: values for name, values in fields.items() if values}


@st.composite
def requests(draw, urls: list[str], ids: list[int], extra: list[str]) -> dict:
    """Draw one POST: endpoint, fields, body encoding, htmx or plain."""
    return {
        "url": draw(st.sampled_from(urls)),
        "fields": draw(form_fields(ids, extra)),
        "encoding": draw(st.sampled_from(ENCODINGS)),
        "raw": draw(st.binary(max_size=200)),
        "htmx": draw(st.booleans()),
    }


def send(client: Client, request: dict):
    """Send a drawn request as the client."""
    url, fields = request["url"], request["fields"]
    headers = HTMX if request["htmx"] else {}
    encoding = request["encoding"]
    if encoding == "multipart":
        return client.post(url, fields, **headers)
    if encoding == "urlencoded":
        pairs = [(name, value) for name, values in fields.items() for value in values]
        body = urlencode(pairs)
        return client.post(
            url, body, content_type="application/x-www-form-urlencoded", **headers
        )
    if encoding == "json":
        return client.post(
            url, json.dumps(fields), content_type="application/json", **headers
        )
    return client.post(
        url, request["raw"], content_type="application/x-www-form-urlencoded", **headers
    )


def holds_nul(request: dict) -> bool:
    """Whether a drawn request's form, as Django reads it, has a NUL character."""
    if request["encoding"] == "json":
        return False
    if request["encoding"] == "raw":
        fields = QueryDict(request["raw"]).lists()
    else:
        fields = request["fields"].items()
    return any(
        "\x00" in name or any("\x00" in value for value in values)
        for name, values in fields
    )


def carts(active_ids: list[int]) -> st.SearchStrategy[dict[int, int] | None]:
    """No session at all, or a valid cart from empty to the 50-line limit."""
    lines = st.one_of(st.integers(0, 4), st.sampled_from([49, 50]))
    return st.none() | lines.flatmap(
        lambda size: st.dictionaries(
            st.sampled_from(active_ids),
            st.integers(1, 99),
            min_size=min(size, len(active_ids)),
            max_size=min(size, len(active_ids)),
        )
    )


def start_session(client: Client, cart: dict[int, int] | None) -> None:
    if cart is None:
        return
    session = client.session
    session["cart"] = {str(pk): quantity for pk, quantity in cart.items()}
    session.save()


def other_ids(catalog: list[Product]) -> list[int]:
    """Ids of things that are not products on sale: inactive, deleted, an order."""
    inactive = Product.objects.create(name="Retired", price_cents=1, is_active=False)
    deleted = Product.objects.create(name="Deleted", price_cents=1)
    deleted_id = deleted.pk
    deleted.delete()
    order = Order.objects.create(
        total_cents=1, currency="usd", shopper_key="x", cart_key="x"
    )
    return [inactive.pk, deleted_id, order.pk, 0, -1]


def assert_cart_valid(cart: object, product_ids: set[int]) -> None:
    """Every key an existing product's id string, quantities 1..99, <= 50 lines."""
    assert isinstance(cart, dict)
    assert len(cart) <= settings.CART_MAX_LINES
    for key, quantity in cart.items():
        assert isinstance(key, str) and key.isascii() and key.isdigit(), key
        assert str(int(key)) == key and int(key) in product_ids, key
        assert type(quantity) is int, quantity
        assert 1 <= quantity <= settings.CART_MAX_QUANTITY, quantity


def assert_redirect_stays_in_the_shop(url: str, location: str) -> None:
    """The browser resolves the Location against the page: it must stay here."""
    target = urlsplit(urljoin(f"http://testserver{url}", location))
    assert (target.scheme, target.netloc) == ("http", "testserver"), location


@pytest.fixture
def shop_ids(catalog: list[Product]) -> tuple[list[int], list[int]]:
    """Return the ids on sale and the ids of other things."""
    return [product.pk for product in catalog], other_ids(catalog)


@HOSTILE
@given(data=st.data())
def test_hostile_cart_changes_never_break_the_session_or_the_server(
    shop_ids: tuple[list[int], list[int]], data: st.DataObject
):
    active_ids, other = shop_ids
    product_ids = set(Product.objects.values_list("pk", flat=True))
    client = Client(raise_request_exception=False)
    start_session(client, data.draw(carts(active_ids), label="stored cart"))
    drawn = requests(CART_URLS, active_ids + other, PRICE_FIELDS)

    for request in data.draw(st.lists(drawn, min_size=1, max_size=4), label="posts"):
        before = stored_session(client)
        response = send(client, request)

        assert response.status_code in CART_STATUSES, response.content[:500]
        hypothesis.event(f"{request['url']} {response.status_code}")
        after = stored_session(client)
        assert_cart_valid(after.get("cart", {}), product_ids)
        if response.status_code >= 400:
            assert after == before
        else:
            changed = set(before.get("cart", {}).items()) ^ set(
                after.get("cart", {}).items()
            )
            assert len({key for key, _ in changed}) <= 1
        if response.status_code == 303:
            assert_redirect_stays_in_the_shop(request["url"], response["Location"])


def checkout_request(stripe_double, order: Order) -> dict:
    """Return the parameters of the Create Checkout Session call for an order."""
    [request] = [
        request
        for request in stripe_double.requests
        if request["path"] == "/v1/checkout/sessions"
        and request["method"] == "POST"
        and (request["params"] or {}).get("client_reference_id") == str(order.public_id)
    ]
    return request["params"]


def assert_charged_database_prices(
    stripe_double, order: Order, cart: dict[str, int]
) -> None:
    prices = dict(Product.objects.values_list("pk", "price_cents"))
    names = dict(Product.objects.values_list("name", "price_cents"))
    items = list(order.items.values_list("product_id", "unit_price_cents", "quantity"))
    assert {pk: quantity for pk, _, quantity in items} == {
        int(key): quantity for key, quantity in cart.items()
    }
    for product_id, unit_price_cents, _ in items:
        assert unit_price_cents == prices[product_id]
    assert order.total_cents == sum(price * quantity for _, price, quantity in items)
    assert order.currency == settings.SHOP_CURRENCY

    params = checkout_request(stripe_double, order)
    for line in params["line_items"]:
        price_data = line["price_data"]
        name = price_data["product_data"]["name"]
        assert price_data["unit_amount"] == str(names[name])
        assert price_data["currency"] == settings.SHOP_CURRENCY
    assert params["success_url"].startswith("http://testserver/checkout/success/")
    session = stripe_double.sessions[order.checkout_session_id]
    # Shipping, chosen on the hosted page, comes on top once paid.
    assert session["amount_subtotal"] == order.subtotal_cents == order.total_cents


@HOSTILE
@given(data=st.data())
def test_checkout_charges_database_prices_whatever_the_form_says(
    shop_ids: tuple[list[int], list[int]], stripe_double, data: st.DataObject
):
    active_ids, other = shop_ids
    client = Client(raise_request_exception=False)
    small_carts = st.dictionaries(
        st.sampled_from(active_ids), st.integers(1, 99), max_size=5
    )
    start_session(client, data.draw(small_carts, label="stored cart"))
    drawn = requests(CART_URLS, active_ids + other, PRICE_FIELDS)
    for request in data.draw(st.lists(drawn, max_size=2), label="cart posts"):
        assert send(client, request).status_code in CART_STATUSES
    checkout = data.draw(requests([CHECKOUT], active_ids, PRICE_FIELDS), "checkout")
    cart = stored_session(client).get("cart", {})
    orders_before = set(Order.objects.values_list("pk", flat=True))

    response = send(client, checkout)

    [*new_orders] = Order.objects.exclude(pk__in=orders_before)
    if holds_nul(checkout):
        # storefront.middleware.unreadable_input_middleware refuses it first.
        hypothesis.event("form with a NUL character refused")
        assert response.status_code == 400, response.content[:500]
        assert new_orders == []
        return
    assert response.status_code == 303, response.content[:500]
    hypothesis.event("checkout of an empty cart" if not cart else "order created")
    if not cart:
        assert new_orders == []
        assert response["Location"] == reverse("storefront:cart")
        return
    [order] = new_orders
    assert response["Location"] == order.checkout_url
    assert_charged_database_prices(stripe_double, order, cart)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=12,
)


@HOSTILE
@given(data=st.data())
def test_a_tampered_session_cart_is_read_safely_and_repaired_by_the_next_change(
    shop_ids: tuple[list[int], list[int]], stripe_double, data: st.DataObject
):
    active_ids, other = shop_ids
    product_ids = set(Product.objects.values_list("pk", flat=True))
    keys = st.one_of(
        st.sampled_from(active_ids + other).map(str),
        st.sampled_from(active_ids).map(lambda pk: f"0{pk}"),
        st.text(max_size=6),
    )
    tampered = st.one_of(
        JSON_VALUES,
        st.dictionaries(keys, JSON_VALUES | st.integers(-5, 150), max_size=60),
    )
    client = Client(raise_request_exception=False)
    session = client.session
    session["cart"] = data.draw(tampered, label="stored cart")
    session.save()

    assert client.get("/").status_code == 200
    assert client.get("/cart/").status_code == 200
    product = data.draw(st.sampled_from(active_ids), label="product")
    response = client.post(ADD, {"product": product, "quantity": 1})

    assert response.status_code in {303, 422}
    if response.status_code == 303:
        assert_cart_valid(stored_session(client)["cart"], product_ids)
    cart = {
        key: quantity
        for key, quantity in (stored_session(client).get("cart") or {}).items()
        if key.isdigit() and int(key) in set(active_ids)
    }
    orders_before = set(Order.objects.values_list("pk", flat=True))
    assert client.post(CHECKOUT).status_code == 303
    for order in Order.objects.exclude(pk__in=orders_before):
        assert_charged_database_prices(stripe_double, order, cart)


MEGABYTE = 1024 * 1024
BIG_BODIES = {
    "body over DATA_UPLOAD_MAX_MEMORY_SIZE": "quantity=" + "9" * (3 * MEGABYTE),
    "more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS": "&".join(
        f"field{number}=1" for number in range(1500)
    ),
    "a one-megabyte quantity": "product={product}&quantity=" + "9" * MEGABYTE,
    "a one-megabyte product id": "quantity=1&product=" + "1" * MEGABYTE,
}
# Removing reads only the product: a long quantity is not junk to it.
BIG_POSTS = [
    pytest.param(url, body, id=f"{name}-{url}")
    for name, body in BIG_BODIES.items()
    for url in CART_URLS
    if not (url == REMOVE and name == "a one-megabyte quantity")
]


@pytest.mark.parametrize(("url", "body"), BIG_POSTS)
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_over_long_bodies_are_refused_with_400_and_keep_the_session(
    hostile_client: Client, catalog: list[Product], url: str, body: str, htmx: bool
):
    start_session(hostile_client, {catalog[0].pk: 2})
    before = stored_session(hostile_client)

    response = hostile_client.post(
        url,
        body.replace("{product}", str(catalog[0].pk)),
        content_type="application/x-www-form-urlencoded",
        **(HTMX if htmx else {}),
    )

    if htmx:
        assert response.status_code == 400
    else:
        # A body Django refuses unread is a 400; one the view refuses goes back
        # to the page (303) with a short address: no megabyte in a Location.
        assert response.status_code in {303, 400}
        assert len(response.get("Location", "")) < 200
    assert stored_session(hostile_client) == before


def test_an_over_long_checkout_body_makes_no_order_and_no_error(
    hostile_client: Client, catalog: list[Product], stripe_double
):
    response = hostile_client.post(
        CHECKOUT,
        BIG_BODIES["body over DATA_UPLOAD_MAX_MEMORY_SIZE"],
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code in {303, 400}
    assert not Order.objects.exists()
    assert stripe_double.requests == []


@pytest.mark.parametrize(
    "cookie", ['"abcdefgh\\000"', '"\\000\\000\\000\\000\\000\\000\\000\\000"']
)
def test_a_session_cookie_with_a_nul_byte_is_not_a_server_error(
    catalog: list[Product], cookie: str
):
    browser = Client(raise_request_exception=False, HTTP_COOKIE=f"sessionid={cookie}")

    assert browser.get("/").status_code == 200
    response = browser.post(ADD, {"product": catalog[0].pk, "quantity": 1})
    assert response.status_code == 303


# What a WSGI server can hand over: ISO-8859-1 text (PEP 3333). NUL, and the
# backslash that spells it in a quoted cookie, have their own test above.
COOKIE_TEXT = st.text(
    alphabet=st.characters(blacklist_characters="\x00\\", codec="latin-1"),
    min_size=1,
    max_size=40,
)


@HOSTILE
@given(cookie=COOKIE_TEXT, product=st.integers(0, 51), htmx=st.booleans())
def test_a_forged_session_cookie_gets_a_fresh_session(
    catalog: list[Product], cookie: str, product: int, htmx: bool
):
    browser = Client(raise_request_exception=False)
    browser.cookies[settings.SESSION_COOKIE_NAME] = cookie

    response = browser.post(
        ADD, {"product": catalog[product].pk, "quantity": 1}, **(HTMX if htmx else {})
    )

    assert response.status_code in {200, 303}
    assert stored_session(browser)["cart"] == {str(catalog[product].pk): 1}
