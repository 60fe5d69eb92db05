from __future__ import annotations

import atexit
import os
import subprocess
import sys

from django.conf import settings
from django.core.management.base import CommandParser
from django.core.management.commands.runserver import Command as RunserverCommand
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV

from payments.stripe_double import (
    DEFAULT_API_KEY,
    DEFAULT_WEBHOOK_SECRET,
    StripeDouble,
)


class Command(RunserverCommand):
    help = (
        "Run the development server and a task worker (emails). Without "
        "STRIPE_SECRET_KEY it also starts the local Stripe double and points the "
        "shop at it, so checkout works offline."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--stripe-double-port",
            type=int,
            default=12111,
            help="Port of the local Stripe double (default 12111).",
        )
        parser.add_argument(
            "--no-worker",
            action="store_false",
            dest="worker",
            help="Do not start the task worker (manage.py db_worker).",
        )

    def handle(self, *args: object, **options: object) -> None:
        # The autoreloader runs this again in a child process that inherits the
        # environment set here, so the double starts once, in the parent.
        if not settings.STRIPE_SECRET_KEY:
            self.start_stripe_double(options)
        if options["worker"] and os.environ.get(DJANGO_AUTORELOAD_ENV) != "true":
            self.start_worker()
        super().handle(*args, **options)

    def start_worker(self) -> None:
        """Start `manage.py db_worker` beside the server; stop it when the server stops.

        In DEBUG it reloads itself on code changes, as the server does.
        """
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--interval", "1"],
            cwd=settings.BASE_DIR,
        )

        def stop() -> None:
            worker.terminate()
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()

        atexit.register(stop)
        self.stdout.write(
            f"Task worker started (pid {worker.pid}): emails are sent from there."
        )

    def start_stripe_double(self, options: dict) -> None:
        addrport = str(options.get("addrport") or "127.0.0.1:8000")
        port = addrport.rsplit(":", 1)[-1] if ":" in addrport else addrport
        double = StripeDouble(
            port=int(options["stripe_double_port"]),
            webhook_url=f"http://127.0.0.1:{port}/stripe/webhook/",
            webhook_secret=DEFAULT_WEBHOOK_SECRET,
        ).start()
        environment = {
            "STRIPE_SECRET_KEY": DEFAULT_API_KEY,
            "STRIPE_WEBHOOK_SECRET": DEFAULT_WEBHOOK_SECRET,
            "STRIPE_API_BASE": double.url,
        }
        os.environ.update(environment)
        for name, value in environment.items():
            setattr(settings, name, value)
        self.stdout.write(
            f"No STRIPE_SECRET_KEY: using the local Stripe double at {double.url} "
            "(no real payments)."
        )
