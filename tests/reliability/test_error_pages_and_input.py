"""Error pages in the shop's look with its headers; input it cannot read is a 4xx.

Every answer here is a 4xx that changes nothing: forms declared in another
charset than UTF-8, NUL characters in fields, parameters or headers, and the
pages Django would otherwise render unstyled (400, 403, the CSRF failure, 404).
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from payments.models import Order

from .conftest import HTMX, stored_session
from .test_headers_and_csrf import policy

pytestmark = pytest.mark.django_db

ADD = reverse("storefront:cart-add")
CHECKOUT = reverse("payments:checkout")
LOGIN = reverse("admin:login")
ORDERS = reverse("admin:payments_order_changelist")
FORM = "application/x-www-form-urlencoded"


def assert_security_headers(response) -> None:
    directives = policy(response)
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def assert_error_page(response, status: int, text: str) -> None:
    assert response.status_code == status
    html = response.content.decode()
    assert text in html
    assert '<link rel="stylesheet"' in html
    assert "<script>" not in html and " style=" not in html
    assert_security_headers(response)


def form_body(charset: str) -> tuple[bytes, str]:
    codec = {"unknown-charset": "utf-8", "us-ascii": "ascii"}.get(charset, charset)
    return "product=1&quantity=1".encode(codec), f"{FORM}; charset={charset}"


def multipart_body(charset: str) -> tuple[bytes, str]:
    body = (
        b'--xx\r\nContent-Disposition: form-data; name="product"\r\n\r\n1\r\n'
        b'--xx\r\nContent-Disposition: form-data; name="quantity"\r\n\r\n1\r\n'
        b"--xx--\r\n"
    )
    return body, f"multipart/form-data; boundary=xx; charset={charset}"


CHARSETS = [
    "latin-1",
    "iso-8859-1",
    "utf-16",
    "utf-32",
    "utf-16-be",
    "utf8",
    "us-ascii",
    "unknown-charset",
]


@pytest.mark.parametrize(
    "build", [form_body, multipart_body], ids=["form", "multipart"]
)
@pytest.mark.parametrize("charset", CHARSETS)
@pytest.mark.parametrize(
    "url", [ADD, CHECKOUT, LOGIN], ids=["add", "checkout", "login"]
)
def test_a_form_in_another_charset_than_utf8_is_415_and_changes_nothing(
    hostile_client, laptop, stripe_double, url, charset, build
):
    body, content_type = build(charset)
    hostile_client.post(ADD, {"product": laptop.pk, "quantity": 2})
    before = stored_session(hostile_client)

    response = hostile_client.generic("POST", url, body, content_type=content_type)

    assert_error_page(response, 415, "Please send forms as UTF-8")
    assert stored_session(hostile_client) == before
    assert not Order.objects.exists()


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", '"utf-8"'])
def test_a_form_declared_utf8_is_read(hostile_client, laptop, charset):
    response = hostile_client.generic(
        "POST",
        ADD,
        f"product={laptop.pk}&quantity=3".encode(),
        content_type=f"{FORM}; charset={charset}",
    )

    assert response.status_code == 303
    assert stored_session(hostile_client)["cart"] == {str(laptop.pk): 3}


def test_an_htmx_form_in_another_charset_gets_the_message_alone(hostile_client):
    body, content_type = form_body("utf-16")

    response = hostile_client.generic(
        "POST", ADD, body, content_type=content_type, **HTMX
    )

    assert response.status_code == 415
    html = response.content.decode()
    assert html.strip().startswith('<section class="panel" id="error"')
    assert "Please send forms as UTF-8" in html and "<html" not in html


@pytest.mark.parametrize(
    ("url", "data"),
    [
        (ADD, "product=1%00&quantity=1"),
        (ADD, "product=1&quantity=1&note%00=x"),
        (CHECKOUT, "x=%00"),
        (LOGIN, "username=admin%00&password=x"),
    ],
    ids=["add-value", "add-name", "checkout", "login"],
)
def test_a_nul_character_in_a_form_is_400_and_changes_nothing(
    hostile_client, laptop, stripe_double, url, data
):
    hostile_client.post(ADD, {"product": laptop.pk, "quantity": 2})
    before = stored_session(hostile_client)

    response = hostile_client.generic("POST", url, data.encode(), content_type=FORM)

    assert_error_page(response, 400, "The shop could not read that request")
    assert stored_session(hostile_client) == before
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    "query",
    [
        "status__exact=%00",
        "q=%00",
        "problem=%00",
        "created_at__gte=%00",
        "o=%00",
    ],
)
def test_a_nul_character_in_an_admin_list_parameter_is_400(admin_client, query):
    admin_client.raise_request_exception = False

    response = admin_client.get(f"{ORDERS}?{query}")

    assert_error_page(response, 400, "The shop could not read that request")


@pytest.mark.parametrize(
    "header",
    ["HTTP_USER_AGENT", "HTTP_ACCEPT", "HTTP_X_FORWARDED_FOR", "HTTP_HX_CURRENT_URL"],
)
def test_a_nul_character_in_a_header_is_400(hostile_client, laptop, header):
    response = hostile_client.post(
        ADD, {"product": laptop.pk, "quantity": 1}, **{header: "x\x00y"}
    )

    assert response.status_code == 400
    assert "cart" not in stored_session(hostile_client)


@pytest.mark.parametrize(
    "query",
    ["q=%ED%A0%80", "q=%uD800", "q=%C0%AF", "q=%ZZ", "page=%F0%9F%98%80", "q=%%%"],
)
def test_odd_escapes_in_a_query_are_read_without_an_error(hostile_client, query):
    response = hostile_client.get(f"/?{query}")

    assert response.status_code in {200, 404}


def test_a_bad_request_gets_the_shops_400_page(hostile_client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    body = "&".join(f"f{number}=1" for number in range(10)).encode()

    response = hostile_client.generic("POST", ADD, body, content_type=FORM)

    assert_error_page(response, 400, "The shop could not read that request")


def test_an_unknown_page_gets_the_shops_404_page_with_its_headers(hostile_client):
    response = hostile_client.get("/no-such-page/")

    assert_error_page(response, 404, "We could not find that page")
    assert 'hx-headers=\'{"x-csrftoken":' in response.content.decode()


def test_an_unknown_page_asked_by_htmx_gets_the_message_alone(hostile_client):
    response = hostile_client.get("/no-such-page/", **HTMX)

    assert response.status_code == 404
    html = response.content.decode()
    assert "We could not find that page" in html and "<html" not in html


def test_a_csrf_failure_gets_the_shops_403_page(csrf_client, laptop):
    csrf_client.get("/")

    response = csrf_client.post(ADD, {"product": laptop.pk, "quantity": 1})

    assert_error_page(response, 403, "That form could not be checked")
    assert "CSRF" not in response.content.decode()  # no reason for an attacker
    assert "cart" not in stored_session(csrf_client)


def test_a_csrf_failure_asked_by_htmx_gets_the_message_alone(csrf_client, laptop):
    response = csrf_client.post(ADD, {"product": laptop.pk, "quantity": 1}, **HTMX)

    assert response.status_code == 403
    html = response.content.decode()
    assert "That form could not be checked" in html and "<html" not in html


def test_a_permission_denied_gets_the_shops_403_page(django_user_model, hostile_client):
    staff = django_user_model.objects.create(username="clerk", is_staff=True)
    hostile_client.force_login(staff)

    response = hostile_client.get(reverse("admin:payments_order_add"))

    assert_error_page(response, 403, "You are not allowed to do that")


MALFORMED_BODIES = [
    ("multipart/form-data", b"product=1"),
    ("multipart/form-data; boundary=", b"--\r\n"),
    ("multipart/form-data; boundary=" + "x" * 100, b"--xx\r\n"),
    (
        "multipart/form-data; boundary=xx",
        b'--xx\r\nContent-Disposition: form-data; name="product"\r\n\r\n1',
    ),
    (
        "multipart/form-data; boundary=xx",
        b"--xx\r\nContent-Disposition: form-data; name*=UTF-8''%ED%A0%80"
        b"\r\n\r\n1\r\n--xx--\r\n",
    ),
    (
        "multipart/form-data; boundary=xx",
        b'--xx\r\nContent-Disposition: form-data; name="product"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!\r\n--xx--\r\n",
    ),
    ("application/x-www-form-urlencoded; charset", b"product=1"),
    ("application/x-www-form-urlencoded; charset=", b"product=1"),
    ('application/x-www-form-urlencoded; charset="utf-8', b"product=1"),
    ("application/x-www-form-urlencoded", b"\xff\xfe\x00"),
    ("application/x-www-form-urlencoded", b"product=%ff%fe&quantity=%c0%af"),
    (";;;", b"x"),
]


@pytest.mark.parametrize(("content_type", "body"), MALFORMED_BODIES)
@pytest.mark.parametrize(
    "url",
    [ADD, CHECKOUT, LOGIN, reverse("payments:stripe-webhook")],
    ids=["add", "checkout", "login", "webhook"],
)
def test_malformed_bodies_are_never_a_server_error_and_change_nothing(
    hostile_client, laptop, stripe_double, url, content_type, body
):
    response = hostile_client.generic("POST", url, body, content_type=content_type)

    # A 4xx, or what the page does with an empty form (checkout of an empty
    # cart: 303 back to it; the sign-in form: 200 again).
    assert response.status_code < 500, response.content[:300]
    assert "cart" not in stored_session(hostile_client)
    assert not Order.objects.exists()
