"""The reconcile_orders command and the admin action: ask Stripe, then settle."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from model_bakery import baker

from payments.fulfillment import order_sync_with_payment_intent
from payments.models import Order

pytestmark = pytest.mark.django_db

CHANGELIST_URL = reverse("admin:payments_order_changelist")


def backdate(order: Order, *, minutes: int) -> None:
    Order.objects.filter(pk=order.pk).update(
        created_at=timezone.now() - timedelta(minutes=minutes)
    )


def reconcile(*args: str) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command("reconcile_orders", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def status_of(order: Order) -> str:
    order.refresh_from_db()
    return order.status


@pytest.fixture
def place_order(new_shopper, checkout_order, laptop):
    """Return a function that checks out a fresh shopper's laptop."""

    def place() -> Order:
        return checkout_order(new_shopper(laptop))

    return place


def test_reconcile_settles_stale_orders_as_stripe_has_them(place_order, stripe_double):
    paid, expired, still_open, recent = (place_order() for _ in range(4))
    sessionless = baker.make(Order, total_cents=500, currency="usd")
    for minutes, order in enumerate((still_open, sessionless, expired, paid), 15):
        backdate(order, minutes=minutes)
    stripe_double.pay(paid.checkout_session_id, email="ada@example.com")
    stripe_double.expire(expired.checkout_session_id)
    stripe_double.pay(recent.checkout_session_id)

    stdout, stderr = reconcile()

    assert status_of(paid) == Order.Status.PAID
    assert paid.customer_email == "ada@example.com"
    assert paid.status_history[-1]["by"] == "reconcile"
    assert status_of(expired) == Order.Status.EXPIRED
    assert status_of(still_open) == Order.Status.PENDING
    assert status_of(sessionless) == Order.Status.FAILED
    assert "No Checkout Session" in sessionless.problem
    assert status_of(recent) == Order.Status.PENDING
    # Oldest first; the open session is checked but not listed.
    assert stdout.splitlines() == [
        f"order {paid.public_id}: pending -> paid",
        f"order {expired.public_id}: pending -> expired",
        f"order {sessionless.public_id}: pending -> failed",
        "Checked 4 pending orders: 3 changed, 0 could not be checked.",
    ]
    assert stderr == ""
    asked = {r["path"].rsplit("/", 1)[-1] for r in stripe_double.requests}
    assert recent.checkout_session_id not in asked


def test_reconcile_twice_changes_nothing_the_second_time(place_order, stripe_double):
    order = place_order()
    backdate(order, minutes=15)
    stripe_double.pay(order.checkout_session_id)
    reconcile()

    stdout, _ = reconcile()

    assert stdout == "Checked 0 pending orders: 0 changed, 0 could not be checked.\n"
    order.refresh_from_db()
    assert [entry["to"] for entry in order.status_history] == ["paid"]


def test_reconcile_older_than_option_sets_the_cutoff(place_order, stripe_double):
    order = place_order()
    backdate(order, minutes=5)
    stripe_double.pay(order.checkout_session_id)

    reconcile()
    assert status_of(order) == Order.Status.PENDING

    stdout, _ = reconcile("--older-than", "3")
    assert status_of(order) == Order.Status.PAID
    assert f"order {order.public_id}: pending -> paid" in stdout


def test_reconcile_with_stripe_down_reports_on_stderr_and_exits_1(
    place_order, stripe_double
):
    unreachable, reachable = place_order(), place_order()
    backdate(unreachable, minutes=20)
    backdate(reachable, minutes=15)
    stripe_double.pay(unreachable.checkout_session_id)
    stripe_double.pay(reachable.checkout_session_id)
    stripe_double.fail_next(1, status=500)
    stdout, stderr = StringIO(), StringIO()

    with pytest.raises(SystemExit) as exit_info:
        call_command("reconcile_orders", stdout=stdout, stderr=stderr)

    assert exit_info.value.code == 1
    assert stderr.getvalue().splitlines() == [
        f"order {unreachable.public_id}: could not ask Stripe: Retrieving the "
        "Checkout Session failed: APIError: An unknown error occurred (injected "
        "by the local Stripe double)."
    ]
    assert status_of(unreachable) == Order.Status.PENDING
    # One failure does not stop the run.
    assert status_of(reachable) == Order.Status.PAID
    assert stdout.getvalue().splitlines() == [
        f"order {reachable.public_id}: pending -> paid",
        "Checked 2 pending orders: 1 changed, 1 could not be checked.",
    ]


