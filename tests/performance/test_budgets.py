"""Budgets: queries per request that stay flat as data grows, and page weight.

Each page must cost the same small number of queries with 3 products and no
orders as with 1,000 products and 500 orders. The budgets are the most any
supported setup needs (SQLite, PostgreSQL, and sessions read from Redis).
"""

from __future__ import annotations

import gzip
import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from payments.checkout import SHOPPER_SESSION_KEY
from payments.models import Order, OrderItem, StripeEvent
from payments.tests.conftest import post_event
from storefront.models import Product

pytestmark = pytest.mark.django_db

HOME = reverse("storefront:index")
CART = reverse("storefront:cart")
CART_UPDATE = reverse("storefront:cart-update")
CART_ADD = reverse("storefront:cart-add")
CHECKOUT = reverse("payments:checkout")
ORDER_CHANGELIST = reverse("admin:payments_order_changelist")
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/"}

# Queries per request, whatever the size of the catalog and the order book.
# Counted in tests, where every transaction.atomic() is a savepoint inside the
# test's transaction: SAVEPOINT and RELEASE statements count too.
# 6, the category list, and the page's first pictures: one simple query for
# the page's products, cheaper than a subquery per row (docs/PERFORMANCE.md).
HOME_QUERIES = 8
CART_FRAGMENT_QUERIES = 2
# The lock, the session read under it, the products, and Django's own save of
# the session (a savepoint around its UPDATE): docs/PERFORMANCE.md.
CART_CHANGE_QUERIES = 8
CHECKOUT_QUERIES = 25
# The webhook's 13th: resolving the order's open problems as it is paid; then
# the paid order's emails: their rows in one INSERT and a task row each on the
# database queue (the budget counts the real queue's INSERTs).
WEBHOOK_QUERIES = 16
ADMIN_CHANGELIST_QUERIES = 4

PAGE_WEIGHT_LIMIT = 40 * 1024

SIZES = [
    pytest.param((3, 0), id="3-products-0-orders"),
    pytest.param((1_000, 500), id="1000-products-500-orders"),
]


def catalog(count: int) -> list[Product]:
    Product.objects.bulk_create(
        Product(name=f"Product {number:04d}", price_cents=100 + number)
        for number in range(count)
    )
    return list(Product.objects.order_by("name"))


def paid_orders(count: int, *, shopper_key: str, products: list[Product]) -> None:
    """Give a shopper ``count`` paid orders of two items each."""
    now = timezone.now()
    orders = Order.objects.bulk_create(
        Order(
            status=Order.Status.PAID,
            total_cents=300,
            subtotal_cents=300,
            currency="usd",
            shopper_key=shopper_key,
            cart_key=f"cart-{number}",
            checkout_session_id=f"cs_paid_{number}",
            paid_at=now - timedelta(minutes=number),
        )
        for number in range(count)
    )
    OrderItem.objects.bulk_create(
        OrderItem(
            order=order,
            product=product,
            product_name=product.name,
            unit_price_cents=150,
            quantity=1,
        )
        for order in orders
        for product in products[:2]
    )


def shopper_with_cart(products: list[Product], *, orders: int) -> Client:
    """Return a browser with three products in its cart and ``orders`` paid orders."""
    shopper = Client()
    for product in products[:3]:
        response = shopper.post(CART_ADD, {"product": product.pk, "quantity": 1})
        assert response.status_code == 303
    session = shopper.session
    session[SHOPPER_SESSION_KEY] = "budget-shopper"
    session.save()
    paid_orders(orders, shopper_key="budget-shopper", products=products)
    return shopper


@pytest.fixture(params=SIZES)
def shopper(request) -> Client:
    """A shopper with three products in the cart and as many paid orders as the
    shop has: a shop of 3 products and no orders, or of 1,000 and 500."""
    products, orders = request.param
    return shopper_with_cart(catalog(products), orders=orders)


def test_home_page_queries_stay_within_budget(shopper, django_assert_max_num_queries):
    with django_assert_max_num_queries(HOME_QUERIES):
        response = shopper.get(HOME)

    assert response.status_code == 200
    assert "Product 0000" in response.content.decode()


def test_cart_fragment_queries_stay_within_budget(
    shopper, django_assert_max_num_queries
):
    with django_assert_max_num_queries(CART_FRAGMENT_QUERIES):
        response = shopper.get(CART, **HTMX)

    assert response.status_code == 200
    assert response.content.decode().count("Product 000") >= 3


def test_htmx_cart_change_queries_stay_within_budget(
    shopper, django_assert_max_num_queries
):
    product = Product.objects.get(name="Product 0000")

    with django_assert_max_num_queries(CART_CHANGE_QUERIES):
        response = shopper.post(
            CART_UPDATE, {"product": product.pk, "quantity": 5}, **HTMX
        )

    assert response.status_code == 200
    assert shopper.session["cart"][str(product.pk)] == 5


def test_checkout_queries_stay_within_budget(
    shopper, stripe_double, django_assert_max_num_queries
):
    with django_assert_max_num_queries(CHECKOUT_QUERIES):
        response = shopper.post(CHECKOUT)

    assert response.status_code == 303
    assert response["Location"].startswith(stripe_double.url)
    assert Order.objects.filter(status=Order.Status.PENDING).count() == 1


