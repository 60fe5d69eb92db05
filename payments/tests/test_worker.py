"""The real worker process (`manage.py db_worker`) drains the email outbox.

These run on PostgreSQL: the worker is a separate process, so it must reach the
test database over a connection of its own.
"""

from __future__ import annotations

import email
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from model_bakery import baker

from payments.emails import order_email_send
from payments.fulfillment import order_transition
from payments.models import Order, OrderEmail

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
MESSAGE_END = b"\n" + b"-" * 79 + b"\n"
STAFF = "orders@shop.example"
SHOPPER = "ada@example.com"
# What the worker gets from the environment; a developer's shell may hold others.
SETTINGS_VARIABLES = {
    "DATABASE_URL",
    "DEBUG",
    "EMAIL_URL",
    "SHOP_BASE_URL",
    "SHOP_EMAIL_RETRY_SECONDS",
    "SHOP_STAFF_EMAIL",
}


@pytest.fixture(autouse=True)
def _database_queue(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.SHOP_STAFF_EMAIL = STAFF


def database_url_of_the_tests() -> str:
    params = connection.settings_dict
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    return (
        f"postgres://{params['USER']}{password}@{params['HOST'] or '127.0.0.1'}"
        f":{params['PORT'] or 5432}/{params['NAME']}"
    )


def worker_environment(**overrides: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    return {
        **base,
        "DATABASE_URL": database_url_of_the_tests(),
        "SHOP_STAFF_EMAIL": STAFF,
        "SHOP_BASE_URL": "https://shop.example",
        **overrides,
    }


def run_worker_batch(**environment: str) -> subprocess.CompletedProcess[str]:
    """Run the worker until nothing is ready to run, then let it exit."""
    return subprocess.run(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--batch",
            "--no-reload",
            "--no-startup-delay",
        ],
        cwd=ROOT,
        env=worker_environment(**environment),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def new_paid_order(order_fill) -> Callable[[], Order]:
    """Return a function that marks a new order paid through fulfillment.

    Fulfillment queues the order's two emails.
    """

    def pay() -> Order:
        order = baker.make(
            Order, total_cents=102998, currency="usd", customer_email=SHOPPER
        )
        order_fill(order, mice=1)
        assert order_transition(
            order_id=order.pk, to=Order.Status.PAID, by="test"
        ).changed
        return Order.objects.get(pk=order.pk)

    return pay


def sent_messages(directory: Path) -> list[email.message.Message]:
    """Return the messages Django's file backend wrote.

    It names a file by the second and an object's id, so two sends can share
    one file: each message ends with a line of 79 dashes.
    """
    return [
        email.message_from_bytes(raw)
        for path in sorted(directory.glob("*.log"))
        for raw in path.read_bytes().split(MESSAGE_END)
        if raw.strip()
    ]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def procfile_command(name: str) -> list[str]:
    for line in (ROOT / "Procfile").read_text().splitlines():
        process, _, command = line.partition(":")
        if process.strip() == name:
            return shlex.split(command)
    raise AssertionError(f"no {name}: line in the Procfile")


def test_procfile_worker_sends_the_queued_emails_and_stops_on_sigterm(
    tmp_path, new_paid_order
):
    order = new_paid_order()
    assert DBTaskResult.objects.ready().count() == 2
    outbox = tmp_path / "outbox"
    command = procfile_command("worker")
    assert command[:3] == ["python", "manage.py", "db_worker"]

    worker = subprocess.Popen(
        [sys.executable, *command[1:]],
        cwd=ROOT,
        env=worker_environment(
            DEBUG="false", SECRET_KEY="x" * 50, EMAIL_URL=f"file://{outbox}"
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while OrderEmail.objects.filter(status="sent").count() < 2:
            assert worker.poll() is None, worker.stdout.read()
            assert time.monotonic() < deadline, "the worker sent nothing in 30 s"
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=20)
    assert worker.returncode == 0, output

    messages = sent_messages(outbox)
    assert sorted(message["To"] for message in messages) == [SHOPPER, STAFF]
    confirmation = next(m for m in messages if m["To"] == SHOPPER)
    text = next(
        part.get_payload(decode=True).decode()
        for part in confirmation.walk()
        if part.get_content_type() == "text/plain"
    )
    assert f"https://shop.example/orders/{order.access_token}/" in text
    assert "Total: $1,029.98" in text
    assert DBTaskResult.objects.successful().count() == 2


def test_worker_retries_a_failed_send_later_and_never_sends_twice(
    tmp_path, new_paid_order
):
    new_paid_order()
    outbox = tmp_path / "outbox"

    # The mail server is down: both sends fail and are put off for a second.
    down = run_worker_batch(
        EMAIL_URL=f"smtp+plain://127.0.0.1:{closed_port()}?timeout=2",
        SHOP_EMAIL_RETRY_SECONDS="1,1",
    )
    assert down.returncode == 0, down.stdout + down.stderr
    emails = list(OrderEmail.objects.all())
    assert [(e.status, e.attempts) for e in emails] == [("queued", 1)] * 2
    assert all("ConnectionRefusedError" in e.last_error for e in emails)
    assert DBTaskResult.objects.failed().count() == 2
    retries = DBTaskResult.objects.filter(status="READY")
    assert retries.count() == 2
    assert all(retry.run_after > timezone.now() for retry in retries)
    assert not outbox.exists()

    # Back up: once the delay has passed, the retries send each email once.
    time.sleep(
        max(0, (max(r.run_after for r in retries) - timezone.now()).total_seconds())
    )
    up = run_worker_batch(EMAIL_URL=f"file://{outbox}")
    assert up.returncode == 0, up.stdout + up.stderr
    assert [(e.status, e.attempts) for e in OrderEmail.objects.all()] == [
        ("sent", 2)
    ] * 2
    assert len(sent_messages(outbox)) == 2

    # The same tasks delivered again (a retried task, a second worker): no resend.
    for sent in OrderEmail.objects.all():
        order_email_send.enqueue(email_id=sent.pk)
    again = run_worker_batch(EMAIL_URL=f"file://{outbox}")
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(sent_messages(outbox)) == 2
    latest = DBTaskResult.objects.successful().order_by("-finished_at")[:2]
    assert [result.return_value for result in latest] == ["already sent"] * 2


def test_two_workers_draining_repeated_tasks_send_each_email_once(
    tmp_path, new_paid_order
):
    orders = [new_paid_order() for _ in range(8)]
    # Every task twice, side by side, as after a redelivery, and all due in a
    # few seconds, when both workers are up and polling: the two take the two
    # tasks of one email at about the same moment.
    DBTaskResult.objects.all().delete()
    due = order_email_send.using(run_after=timezone.now() + timedelta(seconds=4))
    for queued in OrderEmail.objects.order_by("pk"):
        due.enqueue(email_id=queued.pk)
        due.enqueue(email_id=queued.pk)
    outbox = tmp_path / "outbox"
    command = [
        sys.executable,
        *procfile_command("worker")[1:],
        "--interval",
        "0.05",
        "--no-startup-delay",
    ]
    environment = worker_environment(
        DEBUG="false", SECRET_KEY="x" * 50, EMAIL_URL=f"file://{outbox}"
    )

    workers = [
        subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 60
        while DBTaskResult.objects.finished().count() < 32:
            assert all(worker.poll() is None for worker in workers)
            assert time.monotonic() < deadline, "the workers did not finish in time"
            time.sleep(0.2)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        outputs = [worker.communicate(timeout=20)[0] for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0], outputs
    # Both took part (each logs the tasks it ran), and nothing failed.
    assert all("order_email_send" in output for output in outputs), outputs
    assert DBTaskResult.objects.successful().count() == 32
    messages = sent_messages(outbox)
    assert len(messages) == 16
    links = {f"/orders/{order.access_token}/" for order in orders}
    assert {
        link for link in links for message in messages if link in message.as_string()
    } == links
    assert set(OrderEmail.objects.values_list("status", "attempts")) == {("sent", 1)}


class HeldBackend(BaseEmailBackend):
    """Sends into mail.outbox, but only once the test lets the first send finish."""

    sending = threading.Event()
    release = threading.Event()

    def send_messages(self, messages):
        if not HeldBackend.sending.is_set():
            HeldBackend.sending.set()
            assert HeldBackend.release.wait(10)
        HeldBackend.outbox.extend(messages)
        return len(messages)

    outbox: list = []


def test_a_second_task_for_an_email_being_sent_waits_then_sends_nothing(
    settings, new_paid_order
):
    settings.EMAIL_BACKEND = f"{__name__}.HeldBackend"
    HeldBackend.sending.clear()
    HeldBackend.release.clear()
    HeldBackend.outbox.clear()
    new_paid_order()
    confirmation = OrderEmail.objects.get(kind="confirmation")
    results: dict[str, str] = {}

    def run(name: str) -> None:
        try:
            results[name] = order_email_send.call(email_id=confirmation.pk)
        finally:
            connection.close()

    first = threading.Thread(target=run, args=("first",))
    first.start()
    assert HeldBackend.sending.wait(10)  # the first is in the middle of sending
    second = threading.Thread(target=run, args=("second",))
    second.start()
    second.join(1)
    assert second.is_alive()  # waiting for the row the first one holds
    HeldBackend.release.set()
    first.join(10)
    second.join(10)

    assert results == {"first": "sent", "second": "already sent"}
    assert len(HeldBackend.outbox) == 1
