"""PaymentIntents and charges on the local Stripe double, through the real SDK."""

from __future__ import annotations

import pytest
import requests
import stripe

from payments.stripe_double import StripeDouble

from .stripe_double_support import TOTAL, pen_session, press


def _payment_intent(
    client: stripe.StripeClient, session_id: str
) -> stripe.PaymentIntent:
    session = client.v1.checkout.sessions.retrieve(
        session_id, params={"expand": ["payment_intent.latest_charge"]}
    )
    assert isinstance(session.payment_intent, stripe.PaymentIntent)
    return session.payment_intent


def test_card_payment_has_a_succeeded_payment_intent_and_charge(
    double_client: stripe.StripeClient, double_session: stripe.checkout.Session
) -> None:
    press(double_session, "pay", email="ada@example.com", name="Ada Lovelace")

    session = double_client.v1.checkout.sessions.retrieve(double_session.id)
    payment_intent = double_client.v1.payment_intents.retrieve(session.payment_intent)
    charge = double_client.v1.charges.retrieve(payment_intent.latest_charge)

    assert payment_intent.id.startswith("pi_")
    assert payment_intent.status == "succeeded"
    assert (payment_intent.amount, payment_intent.amount_received) == (TOTAL, TOTAL)
    assert payment_intent.currency == "usd"
    assert charge.id.startswith("ch_")
    assert (charge.status, charge.paid, charge.captured) == ("succeeded", True, True)
    assert charge.payment_intent == payment_intent.id
    assert charge.amount == TOTAL
    assert charge.amount_refunded == 0
    assert charge.billing_details.email == "ada@example.com"
    assert charge.billing_details.name == "Ada Lovelace"
    assert charge.payment_method_details.type == "card"
    assert charge.payment_method_details.card.last4 == "4242"


def test_session_expands_payment_intent_and_its_latest_charge(
    double_server: StripeDouble,
    double_client: stripe.StripeClient,
    double_session: stripe.checkout.Session,
) -> None:
    double_server.pay(double_session.id)

    payment_intent = _payment_intent(double_client, double_session.id)
    only_intent = double_client.v1.checkout.sessions.retrieve(
        double_session.id, params={"expand": ["payment_intent"]}
    ).payment_intent
    with_charge = double_client.v1.payment_intents.retrieve(
        payment_intent.id, params={"expand": ["latest_charge"]}
    )

    assert isinstance(payment_intent.latest_charge, stripe.Charge)
    assert payment_intent.latest_charge.status == "succeeded"
    assert isinstance(only_intent, stripe.PaymentIntent)
    assert isinstance(only_intent.latest_charge, str)
    assert with_charge.latest_charge.id == payment_intent.latest_charge.id


def test_open_session_expands_payment_intent_to_null(
    double_client: stripe.StripeClient, double_session: stripe.checkout.Session
) -> None:
    session = double_client.v1.checkout.sessions.retrieve(
        double_session.id, params={"expand": ["payment_intent"]}
    )

    assert session.payment_intent is None


@pytest.mark.parametrize(
    "path", ["metadata", "payment_intent.amount", "customer_details", "line_item"]
)
def test_expanding_what_cannot_be_expanded_is_refused(
    double_server: StripeDouble,
    double_client: stripe.StripeClient,
    double_session: stripe.checkout.Session,
    path: str,
) -> None:
    double_server.pay(double_session.id)

    with pytest.raises(stripe.InvalidRequestError) as raised:
        double_client.v1.checkout.sessions.retrieve(
            double_session.id, params={"expand": [path]}
        )

    assert raised.value.param == "expand"
    assert f"cannot be expanded ({path})" in raised.value.user_message


def test_bank_debit_is_processing_until_it_settles(
    double_server: StripeDouble,
    double_client: stripe.StripeClient,
    double_session: stripe.checkout.Session,
) -> None:
    press(double_session, "pay_delayed")
    processing = _payment_intent(double_client, double_session.id)

    double_server.settle(double_session.id)
    settled = _payment_intent(double_client, double_session.id)

    assert processing.status == "processing"
    assert processing.amount_received == 0
    assert processing.payment_method_types == ["us_bank_account"]
    assert processing.latest_charge.status == "pending"
    assert processing.latest_charge.paid is False
    assert settled.status == "succeeded"
    assert settled.amount_received == TOTAL
    assert settled.latest_charge.status == "succeeded"
    assert settled.latest_charge.paid is True


