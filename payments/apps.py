from __future__ import annotations

from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from payments.checkout import checkouts_settled
        from storefront.cart import register_checkout_settler

        # A paid checkout takes what it bought out of the cart.
        register_checkout_settler(checkouts_settled)
