from __future__ import annotations

from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from payments.checkout import checkout_settle_cart_when_locked
        from storefront.throttle import session_locked

        session_locked.connect(checkout_settle_cart_when_locked)
