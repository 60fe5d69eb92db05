"""Refunds from the admin: who may, the action, the form, money as entered."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from model_bakery import baker

from payments.models import Order, Refund
from payments.tests.conftest import deliver_events
from storefront.models import Product

pytestmark = pytest.mark.django_db

ORDERS_URL = reverse("admin:payments_order_changelist")


@pytest.fixture
def lamp(db) -> Product:
    return baker.make(Product, name="Lamp", price_cents=2500, stock=5)


@pytest.fixture
def lamp_order(stripe_double, new_shopper, checkout_order, lamp) -> Order:
    """A paid order for 2 of the 5 lamps in stock; `lamp` is fresh from the database."""
    order = checkout_order(new_shopper(lamp, quantity=2))
    stripe_double.pay(order.checkout_session_id, email="a@ex.com")
    deliver_events(*stripe_double.events)
    order.refresh_from_db()
    lamp.refresh_from_db()
    return order


def refund_url(order: Order) -> str:
    return reverse("admin:payments_order_refund", args=[order.pk])


def test_refund_form_takes_money_and_refunds_that_many_cents(
    superuser_client, paid_order, stripe_double
):
    page = superuser_client.get(refund_url(paid_order))
    assert page.status_code == 200
    assert "$1,029.98 left to refund" in page.content.decode()

    response = superuser_client.post(
        refund_url(paid_order),
        {"amount": "10.50", "reason": "requested_by_customer"},
        follow=True,
    )

    made = Refund.objects.get()
    assert made.amount_cents == 1050
    assert made.requested_by == "admin:operator"
    assert made.status == Refund.Status.SUCCEEDED
    assert "Refund of $10.50 succeeded" in response.content.decode()
    change_page = superuser_client.get(
        reverse("admin:payments_order_change", args=[paid_order.pk])
    ).content.decode()
    assert "$1,019.48 left to refund" in change_page
    assert made.stripe_refund_id in change_page
    paid_order.refresh_from_db()
    assert paid_order.status == Order.Status.PARTIALLY_REFUNDED


def test_refund_form_refuses_more_than_is_left_and_unknown_reasons(
    superuser_client, paid_order, stripe_double
):
    too_much = superuser_client.post(
        refund_url(paid_order), {"amount": "1029.99", "reason": "duplicate"}
    )
    bad_reason = superuser_client.post(
        refund_url(paid_order), {"amount": "1", "reason": "expired_uncaptured_charge"}
    )
    fraction = superuser_client.post(
        refund_url(paid_order), {"amount": "0.001", "reason": "duplicate"}
    )

    assert "At most $1,029.98 is left to refund" in too_much.content.decode()
    assert bad_reason.status_code == 200 and fraction.status_code == 200
    assert Refund.objects.count() == 0
    assert not [r for r in stripe_double.requests if r["path"] == "/v1/refunds"]


def test_refund_action_opens_the_form_for_one_order(superuser_client, paid_order):
    response = superuser_client.post(
        ORDERS_URL, {"action": "refund", "_selected_action": [paid_order.pk]}
    )

    assert response.status_code == 302
    assert response["Location"] == refund_url(paid_order)


def test_staff_without_the_refund_permission_can_neither_see_nor_refund(
    client, sign_in_staff, paid_order, stripe_double
):
    sign_in_staff("view_order", "change_order", "reconcile_order")

    changelist = client.get(ORDERS_URL)
    form = client.get(refund_url(paid_order))
    posted = client.post(refund_url(paid_order), {"amount": "5", "reason": "duplicate"})
    action = client.post(
        ORDERS_URL, {"action": "refund", "_selected_action": [paid_order.pk]}
    )

    assert changelist.status_code == 200
    assert 'value="refund"' not in changelist.content.decode()
    assert form.status_code == 403
    assert posted.status_code == 403
    assert action.status_code != 302 or action["Location"] != refund_url(paid_order)
    assert Refund.objects.count() == 0


def test_staff_with_the_refund_permission_refunds(
    client, sign_in_staff, paid_order, stripe_double
):
    sign_in_staff("view_order", "refund_order")

    assert 'value="refund"' in client.get(ORDERS_URL).content.decode()
    client.post(refund_url(paid_order), {"amount": "5", "reason": "duplicate"})

    made = Refund.objects.get()
    assert made.amount_cents == 500
    # The order's refunds show to whoever may see the order.
    change_page = client.get(
        reverse("admin:payments_order_change", args=[paid_order.pk])
    ).content.decode()
    assert 'id="refunds-group"' in change_page
    assert 'id="disputes-group"' in change_page


def test_refunded_orders_are_not_offered_for_shipping(superuser_client, paid_order):
    Order.objects.filter(pk=paid_order.pk).update(
        status=Order.Status.REFUNDED, fulfillment=Order.Fulfillment.UNFULFILLED
    )
    partly = baker.make(
        Order,
        status=Order.Status.PARTIALLY_REFUNDED,
        paid_at=paid_order.paid_at,
        total_cents=500,
        currency="usd",
        fulfillment=Order.Fulfillment.UNFULFILLED,
    )

    listed = superuser_client.get(ORDERS_URL, {"fulfillment": "to-ship"})

    assert [o.pk for o in listed.context["cl"].result_list] == [partly.pk]


def money(order: Order) -> str:
    """Return the whole of an order's total as the form takes it: 1059.97."""
    return f"{order.total_cents // 100}.{order.total_cents % 100:02d}"


