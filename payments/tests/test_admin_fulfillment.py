"""Shipping paid orders from the admin: to ship, shipped, delivered."""

from __future__ import annotations

import pytest
from django.db.models import F
from django.db.models.signals import pre_save
from django.urls import reverse
from django.utils import timezone
from model_bakery import baker

from payments.models import Order
from storefront.models import Product

pytestmark = pytest.mark.django_db

ORDERS_URL = reverse("admin:payments_order_changelist")
Fulfillment = Order.Fulfillment


def paid_order(**fields) -> Order:
    defaults = {
        "status": Order.Status.PAID,
        "paid_at": timezone.now(),
        "total_cents": 3499,
        "subtotal_cents": 2999,
        "shipping_cents": 500,
        "currency": "usd",
        "requires_shipping": True,
        "fulfillment": Fulfillment.UNFULFILLED,
        "shipping_name": "Ada Lovelace",
        "shipping_city": "London",
        "shipping_country": "GB",
    }
    return baker.make(Order, **{**defaults, **fields})


@pytest.fixture
def staff_client(sign_in_staff):
    """A staff member who may look at orders and change them (ship)."""
    return sign_in_staff("view_order", "change_order", username="shipper")


def test_to_ship_filter_lists_paid_orders_not_yet_shipped(superuser_client):
    to_ship = paid_order()
    paid_order(fulfillment=Fulfillment.SHIPPED)
    paid_order(fulfillment="", requires_shipping=False)
    baker.make(Order, total_cents=100, currency="usd")  # pending

    response = superuser_client.get(ORDERS_URL, {"fulfillment": "to-ship"})

    assert [order.pk for order in response.context["cl"].result_list] == [to_ship.pk]


def test_ship_action_asks_for_carrier_and_tracking_then_ships_each(staff_client):
    first, second = paid_order(), paid_order()
    already = paid_order(fulfillment=Fulfillment.SHIPPED, carrier="DHL")
    selected = {"action": "mark_shipped", "_selected_action": [first.pk, second.pk]}

    page = staff_client.post(ORDERS_URL, {**selected})
    assert page.status_code == 200
    assert "Tracking number for" in page.content.decode()
    assert Order.objects.filter(fulfillment=Fulfillment.SHIPPED).count() == 1

    response = staff_client.post(
        ORDERS_URL,
        {
            **selected,
            "_selected_action": [first.pk, second.pk, already.pk],
            "apply": "1",
            "carrier": "Royal Mail",
            f"tracking_{first.pk}": "RM1",
            f"tracking_{second.pk}": "RM2",
        },
    )

    assert response.status_code == 302
    shipped = dict(
        Order.objects.filter(carrier="Royal Mail").values_list("pk", "tracking_number")
    )
    assert shipped == {first.pk: "RM1", second.pk: "RM2"}
    already.refresh_from_db()
    assert already.carrier == "DHL"
    first.refresh_from_db()
    assert first.fulfillment == Fulfillment.SHIPPED
    assert first.shipped_at is not None
    assert first.status_history[-1]["to"] == "shipped"
    assert first.status_history[-1]["by"] == "admin:shipper"


def test_ship_action_without_a_tracking_number_ships_nothing(staff_client):
    order = paid_order()

    response = staff_client.post(
        ORDERS_URL,
        {
            "action": "mark_shipped",
            "_selected_action": [order.pk],
            "apply": "1",
            "carrier": "UPS",
        },
    )

    assert response.status_code == 200  # the form again, with its error
    order.refresh_from_db()
    assert order.fulfillment == Fulfillment.UNFULFILLED


def test_ship_form_for_one_order_then_deliver(staff_client):
    order = paid_order()
    ship_url = reverse("admin:payments_order_ship", args=[order.pk])
    assert (
        "Mark shipped"
        in staff_client.get(
            reverse("admin:payments_order_change", args=[order.pk])
        ).content.decode()
    )

    staff_client.post(ship_url, {"carrier": "UPS", f"tracking_{order.pk}": "1Z9"})
    staff_client.post(
        ORDERS_URL, {"action": "mark_delivered", "_selected_action": [order.pk]}
    )

    order.refresh_from_db()
    assert (order.fulfillment, order.carrier, order.tracking_number) == (
        Fulfillment.DELIVERED,
        "UPS",
        "1Z9",
    )
    assert order.delivered_at is not None
    # Shipping again changes nothing.
    staff_client.post(ship_url, {"carrier": "DHL", f"tracking_{order.pk}": "X"})
    order.refresh_from_db()
    assert order.carrier == "UPS"


def test_deliver_action_leaves_unshipped_orders_alone(staff_client):
    order = paid_order()

    staff_client.post(
        ORDERS_URL, {"action": "mark_delivered", "_selected_action": [order.pk]}
    )

    order.refresh_from_db()
    assert order.fulfillment == Fulfillment.UNFULFILLED


def test_shipping_needs_the_change_permission(client, sign_in_staff):
    sign_in_staff("view_order", username="viewer")
    order = paid_order()

    form = client.post(
        reverse("admin:payments_order_ship", args=[order.pk]),
        {"carrier": "UPS", f"tracking_{order.pk}": "1Z9"},
    )
    action = client.post(
        ORDERS_URL,
        {
            "action": "mark_shipped",
            "_selected_action": [order.pk],
            "apply": "1",
            "carrier": "UPS",
            f"tracking_{order.pk}": "1Z9",
        },
    )

    assert form.status_code == 403
    assert "mark_shipped" not in client.get(ORDERS_URL).content.decode()
    assert action.status_code in {200, 302}
    order.refresh_from_db()
    assert order.fulfillment == Fulfillment.UNFULFILLED


def test_product_admin_shows_stock_counts_and_saving_never_writes_them_back(
    superuser_client, laptop
):
    Product.objects.filter(pk=laptop.pk).update(stock=4, reserved=2, sold=7)
    listing = superuser_client.get(reverse("admin:storefront_product_changelist"))
    assert '<td class="field-reserved">2</td>' in listing.content.decode()

    def checkout_holds_one_meanwhile(sender, instance, **kwargs) -> None:
        # A checkout commits between the admin's read of the row and its write.
        Product.objects.filter(pk=instance.pk).update(
            stock=F("stock") - 1, reserved=F("reserved") + 1
        )

    pre_save.connect(checkout_holds_one_meanwhile, sender=Product)
    try:
        superuser_client.post(
            reverse("admin:storefront_product_change", args=[laptop.pk]),
            {
                "name": "Laptop",
                "description": "",
                "price_cents": 89999,
                "is_active": "on",
                "requires_shipping": "on",
                "stock": 4,
                # The pictures inline's management form, with no picture.
                "images-TOTAL_FORMS": "0",
                "images-INITIAL_FORMS": "0",
            },
        )
    finally:
        pre_save.disconnect(checkout_holds_one_meanwhile, sender=Product)

    laptop.refresh_from_db()
    assert (laptop.price_cents, laptop.stock, laptop.reserved, laptop.sold) == (
        89999,
        3,
        3,
        7,
    )


def test_order_page_in_the_admin_shows_the_address_as_a_label(staff_client):
    order = paid_order(
        shipping_line1="10 Downing Street",
        shipping_city="London",
        shipping_postal_code="SW1A 2AA",
    )

    html = staff_client.get(
        reverse("admin:payments_order_change", args=[order.pk])
    ).content.decode()

    assert "Ada Lovelace, 10 Downing Street, LONDON, SW1A 2AA, UNITED KINGDOM" in html
