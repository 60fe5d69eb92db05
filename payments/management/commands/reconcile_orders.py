from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandParser

from payments.reconcile import order_reconcile, stale_pending_orders
from payments.refunds import pending_refunds, refund_reconcile


class Command(BaseCommand):
    help = (
        "Ask Stripe about PENDING orders older than a few minutes and settle them "
        "(paid, expired), and about refunds still pending. Run it from a scheduler."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=10,
            metavar="MINUTES",
            help="Only orders created at least this many minutes ago (default 10).",
        )

    def handle(self, *args: object, older_than: int, **options: object) -> None:
        checked = changed = errors = 0
        for order in stale_pending_orders(older_than=timedelta(minutes=older_than)):
            result = order_reconcile(order=order)
            checked += 1
            if result.error:
                errors += 1
                self.stderr.write(str(result))
                if result.unreachable:
                    self.stderr.write(
                        "Stripe could not be reached; stopped. The remaining "
                        "pending orders are checked on the next run."
                    )
                    break
            elif result.changed:
                changed += 1
                self.stdout.write(str(result))
        self.stdout.write(
            f"Checked {checked} pending orders: {changed} changed, "
            f"{errors} could not be checked."
        )
        errors += self._refunds(older_than=timedelta(minutes=older_than))
        if errors:
            raise SystemExit(1)

    def _refunds(self, *, older_than: timedelta) -> int:
        checked = settled = errors = 0
        for refund in pending_refunds(older_than=older_than):
            result = refund_reconcile(refund=refund)
            checked += 1
            if result.error:
                errors += 1
                self.stderr.write(str(result))
            elif result.refund.status != refund.status:
                settled += 1
                self.stdout.write(str(result))
        if checked:
            self.stdout.write(
                f"Checked {checked} pending refunds: {settled} settled, "
                f"{errors} could not be checked."
            )
        return errors
