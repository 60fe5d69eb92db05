"""Refunds through Stripe (the double, over HTTP): asked, confirmed, failed, found."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.management import call_command
from django.test import Client
from model_bakery import baker

from payments import stripe_api
from payments.models import Order, OrderEmail, Refund
from payments.refunds import (
    DASHBOARD,
    RefundRefused,
    RefundUnconfirmed,
    refund_idempotency_key,
    refund_params,
    refund_reserve,
    refund_submit,
    refundable_cents,
)
from payments.stripe_double.events import thin_notification
from payments.tests.conftest import deliver_events
from storefront.models import Product

pytestmark = pytest.mark.django_db

Status = Order.Status


@pytest.fixture
def pay(stripe_double) -> Callable[..., Order]:
    """Return a function that pays an order on the double and delivers its events."""

    def pay_order(order: Order, *, delayed: bool = False) -> Order:
        seen = len(stripe_double.events)
        stripe_double.pay(order.checkout_session_id, delayed=delayed, email="a@ex.com")
        if delayed:
            stripe_double.settle(order.checkout_session_id)
        deliver_events(*stripe_double.events[seen:])
        order.refresh_from_db()
        assert order.status == Status.PAID
        return order

    return pay_order


@pytest.fixture
def paid_order(pending_order: Order, pay) -> Order:
    """A card payment: Stripe refunds it at once."""
    return pay(pending_order)


@pytest.fixture
def bank_paid_order(pending_order: Order, pay) -> Order:
    """A bank debit: Stripe's refunds of it stay pending until the bank answers."""
    return pay(pending_order, delayed=True)


def refund_posts(stripe_double) -> list[dict]:
    return [
        request
        for request in stripe_double.requests
        if request["method"] == "POST" and request["path"] == "/v1/refunds"
    ]


def header(request: dict, name: str) -> str | None:
    return {key.lower(): value for key, value in request["headers"].items()}.get(name)


def events_after(stripe_double, seen: int) -> list[dict]:
    return stripe_double.events[seen:]


def refund(order: Order, amount_cents: int, **kwargs) -> Refund:
    reserved = refund_reserve(
        order_id=order.pk,
        amount_cents=amount_cents,
        reason=kwargs.pop("reason", Refund.Reason.REQUESTED_BY_CUSTOMER),
        requested_by=kwargs.pop("requested_by", "admin:operator"),
        **kwargs,
    )
    return refund_submit(refund=reserved)


def refund_emails(order: Order) -> list[OrderEmail]:
    return list(order.emails.filter(kind=OrderEmail.Kind.REFUNDED))


def test_partial_refund_asks_stripe_with_a_key_of_its_own_and_marks_the_order(
    stripe_double, paid_order
):
    made = refund(paid_order, 1000)

    [post] = refund_posts(stripe_double)
    assert header(post, "idempotency-key") == f"refund-{made.public_id}"
    assert post["params"]["payment_intent"] == paid_order.payment_intent_id
    assert post["params"]["amount"] == "1000"
    assert post["params"]["reason"] == "requested_by_customer"
    assert made.stripe_refund_id.startswith("re_")
    assert made.status == Refund.Status.SUCCEEDED
    assert made.requested_by == "admin:operator"
    paid_order.refresh_from_db()
    assert paid_order.status == Status.PARTIALLY_REFUNDED
    assert paid_order.status_history[-1]["to"] == Status.PARTIALLY_REFUNDED
    assert refundable_cents(paid_order) == paid_order.total_cents - 1000
    [email] = refund_emails(paid_order)
    assert email.event_key == made.stripe_refund_id
    assert email.context["amount_cents"] == 1000


def test_stripe_events_for_the_shops_own_refund_change_nothing_more(
    stripe_double, paid_order
):
    seen = len(stripe_double.events)
    made = refund(paid_order, 1000)
    events = events_after(stripe_double, seen)
    assert [event["type"] for event in events] == ["refund.created", "charge.refunded"]

    assert deliver_events(*events, *events) == [
        (200, "processed"),
        (200, "processed"),
        (200, "repeat"),
        (200, "repeat"),
    ]

    assert list(Refund.objects.values_list("pk", flat=True)) == [made.pk]
    assert len(refund_emails(paid_order)) == 1
    paid_order.refresh_from_db()
    assert paid_order.status == Status.PARTIALLY_REFUNDED
    assert len(paid_order.status_history) == 2


