from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone
from model_bakery import baker

from storefront.models import Product

pytestmark = pytest.mark.django_db

ADD = reverse("storefront:cart-add")
UPDATE = reverse("storefront:cart-update")
REMOVE = reverse("storefront:cart-remove")


def session_cart(client) -> dict:
    return client.session.get("cart", {})


def test_home_lists_active_products_with_money(client, laptop, mouse, inactive_product):
    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Laptop" in html and "$999.99" in html
    assert "Mouse" in html and "$29.99" in html
    assert "Old Monitor" not in html
    assert "Your cart is empty." in html


def test_home_paginates_24_products_a_page(client, db):
    baker.make(Product, _quantity=30, price_cents=100)

    first = client.get("/")
    second = client.get("/?page=2")

    assert len(first.context["page"].object_list) == 24
    assert 'href="?page=2"' in first.content.decode()
    assert len(second.context["page"].object_list) == 6


@pytest.mark.parametrize("count", [3, 300])
def test_home_query_count_is_flat(client, count, django_assert_max_num_queries):
    products = baker.make(Product, _quantity=count, price_cents=100)
    for product in products[:10]:
        client.post(ADD, {"product": product.pk, "quantity": 2})
    client.get("/")  # show (and so consume) the "added" messages

    # Session, cart products, categories, the page's count, its rows and
    # their first pictures (one query for the page, not a subquery per row).
    with django_assert_max_num_queries(6):
        response = client.get("/")

    assert response.status_code == 200


def test_plain_add_redirects_back_with_a_message(client, laptop):
    response = client.post(
        ADD, {"product": laptop.pk, "quantity": "2", "next": "/?page=1"}
    )

    assert response.status_code == 303
    assert response["Location"] == "/?page=1"
    assert session_cart(client) == {str(laptop.pk): 2}
    page = client.get(response["Location"]).content.decode()
    assert "Added 2 × Laptop to your cart." in page
    assert "$1,999.98" in page


def test_plain_add_never_redirects_off_site(client, laptop):
    response = client.post(
        ADD, {"product": laptop.pk, "quantity": 1, "next": "https://evil.example/"}
    )

    assert response["Location"] == "/"


def test_htmx_add_returns_cart_fragment_and_count_out_of_band(
    client, laptop, mouse, htmx_headers
):
    client.post(ADD, {"product": mouse.pk, "quantity": 1}, **htmx_headers)
    response = client.post(ADD, {"product": laptop.pk, "quantity": 2}, **htmx_headers)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert "Laptop" in html and "$1,999.98" in html
    assert 'id="cart-count" class="badge" hx-swap-oob="true"' in html
    assert "</span>3</span>" in html
    assert "Added 2 × Laptop to your cart." in html


def test_htmx_update_sets_quantity(client, laptop, htmx_headers):
    client.post(ADD, {"product": laptop.pk, "quantity": 1})

    response = client.post(
        UPDATE, {"product": laptop.pk, "quantity": 5}, **htmx_headers
    )

    assert response.status_code == 200
    assert session_cart(client) == {str(laptop.pk): 5}
    assert "Laptop: quantity set to 5." in response.content.decode()


def test_plain_update_and_remove(client, laptop, mouse):
    client.post(ADD, {"product": laptop.pk, "quantity": 1})
    client.post(ADD, {"product": mouse.pk, "quantity": 1})

    assert client.post(UPDATE, {"product": laptop.pk, "quantity": 4}).status_code == 303
    assert client.post(REMOVE, {"product": mouse.pk}).status_code == 303

    assert session_cart(client) == {str(laptop.pk): 4}


def test_htmx_remove_last_line_shows_empty_state(client, laptop, htmx_headers):
    client.post(ADD, {"product": laptop.pk, "quantity": 1})

    response = client.post(REMOVE, {"product": laptop.pk}, **htmx_headers)

    assert "Your cart is empty." in response.content.decode()
    assert session_cart(client) == {}


def test_remove_works_for_a_product_that_became_inactive(client, laptop):
    client.post(ADD, {"product": laptop.pk, "quantity": 1})
    Product.objects.filter(pk=laptop.pk).update(is_active=False)

    response = client.post(REMOVE, {"product": laptop.pk})

    assert response.status_code == 303
    assert session_cart(client) == {}