def change_url(order: Order) -> str:
    return reverse("admin:payments_order_change", args=[order.pk])


def test_order_page_offers_the_refund_button_only_to_those_who_may_refund(
    client, django_user_model, sign_in_staff, paid_order
):
    button = f'<a href="{refund_url(paid_order)}">Refund…</a>'
    sign_in_staff("view_order", "change_order", "reconcile_order")
    without = client.get(change_url(paid_order)).content.decode()
    staff_user = django_user_model.objects.get(username="clerk")
    staff_user.user_permissions.add(Permission.objects.get(codename="refund_order"))

    with_permission = client.get(change_url(paid_order)).content.decode()

    assert "$1,029.98 left to refund" in without
    assert button not in without
    assert button in with_permission


def test_fully_refunded_order_offers_no_refund_button(
    superuser_client, paid_order, stripe_double
):
    superuser_client.post(
        refund_url(paid_order), {"amount": "1029.98", "reason": "duplicate"}
    )

    page = superuser_client.get(change_url(paid_order)).content.decode()
    form = superuser_client.get(refund_url(paid_order))

    assert "Fully refunded" in page
    assert refund_url(paid_order) not in page
    assert form.status_code == 302
    assert form["Location"] == change_url(paid_order)


def test_full_refund_from_the_form_puts_the_items_back_when_asked(
    superuser_client, lamp, lamp_order
):
    assert (lamp.stock, lamp.sold) == (3, 2)

    partial = superuser_client.post(
        refund_url(lamp_order),
        {"amount": "10.00", "reason": "requested_by_customer", "restock": "on"},
        follow=True,
    )
    lamp.refresh_from_db()
    assert "Not refunded" in partial.content.decode()
    assert (lamp.stock, lamp.sold) == (3, 2)

    superuser_client.post(
        refund_url(lamp_order),
        {
            "amount": money(lamp_order),
            "reason": "requested_by_customer",
            "restock": "on",
        },
    )

    lamp.refresh_from_db()
    lamp_order.refresh_from_db()
    assert lamp_order.status == Order.Status.REFUNDED
    assert (lamp.stock, lamp.sold, lamp.reserved) == (5, 0, 0)
    assert Refund.objects.get(status=Refund.Status.SUCCEEDED).restocked_at


def test_full_refund_without_the_checkbox_leaves_stock_alone(
    superuser_client, lamp, lamp_order
):

    superuser_client.post(
        refund_url(lamp_order),
        {"amount": money(lamp_order), "reason": "requested_by_customer"},
    )

    lamp.refresh_from_db()
    lamp_order.refresh_from_db()
    assert lamp_order.status == Order.Status.REFUNDED
    assert (lamp.stock, lamp.sold) == (3, 2)