def test_event_that_beats_the_create_answer_finds_the_reserved_row(
    stripe_double, paid_order
):
    reserved = refund_reserve(
        order_id=paid_order.pk,
        amount_cents=paid_order.total_cents,
        reason="duplicate",
        requested_by="admin:operator",
    )
    seen = len(stripe_double.events)
    # Stripe makes the refund and sends its events before the shop saves the id.
    stripe_api.refund_create(
        params=refund_params(reserved),
        idempotency_key=refund_idempotency_key(reserved),
    )
    deliver_events(*events_after(stripe_double, seen))

    reserved.refresh_from_db()
    assert reserved.stripe_refund_id.startswith("re_")
    assert reserved.status == Refund.Status.SUCCEEDED
    # The create call's answer arrives after all (replayed by its key).
    submitted = refund_submit(refund=reserved)

    assert submitted.pk == reserved.pk
    assert Refund.objects.count() == 1
    assert len(refund_posts(stripe_double)) == 2
    assert len(stripe_double.events) == seen + 2  # one refund at Stripe
    paid_order.refresh_from_db()
    assert paid_order.status == Status.REFUNDED
    assert len(refund_emails(paid_order)) == 1


def test_refund_of_more_than_is_left_is_refused_before_stripe_is_asked(
    stripe_double, paid_order
):
    refund(paid_order, paid_order.total_cents - 100)

    with pytest.raises(RefundRefused, match=r"Only \$1\.00"):
        refund(paid_order, 101)

    assert len(refund_posts(stripe_double)) == 1
    assert Refund.objects.count() == 1


def test_refund_of_an_unpaid_order_is_refused(stripe_double, pending_order):
    with pytest.raises(RefundRefused, match="pending"):
        refund(pending_order, 100)

    assert refund_posts(stripe_double) == []


def test_bank_debit_refund_stays_pending_and_holds_its_amount_until_stripe_confirms(
    stripe_double, bank_paid_order
):
    order = bank_paid_order
    made = refund(order, order.total_cents)

    assert made.status == Refund.Status.PENDING
    order.refresh_from_db()
    assert order.status == Status.PAID
    assert refund_emails(order) == []
    with pytest.raises(RefundRefused):
        refund(order, 1)

    seen = len(stripe_double.events)
    stripe_double.settle_refund(made.stripe_refund_id)
    assert deliver_events(*events_after(stripe_double, seen)) == [(200, "processed")]

    made.refresh_from_db()
    order.refresh_from_db()
    assert made.status == Refund.Status.SUCCEEDED
    assert order.status == Status.REFUNDED
    assert order.status_history[-1]["by"] == "webhook:refund.updated"
    assert len(refund_emails(order)) == 1


def test_failed_refund_frees_its_amount_and_leaves_the_order_paid(
    stripe_double, bank_paid_order
):
    order = bank_paid_order
    made = refund(order, 500)
    seen = len(stripe_double.events)

    stripe_double.settle_refund(made.stripe_refund_id, succeeded=False)
    events = events_after(stripe_double, seen)
    assert [event["type"] for event in events] == ["refund.updated", "refund.failed"]
    deliver_events(*reversed(events))

    made.refresh_from_db()
    order.refresh_from_db()
    assert made.status == Refund.Status.FAILED
    assert made.failure_reason == "declined"
    assert order.status == Status.PAID
    assert refundable_cents(order) == order.total_cents
    assert refund_emails(order) == []


def test_refund_stripe_refuses_is_recorded_failed_and_frees_its_amount(
    stripe_double, paid_order
):
    stripe_double.dispute(paid_order.payment_intent_id)

    with pytest.raises(RefundRefused, match="charged back"):
        refund(paid_order, 500)

    failed = Refund.objects.get()
    assert failed.status == Refund.Status.FAILED
    assert "charged back" in failed.failure_reason
    paid_order.refresh_from_db()
    assert refundable_cents(paid_order) == paid_order.total_cents


def test_dashboard_refund_is_recorded_from_its_events(stripe_double, paid_order):
    seen = len(stripe_double.events)
    made = stripe_double.refund(paid_order.payment_intent_id, amount=700)

    events = events_after(stripe_double, seen)
    assert deliver_events(*events) == [(200, "processed"), (200, "processed")]

    recorded = Refund.objects.get()
    assert recorded.stripe_refund_id == made["id"]
    assert recorded.requested_by == DASHBOARD
    assert recorded.amount_cents == 700
    assert recorded.status == Refund.Status.SUCCEEDED
    paid_order.refresh_from_db()
    assert paid_order.status == Status.PARTIALLY_REFUNDED
    assert len(refund_emails(paid_order)) == 1


