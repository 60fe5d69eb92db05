"""Thin events (event destinations' v2 payloads) from the local Stripe double."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import requests
import stripe
from stripe.events import (
    V1CheckoutSessionAsyncPaymentFailedEventNotification,
    V1CheckoutSessionCompletedEvent,
    V1CheckoutSessionCompletedEventNotification,
    V1CheckoutSessionExpiredEventNotification,
)

from payments.stripe_double import DEFAULT_WEBHOOK_SECRET, StripeDouble

from .stripe_double_support import WebhookReceiver, press


def _notifications(
    client: stripe.StripeClient, receiver: WebhookReceiver
) -> list[stripe.v2.core.EventNotification]:
    return [
        client.parse_event_notification(
            item["body"], item["headers"]["Stripe-Signature"], DEFAULT_WEBHOOK_SECRET
        )
        for item in receiver.received
    ]


def test_thin_completed_event_parses_and_fetches_event_and_session(
    double_server: StripeDouble,
    double_receiver: WebhookReceiver,
    double_client: stripe.StripeClient,
    double_session: stripe.checkout.Session,
) -> None:
    double_server.event_payloads = "thin"

    press(double_session, "pay")

    [notification] = _notifications(double_client, double_receiver)
    assert isinstance(notification, V1CheckoutSessionCompletedEventNotification)
    assert notification.id.startswith("evt_")
    assert notification.object == "v2.core.event"
    assert notification.livemode is False
    assert datetime.fromisoformat(notification.created.replace("Z", "+00:00"))
    assert notification.related_object.id == double_session.id
    assert notification.related_object.type == "checkout.session"
    assert notification.related_object.url == (
        f"/v1/checkout/sessions/{double_session.id}"
    )
    event = notification.fetch_event()
    assert isinstance(event, V1CheckoutSessionCompletedEvent)
    assert event.id == notification.id
    assert event.snapshot_event == double_server.events[0]["id"]
    session = notification.fetch_related_object()
    assert isinstance(session, stripe.checkout.Session)
    assert (session.status, session.payment_status) == ("complete", "paid")


def test_thin_notification_body_has_only_the_thin_fields(
    double_server: StripeDouble,
    double_receiver: WebhookReceiver,
    double_session: stripe.checkout.Session,
) -> None:
    double_server.event_payloads = "thin"

    double_server.pay(double_session.id)

    body = json.loads(double_receiver.received[0]["body"])
    assert set(body) == {
        "id",
        "object",
        "type",
        "created",
        "livemode",
        "related_object",
    }
    assert body["type"] == "v1.checkout.session.completed"
    assert "data" not in body


def test_default_payloads_are_snapshots_that_parse_event_notification_refuses(
    double_server: StripeDouble,
    double_receiver: WebhookReceiver,
    double_client: stripe.StripeClient,
    double_session: stripe.checkout.Session,
) -> None:
    double_server.pay(double_session.id)

    assert double_server.thin_events == []
    with pytest.raises(ValueError, match="construct_event"):
        _notifications(double_client, double_receiver)


def test_both_payloads_send_a_snapshot_and_a_thin_event_that_names_it(
    double_server: StripeDouble,
    double_receiver: WebhookReceiver,
    double_client: stripe.StripeClient,
    double_session: stripe.checkout.Session,
) -> None:
    double_server.event_payloads = "both"

    double_server.pay(double_session.id, delayed=True)
    double_server.settle(double_session.id, succeeded=False)
    double_server.wait_for_deliveries(4)

    bodies = [json.loads(item["body"]) for item in double_receiver.received]
    snapshots = [body for body in bodies if body["object"] == "event"]
    thin = [body for body in bodies if body["object"] == "v2.core.event"]
    assert [body["type"] for body in snapshots] == [
        "checkout.session.completed",
        "checkout.session.async_payment_failed",
    ]
    assert sorted(body["type"] for body in thin) == [
        "v1.checkout.session.async_payment_failed",
        "v1.checkout.session.completed",
    ]
    events = {event["type"]: event for event in double_server.thin_events}
    assert (
        events["v1.checkout.session.completed"]["snapshot_event"]
        == (snapshots[0]["id"])
    )


def test_async_payment_failed_thin_event_has_its_own_class(
    double_server: StripeDouble,
    double_receiver: WebhookReceiver,
    double_client: stripe.StripeClient,
    double_session: stripe.checkout.Session,
) -> None:
    double_server.event_payloads = "thin"
    double_server.pay(double_session.id, delayed=True)

    double_server.settle(double_session.id, succeeded=False)
    double_server.wait_for_deliveries(2)

    failed = _notifications(double_client, double_receiver)[-1]
    assert isinstance(failed, V1CheckoutSessionAsyncPaymentFailedEventNotification)
    assert failed.fetch_related_object().payment_status == "unpaid"


def test_expire_through_the_api_gives_the_thin_event_a_request_reason(
    double_server: StripeDouble,
    double_receiver: WebhookReceiver,
    double_client: stripe.StripeClient,
    double_session: stripe.checkout.Session,
) -> None:
    double_server.event_payloads = "thin"

    double_client.v1.checkout.sessions.expire(
        double_session.id, options={"idempotency_key": "expire-42"}
    )
    double_server.wait_for_deliveries(1)

    [notification] = _notifications(double_client, double_receiver)
    assert isinstance(notification, V1CheckoutSessionExpiredEventNotification)
    assert notification.reason.type == "request"
    assert notification.reason.request.id.startswith("req_")
    assert notification.reason.request.idempotency_key == "expire-42"
    event = double_client.v2.core.events.retrieve(notification.id)
    assert event.reason.request.idempotency_key == "expire-42"
    assert event.related_object.id == double_session.id


def test_unknown_v2_event_is_not_found(double_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        double_client.v2.core.events.retrieve("evt_test_nope")

    assert raised.value.http_status == 404


def test_control_config_chooses_the_payloads(double_server: StripeDouble) -> None:
    control = f"{double_server.url}/_double/config"

    chosen = requests.post(control, json={"event_payloads": "both"}, timeout=5)
    refused = requests.post(control, json={"event_payloads": "fat"}, timeout=5)

    assert chosen.json()["event_payloads"] == "both"
    assert double_server.event_payloads == "both"
    assert refused.status_code == 400
    double_server.reset()
    assert double_server.event_payloads == "snapshot"