def test_failed_bank_debit_leaves_requires_payment_method_and_a_failed_charge(
    double_server: StripeDouble,
    double_client: stripe.StripeClient,
    double_session: stripe.checkout.Session,
) -> None:
    double_server.pay(double_session.id, delayed=True)

    double_server.settle(double_session.id, succeeded=False)

    payment_intent = _payment_intent(double_client, double_session.id)
    assert payment_intent.status == "requires_payment_method"
    assert payment_intent.last_payment_error.code == "insufficient_funds"
    assert payment_intent.last_payment_error.charge == payment_intent.latest_charge.id
    assert payment_intent.latest_charge.status == "failed"
    assert payment_intent.latest_charge.failure_code == "insufficient_funds"
    assert double_server.events[-1]["type"] == "checkout.session.async_payment_failed"


def test_silently_failed_bank_debit_sends_no_event_and_only_the_intent_tells(
    double_server: StripeDouble,
    double_client: stripe.StripeClient,
    double_session: stripe.checkout.Session,
) -> None:
    double_server.pay(double_session.id, delayed=True)

    response = requests.post(
        f"{double_server.url}/_double/sessions/{double_session.id}/settle",
        json={"succeeded": False, "notify": False},
        timeout=5,
    )

    assert response.status_code == 200
    assert [event["type"] for event in double_server.events] == [
        "checkout.session.completed"
    ]
    session = double_client.v1.checkout.sessions.retrieve(double_session.id)
    assert (session.status, session.payment_status) == ("complete", "unpaid")
    payment_intent = _payment_intent(double_client, double_session.id)
    assert payment_intent.status == "requires_payment_method"
    listed = requests.get(f"{double_server.url}/_double/payment_intents", timeout=5)
    assert listed.json()[payment_intent.id]["status"] == "requires_payment_method"


def test_settling_twice_is_refused(
    double_server: StripeDouble, double_session: stripe.checkout.Session
) -> None:
    double_server.pay(double_session.id, delayed=True)
    double_server.settle(double_session.id, succeeded=False, notify=False)

    with pytest.raises(ValueError, match="no payment to settle"):
        double_server.settle(double_session.id)


def test_failed_payment_intent_can_be_canceled_a_succeeded_one_cannot(
    double_server: StripeDouble,
    double_client: stripe.StripeClient,
    double_session: stripe.checkout.Session,
) -> None:
    double_server.pay(double_session.id, delayed=True)
    double_server.settle(double_session.id, succeeded=False)
    failed = _payment_intent(double_client, double_session.id)
    other = pen_session(double_client, 500)
    double_server.pay(other.id)
    succeeded = _payment_intent(double_client, other.id)

    canceled = double_client.v1.payment_intents.cancel(
        failed.id, params={"cancellation_reason": "abandoned"}
    )
    with pytest.raises(stripe.InvalidRequestError) as raised:
        double_client.v1.payment_intents.cancel(succeeded.id)

    assert canceled.status == "canceled"
    assert canceled.cancellation_reason == "abandoned"
    assert canceled.canceled_at is not None
    assert raised.value.code == "payment_intent_unexpected_state"
    assert "status of succeeded" in raised.value.user_message


@pytest.mark.parametrize(
    ("resource", "object_id", "name"),
    [
        ("payment_intents", "pi_nope", "payment_intent"),
        ("charges", "ch_nope", "charge"),
    ],
)
def test_unknown_payment_objects_are_resource_missing(
    double_client: stripe.StripeClient, resource: str, object_id: str, name: str
) -> None:
    service = getattr(double_client.v1, resource)

    with pytest.raises(stripe.InvalidRequestError) as raised:
        service.retrieve(object_id)

    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert f"No such {name}: '{object_id}'" in raised.value.user_message


def test_hosted_page_offers_only_the_allowed_payment_methods(
    double_client: stripe.StripeClient, double_session: stripe.checkout.Session
) -> None:
    card_only = pen_session(double_client, 500, allowed_payment_method_types=["card"])

    page = requests.get(card_only.url, timeout=5).text
    refused = press(card_only, "pay_delayed")

    assert card_only.payment_method_types == ["card"]
    assert 'value="pay"' in page
    assert 'value="pay_delayed"' not in page
    assert refused.status_code == 400
    assert 'value="pay_delayed"' in requests.get(double_session.url, timeout=5).text