def test_dashboard_refund_known_only_from_refund_updated_is_recorded_once(
    stripe_double, bank_paid_order
):
    order = bank_paid_order
    made = stripe_double.refund(order.payment_intent_id, amount=400)
    # refund.created and charge.refunded were lost; the bank then settles it.
    seen = len(stripe_double.events)
    stripe_double.settle_refund(made["id"])
    [updated] = events_after(stripe_double, seen)
    assert updated["type"] == "refund.updated"

    assert deliver_events(updated, updated) == [(200, "processed"), (200, "repeat")]

    recorded = Refund.objects.get()
    assert (recorded.stripe_refund_id, recorded.requested_by) == (made["id"], DASHBOARD)
    assert recorded.status == Refund.Status.SUCCEEDED
    order.refresh_from_db()
    assert order.status == Status.PARTIALLY_REFUNDED
    assert len(refund_emails(order)) == 1


def test_charge_refunded_alone_records_the_refunds_it_lists(stripe_double, paid_order):
    seen = len(stripe_double.events)
    stripe_double.refund(paid_order.payment_intent_id)
    [charge_refunded] = [
        event
        for event in events_after(stripe_double, seen)
        if event["type"] == "charge.refunded"
    ]

    assert deliver_events(charge_refunded) == [(200, "processed")]

    assert Refund.objects.get().amount_cents == paid_order.total_cents
    paid_order.refresh_from_db()
    assert paid_order.status == Status.REFUNDED


@pytest.mark.parametrize("kind", ["refund.created", "charge.refunded"])
def test_thin_refund_events_are_fetched_and_recorded(stripe_double, paid_order, kind):
    stripe_double.event_payloads = "thin"
    stripe_double.refund(paid_order.payment_intent_id, amount=300)
    [thin] = [
        event for event in stripe_double.thin_events if event["type"] == f"v1.{kind}"
    ]

    assert deliver_events(thin_notification(thin)) == [(200, "processed")]

    assert Refund.objects.get().amount_cents == 300
    paid_order.refresh_from_db()
    assert paid_order.status == Status.PARTIALLY_REFUNDED


def test_thin_refund_event_pointing_elsewhere_is_refused(stripe_double, paid_order):
    stripe_double.event_payloads = "thin"
    made = stripe_double.refund(paid_order.payment_intent_id, amount=300)
    [thin] = [e for e in stripe_double.thin_events if e["type"] == "v1.refund.created"]
    notification = thin_notification(thin)
    notification["related_object"]["url"] = f"/v1/charges/{made['id']}"

    assert deliver_events(notification) == [(400, None)]

    assert Refund.objects.count() == 0


def test_refund_of_a_payment_not_the_shops_is_ignored(stripe_double, paid_order):
    seen = len(stripe_double.events)
    stripe_double.refund(paid_order.payment_intent_id, amount=300)
    Order.objects.filter(pk=paid_order.pk).update(payment_intent_id="pi_other")

    assert deliver_events(*events_after(stripe_double, seen)) == [
        (200, "ignored"),
        (200, "ignored"),
    ]
    assert Refund.objects.count() == 0


def test_full_refund_with_restock_puts_the_items_back_once(
    stripe_double, new_shopper, checkout_order, pay
):
    lamp = baker.make(Product, name="Lamp", price_cents=2500, stock=5)
    order = pay(checkout_order(new_shopper(lamp, quantity=2)))
    lamp.refresh_from_db()
    assert (lamp.stock, lamp.sold) == (3, 2)

    made = refund(order, order.total_cents, restock=True)
    # Stripe's events about it change nothing more.
    deliver_events(*stripe_double.events[-2:])

    lamp.refresh_from_db()
    made.refresh_from_db()
    assert (lamp.stock, lamp.sold, lamp.reserved) == (5, 0, 0)
    assert made.restocked_at is not None


def test_restock_needs_a_refund_of_everything_left(stripe_double, paid_order):
    with pytest.raises(RefundRefused, match="stock"):
        refund(paid_order, 100, restock=True)

    assert refund_posts(stripe_double) == []


