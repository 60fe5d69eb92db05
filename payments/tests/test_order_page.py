"""The order page at its secret link, and the admin action that revokes a link."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from model_bakery import baker

from payments.models import Order

pytestmark = pytest.mark.django_db

ORDERS_URL = reverse("admin:payments_order_changelist")
NOT_FOUND = "We could not find that order"


@pytest.fixture
def paid_order(paid_order_with_items, laptop, mouse) -> Order:
    return paid_order_with_items(
        laptop=laptop, mouse=mouse, customer_email="ada@example.com"
    )


def page(token: str, client: Client | None = None):
    return (client or Client()).get(f"/orders/{token}/")


def without_csrf(html: str) -> str:
    """The page less its CSRF token, which is masked anew on every response."""
    return re.sub(r'"x-csrftoken": "[^"]*"', "", html)


def test_order_page_shows_status_items_and_totals_to_any_browser(
    paid_order, django_assert_max_num_queries
):
    assert len(paid_order.access_token) == 43

    # The order, its items, its refunds.
    with django_assert_max_num_queries(3):
        response = page(paid_order.access_token)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Paid. We are preparing your order." in html
    assert f"Order {str(paid_order.public_id)[:8].upper()}" in html
    # The cells without the ids and headers that tie each to its row and column.
    cells = re.sub(r' (id|headers)="[^"]*"', "", html)
    assert (
        '<th scope="row">Laptop</th><td>$999.99</td><td>1</td><td>$999.99</td>' in cells
    )
    assert '<th scope="row">Mouse</th><td>$29.99</td><td>2</td><td>$59.98</td>' in cells
    assert '<td class="cart__total">$1,059.97</td>' in cells
    assert paid_order.get_absolute_url() == f"/orders/{paid_order.access_token}/"


def test_order_page_shows_where_a_shipped_order_goes_and_its_tracking(paid_order):
    Order.objects.filter(pk=paid_order.pk).update(
        requires_shipping=True,
        shipping_name="Ada Lovelace",
        shipping_line1="1 Main St",
        shipping_city="Springfield",
        shipping_postal_code="97477",
        shipping_country="US",
        fulfillment=Order.Fulfillment.SHIPPED,
        carrier="UPS",
        tracking_number="1Z999AA10123456784",
    )

    html = page(paid_order.access_token).content.decode()

    assert "Ada Lovelace<br>1 Main St<br>SPRINGFIELD, 97477<br>UNITED STATES" in html
    assert "Shipped with UPS; tracking number 1Z999AA10123456784." in html


def test_order_page_keeps_its_address_secret(paid_order):
    response = page(paid_order.access_token)

    assert response["Cache-Control"] == "private, no-cache"
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["X-Robots-Tag"] == "noindex"
    html = response.content.decode()
    assert '<meta name="robots" content="noindex">' in html
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "style=" not in html
    assert "<script" not in html
    # Nothing on the page loads from elsewhere, so nothing elsewhere sees it.
    assert not re.search(r'(src|href)="https?://', html)
    assert "sessionid" not in response.cookies


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (Order.Status.PENDING, "waiting for the payment to be confirmed"),
        (Order.Status.FAILED, "The payment did not go through"),
        (Order.Status.EXPIRED, "The checkout expired before payment"),
    ],
)
def test_order_page_says_the_status_in_words(paid_order, status, words):
    Order.objects.filter(pk=paid_order.pk).update(status=status, paid_at=None)

    response = page(paid_order.access_token)

    assert response.status_code == 200
    assert words in response.content.decode()


def test_wrong_malformed_and_unknown_tokens_all_get_the_same_404(paid_order):
    token = paid_order.access_token
    wrong = [
        token[:-1] + ("A" if token[-1] != "A" else "B"),  # one character off
        token[:-1],  # one character short
        token + "x",
        token.upper() if token.upper() != token else token.lower(),
        "x" * 43,
        "é" * 43,
        str(paid_order.public_id),
        str(paid_order.pk),
    ]
    responses = [page(candidate) for candidate in wrong]

    assert {response.status_code for response in responses} == {404}
    bodies = {without_csrf(response.content.decode()) for response in responses}
    assert len(bodies) == 1
    assert NOT_FOUND in bodies.pop()
    assert {response["Cache-Control"] for response in responses} == {
        "private, no-cache"
    }
    assert {response["Referrer-Policy"] for response in responses} == {"no-referrer"}


def test_every_order_gets_its_own_token(db):
    orders = baker.make(Order, total_cents=100, currency="usd", _quantity=20)

    tokens = {order.access_token for order in orders}

    assert len(tokens) == 20
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", token) for token in tokens)


def revoke(client: Client, order: Order):
    return client.post(
        ORDERS_URL,
        {"action": "revoke_order_links", "_selected_action": [order.pk]},
        follow=True,
    )


def test_admin_revokes_a_link_the_old_one_is_404_and_the_new_one_works(
    superuser_client, paid_order
):
    old = paid_order.access_token
    changelist = superuser_client.get(ORDERS_URL).content.decode()
    assert 'value="revoke_order_links"' in changelist

    response = revoke(superuser_client, paid_order)

    assert response.status_code == 200
    assert "Revoked the links of 1 order(s)" in response.content.decode()
    paid_order.refresh_from_db()
    assert paid_order.access_token != old
    assert len(paid_order.access_token) == 43
    old_page = page(old)
    assert old_page.status_code == 404
    assert NOT_FOUND in old_page.content.decode()
    assert page(paid_order.access_token).status_code == 200


def test_staff_who_may_only_view_orders_cannot_revoke_a_link(
    client, sign_in_staff, paid_order
):
    sign_in_staff("view_order")
    old = paid_order.access_token

    changelist = client.get(ORDERS_URL)
    assert changelist.status_code == 200
    assert 'value="revoke_order_links"' not in changelist.content.decode()
    revoke(client, paid_order)

    paid_order.refresh_from_db()
    assert paid_order.access_token == old


def test_staff_with_the_change_permission_can_revoke_a_link(
    client, sign_in_staff, paid_order
):
    sign_in_staff("view_order", "change_order")
    old = paid_order.access_token

    revoke(client, paid_order)

    paid_order.refresh_from_db()
    assert paid_order.access_token != old


def test_revoking_needs_a_post_with_the_csrf_token(
    csrf_client, django_user_model, paid_order
):
    csrf_client.force_login(
        baker.make(django_user_model, is_staff=True, is_superuser=True)
    )
    old = paid_order.access_token

    response = csrf_client.post(
        ORDERS_URL,
        {"action": "revoke_order_links", "_selected_action": [paid_order.pk]},
    )

    assert response.status_code == 403
    paid_order.refresh_from_db()
    assert paid_order.access_token == old


def test_admin_view_on_site_opens_the_orders_page(superuser_client, paid_order):
    change = superuser_client.get(
        reverse("admin:payments_order_change", args=[paid_order.pk])
    )
    shortcut = re.search(r'href="(/admin/r/\d+/\d+/)"', change.content.decode())

    assert shortcut, "no View on site link"
    response = superuser_client.get(shortcut.group(1))
    assert response.status_code == 302
    assert response["Location"].endswith(f"/orders/{paid_order.access_token}/")