def completed_event(order: Order) -> dict:
    return {
        "id": "evt_budget",
        "object": "event",
        "type": "checkout.session.completed",
        "livemode": False,
        "data": {
            "object": {
                "id": order.checkout_session_id,
                "object": "checkout.session",
                "status": "complete",
                "payment_status": "paid",
                "amount_total": order.total_cents,
                "currency": order.currency,
                "client_reference_id": str(order.public_id),
                "payment_intent": "pi_budget",
                "customer_details": {"email": "shopper@example.com"},
            }
        },
    }


def test_webhook_delivery_queries_stay_within_budget(
    shopper, stripe_double, django_assert_max_num_queries, settings
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    order = Order.objects.create(
        total_cents=2999,
        currency="usd",
        shopper_key="someone",
        cart_key="cart",
        checkout_session_id="cs_budget",
    )

    with django_assert_max_num_queries(WEBHOOK_QUERIES):
        response = post_event(Client(), completed_event(order))

    assert response.status_code == 200
    assert response.json()["outcome"] == "processed"
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


@pytest.fixture
def operator(client: Client, django_user_model) -> Client:
    """A client signed in as a superuser (made without slow password hashing)."""
    client.force_login(
        django_user_model.objects.create(
            username="operator", is_staff=True, is_superuser=True
        )
    )
    return client


@pytest.mark.parametrize("orders", [1, 300])
@pytest.mark.parametrize("query", ["", "?status__exact=paid", "?problem=no"])
def test_admin_order_list_queries_do_not_grow_per_row(
    orders, query, operator, django_assert_max_num_queries
):
    paid_orders(orders, shopper_key="someone", products=catalog(3))

    with django_assert_max_num_queries(ADMIN_CHANGELIST_QUERIES):
        response = operator.get(ORDER_CHANGELIST + query)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == min(orders, 50)


@pytest.mark.parametrize("events", [1, 300])
def test_admin_event_list_queries_do_not_grow_per_row(
    events, operator, django_assert_max_num_queries
):
    StripeEvent.objects.bulk_create(
        StripeEvent(event_id=f"evt_{number}", type="checkout.session.completed")
        for number in range(events)
    )

    with django_assert_max_num_queries(ADMIN_CHANGELIST_QUERIES) as queries:
        response = operator.get(reverse("admin:payments_stripeevent_changelist"))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == min(events, 50)
    # No list of years (date_hierarchy) or of types (SELECT DISTINCT): each is a
    # scan of the whole table.
    assert not any("DISTINCT" in query["sql"] for query in queries.captured_queries)
    expired = operator.get(
        reverse("admin:payments_stripeevent_changelist")
        + "?type=checkout.session.expired"
    )
    assert len(expired.context["cl"].result_list) == 0


class Assets(HTMLParser):
    """Collect what a page loads: scripts, stylesheets, images, icons, fonts."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.inline_scripts = 0
        self.stylesheets: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "script":
            if attributes.get("src"):
                self.scripts.append(attributes["src"])
            else:
                self.inline_scripts += 1
        if tag == "link" and "stylesheet" in attributes.get("rel", "").split():
            self.stylesheets.append(attributes["href"])
        if tag in {"script", "img", "source", "link", "video", "audio", "iframe"}:
            for name in ("src", "href", "poster"):
                if attributes.get(name):
                    self.urls.append(attributes[name])
            for name in ("srcset", "imagesrcset"):
                for candidate in attributes.get(name, "").split(","):
                    if candidate.strip():
                        self.urls.append(candidate.split()[0])


def static_file(url: str) -> Path:
    """Return the file a static URL serves, as the static files finders find it."""
    path = urlsplit(url).path
    assert path.startswith(f"/{settings.STATIC_URL.strip('/')}/"), url
    found = finders.find(path.split("/", 2)[2])
    assert found, f"no static file for {url}"
    return Path(found)


def gzipped_size(content: bytes) -> int:
    return len(gzip.compress(content))


CSS_URLS = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""")


@pytest.fixture
def full_home_page() -> str:
    """The heaviest home page: a full page of products, a cart and past orders."""
    shopper = shopper_with_cart(catalog(100), orders=20)
    response = shopper.get(HOME)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="product"') == settings.PRODUCTS_PER_PAGE
    assert "Your orders" in html
    return html


def test_home_page_html_css_and_javascript_weigh_under_40_kb_gzipped(full_home_page):
    assets = Assets()
    assets.feed(full_home_page)
    files = [static_file(url) for url in assets.stylesheets + assets.scripts]

    weight = gzipped_size(full_home_page.encode()) + sum(
        gzipped_size(path.read_bytes()) for path in files
    )

    assert assets.stylesheets and assets.scripts
    assert weight < PAGE_WEIGHT_LIMIT, f"{weight:,} bytes gzipped"


def test_home_page_runs_no_javascript_but_htmx_and_the_shops_focus_script(
    full_home_page,
):
    assets = Assets()
    assets.feed(full_home_page)

    assert assets.inline_scripts == 0
    [htmx, shop] = assets.scripts
    assert re.fullmatch(r"htmx(-\d+)?(\.min)?\.js", Path(htmx).name)
    assert static_file(htmx).read_text().startswith("var htmx=")
    assert Path(shop).name == "shop.js"


def test_home_page_loads_nothing_from_another_origin(full_home_page):
    assets = Assets()
    assets.feed(full_home_page)
    css_urls = [
        url
        for url in assets.stylesheets
        for match in CSS_URLS.finditer(static_file(url).read_text())
        for url in match.groups()
        if url
    ]

    foreign = [
        url
        for url in assets.urls + css_urls
        if urlsplit(url).netloc or urlsplit(url).scheme not in {"", "data"}
    ]

    assert assets.urls
    assert foreign == []
