"""Refunds and disputes on the local Stripe double, through the real SDK."""

from __future__ import annotations

import time

import pytest
import requests
import stripe
from stripe.events import (
    V1ChargeDisputeClosedEventNotification,
    V1ChargeDisputeCreatedEventNotification,
    V1ChargeRefundedEventNotification,
    V1RefundCreatedEventNotification,
)

from payments.stripe_double import DEFAULT_WEBHOOK_SECRET, StripeDouble

from .stripe_double_support import TOTAL, WebhookReceiver, pen_session


@pytest.fixture
def payment_intent_id(
    double_server: StripeDouble, double_session: stripe.checkout.Session
) -> str:
    """The PaymentIntent of a session paid by card."""
    return double_server.pay(double_session.id)["payment_intent"]


@pytest.fixture
def bank_payment_intent_id(
    double_server: StripeDouble, double_session: stripe.checkout.Session
) -> str:
    """The PaymentIntent of a session paid by bank debit, still processing."""
    return double_server.pay(double_session.id, delayed=True)["payment_intent"]


def _charge(client: stripe.StripeClient, payment_intent_id: str) -> stripe.Charge:
    payment_intent = client.v1.payment_intents.retrieve(
        payment_intent_id, params={"expand": ["latest_charge"]}
    )
    return payment_intent.latest_charge


def _event_types(double: StripeDouble) -> list[str]:
    return [event["type"] for event in double.events]


def test_refund_without_amount_refunds_the_rest_and_tells_the_charge(
    double_server: StripeDouble,
    double_client: stripe.StripeClient,
    payment_intent_id: str,
) -> None:
    refund = double_client.v1.refunds.create(
        params={
            "payment_intent": payment_intent_id,
            "reason": "requested_by_customer",
            "metadata": {"order_id": "42"},
        },
        options={"idempotency_key": "refund-42"},
    )

    assert refund.id.startswith("re_")
    assert (refund.amount, refund.currency, refund.status) == (
        TOTAL,
        "usd",
        "succeeded",
    )
    assert refund.payment_intent == payment_intent_id
    assert refund.reason == "requested_by_customer"
    assert refund.metadata["order_id"] == "42"
    charge = _charge(double_client, payment_intent_id)
    assert (charge.amount_refunded, charge.refunded) == (TOTAL, True)
    assert refund.charge == charge.id
    created, refunded = double_server.events[1:]
    assert created["type"] == "refund.created"
    assert created["data"]["object"]["id"] == refund.id
    assert created["request"]["idempotency_key"] == "refund-42"
    assert refunded["type"] == "charge.refunded"
    assert refunded["data"]["object"]["amount_refunded"] == TOTAL
    assert refunded["data"]["previous_attributes"] == {
        "amount_refunded": 0,
        "refunded": False,
    }


def test_refunding_more_than_is_left_is_refused_as_stripe_does(
    double_server: StripeDouble,
    double_client: stripe.StripeClient,
    payment_intent_id: str,
) -> None:
    double_client.v1.refunds.create(
        params={"payment_intent": payment_intent_id, "amount": TOTAL - 1000}
    )

    with pytest.raises(stripe.InvalidRequestError) as too_much:
        double_client.v1.refunds.create(
            params={"payment_intent": payment_intent_id, "amount": 1001}
        )
    rest = double_client.v1.refunds.create(params={"payment_intent": payment_intent_id})
    with pytest.raises(stripe.InvalidRequestError) as again:
        double_client.v1.refunds.create(params={"payment_intent": payment_intent_id})

    assert too_much.value.http_status == 400
    assert too_much.value.code == "amount_too_large"
    assert too_much.value.param == "amount"
    assert too_much.value.user_message == (
        "Refund amount ($10.01) is greater than unrefunded amount on charge ($10.00)"
    )
    assert rest.amount == 1000
    assert again.value.code == "charge_already_refunded"
    charge = _charge(double_client, payment_intent_id)
    assert (charge.amount_refunded, charge.refunded) == (TOTAL, True)


def test_partial_refund_leaves_the_charge_not_refunded(
    double_client: stripe.StripeClient, payment_intent_id: str
) -> None:
    charge = _charge(double_client, payment_intent_id)

    refund = double_client.v1.refunds.create(
        params={"charge": charge.id, "amount": 500}
    )

    charge = double_client.v1.charges.retrieve(charge.id)
    assert refund.payment_intent == payment_intent_id
    assert (charge.amount_refunded, charge.refunded) == (500, False)


