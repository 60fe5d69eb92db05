from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandParser

from payments.emails import order_emails_requeue_stuck


class Command(BaseCommand):
    help = (
        "Queue again the emails about orders that are still unsent and that no "
        "task is waiting to send (a worker was killed mid-task). Run it from a "
        "scheduler."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=15,
            metavar="MINUTES",
            help="Only emails queued at least this many minutes ago (default 15).",
        )

    def handle(self, *args: object, older_than: int, **options: object) -> None:
        requeued = order_emails_requeue_stuck(older_than=timedelta(minutes=older_than))
        self.stdout.write(f"Queued {len(requeued)} stuck email(s) again.")
