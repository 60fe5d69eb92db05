from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from storefront.catalog import catalog_page, products_search
from storefront.models import Category, Product

from .conftest import product_image_make

pytestmark = pytest.mark.django_db

HTMX_SEARCH = {
    "HTTP_HX_REQUEST": "true",
    "HTTP_HX_TARGET": "catalog-results",
    "HTTP_HX_CURRENT_URL": "http://testserver/",
}


def names(html: str) -> list[str]:
    return re.findall(r'<h2 class="product__name"><a href="[^"]+">([^<]+)</a>', html)


@pytest.fixture
def catalog(db) -> dict[str, Category]:
    computers = Category.objects.create(name="Computers", slug="computers")
    accessories = Category.objects.create(name="Accessories", slug="accessories")
    for name, description, categories in [
        ("Laptop", "A 14-inch laptop with a full day of battery.", [computers]),
        ("Wireless Mouse", "A quiet mouse that fits either hand.", [accessories]),
        ("Keyboard", "A mechanical keyboard, quiet switches.", [accessories]),
        ("Desktop", "A small desktop computer.", [computers]),
    ]:
        product = Product.objects.create(
            name=name, description=description, price_cents=1000
        )
        product.categories.set(categories)
    Product.objects.create(
        name="Quiet Old Mouse", description="Retired.", price_cents=10, is_active=False
    )
    return {"computers": computers, "accessories": accessories}


def test_search_matches_names_and_descriptions_case_insensitively(client, catalog):
    html = client.get("/", {"q": "QUIET"}).content.decode()

    assert sorted(names(html)) == ["Keyboard", "Wireless Mouse"]
    assert "2 products found for “QUIET”" in html
    assert 'value="QUIET"' in html


def test_search_needs_every_word(client, catalog):
    html = client.get("/", {"q": "quiet mouse"}).content.decode()

    assert names(html) == ["Wireless Mouse"]


def test_search_with_no_match_says_so(client, catalog):
    html = client.get("/", {"q": "tractor"}).content.decode()

    assert names(html) == []
    assert "0 products found for “tractor”" in html
    assert "No products match." in html


def test_search_of_only_punctuation_shows_everything(client, catalog):
    html = client.get("/", {"q": "%_'\"&"}).content.decode()

    assert len(names(html)) == 4


def test_category_filter_is_plain_links(client, catalog):
    html = client.get("/", {"category": "computers"}).content.decode()

    assert names(html) == ["Desktop", "Laptop"]
    assert '<h1 id="catalog-heading">Computers</h1>' in html
    assert '<a href="?category=accessories">Accessories</a>' in html
    assert '<a href="?category=computers" aria-current="page">Computers</a>' in html
    assert '<a href="?">All</a>' in html


def test_unknown_category_is_404(client, catalog):
    assert client.get("/", {"category": "tractors"}).status_code == 404


def test_search_and_category_combine_and_keep_each_other(client, catalog):
    html = client.get("/", {"q": "quiet", "category": "accessories"}).content.decode()

    assert sorted(names(html)) == ["Keyboard", "Wireless Mouse"]
    # The category links keep the search; the search form keeps the category.
    assert '<a href="?q=quiet&amp;category=computers">Computers</a>' in html
    assert '<input type="hidden" name="category" value="accessories">' in html
    html = client.get("/", {"q": "mouse", "category": "computers"}).content.decode()
    assert names(html) == []


def test_pagination_links_keep_search_and_category(client, catalog, settings):
    settings.PRODUCTS_PER_PAGE = 1

    html = client.get("/", {"q": "quiet", "category": "accessories"}).content.decode()

    assert 'href="?q=quiet&amp;category=accessories&amp;page=2" rel="next"' in html
    second = client.get("/", {"q": "quiet", "category": "accessories", "page": "2"})
    assert 'href="?q=quiet&amp;category=accessories&amp;page=1" rel="prev"' in (
        second.content.decode()
    )


def test_active_search_answers_the_results_and_their_count(client, catalog):
    response = client.get("/", {"q": "keyboard"}, **HTMX_SEARCH)

    html = response.content.decode()
    assert names(html) == ["Keyboard"]
    assert "<html" not in html and "Your cart" not in html
    assert (
        '<p id="search-status" hx-swap-oob="innerHTML">'
        "1 product found for “keyboard”</p>"
    ) in html
    # The page's one status region says it too, for screen readers.
    assert (
        '<div id="status" hx-swap-oob="innerHTML"><ul class="messages">'
        '<li class="message message--info">1 product found for “keyboard”</li>'
    ) in html
    assert "HX-Request" in response["Vary"]