def run_admin_action(superuser_client, orders: list[Order]):
    return superuser_client.post(
        CHANGELIST_URL,
        {
            "action": "reconcile_with_stripe",
            "_selected_action": [order.pk for order in orders],
            "index": 0,
        },
        follow=True,
    )


def test_admin_action_reconciles_the_selected_orders(
    superuser_client, place_order, stripe_double
):
    paid, expired, still_open, unselected = (place_order() for _ in range(4))
    for order in (paid, unselected):
        stripe_double.pay(order.checkout_session_id)
    stripe_double.expire(expired.checkout_session_id)

    response = run_admin_action(superuser_client, [paid, expired, still_open])

    assert response.status_code == 200
    messages = [str(message) for message in response.context["messages"]]
    assert f"order {paid.public_id}: pending -> paid" in messages
    assert f"order {expired.public_id}: pending -> expired" in messages
    assert f"order {still_open.public_id}: still pending" in messages
    assert status_of(paid) == Order.Status.PAID
    assert paid.status_history[-1]["by"] == "reconcile"
    assert status_of(expired) == Order.Status.EXPIRED
    assert status_of(still_open) == Order.Status.PENDING
    assert status_of(unselected) == Order.Status.PENDING


def test_admin_action_skips_settled_orders_and_reports_stripe_errors(
    superuser_client, place_order, stripe_double
):
    settled, unreachable = place_order(), place_order()
    stripe_double.pay(settled.checkout_session_id)
    run_admin_action(superuser_client, [settled])
    stripe_double.pay(unreachable.checkout_session_id)
    stripe_double.fail_next(1, status=503)
    requests_before = len(stripe_double.requests)

    response = run_admin_action(superuser_client, [settled, unreachable])

    messages = [
        (message.level_tag, str(message)) for message in response.context["messages"]
    ]
    assert len(messages) == 1
    level, text = messages[0]
    assert level == "error"
    assert text.startswith(f"order {unreachable.public_id}: could not ask Stripe")
    assert status_of(unreachable) == Order.Status.PENDING
    # Only the pending order was asked about.
    assert len(stripe_double.requests) == requests_before + 1


def test_reconcile_stops_and_exits_1_when_stripe_cannot_be_reached(
    place_order, stripe_double, settings
):
    first, second = place_order(), place_order()
    backdate(first, minutes=20)
    backdate(second, minutes=15)
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    stdout, stderr = StringIO(), StringIO()

    with pytest.raises(SystemExit) as exit_info:
        call_command("reconcile_orders", stdout=stdout, stderr=stderr)

    assert exit_info.value.code == 1
    errors = stderr.getvalue()
    assert errors.startswith(f"order {first.public_id}: could not ask Stripe: ")
    assert "APIConnectionError" in errors
    assert errors.endswith(
        "\nStripe could not be reached; stopped. The remaining pending orders are "
        "checked on the next run.\n"
    )
    assert str(second.public_id) not in errors
    assert stdout.getvalue().splitlines() == [
        "Checked 1 pending orders: 0 changed, 1 could not be checked."
    ]
    assert status_of(first) == status_of(second) == Order.Status.PENDING


def payment_intent_of(stripe_double, order: Order) -> str:
    return stripe_double.sessions[order.checkout_session_id]["payment_intent"]


def test_reconcile_fails_a_complete_session_whose_payment_intent_failed(
    place_order, stripe_double
):
    order = place_order()
    backdate(order, minutes=20)
    # A delayed payment fails; its async_payment_failed event never arrives.
    stripe_double.pay(order.checkout_session_id, delayed=True)
    stripe_double.settle(order.checkout_session_id, succeeded=False, notify=False)
    session = stripe_double.sessions[order.checkout_session_id]
    assert (session["status"], session["payment_status"]) == ("complete", "unpaid")

    stdout, _ = reconcile()

    assert status_of(order) == Order.Status.FAILED
    assert f"order {order.public_id}: pending -> failed" in stdout
    asked = [r["path"] for r in stripe_double.requests if r["method"] == "GET"]
    assert f"/v1/payment_intents/{payment_intent_of(stripe_double, order)}" in asked
    assert "PaymentIntent is requires_payment_method" in order.problem