def test_product_that_went_inactive_leaves_cart_with_message(client, laptop, mouse):
    client.post(ADD, {"product": laptop.pk, "quantity": 1})
    client.post(ADD, {"product": mouse.pk, "quantity": 1})
    client.get("/")  # consume the "added" messages
    Product.objects.filter(pk=mouse.pk).update(is_active=False)

    html = client.get("/").content.decode()

    assert "Mouse is no longer available and was removed from your cart." in html
    # Reading never writes the session; the next change saves the cart without it.
    client.post(ADD, {"product": laptop.pk, "quantity": 1})
    assert session_cart(client) == {str(laptop.pk): 2}


BAD_ADDS = [
    ({"quantity": 1}, 400, "Choose a product."),
    ({"product": 999999, "quantity": 1}, 400, "That product is not available."),
    ({"product": "abc", "quantity": 1}, 400, "That product is not available."),
    ({"product": "1 OR 1=1", "quantity": 1}, 400, "That product is not available."),
    ({"product": "0", "quantity": 1}, 400, "That product is not available."),
    ({"product": "9" * 30, "quantity": 1}, 400, "That product is not available."),
    ({"product": "LAPTOP"}, 400, "Enter a quantity."),
    ({"product": "LAPTOP", "quantity": ""}, 400, "Enter a quantity."),
    ({"product": "LAPTOP", "quantity": "two"}, 400, "Enter a whole number"),
    ({"product": "LAPTOP", "quantity": "1.5"}, 400, "Enter a whole number"),
    ({"product": "LAPTOP", "quantity": "0"}, 400, "from 1 to 99"),
    ({"product": "LAPTOP", "quantity": "-3"}, 400, "from 1 to 99"),
    ({"product": "LAPTOP", "quantity": "1000"}, 400, "from 1 to 99"),
    ({"product": "LAPTOP", "quantity": "9" * 40}, 400, "from 1 to 99"),
    ({"product": "INACTIVE", "quantity": 1}, 400, "That product is not available."),
    ({"product": "LAPTOP", "quantity": 98}, 422, "at most 99 of Laptop"),
]


def fill(data: dict, laptop, inactive) -> dict:
    ids = {"LAPTOP": laptop.pk, "INACTIVE": inactive.pk}
    return {key: ids.get(value, value) for key, value in data.items()}


@pytest.mark.parametrize(("data", "status", "message"), BAD_ADDS)
def test_bad_add_over_htmx_answers_4xx_in_fragment_and_keeps_session(
    client, laptop, inactive_product, htmx_headers, data, status, message
):
    client.post(ADD, {"product": laptop.pk, "quantity": 2})
    before = client.session.get("cart")

    response = client.post(ADD, fill(data, laptop, inactive_product), **htmx_headers)

    assert response.status_code == status
    html = response.content.decode()
    assert message in html
    assert "message--error" in html
    assert "<html" not in html
    assert client.session.get("cart") == before


@pytest.mark.parametrize(("data", "status", "message"), BAD_ADDS)
def test_bad_add_plain_answers_303_to_a_page_with_the_message_and_keeps_session(
    client, laptop, inactive_product, data, status, message
):
    client.post(ADD, {"product": laptop.pk, "quantity": 2})
    client.get("/")  # consume the "added" message
    before = client.session.get("cart")

    response = client.post(
        ADD, {**fill(data, laptop, inactive_product), "next": "/?page=1"}
    )

    assert response.status_code == 303
    assert response["Location"] == "/?page=1#status"
    html = client.get(response["Location"]).content.decode()
    assert message in html and "message--error" in html
    assert client.session.get("cart") == before
    # Reloading the page it answered with changes nothing and repeats nothing.
    again = client.get(response["Location"]).content.decode()
    assert message not in again
    assert client.session.get("cart") == before


def test_refused_plain_update_comes_back_with_the_typed_quantity(client, laptop):
    client.post(ADD, {"product": laptop.pk, "quantity": 2})

    response = client.post(
        UPDATE, {"product": laptop.pk, "quantity": "1000", "next": "/cart/"}
    )

    assert response.status_code == 303
    assert response["Location"] == f"/cart/?product={laptop.pk}&quantity=1000#status"
    html = client.get(response["Location"]).content.decode()
    assert "Choose a quantity from 1 to 99." in html
    assert re.search(
        rf'id="cart-quantity-{laptop.pk}"[^>]* value="1000"[^>]* aria-invalid="true"',
        html,
    )
    assert session_cart(client) == {str(laptop.pk): 2}


