"""Rate limits: per client, counted in the cache, 429 with a plain message.

The root conftest switches limits off for the suite; the ``rate_limits``
fixture switches them back on with budgets of 3 cart changes and 2 checkouts
an hour, and clears the counters.
"""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from payments.models import Order
from storefront.rate_limits import TOO_MANY_CHANGES, TOO_MANY_CHECKOUTS, client_ip

from .conftest import HTMX, stored_session

pytestmark = pytest.mark.django_db

ADD = reverse("storefront:cart-add")
UPDATE = reverse("storefront:cart-update")
REMOVE = reverse("storefront:cart-remove")
CHECKOUT = reverse("payments:checkout")


def behind_router(client_address: str, spoofed: str = "") -> dict[str, str]:
    """Headers as the router sends them: it appends the address it saw."""
    forwarded = f"{spoofed}, {client_address}" if spoofed else client_address
    return {"HTTP_X_FORWARDED_FOR": forwarded, "REMOTE_ADDR": "10.1.2.3"}


def spend_cart_budget(client: Client, product, **headers) -> None:
    for _ in range(3):
        response = client.post(ADD, {"product": product.pk, "quantity": 1}, **headers)
        assert response.status_code == (200 if "HTTP_HX_REQUEST" in headers else 303)


def test_plain_cart_change_over_the_limit_gets_a_429_page_and_changes_nothing(
    client, rate_limits, laptop, mouse
):
    spend_cart_budget(client, laptop)
    before = stored_session(client)

    responses = [
        client.post(ADD, {"product": mouse.pk, "quantity": 1}),
        client.post(UPDATE, {"product": laptop.pk, "quantity": 9}),
        client.post(REMOVE, {"product": laptop.pk}),
    ]

    for response in responses:
        assert response.status_code == 429
        html = response.content.decode()
        assert "<html" in html and TOO_MANY_CHANGES in html
        assert "Laptop" in html  # the cart, as it still is
    assert stored_session(client) == before
    assert before["cart"] == {str(laptop.pk): 3}


def test_htmx_cart_change_over_the_limit_gets_a_429_fragment_and_changes_nothing(
    client, rate_limits, laptop, mouse
):
    spend_cart_budget(client, laptop, **HTMX)
    before = stored_session(client)

    response = client.post(ADD, {"product": mouse.pk, "quantity": 1}, **HTMX)

    assert response.status_code == 429
    html = response.content.decode()
    assert "<html" not in html
    assert TOO_MANY_CHANGES in html
    assert 'id="cart-count"' in html and 'hx-swap-oob="true"' in html
    assert stored_session(client) == before


def test_checkout_over_the_limit_gets_a_429_page_and_creates_nothing(
    client, rate_limits, stripe_double, laptop, mouse
):
    client.post(ADD, {"product": laptop.pk, "quantity": 1})
    for _ in range(2):  # the second press reuses the first Checkout Session
        assert client.post(CHECKOUT).status_code == 303
    client.post(ADD, {"product": mouse.pk, "quantity": 1})
    mouse.is_active = False
    mouse.save()
    before = stored_session(client)
    double_requests = len(stripe_double.requests)
    order = Order.objects.get()

    response = client.post(CHECKOUT)

    assert response.status_code == 429
    html = response.content.decode()
    assert "<html" in html and TOO_MANY_CHECKOUTS in html
    # The same cart panel as every page's, which tells what left the cart.
    assert f"{mouse.name} is no longer available" in html
    assert list(Order.objects.all()) == [order]
    assert len(stripe_double.requests) == double_requests
    assert stored_session(client) == before  # nor was the session key cycled


def test_behind_the_router_a_spoofed_forwarded_for_does_not_evade_the_limit(
    client, rate_limits, laptop
):
    rate_limits.TRUSTED_PROXY_HOPS = 1
    for number in range(3):
        response = client.post(
            ADD,
            {"product": laptop.pk, "quantity": 1},
            **behind_router("203.0.113.7", spoofed=f"192.0.2.{number}"),
        )
        assert response.status_code == 303

    spoofed = client.post(
        ADD,
        {"product": laptop.pk, "quantity": 1},
        **behind_router("203.0.113.7", spoofed="192.0.2.99, 203.0.113.8"),
    )

    assert spoofed.status_code == 429
    assert stored_session(client)["cart"] == {str(laptop.pk): 3}


def test_behind_the_router_each_client_address_has_its_own_budget(rate_limits, laptop):
    rate_limits.TRUSTED_PROXY_HOPS = 1
    first, second = Client(), Client()
    spend_cart_budget(first, laptop, **behind_router("203.0.113.7"))

    # Same router, same REMOTE_ADDR, another shopper.
    other = second.post(
        ADD, {"product": laptop.pk, "quantity": 1}, **behind_router("203.0.113.8")
    )
    again = first.post(
        ADD, {"product": laptop.pk, "quantity": 1}, **behind_router("203.0.113.7")
    )

    assert other.status_code == 303
    assert again.status_code == 429


def test_without_a_router_remote_addr_counts_and_forwarded_for_is_ignored(
    rate_limits, laptop
):
    rate_limits.TRUSTED_PROXY_HOPS = 0
    first, second = Client(), Client()
    for number in range(3):
        response = first.post(
            ADD,
            {"product": laptop.pk, "quantity": 1},
            REMOTE_ADDR="198.51.100.1",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{number}",
        )
        assert response.status_code == 303

    limited = first.post(
        ADD,
        {"product": laptop.pk, "quantity": 1},
        REMOTE_ADDR="198.51.100.1",
        HTTP_X_FORWARDED_FOR="192.0.2.200",
    )
    other = second.post(
        ADD, {"product": laptop.pk, "quantity": 1}, REMOTE_ADDR="198.51.100.2"
    )

    assert limited.status_code == 429
    assert other.status_code == 303


def test_cart_and_checkout_budgets_are_separate(
    client, rate_limits, stripe_double, laptop
):
    spend_cart_budget(client, laptop)

    assert client.post(ADD, {"product": laptop.pk, "quantity": 1}).status_code == 429
    assert client.post(CHECKOUT).status_code == 303


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (0, "192.0.2.1", "10.0.0.1"),
        (1, "", "10.0.0.1"),
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "192.0.2.1, 203.0.113.7", "203.0.113.7"),
        (1, " 192.0.2.1 ,203.0.113.7 ", "203.0.113.7"),
        (1, "192.0.2.1,, 203.0.113.7,", "203.0.113.7"),
        (2, "192.0.2.1, 203.0.113.7, 10.9.9.9", "203.0.113.7"),
        (2, "203.0.113.7", "10.0.0.1"),
    ],
)
def test_client_ip_is_the_entry_the_trusted_hops_appended(
    settings, hops, forwarded, expected
):
    settings.TRUSTED_PROXY_HOPS = hops
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    request = RequestFactory().post(ADD, REMOTE_ADDR="10.0.0.1", **headers)

    assert client_ip("cart", request) == expected