def test_history_restore_gets_the_whole_page(client, catalog):
    html = client.get(
        "/", {"q": "keyboard"}, HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX_SEARCH
    ).content.decode()

    assert "<html" in html and names(html) == ["Keyboard"]


def test_full_page_search_form_is_htmx_active_search(client, catalog):
    html = client.get("/").content.decode()

    assert 'role="search" method="get" action="/"' in html
    assert 'hx-trigger="input changed delay:300ms, search"' in html
    assert 'hx-target="#catalog-results"' in html and 'hx-push-url="true"' in html
    assert '<p id="search-status" class="search-status">' in html


def test_other_pages_have_a_plain_search_form(client, catalog):
    html = client.get("/products/laptop/").content.decode()

    assert 'role="search" method="get" action="/"' in html
    assert "hx-trigger" not in html.split('role="search"')[1].split("</form>")[0]


@pytest.mark.parametrize("count", [3, 120])
def test_catalog_queries_stay_flat_with_pictures_and_categories(
    client, count, django_assert_max_num_queries
):
    categories = [
        Category.objects.create(name=f"Category {n}", slug=f"category-{n}")
        for n in range(5)
    ]
    for number in range(count):
        product = Product.objects.create(name=f"Product {number:04d}", price_cents=100)
        product.categories.set(categories[: 1 + number % 5])
        if number < 30:
            product_image_make(product, size=(400, 300))
            product_image_make(product, size=(400, 300), position=1)

    for params in ({}, {"category": "category-0"}, {"q": "product"}):
        # Categories, the page's count, its rows and their first pictures (a
        # new visitor: no session yet).
        with django_assert_max_num_queries(4):
            response = client.get("/", params)
        assert response.status_code == 200
        assert response.content.decode().count("<picture>") >= min(count, 24) - 0


def test_product_page_queries_stay_flat(client, db, django_assert_max_num_queries):
    product = Product.objects.create(name="Lamp", price_cents=100)
    product.categories.set(
        [Category.objects.create(name=f"C{n}", slug=f"c{n}") for n in range(3)]
    )
    for position in range(6):
        product_image_make(product, size=(400, 300), position=position)

    # Product, pictures, categories (and the session, when there is one).
    with django_assert_max_num_queries(4):
        response = client.get(product.get_absolute_url())

    assert response.content.decode().count("<picture>") == 6


@pytest.mark.postgres
def test_postgres_search_stems_matches_prefixes_and_ranks(catalog):
    Product.objects.create(
        name="Mouse Pad",
        description="A pad for your mouse, and a mouse-shaped logo.",
        price_cents=500,
    )

    def found(query: str) -> list[str]:
        return [row[2] for row in catalog_page("1", query=query).object_list]

    # Stemming: "keyboards" finds "keyboard"; a prefix finds words as typed.
    assert found("keyboards") == ["Keyboard"]
    assert found("keyb") == ["Keyboard"]
    assert found("wireless mou") == ["Wireless Mouse"]
    # Ranked: the product that says "mouse" most comes first.
    assert found("mouse")[0] == "Mouse Pad"
    assert set(found("mouse")) == {"Mouse Pad", "Wireless Mouse"}
    # tsquery syntax in the input is only words.
    assert found("mouse & | ! :* (") == found("mouse")
    assert found(
        "computers",
    ) == ["Desktop"]


@pytest.mark.postgres
def test_postgres_search_uses_the_gin_index(catalog):
    queryset = products_search(Product.objects.all(), "laptop")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    with CaptureQueriesContext(connection):
        plan = queryset.explain()

    assert "product_search_idx" in plan


@pytest.mark.postgres
def test_postgres_search_through_the_view(client, catalog):
    html = client.get("/", {"q": "batteries", "category": "computers"}).content.decode()

    assert names(html) == ["Laptop"]


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"q": "mouse " * 40}, "Search for at most 200 characters."),
        ({"category": "c" * 101}, "There is no such category."),
        ({"page": "9" * 21}, "There is no such page."),
    ],
)
def test_a_filter_no_link_makes_is_refused_and_the_whole_catalog_shown(
    client, catalog, query, error
):
    response = client.get("/", query)

    html = response.content.decode()
    assert response.status_code == 400
    assert (
        f'<p id="search-status" class="search-status search-status--error">{error}</p>'
        in html
    )
    assert len(names(html)) == 4

    response = client.get("/", query, **HTMX_SEARCH)

    html = response.content.decode()
    assert response.status_code == 400
    assert len(names(html)) == 4
    assert (
        '<div id="status" hx-swap-oob="innerHTML"><ul class="messages">'
        f'<li class="message message--error">{error}</li>'
    ) in html


def test_the_search_field_takes_as_much_as_the_search_does(client, catalog):
    html = client.get("/").content.decode()

    assert 'name="q" value="" maxlength="200"' in html
