"""The order admin's extra pages and action: at a glance, CSV export, revoke links.

``OrderAdminToolsMixin`` goes in front of the Order admin's bases, so these stay
out of the way of the admin's own configuration.
"""

from __future__ import annotations

import csv
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone

from payments.emails import order_email_requeue
from payments.models import Order, OrderEmail, OrderProblem
from payments.orders import bar_chart, order_link_revoke, orders_csv_rows, sales_per_day
from payments.shipping import SHIPPABLE_STATUSES
from storefront.money import format_money

DASHBOARD_DAYS = 30


class Echo:
    """A file whose write() returns what it was given, for streaming a CSV."""

    def write(self, value: str) -> str:
        return value


class OrderAdminToolsMixin:
    """The dashboard and CSV export pages, and the "revoke link" action."""

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "dashboard/",
                self.admin_site.admin_view(self.dashboard_view),
                name="{}_{}_dashboard".format(*info),
            ),
            path(
                "export.csv",
                self.admin_site.admin_view(self.export_view),
                name="{}_{}_export".format(*info),
            ),
            *super().get_urls(),
        ]

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        currency = settings.SHOP_CURRENCY
        days = sales_per_day(days=DASHBOARD_DAYS, currency=currency)
        first, last = days[0].day, days[-1].day
        revenue = [day.revenue_cents for day in days]
        orders = [day.orders for day in days]
        axis = {"first": f"{first:%-d %b}", "last": f"{last:%-d %b}"}
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Orders at a glance",
            "days": days,
            "currency": currency,
            "revenue_total_cents": sum(revenue),
            "orders_total": sum(orders),
            "revenue_chart": bar_chart(
                revenue,
                [
                    f"{day.day:%-d %b}: {format_money(day.revenue_cents, currency)}"
                    for day in days
                ],
                max_label=format_money(max(revenue), currency),
                **axis,
            ),
            "orders_chart": bar_chart(
                orders,
                [f"{day.day:%-d %b}: {day.orders} orders" for day in days],
                max_label=str(max(orders)),
                **axis,
            ),
            # Paid and not yet shipped; fulfilment is still to come, so: paid.
            "to_ship": Order.objects.filter(status__in=SHIPPABLE_STATUSES).count(),
            # Read through the unresolved problems' partial index.
            "needs_attention": OrderProblem.objects.filter(resolved_at__isnull=True)
            .values("order")
            .distinct()
            .count(),
        }
        return TemplateResponse(request, "admin/payments/order/dashboard.html", context)

    def export_view(self, request: HttpRequest) -> StreamingHttpResponse:
        """Stream the orders the list shows (same filters and search) as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        orders = changelist.get_queryset(request)
        writer = csv.writer(Echo())
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        return StreamingHttpResponse(
            (writer.writerow(row) for row in orders_csv_rows(orders)),
            content_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="orders-{stamp}.csv"',
                "Cache-Control": "private, no-store",
            },
        )

    def has_revoke_link_permission(self, request: HttpRequest) -> bool:
        """Whether the user holds the change permission on orders.

        Asked of the user, not of the admin: the admin shows orders read-only,
        but replacing a link is an operator's change to make.
        """
        codename = get_permission_codename("change", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    @admin.action(
        permissions=["revoke_link"],
        description="Revoke the selected orders' links (each gets a new one)",
    )
    def revoke_order_links(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = 0
        for order in queryset.only("pk", "public_id"):
            order_link_revoke(order=order, by=f"admin:{request.user.get_username()}")
            count += 1
        self.message_user(
            request,
            f"Revoked the links of {count} order(s). The old links now show "
            "“not found”; “View on site” on an order opens its new one.",
            messages.SUCCESS,
        )


@admin.register(OrderEmail)
class OrderEmailAdmin(admin.ModelAdmin):
    """The emails sent about orders, and those that could not be sent."""

    list_display = ["order", "kind", "recipient", "status", "attempts", "sent_at"]
    list_filter = ["status", "kind"]
    search_fields = ["=order__public_id", "recipient"]
    list_select_related = ["order"]
    show_full_result_count = False
    list_per_page = 50
    actions = ["requeue"]
    fields = [
        "order",
        "kind",
        "event_key",
        "recipient",
        "context",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "sent_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(
        permissions=["change"],
        description="Send the selected failed emails again",
    )
    def requeue(self, request: HttpRequest, queryset: QuerySet) -> None:
        failed = queryset.filter(status=OrderEmail.Status.FAILED).values_list(
            "pk", flat=True
        )
        count = sum(order_email_requeue(email_id=pk) for pk in failed)
        self.message_user(request, f"Queued {count} email(s) again.", messages.SUCCESS)