def test_refund_idempotency_key_makes_one_refund(
    double_server: StripeDouble,
    double_client: stripe.StripeClient,
    payment_intent_id: str,
) -> None:
    options: stripe.RequestOptions = {"idempotency_key": "refund-once"}
    params = {"payment_intent": payment_intent_id, "amount": 700}

    first = double_client.v1.refunds.create(params=params, options=options)
    second = double_client.v1.refunds.create(params=params, options=options)

    assert second.id == first.id
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert _charge(double_client, payment_intent_id).amount_refunded == 700
    assert _event_types(double_server).count("refund.created") == 1


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({}, None, "parameter_missing"),
        ({"payment_intent": "pi_nope"}, "payment_intent", "resource_missing"),
        ({"charge": "ch_nope"}, "charge", "resource_missing"),
        ({"amount": 0}, "amount", None),
        ({"reason": "changed_my_mind"}, "reason", None),
        ({"refund_application_fee": True}, "refund_application_fee", None),
    ],
)
def test_refund_params_are_validated(
    double_client: stripe.StripeClient,
    payment_intent_id: str,
    params: dict,
    param: str | None,
    code: str | None,
) -> None:
    if "charge" not in params and params:
        params = {"payment_intent": payment_intent_id, **params}

    with pytest.raises(stripe.InvalidRequestError) as raised:
        double_client.v1.refunds.create(params=params)

    assert raised.value.param == param
    if code:
        assert raised.value.code == code


def test_a_processing_payment_cannot_be_refunded(
    double_client: stripe.StripeClient, bank_payment_intent_id: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError, match="successful charge"):
        double_client.v1.refunds.create(
            params={"payment_intent": bank_payment_intent_id}
        )


def test_refunds_are_listed_by_payment_intent_newest_first(
    double_server: StripeDouble,
    double_client: stripe.StripeClient,
    payment_intent_id: str,
) -> None:
    other = pen_session(double_client, 900)
    double_server.refund(double_server.pay(other.id)["payment_intent"])
    first = double_client.v1.refunds.create(
        params={"payment_intent": payment_intent_id, "amount": 100}
    )
    time.sleep(1.05)
    second = double_client.v1.refunds.create(
        params={"payment_intent": payment_intent_id, "amount": 200}
    )

    page = double_client.v1.refunds.list(params={"payment_intent": payment_intent_id})
    one = double_client.v1.refunds.list(
        params={"payment_intent": payment_intent_id, "limit": 1}
    )

    assert [refund.id for refund in page.data] == [second.id, first.id]
    assert page.has_more is False
    assert [refund.id for refund in one.data] == [second.id]
    assert one.has_more is True
    assert double_client.v1.refunds.retrieve(first.id).amount == 100
    with pytest.raises(stripe.InvalidRequestError) as missing:
        double_client.v1.refunds.retrieve("re_nope")
    assert missing.value.code == "resource_missing"


def test_dashboard_refund_reaches_the_shop_only_by_events_and_the_api(
    double_server: StripeDouble,
    double_receiver: WebhookReceiver,
    double_client: stripe.StripeClient,
    double_session: stripe.checkout.Session,
    payment_intent_id: str,
) -> None:
    response = requests.post(
        f"{double_server.url}/_double/refunds",
        json={"session": double_session.id, "amount": 1234, "reason": "duplicate"},
        timeout=5,
    )

    assert response.status_code == 200
    refund = response.json()
    double_server.wait_for_deliveries(3)
    # Like Stripe's, deliveries may arrive in any order.
    events = {event.type: event for event in double_receiver.events()}
    assert sorted(events) == [
        "charge.refunded",
        "checkout.session.completed",
        "refund.created",
    ]
    assert events["refund.created"].data.object.id == refund["id"]
    assert events["refund.created"].data.object.amount == 1234
    assert events["refund.created"].request.idempotency_key is None
    listed = double_client.v1.refunds.list(params={"payment_intent": payment_intent_id})
    assert [item.id for item in listed.data] == [refund["id"]]
    too_much = requests.post(
        f"{double_server.url}/_double/refunds",
        json={"payment_intent": payment_intent_id, "amount": TOTAL},
        timeout=5,
    )
    assert too_much.status_code == 400
    assert "greater than unrefunded amount" in too_much.json()["error"]


