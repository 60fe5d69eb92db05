"""The operators' admin: orders and Stripe events to look at, products to sell."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone
from model_bakery import baker

from payments.models import Order, OrderItem, OrderProblem, StripeEvent

pytestmark = pytest.mark.django_db

ORDERS_URL = reverse("admin:payments_order_changelist")
EVENTS_URL = reverse("admin:payments_stripeevent_changelist")
PRODUCTS_URL = reverse("admin:storefront_product_changelist")


def make_order(**fields) -> Order:
    defaults = {"total_cents": 105997, "currency": "usd"}
    return baker.make(Order, **{**defaults, **fields})


def listed(response) -> list[int]:
    assert response.status_code == 200
    return sorted(order.pk for order in response.context["cl"].result_list)


@pytest.fixture
def order_with_items(paid_order_with_items, laptop, mouse) -> Order:
    return paid_order_with_items(
        laptop=laptop,
        mouse=mouse,
        checkout_session_id="cs_test_admin0000000000000000000000000000000000000000000",
        customer_email="ada@example.com",
        payment_intent_id="pi_admin000000000000000000",
    )


@pytest.mark.parametrize("url", [ORDERS_URL, EVENTS_URL, PRODUCTS_URL])
def test_admin_pages_send_anonymous_visitors_to_the_login(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_admin_refuses_a_signed_in_shopper_who_is_not_staff(
    client, django_user_model, order_with_items
):
    client.force_login(baker.make(django_user_model, is_staff=False))

    response = client.get(ORDERS_URL)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_order_changelist_shows_orders_with_money(superuser_client, order_with_items):
    response = superuser_client.get(ORDERS_URL)

    html = response.content.decode()
    assert listed(response) == [order_with_items.pk]
    assert str(order_with_items.public_id) in html
    assert "$1,059.97" in html
    assert "ada@example.com" in html


def test_order_changelist_searches_by_public_id_session_id_and_email(
    superuser_client, order_with_items
):
    other = make_order(
        checkout_session_id="cs_test_other000000000000000000000000000000000000000000",
        customer_email="grace@example.com",
    )

    for term in (
        str(order_with_items.public_id),
        order_with_items.checkout_session_id,
        order_with_items.payment_intent_id,
        "ada@example.com",
        "ADA@",
    ):
        assert listed(superuser_client.get(ORDERS_URL, {"q": term})) == [
            order_with_items.pk
        ], term
    assert listed(superuser_client.get(ORDERS_URL, {"q": "grace"})) == [other.pk]
    assert listed(superuser_client.get(ORDERS_URL, {"q": "nobody@example.com"})) == []


def test_order_changelist_filters_by_status_and_needs_attention(
    superuser_client, order_with_items
):
    pending = make_order()
    mismatched = make_order()
    baker.make(OrderProblem, order=mismatched, message="Amount mismatch: 1 usd.")
    failed = make_order(status=Order.Status.FAILED)
    baker.make(OrderProblem, order=failed, message="Stripe was down.")
    settled = make_order(status=Order.Status.EXPIRED)
    baker.make(
        OrderProblem,
        order=settled,
        message="Could not expire the session.",
        resolved_at=timezone.now(),
    )

    by_status = superuser_client.get(ORDERS_URL, {"status__exact": "pending"})
    needs_attention = superuser_client.get(ORDERS_URL, {"problem": "yes"})
    fine = superuser_client.get(ORDERS_URL, {"problem": "no"})

    assert listed(by_status) == sorted([pending.pk, mismatched.pk])
    assert listed(needs_attention) == sorted([mismatched.pk, failed.pk])
    assert listed(fine) == sorted([order_with_items.pk, pending.pk, settled.pk])
    assert "needs attention" in needs_attention.content.decode().lower()


def test_order_change_page_shows_items_and_money_and_edits_nothing(
    superuser_client, order_with_items
):
    url = reverse("admin:payments_order_change", args=[order_with_items.pk])

    response = superuser_client.get(url)

    assert response.status_code == 200
    html = response.content.decode()
    for text in ("Laptop", "Mouse", "$999.99", "$29.99", "$59.98", "$1,059.97"):
        assert text in html, text
    assert order_with_items.checkout_session_id in html
    assert 'name="_save"' not in html
    assert 'name="status"' not in html
    assert 'name="items-0-quantity"' not in html
    assert superuser_client.post(url, {"status": "pending"}).status_code == 403
    order_with_items.refresh_from_db()
    assert order_with_items.status == Order.Status.PAID


def test_orders_cannot_be_added_in_the_admin(superuser_client):
    response = superuser_client.get(reverse("admin:payments_order_add"))

    assert response.status_code == 403
    changelist = superuser_client.get(ORDERS_URL).content.decode()
    assert reverse("admin:payments_order_add") not in changelist


def test_stripe_events_are_listed_read_only(superuser_client):
    event = baker.make(
        StripeEvent,
        event_id="evt_admin_listed",
        type="checkout.session.completed",
        checkout_session_id="cs_test_event",
        payload={"id": "evt_admin_listed"},
    )
    change_url = reverse("admin:payments_stripeevent_change", args=[event.pk])
    delete_url = reverse("admin:payments_stripeevent_delete", args=[event.pk])

    changelist = superuser_client.get(EVENTS_URL)
    change_page = superuser_client.get(change_url)

    assert changelist.status_code == 200
    assert "evt_admin_listed" in changelist.content.decode()
    assert reverse("admin:payments_stripeevent_add") not in changelist.content.decode()
    assert change_page.status_code == 200
    assert 'name="_save"' not in change_page.content.decode()
    assert superuser_client.get(
        reverse("admin:payments_stripeevent_add")
    ).status_code == (403)
    assert superuser_client.post(change_url, {"type": "x"}).status_code == 403
    assert superuser_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert StripeEvent.objects.get().type == "checkout.session.completed"


def test_product_changelist_shows_prices_as_money(superuser_client, laptop, mouse):
    html = superuser_client.get(PRODUCTS_URL).content.decode()

    assert "$999.99" in html
    assert "$29.99" in html
    assert "99999" not in html


@pytest.mark.parametrize("count", [5, 200])
def test_order_changelist_query_count_is_flat(
    superuser_client, count, django_assert_max_num_queries
):
    for order in baker.make(
        Order,
        total_cents=1000,
        currency="usd",
        customer_email="shopper@example.com",
        _quantity=count,
    ):
        baker.make(OrderItem, order=order, unit_price_cents=1000, quantity=1)

    with django_assert_max_num_queries(6):
        response = superuser_client.get(ORDERS_URL)

    assert len(response.context["cl"].result_list) == min(count, 50)


def test_order_change_page_lists_its_problems_as_a_history(superuser_client):
    order = make_order(status=Order.Status.EXPIRED)
    baker.make(
        OrderProblem,
        order=order,
        message="Could not expire the Checkout Session at Stripe.",
        by="paid-elsewhere:x",
        resolved_at=timezone.now(),
        resolved_by="reconcile",
    )
    baker.make(OrderProblem, order=order, message="Amount mismatch: 1 usd.")
    url = reverse("admin:payments_order_change", args=[order.pk])

    html = superuser_client.get(url).content.decode()

    assert html.index("Amount mismatch") < html.index("Could not expire")
    assert "paid-elsewhere:x" in html and "reconcile" in html
    assert 'name="problems-0-message"' not in html


@pytest.mark.parametrize("count", [5, 200])
def test_needs_attention_list_query_count_is_flat(
    superuser_client, count, django_assert_max_num_queries
):
    for order in baker.make(Order, total_cents=1000, currency="usd", _quantity=count):
        baker.make(OrderProblem, order=order, message="Stripe was down.")
        baker.make(
            OrderProblem, order=order, message="Old.", resolved_at=timezone.now()
        )

    with django_assert_max_num_queries(6):
        response = superuser_client.get(ORDERS_URL, {"problem": "yes"})

    assert len(response.context["cl"].result_list) == min(count, 50)


def test_an_operator_marks_an_orders_problems_as_dealt_with(superuser_client):
    flagged = make_order(status=Order.Status.PAID, paid_at=timezone.now())
    other = make_order()
    baker.make(OrderProblem, order=flagged, message="Paid twice.")
    baker.make(OrderProblem, order=other, message="Stripe was down.")

    response = superuser_client.post(
        ORDERS_URL,
        {"action": "resolve_problems", "_selected_action": [flagged.pk]},
        follow=True,
    )

    assert [str(m) for m in response.context["messages"]] == [
        "1 problem(s) marked as dealt with."
    ]
    problem = OrderProblem.objects.get(order=flagged)
    assert problem.resolved_at is not None
    assert problem.resolved_by == "admin:operator"
    assert OrderProblem.objects.get(order=other).resolved_at is None
    assert listed(superuser_client.get(ORDERS_URL, {"problem": "yes"})) == [other.pk]


def test_a_staff_user_who_may_only_view_orders_cannot_mark_problems_dealt_with(
    client, sign_in_staff
):
    sign_in_staff("view_order")
    order = make_order()
    baker.make(OrderProblem, order=order, message="Stripe was down.")

    changelist = client.get(ORDERS_URL)
    client.post(
        ORDERS_URL, {"action": "resolve_problems", "_selected_action": [order.pk]}
    )

    assert changelist.status_code == 200
    assert "resolve_problems" not in changelist.content.decode()
    assert OrderProblem.objects.get().resolved_at is None


def test_staff_who_may_view_orders_see_an_orders_items_and_problems(
    client, sign_in_staff, order_with_items
):
    sign_in_staff("view_order")
    baker.make(OrderProblem, order=order_with_items, message="Stripe was down.")

    page = client.get(
        reverse("admin:payments_order_change", args=[order_with_items.pk])
    )

    html = page.content.decode()
    assert page.status_code == 200
    assert "Laptop" in html and "Mouse" in html
    assert "Stripe was down." in html
