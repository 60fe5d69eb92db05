"""The order admin's refunds: an action and a form, and the refunds and disputes.

Refunding needs ``payments.refund_order``; a staff user without it sees neither
the action nor the form. The money goes back through ``payments.refunds``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from payments.admin_records import OrderRecordInline
from payments.models import Dispute, Order, Refund
from payments.refunds import (
    RefundRefused,
    RefundUnconfirmed,
    refund_reserve,
    refund_submit,
    refundable_cents,
)
from storefront.money import ZERO_DECIMAL, format_money


class RefundForm(forms.Form):
    """An amount in the shop's currency (as money), a reason, and restocking."""

    amount = forms.DecimalField(min_value=Decimal("0.01"), decimal_places=2)
    reason = forms.ChoiceField(choices=Refund.Reason.choices)
    restock = forms.BooleanField(
        required=False,
        label="Put the items back in stock",
        help_text="Only with a refund of everything left to refund.",
    )

    def __init__(self, *args: object, order: Order, left_cents: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.order = order
        self.left_cents = left_cents
        self.zero_decimal = order.currency in ZERO_DECIMAL
        if self.zero_decimal:
            self.fields["amount"] = forms.DecimalField(
                min_value=Decimal(1), decimal_places=0
            )
        self.fields["amount"].label = f"Amount ({order.currency.upper()})"
        self.fields["amount"].initial = self._money(left_cents)

    def _money(self, cents: int) -> Decimal:
        return Decimal(cents) if self.zero_decimal else Decimal(cents) / 100

    def clean_amount(self) -> int:
        amount = self.cleaned_data["amount"]
        try:
            cents = int(amount if self.zero_decimal else amount * 100)
        except (InvalidOperation, ValueError) as error:
            raise forms.ValidationError("Enter an amount.") from error
        if cents > self.left_cents:
            left = format_money(self.left_cents, self.order.currency)
            raise forms.ValidationError(f"At most {left} is left to refund.")
        return cents


class MoneyRecordInline(OrderRecordInline):
    """A refund or a dispute: an amount in the record's currency."""

    def currency(self, record: Refund | Dispute) -> str:
        raise NotImplementedError

    @admin.display(description="Amount")
    def amount(self, record: Refund | Dispute) -> str:
        return format_money(record.amount_cents, self.currency(record))


class RefundInline(MoneyRecordInline):
    model = Refund
    fields = [
        "created_at",
        "amount",
        "status",
        "reason",
        "requested_by",
        "stripe_refund_id",
        "failure_reason",
        "restocked_at",
    ]
    readonly_fields = fields

    def currency(self, refund: Refund) -> str:
        return refund.order.currency


class DisputeInline(MoneyRecordInline):
    model = Dispute
    fields = [
        "created_at",
        "stripe_dispute_id",
        "amount",
        "reason",
        "status",
        "evidence_due_by",
        "closed_at",
    ]
    readonly_fields = fields

    def currency(self, dispute: Dispute) -> str:
        return dispute.currency


class RefundAdminMixin:
    """Add to OrderAdmin: a refund action, a refund form, refunds and disputes."""

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.refund_order")

    def get_urls(self) -> list:
        urls = super().get_urls()
        refund = path(
            "<int:order_id>/refund/",
            self.admin_site.admin_view(self.refund_view),
            name="payments_order_refund",
        )
        return [refund, *urls]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        """Offer the Refund button to those who may refund, when there is money left."""
        order = self.get_object(request, object_id)
        if (
            order is not None
            and self.has_refund_permission(request)
            and refundable_cents(order)
        ):
            extra_context = {
                **(extra_context or {}),
                "refund_url": reverse("admin:payments_order_refund", args=[order.pk]),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="Refunds")
    def refund_panel(self, order: Order) -> str:
        left = refundable_cents(order)
        if not left:
            return "Nothing to refund" if not order.was_paid else "Fully refunded"
        return f"{format_money(left, order.currency)} left to refund."

    @admin.action(description="Refund the selected order…", permissions=["refund"])
    def refund(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        orders = list(queryset[:2])
        if len(orders) != 1:
            self.message_user(
                request,
                "Select one order to refund: each refund has its own amount.",
                messages.WARNING,
            )
            return None
        return HttpResponseRedirect(
            reverse("admin:payments_order_refund", args=[orders[0].pk])
        )

    def refund_view(self, request: HttpRequest, order_id: int) -> HttpResponse:
        if not self.has_refund_permission(request):
            raise PermissionDenied
        order = get_object_or_404(Order, pk=order_id)
        change_url = reverse("admin:payments_order_change", args=[order.pk])
        left = refundable_cents(order)
        if not left:
            self.message_user(
                request, f"{order} has nothing left to refund.", messages.WARNING
            )
            return HttpResponseRedirect(change_url)
        form = RefundForm(
            request.POST if request.method == "POST" else None,
            order=order,
            left_cents=left,
        )
        if request.method == "POST" and form.is_valid():
            self._refund(request, order, form)
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Refund {order}",
            "opts": self.model._meta,
            "order": order,
            "form": form,
            "left": format_money(left, order.currency),
            "paid": format_money(order.total_cents, order.currency),
        }
        return TemplateResponse(request, "admin/payments/order/refund.html", context)

    def _refund(self, request: HttpRequest, order: Order, form: RefundForm) -> None:
        amount = format_money(form.cleaned_data["amount"], order.currency)
        try:
            reserved = refund_reserve(
                order_id=order.pk,
                amount_cents=form.cleaned_data["amount"],
                reason=form.cleaned_data["reason"],
                requested_by=f"admin:{request.user.get_username()}",
                restock=form.cleaned_data["restock"],
            )
            refund = refund_submit(refund=reserved)
        except RefundRefused as error:
            self.message_user(request, f"Not refunded: {error}", messages.ERROR)
            return
        except RefundUnconfirmed as error:
            self.message_user(request, str(error), messages.WARNING)
            return
        self.message_user(
            request,
            f"Refund of {amount} {refund.get_status_display().lower()} "
            f"({refund.stripe_refund_id}).",
            messages.SUCCESS,
        )