def test_a_change_after_a_refused_one_forgets_the_typed_quantity(client, laptop):
    client.post(ADD, {"product": laptop.pk, "quantity": 2})
    refused = client.post(UPDATE, {"product": laptop.pk, "quantity": "x"})
    next_page = refused["Location"].split("#")[0]

    response = client.post(
        UPDATE, {"product": laptop.pk, "quantity": 3, "next": next_page}
    )

    assert response["Location"] == "/"
    html = client.get("/").content.decode()
    assert f'id="cart-quantity-{laptop.pk}"' in html and 'value="3"' in html
    assert "aria-invalid" not in html


def test_refused_plain_remove_answers_303_with_the_message(client, laptop):
    response = client.post(REMOVE, {"product": laptop.pk, "next": "/cart/"})

    assert response.status_code == 303
    assert response["Location"] == "/cart/#status"
    assert "That item is not in your cart." in client.get("/cart/").content.decode()


@pytest.mark.parametrize("url", ["/", "/cart/"])
def test_pages_with_the_cart_are_private_and_vary_on_the_cookie(client, laptop, url):
    client.post(ADD, {"product": laptop.pk, "quantity": 1})

    response = client.get(url)

    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"private", "no-cache"} <= cache_control
    assert "Cookie" in response["Vary"]


def test_one_polite_status_region_outside_the_cart(client, laptop, htmx_headers):
    client.post(ADD, {"product": laptop.pk, "quantity": 1})

    for html in (
        client.get("/").content.decode(),
        client.get("/cart/").content.decode(),
    ):
        assert html.count('role="status"') == 1
        assert "aria-live" not in html
        status = html.index('id="status"')
        assert status < html.index('id="cart"')
        assert "Added 1 × Laptop to your cart." not in html[html.index('id="cart"') :]

    fragment = client.post(
        UPDATE, {"product": laptop.pk, "quantity": 2}, **htmx_headers
    ).content.decode()
    assert re.search(
        r'id="status"[^>]*hx-swap-oob="innerHTML".*Laptop: quantity set to 2\.',
        fragment,
        re.DOTALL,
    )


def test_remove_says_which_product_left_the_cart(client, laptop, htmx_headers):
    client.post(ADD, {"product": laptop.pk, "quantity": 1})

    response = client.post(REMOVE, {"product": laptop.pk}, **htmx_headers)

    assert "Removed Laptop from your cart." in response.content.decode()


@pytest.mark.parametrize("url", ["/", "/cart/"])
def test_every_page_has_a_title_and_a_description(client, laptop, url):
    html = client.get(url).content.decode()

    assert re.search(r"<title>[^<]*\S[^<]*· Shop|<title>Shop: ", html)
    assert re.search(r'<meta name="description" content="[^"]{20,}">', html)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"quantity": 0}, "from 1 to 99"),
        ({"quantity": -3}, "from 1 to 99"),
        ({"quantity": 1000}, "from 1 to 99"),
        ({"quantity": ""}, "Enter a quantity."),
        ({}, "Enter a quantity."),
    ],
)
def test_bad_update_keeps_session(client, laptop, htmx_headers, data, message):
    client.post(ADD, {"product": laptop.pk, "quantity": 2})
    before = client.session.get("cart")

    response = client.post(UPDATE, {"product": laptop.pk, **data}, **htmx_headers)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert client.session.get("cart") == before


def test_update_of_product_not_in_cart_answers_422(client, laptop, htmx_headers):
    response = client.post(
        UPDATE, {"product": laptop.pk, "quantity": 2}, **htmx_headers
    )

    assert response.status_code == 422
    assert "Laptop is not in your cart." in response.content.decode()
    assert session_cart(client) == {}


def test_remove_of_product_not_in_cart_answers_422(client, laptop, htmx_headers):
    response = client.post(REMOVE, {"product": laptop.pk}, **htmx_headers)

    assert response.status_code == 422
    assert "That item is not in your cart." in response.content.decode()