def test_bank_debit_refund_is_pending_until_it_settles_or_fails(
    double_server: StripeDouble,
    double_client: stripe.StripeClient,
    double_session: stripe.checkout.Session,
    bank_payment_intent_id: str,
) -> None:
    double_server.settle(double_session.id)
    refund = double_client.v1.refunds.create(
        params={"payment_intent": bank_payment_intent_id, "amount": 300}
    )

    failed = requests.post(
        f"{double_server.url}/_double/refunds/{refund.id}/settle",
        json={"succeeded": False},
        timeout=5,
    ).json()

    assert refund.status == "pending"
    assert failed["status"] == "failed"
    assert failed["failure_reason"] == "declined"
    assert _event_types(double_server)[-2:] == ["refund.updated", "refund.failed"]
    assert double_server.events[-2]["data"]["previous_attributes"] == {
        "status": "pending"
    }
    assert _charge(double_client, bank_payment_intent_id).amount_refunded == 0
    settled = double_server.settle_refund(
        double_client.v1.refunds.create(
            params={"payment_intent": bank_payment_intent_id}
        ).id
    )
    assert settled["status"] == "succeeded"
    assert _event_types(double_server)[-1] == "refund.updated"


def test_dispute_needs_a_response_blocks_refunds_and_closes_won(
    double_server: StripeDouble,
    double_client: stripe.StripeClient,
    double_session: stripe.checkout.Session,
    payment_intent_id: str,
) -> None:
    control = f"{double_server.url}/_double/disputes"
    before = int(time.time())

    opened = requests.post(
        control,
        json={"session": double_session.id, "reason": "product_not_received"},
        timeout=5,
    ).json()

    created = double_server.events[-1]
    assert created["type"] == "charge.dispute.created"
    dispute = created["data"]["object"]
    assert dispute["id"] == opened["id"]
    assert dispute["id"].startswith("dp_")
    assert (dispute["status"], dispute["reason"]) == (
        "needs_response",
        "product_not_received",
    )
    assert dispute["amount"] == TOTAL
    assert dispute["payment_intent"] == payment_intent_id
    due_by = dispute["evidence_details"]["due_by"]
    assert before + 6 * 86400 < due_by < before + 8 * 86400 + 5
    assert _charge(double_client, payment_intent_id).disputed is True
    with pytest.raises(stripe.InvalidRequestError) as refused:
        double_client.v1.refunds.create(params={"payment_intent": payment_intent_id})
    assert refused.value.code == "charge_disputed"

    closed = requests.post(
        f"{control}/{opened['id']}/close", json={"won": True}, timeout=5
    ).json()

    assert closed["status"] == "won"
    assert double_server.events[-1]["type"] == "charge.dispute.closed"
    assert double_server.events[-1]["data"]["object"]["status"] == "won"
    assert double_client.v1.disputes.retrieve(opened["id"]).status == "won"
    again = requests.post(
        f"{control}/{opened['id']}/close", json={"won": False}, timeout=5
    )
    assert again.status_code == 409


def test_lost_dispute_is_closed_lost(
    double_server: StripeDouble, double_session: stripe.checkout.Session
) -> None:
    double_server.pay(double_session.id)
    dispute = double_server.dispute(double_session.id, amount=500)

    closed = double_server.close_dispute(dispute["id"], won=False)

    assert (closed["status"], closed["amount"]) == ("lost", 500)
    with pytest.raises(ValueError, match="already"):
        double_server.close_dispute(dispute["id"], won=True)


def test_refund_and_dispute_thin_events_parse_and_fetch_their_objects(
    double_server: StripeDouble,
    double_receiver: WebhookReceiver,
    double_client: stripe.StripeClient,
    payment_intent_id: str,
) -> None:
    double_server.event_payloads = "thin"
    refund = double_client.v1.refunds.create(
        params={"payment_intent": payment_intent_id, "amount": 100}
    )
    dispute = double_server.dispute(payment_intent_id)
    double_server.close_dispute(dispute["id"], won=False)
    double_server.wait_for_deliveries(5)

    notifications = {
        notification.type: notification
        for notification in (
            double_client.parse_event_notification(
                item["body"],
                item["headers"]["Stripe-Signature"],
                DEFAULT_WEBHOOK_SECRET,
            )
            for item in double_receiver.received
            if '"v2.core.event"' in item["body"]
        )
    }

    created = notifications["v1.refund.created"]
    refunded = notifications["v1.charge.refunded"]
    opened = notifications["v1.charge.dispute.created"]
    closed = notifications["v1.charge.dispute.closed"]
    assert isinstance(created, V1RefundCreatedEventNotification)
    assert created.fetch_related_object().id == refund.id
    assert isinstance(refunded, V1ChargeRefundedEventNotification)
    assert refunded.fetch_related_object().amount_refunded == 100
    assert isinstance(opened, V1ChargeDisputeCreatedEventNotification)
    assert opened.related_object.url == f"/v1/disputes/{dispute['id']}"
    assert isinstance(closed, V1ChargeDisputeClosedEventNotification)
    assert closed.fetch_related_object().status == "lost"
