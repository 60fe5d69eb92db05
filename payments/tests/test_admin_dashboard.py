"""The admin's "orders at a glance" page and the orders' CSV export."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from model_bakery import baker

from payments.models import Order, OrderItem, OrderProblem

pytestmark = pytest.mark.django_db

DASHBOARD_URL = reverse("admin:payments_order_dashboard")
EXPORT_URL = reverse("admin:payments_order_export")
ORDERS_URL = reverse("admin:payments_order_changelist")
INDEX_URL = reverse("admin:index")
# Session, user, permissions (twice), then the page's own: one grouped query
# for the days and two counts.
DASHBOARD_QUERIES = 7
# Session, user, permissions (twice), the list's count, then per 500 orders one
# query for the orders, one for their items and one for their open problems.
EXPORT_QUERIES = 8


def paid(days_ago: int, total_cents: int, **fields) -> Order:
    at = timezone.now() - timedelta(days=days_ago)
    order = baker.make(
        Order,
        status=Order.Status.PAID,
        paid_at=at,
        total_cents=total_cents,
        currency="usd",
        **fields,
    )
    Order.objects.filter(pk=order.pk).update(created_at=at)
    return order


@pytest.fixture
def viewer(sign_in_staff):
    """A client signed in as staff who may view orders and nothing else."""
    return sign_in_staff("view_order")


@pytest.fixture
def sales(db) -> list[Order]:
    """Two orders paid today, one three days ago, one 40 days ago, two pending.

    The last has two unresolved problems and one settled; the first, one settled.
    """
    orders = [
        paid(0, 1000),
        paid(0, 2550),
        paid(3, 99999),
        paid(40, 5000),  # outside the 30 days
        baker.make(Order, status=Order.Status.PENDING, total_cents=700, currency="usd"),
        baker.make(Order, status=Order.Status.PENDING, total_cents=800, currency="usd"),
    ]
    for message, resolved_at in [
        ("Amount mismatch: Stripe says 1 usd.", None),
        ("Checked with Stripe: still unpaid.", None),
        ("Stripe was unreachable.", timezone.now()),  # settled since
    ]:
        OrderProblem.objects.create(
            order=orders[-1], message=message, resolved_at=resolved_at
        )
    # A problem settled since: no longer needing attention.
    OrderProblem.objects.create(
        order=orders[0], message="Stripe was unreachable.", resolved_at=timezone.now()
    )
    return orders


def rect_heights(html: str, chart_id: str) -> list[float]:
    svg = html.split(f'aria-labelledby="{chart_id}-title"', 1)[1].split("</svg>", 1)[0]
    return [
        float(height) for height in re.findall(r'<rect[^>]* height="([\d.]+)"', svg)
    ]


def test_dashboard_sends_anonymous_visitors_to_the_login(client):
    response = client.get(DASHBOARD_URL)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_dashboard_refuses_staff_who_may_not_view_orders(client, django_user_model):
    client.force_login(baker.make(django_user_model, is_staff=True))

    assert client.get(DASHBOARD_URL).status_code == 403
    assert client.get(EXPORT_URL).status_code == 403
    assert DASHBOARD_URL not in client.get(INDEX_URL).content.decode()


def test_admin_index_links_to_the_dashboard_for_those_who_may_view_orders(viewer):
    response = viewer.get(INDEX_URL)

    assert response.status_code == 200
    assert f'href="{DASHBOARD_URL}"' in response.content.decode()


def test_dashboard_shows_counts_and_a_bar_per_day_drawn_on_the_server(viewer, sales):
    response = viewer.get(DASHBOARD_URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'id="to-ship">4 orders to ship<', html)
    assert re.search(r'id="needs-attention">1 order needing attention<', html)
    assert "Revenue per day, last 30 days: $1,035.49" in html
    assert "Paid orders per day, last 30 days: 3" in html

    revenue = rect_heights(html, "revenue-chart")
    orders = rect_heights(html, "orders-chart")
    assert len(revenue) == len(orders) == 30
    # The tallest revenue bar is three days ago; today's is 3550/99999 of it.
    assert revenue[26] == max(revenue) == 160.0
    assert revenue[29] == round(160 * 3550 / 99999, 1)
    assert sum(1 for height in revenue if height) == 2
    assert orders[29] == 160.0 and orders[26] == 80.0
    assert f"{timezone.localdate():%-d %b}: $35.50" in html

    content = html.split('id="content-main"', 1)[1]
    assert "style=" not in content
    assert "<script" not in content


def test_dashboard_figures_table_has_cents_per_day(viewer, sales):
    html = viewer.get(DASHBOARD_URL).content.decode()

    table = html.split('id="sales-per-day"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(
        r'<tr><th scope="row">[^<]+</th>'
        r"<td>(\d+)</td><td>[^<]+</td><td>(\d+)</td></tr>",
        table,
    )
    assert len(rows) == 30
    assert rows[-1] == ("2", "3550")
    assert rows[-4] == ("1", "99999")
    assert sum(int(cents) for _, cents in rows) == 103549


def test_dashboard_queries_stay_flat_as_orders_grow(
    viewer, django_assert_max_num_queries
):
    paid(1, 100)
    with django_assert_max_num_queries(DASHBOARD_QUERIES):
        assert viewer.get(DASHBOARD_URL).status_code == 200

    for day in range(30):
        for _ in range(3):
            paid(day, 100 + day)
    with django_assert_max_num_queries(DASHBOARD_QUERIES):
        assert viewer.get(DASHBOARD_URL).status_code == 200


def read_csv(response) -> list[list[str]]:
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_csv_export_streams_orders_with_cents_and_formatted_totals(
    viewer, order_fill, laptop
):
    order = order_fill(paid(0, 105997, customer_email="ada@example.com"), laptop=laptop)

    response = viewer.get(EXPORT_URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="orders-')
    header, row = read_csv(response)
    assert header[:9] == [
        "order",
        "created_at",
        "paid_at",
        "status",
        "customer_email",
        "items",
        "total_cents",
        "total",
        "currency",
    ]
    record = dict(zip(header, row, strict=True))
    assert record["order"] == str(order.public_id)
    assert record["total_cents"] == "105997"
    assert record["total"] == "$1,059.97"
    assert record["items"] == "1 x Laptop; 2 x Mouse"
    assert record["status"] == "paid"


def test_csv_export_neutralises_spreadsheet_formulas(viewer):
    order = paid(0, 500, customer_email='=HYPERLINK("http://evil.example")')
    baker.make(
        OrderItem,
        order=order,
        product_name="@SUM(1+1)",
        unit_price_cents=500,
        quantity=1,
    )
    OrderProblem.objects.create(order=order, message="-2+3")

    header, row = read_csv(viewer.get(EXPORT_URL))

    record = dict(zip(header, row, strict=True))
    assert record["customer_email"] == '\'=HYPERLINK("http://evil.example")'
    assert record["items"] == "1 x @SUM(1+1)"  # starts with a digit: harmless
    assert record["problems"] == "'-2+3"
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row)


def test_csv_export_follows_the_order_lists_filters(viewer, sales):
    rows = read_csv(viewer.get(EXPORT_URL, {"status__exact": "pending"}))

    assert sorted(row[6] for row in rows[1:]) == ["700", "800"]
    problems = {row[6]: row[9] for row in rows[1:]}
    assert problems["800"] == (
        "Checked with Stripe: still unpaid.; Amount mismatch: Stripe says 1 usd."
    )
    assert problems["700"] == ""
    everything = read_csv(viewer.get(EXPORT_URL))
    assert len(everything) == 1 + len(sales)


def test_order_list_links_to_the_export_with_its_filters(viewer, sales):
    html = viewer.get(ORDERS_URL, {"status__exact": "paid"}).content.decode()

    assert f'href="{EXPORT_URL}?status__exact=paid"' in html


def test_csv_export_queries_stay_flat_as_orders_grow(
    viewer, django_assert_max_num_queries
):
    paid(0, 100)
    with django_assert_max_num_queries(EXPORT_QUERIES):
        read_csv(viewer.get(EXPORT_URL))

    for day in range(60):
        order = paid(day, 100)
        baker.make(
            OrderItem, order=order, product_name="Pen", unit_price_cents=100, quantity=1
        )
    with django_assert_max_num_queries(EXPORT_QUERIES):
        assert len(read_csv(viewer.get(EXPORT_URL))) == 62
