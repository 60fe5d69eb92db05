"""Orders as staff see them: secret links, daily figures, the CSV export."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Prefetch, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from payments.models import Order, OrderProblem, order_access_token_new
from storefront.money import format_money

logger = logging.getLogger(__name__)

# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
CSV_HEADER = [
    "order",
    "created_at",
    "paid_at",
    "status",
    "customer_email",
    "items",
    "total_cents",
    "total",
    "currency",
    "problems",
]
CSV_CHUNK = 500


def order_link_revoke(*, order: Order, by: str) -> str:
    """Give an order a new secret link; the old one stops working. Return it."""
    token = order_access_token_new()
    Order.objects.filter(pk=order.pk).update(access_token=token)
    order.access_token = token
    logger.info("order link revoked: order_id=%s by=%s", order.public_id, by)
    return token


@dataclass(frozen=True)
class Day:
    day: date
    revenue_cents: int
    orders: int


def sales_per_day(*, days: int, currency: str, today: date | None = None) -> list[Day]:
    """Return the revenue and number of paid orders of each of the last `days` days.

    An order counts on the day it was paid, whatever happened to it later. One
    query, grouped by the database.
    """
    today = today or timezone.localdate()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time.min, tzinfo=timezone.get_current_timezone())
    rows = (
        Order.objects.filter(paid_at__gte=start, currency=currency)
        .annotate(day=TruncDate("paid_at"))
        .values("day")
        .annotate(revenue_cents=Sum("total_cents"), orders=Count("pk"))
        .order_by("day")
    )
    by_day = {row["day"]: row for row in rows}
    result = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = by_day.get(day, {})
        result.append(
            Day(
                day=day,
                revenue_cents=row.get("revenue_cents") or 0,
                orders=row.get("orders") or 0,
            )
        )
    return result


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    # The plot area, inside the margins for the axis labels.
    left: int
    top: int
    bottom: int
    bars: list[Bar]
    max_label: str
    first_label: str
    last_label: str


def bar_chart(
    values: list[int], labels: list[str], *, max_label: str, first: str, last: str
) -> BarChart:
    """Lay out one bar per value, scaled to the largest, for an SVG template."""
    width, height, left, top, bottom = 720, 200, 80, 10, 170
    plot_width, plot_height = width - left - 10, bottom - top
    step = plot_width / max(len(values), 1)
    largest = max(values, default=0) or 1
    bars = []
    for index, (value, label) in enumerate(zip(values, labels, strict=True)):
        bar_height = round(plot_height * value / largest, 1)
        bars.append(
            Bar(
                x=round(left + index * step + step * 0.15, 1),
                y=round(bottom - bar_height, 1),
                width=round(step * 0.7, 1),
                height=bar_height,
                label=label,
            )
        )
    return BarChart(
        width=width,
        height=height,
        left=left,
        top=top,
        bottom=bottom,
        bars=bars,
        max_label=max_label,
        first_label=first,
        last_label=last,
    )


def csv_safe(value: object) -> str:
    """Return a cell's text so that a spreadsheet shows it rather than runs it."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def orders_csv_rows(orders: QuerySet[Order]) -> Iterator[list[str]]:
    """Yield the header, then one row per order: money in cents and formatted.

    Three queries per chunk of orders: the orders, their items, their open
    problems.
    """
    yield CSV_HEADER
    unresolved = Prefetch(
        "problems",
        queryset=OrderProblem.objects.filter(resolved_at__isnull=True),
        to_attr="unresolved_problems",
    )
    queryset = orders.prefetch_related("items", unresolved).order_by(
        "-created_at", "-pk"
    )
    for order in queryset.iterator(chunk_size=CSV_CHUNK):
        yield [
            csv_safe(value)
            for value in (
                order.public_id,
                order.created_at.isoformat(),
                order.paid_at.isoformat() if order.paid_at else "",
                order.status,
                order.customer_email,
                _items_text(order.items.all()),
                order.total_cents,
                format_money(order.total_cents, order.currency),
                order.currency,
                "; ".join(problem.message for problem in order.unresolved_problems),
            )
        ]


def _items_text(items: Iterable) -> str:
    return "; ".join(f"{item.quantity} x {item.product_name}" for item in items)
