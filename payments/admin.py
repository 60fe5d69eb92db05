from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest

from payments.admin_fulfillment import FulfillmentAdminMixin, ToShipFilter
from payments.admin_orders import OrderAdminToolsMixin
from payments.admin_records import OrderRecordInline, ReadOnlyAdminMixin
from payments.admin_refunds import DisputeInline, RefundAdminMixin, RefundInline
from payments.fulfillment import order_problems_resolve
from payments.models import Order, OrderItem, OrderProblem, StripeEvent
from payments.reconcile import order_reconcile
from payments.webhooks import HANDLERS
from storefront.money import format_money


class OrderItemInline(OrderRecordInline):
    model = OrderItem
    fields = ["product_name", "unit_price", "quantity", "line_total", "product"]
    readonly_fields = fields

    @admin.display(description="Unit price")
    def unit_price(self, item: OrderItem) -> str:
        return format_money(item.unit_price_cents, item.order.currency)

    @admin.display(description="Line total")
    def line_total(self, item: OrderItem) -> str:
        return format_money(item.line_total_cents, item.order.currency)


class OrderProblemInline(OrderRecordInline):
    model = OrderProblem
    fields = ["created_at", "message", "by", "resolved_at", "resolved_by"]
    readonly_fields = fields
    verbose_name = "problem"
    verbose_name_plural = "problems (newest first; unresolved ones need attention)"


class NeedsAttentionFilter(admin.SimpleListFilter):
    """Orders with an unresolved problem, read through its partial index."""

    title = "needs attention"
    parameter_name = "problem"

    def lookups(self, request: HttpRequest, model_admin: object) -> list:
        return [("yes", "Has an unresolved problem"), ("no", "No unresolved problem")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        unresolved = OrderProblem.objects.filter(
            order=OuterRef("pk"), resolved_at__isnull=True
        )
        if self.value() == "yes":
            return queryset.filter(Exists(unresolved))
        if self.value() == "no":
            return queryset.filter(~Exists(unresolved))
        return queryset


class EventTypeFilter(admin.SimpleListFilter):
    """The event types the shop handles, listed without a query.

    Django's own filter for a field lists its values with SELECT DISTINCT, a
    scan of every event on every page view.
    """

    title = "type"
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: object) -> list:
        return [(event_type, event_type) for event_type in HANDLERS]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(type=self.value())
        return queryset


@admin.register(Order)
class OrderAdmin(
    OrderAdminToolsMixin,
    FulfillmentAdminMixin,
    RefundAdminMixin,
    ReadOnlyAdminMixin,
    admin.ModelAdmin,
):
    list_display = [
        "public_id",
        "status",
        "total",
        "fulfillment",
        "customer_email",
        "created_at",
    ]
    list_filter = ["status", ToShipFilter, NeedsAttentionFilter, "created_at"]
    search_fields = [
        "=public_id",
        "=checkout_session_id",
        "=payment_intent_id",
        "customer_email",
    ]
    # No date_hierarchy: its list of years is a scan of every order on every
    # page view. The created_at filter narrows by date without a query.
    show_full_result_count = False
    list_per_page = 50
    inlines = [OrderItemInline, OrderProblemInline, RefundInline, DisputeInline]
    actions = [
        "reconcile_with_stripe",
        "resolve_problems",
        "revoke_order_links",
        "mark_shipped",
        "mark_delivered",
        "refund",
    ]
    fields = [
        "public_id",
        "status",
        "total",
        "currency",
        "customer_email",
        "checkout_session_id",
        "payment_intent_id",
        "checkout_expires_at",
        "status_history",
        "created_at",
        "paid_at",
        # Shipping and fulfilment (payments/shipping.py).
        "subtotal",
        "shipping",
        "shipping_rate_name",
        "ship_to",
        "shipping_phone",
        "fulfillment_panel",
        "shipped_at",
        "delivered_at",
        # Refunds (payments/refunds.py).
        "refund_panel",
    ]
    # Status moves only through fulfillment, and orders are the record of
    # payments taken: nothing here edits or deletes them.
    readonly_fields = fields

    @admin.display(description="Total", ordering="total_cents")
    def total(self, order: Order) -> str:
        return format_money(order.total_cents, order.currency)

    @admin.display(description="Subtotal")
    def subtotal(self, order: Order) -> str:
        return format_money(order.subtotal_cents, order.currency)

    @admin.display(description="Shipping")
    def shipping(self, order: Order) -> str:
        return format_money(order.shipping_cents, order.currency)

    @admin.display(description="Ship to")
    def ship_to(self, order: Order) -> str:
        return ", ".join(order.shipping_address_lines)

    def has_reconcile_permission(self, request: HttpRequest) -> bool:
        """Whether the user may run the actions that change orders.

        Orders stay read-only in their forms (status moves only through
        fulfillment), so Django's change permission, which would open the
        form for saving, is replaced by this one.
        """
        return request.user.has_perm("payments.reconcile_order")

    @admin.action(
        description="Ask Stripe and update the selected pending orders",
        permissions=["reconcile"],
    )
    def reconcile_with_stripe(self, request: HttpRequest, queryset: QuerySet) -> None:
        for order in queryset.filter(status=Order.Status.PENDING):
            result = order_reconcile(order=order)
            level = messages.ERROR if result.error else messages.INFO
            self.message_user(request, str(result), level)

    @admin.action(
        description="Mark the selected orders' problems as dealt with",
        permissions=["reconcile"],
    )
    def resolve_problems(self, request: HttpRequest, queryset: QuerySet) -> None:
        """For what an operator settles outside the shop (a refund in Stripe)."""
        resolved = order_problems_resolve(
            orders=queryset, by=f"admin:{request.user.get_username()}"
        )
        self.message_user(request, f"{resolved} problem(s) marked as dealt with.")


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["event_id", "type", "checkout_session_id", "received_at"]
    list_filter = [EventTypeFilter, "received_at"]
    search_fields = ["=event_id", "=checkout_session_id"]
    # As on the order list: no date_hierarchy (a scan of every event on every
    # page view) and no full count; the received_at filter narrows by date.
    show_full_result_count = False
    list_per_page = 50
    readonly_fields = [
        "event_id",
        "type",
        "checkout_session_id",
        "livemode",
        "payload",
        "received_at",
        "processed_at",
    ]
    fields = readonly_fields