@pytest.mark.parametrize(
    ("intent_status", "order_status"),
    [
        ("succeeded", Order.Status.PAID),
        ("requires_payment_method", Order.Status.FAILED),
        ("canceled", Order.Status.FAILED),
        ("processing", Order.Status.PENDING),
    ],
)
def test_a_complete_unpaid_session_follows_its_payment_intent(
    place_order, stripe_double, intent_status, order_status
):
    order = place_order()
    stripe_double.pay(order.checkout_session_id, delayed=True)
    checkout_session = stripe_double.sessions[order.checkout_session_id]
    payment_intent = {
        "id": checkout_session["payment_intent"],
        "object": "payment_intent",
        "amount": order.total_cents,
        "amount_received": order.total_cents if intent_status == "succeeded" else 0,
        "currency": "usd",
        "status": intent_status,
    }

    order_sync_with_payment_intent(
        checkout_session=checkout_session, payment_intent=payment_intent, by="reconcile"
    )

    assert status_of(order) == order_status


def test_a_succeeded_payment_intent_of_another_amount_is_not_paid(
    place_order, stripe_double
):
    order = place_order()
    stripe_double.pay(order.checkout_session_id, delayed=True)
    checkout_session = stripe_double.sessions[order.checkout_session_id]
    payment_intent = {
        "id": checkout_session["payment_intent"],
        "amount": order.total_cents - 1,
        "amount_received": order.total_cents - 1,
        "currency": "usd",
        "status": "succeeded",
    }

    order_sync_with_payment_intent(
        checkout_session=checkout_session, payment_intent=payment_intent, by="reconcile"
    )

    assert status_of(order) == Order.Status.PENDING
    assert order.problem.startswith("Amount mismatch: the PaymentIntent says")


def test_a_staff_user_who_may_only_view_orders_cannot_run_the_action(
    sign_in_staff, place_order, stripe_double
):
    order = place_order()
    stripe_double.pay(order.checkout_session_id)
    viewer = sign_in_staff("view_order")
    asked_before = len(stripe_double.requests)

    changelist = viewer.get(CHANGELIST_URL)
    response = run_admin_action(viewer, [order])

    assert changelist.status_code == 200
    assert "reconcile_with_stripe" not in changelist.content.decode()
    assert response.status_code == 200
    assert status_of(order) == Order.Status.PENDING
    assert len(stripe_double.requests) == asked_before


def test_a_staff_user_with_the_reconcile_permission_runs_the_action(
    sign_in_staff, place_order, stripe_double
):
    order = place_order()
    stripe_double.pay(order.checkout_session_id)
    operator = sign_in_staff("view_order", "reconcile_order")

    assert "reconcile_with_stripe" in operator.get(CHANGELIST_URL).content.decode()
    response = run_admin_action(operator, [order])

    messages = [str(message) for message in response.context["messages"]]
    assert messages == [f"order {order.public_id}: pending -> paid"]
    assert status_of(order) == Order.Status.PAID


def test_the_reconcile_permission_does_not_make_orders_editable(
    sign_in_staff, place_order
):
    order = place_order()
    operator = sign_in_staff("view_order", "reconcile_order")
    url = reverse("admin:payments_order_change", args=[order.pk])

    page = operator.get(url)

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert operator.post(url, {"status": "paid"}).status_code == 403
    assert status_of(order) == Order.Status.PENDING


@pytest.mark.parametrize("fault", ["revoked-key", "no-key"])
def test_reconcile_stops_and_exits_1_when_stripe_refuses_the_key_or_there_is_none(
    place_order, stripe_double, settings, fault
):
    first, second = place_order(), place_order()
    backdate(first, minutes=20)
    backdate(second, minutes=15)
    if fault == "revoked-key":
        stripe_double.revoke_key(settings.STRIPE_SECRET_KEY)
    else:
        settings.STRIPE_SECRET_KEY = ""
    stdout, stderr = StringIO(), StringIO()

    with pytest.raises(SystemExit) as exit_info:
        call_command("reconcile_orders", stdout=stdout, stderr=stderr)

    assert exit_info.value.code == 1
    assert "Stripe could not be reached; stopped." in stderr.getvalue()
    assert str(second.public_id) not in stderr.getvalue()
    assert status_of(first) == status_of(second) == Order.Status.PENDING