def test_partial_refund_without_restock_leaves_stock_alone(
    stripe_double, new_shopper, checkout_order, pay
):
    lamp = baker.make(Product, name="Lamp", price_cents=2500, stock=5)
    order = pay(checkout_order(new_shopper(lamp, quantity=2)))

    refund(order, order.total_cents)

    lamp.refresh_from_db()
    assert (lamp.stock, lamp.sold) == (3, 2)


def test_stripe_not_answering_leaves_the_refund_pending_for_the_reconciler(
    stripe_double, paid_order
):
    stripe_double.fail_next(1, status=500)

    with pytest.raises(RefundUnconfirmed):
        refund(paid_order, 800)

    pending = Refund.objects.get()
    assert pending.status == Refund.Status.PENDING
    assert pending.stripe_refund_id is None
    paid_order.refresh_from_db()
    assert paid_order.status == Status.PAID
    assert refundable_cents(paid_order) == paid_order.total_cents - 800

    call_command("reconcile_orders", older_than=0)

    pending.refresh_from_db()
    paid_order.refresh_from_db()
    assert pending.status == Refund.Status.SUCCEEDED
    assert pending.stripe_refund_id.startswith("re_")
    assert paid_order.status == Status.PARTIALLY_REFUNDED
    keys = {header(post, "idempotency-key") for post in refund_posts(stripe_double)}
    assert keys == {f"refund-{pending.public_id}"}


def test_reconciler_adopts_a_refund_stripe_made_but_never_confirmed(
    stripe_double, paid_order
):
    reserved = refund_reserve(
        order_id=paid_order.pk,
        amount_cents=400,
        reason="",
        requested_by="admin:operator",
    )
    # Made at Stripe; the answer and the events were lost.
    stripe_api.refund_create(
        params=refund_params(reserved), idempotency_key="a-key-long-forgotten"
    )

    call_command("reconcile_orders", older_than=0)

    reserved.refresh_from_db()
    assert reserved.status == Refund.Status.SUCCEEDED
    assert len(refund_posts(stripe_double)) == 1
    assert Refund.objects.count() == 1


def test_reconciler_settles_a_pending_refund_whose_events_were_lost(
    stripe_double, bank_paid_order
):
    made = refund(bank_paid_order, bank_paid_order.total_cents)
    stripe_double.settle_refund(made.stripe_refund_id)

    call_command("reconcile_orders", older_than=0)

    made.refresh_from_db()
    bank_paid_order.refresh_from_db()
    assert made.status == Refund.Status.SUCCEEDED
    assert bank_paid_order.status == Status.REFUNDED
    assert bank_paid_order.status_history[-1]["by"] == "reconcile"


def test_refunded_orders_still_show_among_the_shoppers_orders(
    stripe_double, new_shopper, checkout_order, pay, laptop
):
    shopper: Client = new_shopper(laptop)
    order = pay(checkout_order(shopper))
    refund(order, order.total_cents)

    page = shopper.get("/")

    assert str(order.public_id)[:8].upper() in page.content.decode()
    assert "Refunded" in page.content.decode()


def test_order_page_lists_the_refunds_that_give_money_back(
    stripe_double, new_shopper, checkout_order, pay, laptop
):
    card = pay(checkout_order(new_shopper(laptop)))
    bank = pay(checkout_order(new_shopper(laptop)), delayed=True)
    refund(card, 700)
    refund(card, 300)
    pending = refund(bank, 500)
    failed = refund(bank, 200)
    seen = len(stripe_double.events)
    stripe_double.settle_refund(failed.stripe_refund_id, succeeded=False)
    deliver_events(*events_after(stripe_double, seen))

    card_page = Client().get(card.get_absolute_url()).content.decode()
    bank_page = Client().get(bank.get_absolute_url()).content.decode()

    assert "Paid; part of it has been refunded." in card_page
    assert "$7.00 refunded" in card_page and "$3.00 refunded" in card_page
    assert pending.status == Refund.Status.PENDING
    assert "$5.00 being refunded" in bank_page
    assert "$2.00" not in bank_page


def test_success_page_of_a_refunded_order_says_refunded_not_expired(
    stripe_double, new_shopper, checkout_order, pay, laptop
):
    shopper = new_shopper(laptop)
    order = pay(checkout_order(shopper))
    refund(order, order.total_cents)

    page = shopper.get("/checkout/success/", {"session_id": order.checkout_session_id})

    text = page.content.decode()
    assert "Your order is refunded" in text
    assert "expired" not in text