def test_51st_line_is_refused_and_session_kept(client, htmx_headers, settings):
    products = baker.make(Product, _quantity=51, price_cents=100)
    for product in products[:50]:
        client.post(ADD, {"product": product.pk, "quantity": 1})
    before = client.session.get("cart")

    response = client.post(
        ADD, {"product": products[50].pk, "quantity": 1}, **htmx_headers
    )

    assert response.status_code == 422
    assert "at most 50 different products" in response.content.decode()
    assert client.session.get("cart") == before


def test_a_price_sent_by_the_client_is_ignored(client, laptop):
    client.post(
        ADD, {"product": laptop.pk, "quantity": 1, "price_cents": 1, "price": "0.01"}
    )

    assert "$999.99" in client.get("/cart/").content.decode()


@pytest.mark.parametrize("url", [ADD, UPDATE, REMOVE])
def test_cart_changes_refuse_get(client, url):
    assert client.get(url).status_code == 405


@pytest.mark.parametrize("htmx", [False, True])
def test_cart_changes_without_csrf_token_are_refused(
    csrf_client, laptop, htmx_headers, htmx
):
    headers = htmx_headers if htmx else {}
    response = csrf_client.post(ADD, {"product": laptop.pk, "quantity": 1}, **headers)

    assert response.status_code == 403
    assert "cart" not in csrf_client.session


def test_htmx_add_with_csrf_header_from_page_is_accepted(csrf_client, laptop):
    page = csrf_client.get("/").content.decode()
    [token] = re.findall(r'hx-headers=\'\{"x-csrftoken": "([^"]+)"\}\'', page)

    response = csrf_client.post(
        ADD,
        {"product": laptop.pk, "quantity": 1},
        HTTP_HX_REQUEST="true",
        HTTP_X_CSRFTOKEN=str(token),
    )

    assert response.status_code == 200
    assert session_cart(csrf_client) == {str(laptop.pk): 1}


def test_every_cart_form_carries_a_csrf_token(client, laptop):
    client.post(ADD, {"product": laptop.pk, "quantity": 1})
    html = client.get("/").content.decode()

    post_forms = html.count('<form method="post"')
    assert post_forms == html.count('name="csrfmiddlewaretoken"')
    assert post_forms == 4  # add, the line's update and remove, checkout
    assert html.count("<form") == post_forms + 1  # the search form (GET)
    # One action per form: text browsers ignore formaction.
    assert "formaction" not in html
    assert f'action="{REMOVE}"' in html and f'hx-post="{REMOVE}"' in html
    assert 'hx-headers=\'{"x-csrftoken": "' in html


def test_cart_page_and_htmx_fragment(client, laptop, htmx_headers):
    client.post(ADD, {"product": laptop.pk, "quantity": 1})

    page = client.get("/cart/")
    fragment = client.get("/cart/", **htmx_headers)

    assert page.status_code == 200 and "<html" in page.content.decode()
    assert "Laptop" in fragment.content.decode()
    assert "<html" not in fragment.content.decode()


def test_fragment_forms_point_back_to_the_page_not_the_endpoint(
    client, laptop, htmx_headers
):
    response = client.post(
        ADD,
        {"product": laptop.pk, "quantity": 1, "next": "/?page=2"},
        **htmx_headers,
    )

    assert 'name="next" value="/?page=2"' in response.content.decode()


def test_add_with_an_expired_session_starts_a_new_cart(client, laptop, mouse):
    client.post(ADD, {"product": laptop.pk, "quantity": 1})
    old_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    Session.objects.filter(pk=old_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )

    response = client.post(ADD, {"product": mouse.pk, "quantity": 1})

    assert response.status_code == 303
    assert client.cookies[settings.SESSION_COOKIE_NAME].value != old_key
    assert session_cart(client) == {str(mouse.pk): 1}
    # The expired session is left as it was, for clearsessions to remove.
    assert Session.objects.get(pk=old_key).get_decoded()["cart"] == {str(laptop.pk): 1}


def test_add_with_an_unknown_session_key_starts_a_new_session(client, mouse):
    client.cookies[settings.SESSION_COOKIE_NAME] = "x" * 32

    response = client.post(ADD, {"product": mouse.pk, "quantity": 1})

    assert response.status_code == 303
    assert client.cookies[settings.SESSION_COOKIE_NAME].value != "x" * 32
    assert session_cart(client) == {str(mouse.pk): 1}
