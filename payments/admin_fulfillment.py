"""The order admin's shipping tools: "to ship", mark shipped, mark delivered.

Orders stay read-only in the admin (they are the record of payments taken);
these tools move only the fulfilment, through ``payments.shipping``, and need
the order change permission.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from payments.models import Order
from payments.shipping import (
    SHIPPABLE_STATUSES,
    orders_mark_delivered,
    orders_mark_shipped,
)

Fulfillment = Order.Fulfillment


class ToShipFilter(admin.SimpleListFilter):
    title = "fulfilment"
    parameter_name = "fulfillment"

    def lookups(self, request: HttpRequest, model_admin: object) -> list:
        return [
            ("to-ship", "To ship"),
            ("shipped", "Shipped"),
            ("delivered", "Delivered"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "to-ship":
            return queryset.filter(
                status__in=SHIPPABLE_STATUSES, fulfillment=Fulfillment.UNFULFILLED
            )
        if self.value() in {Fulfillment.SHIPPED, Fulfillment.DELIVERED}:
            return queryset.filter(fulfillment=self.value())
        return queryset


class ShipForm(forms.Form):
    """A carrier for all the orders, a tracking number for each."""

    carrier = forms.CharField(max_length=100)

    def __init__(self, *args: object, orders: list[Order], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.orders = orders
        for order in orders:
            self.fields[f"tracking_{order.pk}"] = forms.CharField(
                max_length=100, label=f"Tracking number for {order.public_id}"
            )

    def tracking_fields(self) -> list[tuple[Order, forms.BoundField]]:
        return [(order, self[f"tracking_{order.pk}"]) for order in self.orders]

    def shipments(self) -> dict[int, str]:
        return {
            order.pk: self.cleaned_data[f"tracking_{order.pk}"] for order in self.orders
        }


class FulfillmentAdminMixin:
    """Add to OrderAdmin: a "to ship" filter, ship and deliver actions and form."""

    def has_ship_permission(self, request: HttpRequest) -> bool:
        # The admin's own change permission is turned off for orders (they are
        # read-only); shipping needs the permission all the same.
        return request.user.has_perm("payments.change_order")

    def get_urls(self) -> list:
        urls = super().get_urls()
        ship = path(
            "<int:order_id>/ship/",
            self.admin_site.admin_view(self.ship_view),
            name="payments_order_ship",
        )
        return [ship, *urls]

    @admin.display(description="Fulfilment")
    def fulfillment_panel(self, order: Order) -> str:
        if not order.fulfillment:
            return "Nothing to ship" if order.was_paid else "-"
        if order.fulfillment == Fulfillment.UNFULFILLED:
            return format_html(
                '{} <a href="{}">Mark shipped…</a>',
                order.get_fulfillment_display(),
                reverse("admin:payments_order_ship", args=[order.pk]),
            )
        return format_html(
            "{} via {}, tracking {}",
            order.get_fulfillment_display(),
            order.carrier,
            order.tracking_number,
        )

    @admin.action(description="Mark the selected orders shipped…", permissions=["ship"])
    def mark_shipped(
        self, request: HttpRequest, queryset: QuerySet
    ) -> HttpResponse | None:
        orders = list(
            queryset.filter(
                status__in=SHIPPABLE_STATUSES, fulfillment=Fulfillment.UNFULFILLED
            ).order_by("pk")
        )
        if not orders:
            self.message_user(
                request,
                "None of the selected orders is paid and waiting to ship.",
                messages.WARNING,
            )
            return None
        form = ShipForm(
            request.POST if "apply" in request.POST else None, orders=orders
        )
        if form.is_valid():
            self._ship(request, form)
            return None
        return self._ship_page(request, form, action=True)

    @admin.action(
        description="Mark the selected orders delivered", permissions=["ship"]
    )
    def mark_delivered(self, request: HttpRequest, queryset: QuerySet) -> None:
        move = orders_mark_delivered(
            order_ids=queryset.values_list("pk", flat=True), by=_by(request)
        )
        self.message_user(
            request,
            f"Marked {len(move.moved)} orders delivered; {move.skipped} were not "
            "shipped, so were left as they were.",
            messages.SUCCESS if not move.skipped else messages.WARNING,
        )

    def ship_view(self, request: HttpRequest, order_id: int) -> HttpResponse:
        if not self.has_ship_permission(request):
            raise PermissionDenied
        order = get_object_or_404(Order, pk=order_id)
        change_url = reverse("admin:payments_order_change", args=[order.pk])
        if (
            order.status not in SHIPPABLE_STATUSES
            or order.fulfillment != Fulfillment.UNFULFILLED
        ):
            self.message_user(
                request, f"{order} is not waiting to ship.", messages.WARNING
            )
            return HttpResponseRedirect(change_url)
        form = ShipForm(request.POST or None, orders=[order])
        if request.method == "POST" and form.is_valid():
            self._ship(request, form)
            return HttpResponseRedirect(change_url)
        return self._ship_page(request, form, action=False)

    def _ship(self, request: HttpRequest, form: ShipForm) -> None:
        move = orders_mark_shipped(
            shipments=form.shipments(),
            carrier=form.cleaned_data["carrier"],
            by=_by(request),
        )
        self.message_user(
            request,
            f"Marked {len(move.moved)} orders shipped"
            + (f"; {move.skipped} had already moved on." if move.skipped else "."),
            messages.SUCCESS if not move.skipped else messages.WARNING,
        )

    def _ship_page(
        self, request: HttpRequest, form: ShipForm, *, action: bool
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Mark orders shipped",
            "opts": self.model._meta,
            "form": form,
            "action": action,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/payments/order/ship.html", context)


def _by(request: HttpRequest) -> str:
    return f"admin:{request.user.get_username()}"
