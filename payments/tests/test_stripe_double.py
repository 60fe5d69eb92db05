"""Drive the local Stripe double through the real stripe SDK over HTTP."""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import stripe

from payments.stripe_double import StripeDouble

from .stripe_double_support import (
    API_KEY,
    CANCEL_URL,
    SESSION_PARAMS,
    SUCCESS_URL,
    TOTAL,
    WebhookReceiver,
    make_client,
    press,
)


def test_create_returns_open_session_with_total_and_hosted_url(
    double_server: StripeDouble, double_session: stripe.checkout.Session
) -> None:
    assert double_session.id.startswith("cs_test_")
    assert len(double_session.id) >= 32
    assert double_session.object == "checkout.session"
    assert double_session.status == "open"
    assert double_session.payment_status == "unpaid"
    assert double_session.amount_total == TOTAL
    assert double_session.currency == "usd"
    assert double_session.metadata["order_id"] == "42"
    assert double_session.client_reference_id == "order-42"
    assert double_session.payment_intent is None
    assert double_session.url == f"{double_server.url}/c/pay/{double_session.id}"
    assert "line_items" not in double_session
    assert double_session.expires_at - double_session.created == 24 * 60 * 60
    assert double_session.last_response.headers["Request-Id"].startswith("req_")


def test_retrieve_returns_the_session(
    double_client: stripe.StripeClient, double_session: stripe.checkout.Session
) -> None:
    session = double_client.v1.checkout.sessions.retrieve(double_session.id)

    assert session.id == double_session.id
    assert session.amount_total == TOTAL
    assert session.to_dict() == double_session.to_dict()


def test_retrieve_refuses_expansions(
    double_client: stripe.StripeClient, double_session: stripe.checkout.Session
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        double_client.v1.checkout.sessions.retrieve(
            double_session.id, params={"expand": ["metadata"]}
        )

    assert raised.value.param == "expand"


def test_retrieve_unknown_session_raises_resource_missing(
    double_client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        double_client.v1.checkout.sessions.retrieve("cs_test_nope")

    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert raised.value.param == "session"
    assert "No such checkout.session: 'cs_test_nope'" in raised.value.user_message


def test_expire_closes_session_and_sends_expired_event(
    double_server: StripeDouble,
    double_receiver: WebhookReceiver,
    double_client: stripe.StripeClient,
    double_session: stripe.checkout.Session,
) -> None:
    session = double_client.v1.checkout.sessions.expire(
        double_session.id, options={"idempotency_key": "expire-42"}
    )

    assert session.status == "expired"
    double_server.wait_for_deliveries(1)
    [event] = double_receiver.events()
    assert event.type == "checkout.session.expired"
    assert event.data.object.id == double_session.id
    assert event.request.idempotency_key == "expire-42"
    with pytest.raises(stripe.InvalidRequestError, match="can be expired"):
        double_client.v1.checkout.sessions.expire(double_session.id)


@pytest.mark.parametrize(
    ("change", "param"),
    [
        (lambda p: p.pop("line_items"), "line_items"),
        (lambda p: p["line_items"][0].update(quantity=0), "line_items[0][quantity]"),
        (
            lambda p: p["line_items"][1].update(quantity="abc"),
            "line_items[1][quantity]",
        ),
        (lambda p: p.update(foo="bar"), "foo"),
        (lambda p: p.update(expires_at=int(time.time()) + 60), "expires_at"),
        (lambda p: p.update(expires_at=int(time.time()) + 90_000), "expires_at"),
        (lambda p: p.update(mode="subscription"), "mode"),
        (lambda p: p.pop("mode"), "mode"),
        (lambda p: p.update(success_url="shop.test/ok"), "success_url"),
        (lambda p: p.update(client_reference_id="x" * 201), "client_reference_id"),
        (lambda p: p.update(metadata={"k" * 41: "v"}), "metadata"),
        (
            lambda p: p["line_items"][1]["price_data"].update(currency="eur"),
            "line_items",
        ),
        (
            lambda p: p["line_items"][0]["price_data"]["product_data"].update(name=""),
            "line_items[0][price_data][product_data][name]",
        ),
        (
            lambda p: p["line_items"][0]["price_data"].update(unit_amount=-1),
            "line_items[0][price_data][unit_amount]",
        ),
    ],
)
def test_create_rejects_invalid_params_naming_the_param(
    double_server: StripeDouble, double_client: stripe.StripeClient, change, param
) -> None:
    params = copy.deepcopy(SESSION_PARAMS)
    change(params)

    with pytest.raises(stripe.InvalidRequestError) as raised:
        double_client.v1.checkout.sessions.create(params=params)

    assert raised.value.http_status == 400
    assert raised.value.param == param
    assert raised.value.headers["Stripe-Should-Retry"] == "false"
    assert double_server.sessions == {}


def test_create_accepts_expires_at_within_the_window(
    double_client: stripe.StripeClient,
) -> None:
    expires_at = int(time.time()) + 45 * 60
    session = double_client.v1.checkout.sessions.create(
        params={**SESSION_PARAMS, "expires_at": expires_at, "locale": "auto"}
    )

    assert session.expires_at == expires_at


@pytest.mark.parametrize(
    ("api_key", "message"),
    [
        ("", "You did not provide an API key"),
        ("pk_test_publishable", "Invalid API Key provided: "),
        ("sk_test_", "Invalid API Key provided: "),
    ],
)
def test_missing_or_malformed_key_raises_authentication_error(
    double_server: StripeDouble, api_key: str, message: str
) -> None:
    client = make_client(double_server, api_key)

    with pytest.raises(stripe.AuthenticationError, match=message) as raised:
        client.v1.checkout.sessions.create(params=SESSION_PARAMS)

    assert raised.value.http_status == 401
    assert double_server.sessions == {}


def test_revoked_key_raises_authentication_error_with_redacted_key(
    double_server: StripeDouble, double_client: stripe.StripeClient
) -> None:
    double_client.v1.checkout.sessions.create(params=SESSION_PARAMS)
    double_server.revoke_key(API_KEY)

    with pytest.raises(stripe.AuthenticationError) as raised:
        double_client.v1.checkout.sessions.create(params=SESSION_PARAMS)

    assert API_KEY not in str(raised.value)
    assert API_KEY[-4:] in str(raised.value)


def test_idempotent_replay_returns_the_same_session_once(
    double_server: StripeDouble, double_client: stripe.StripeClient
) -> None:
    options: stripe.RequestOptions = {"idempotency_key": "order-42-checkout"}
    first = double_client.v1.checkout.sessions.create(
        params=SESSION_PARAMS, options=options
    )
    second = double_client.v1.checkout.sessions.create(
        params=SESSION_PARAMS, options=options
    )

    assert second.id == first.id
    assert len(double_server.sessions) == 1
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.last_response.headers


def test_idempotency_key_is_scoped_to_the_api_key(
    double_server: StripeDouble, double_client: stripe.StripeClient
) -> None:
    options: stripe.RequestOptions = {"idempotency_key": "shared"}
    first = double_client.v1.checkout.sessions.create(
        params=SESSION_PARAMS, options=options
    )
    other = make_client(double_server, "sk_test_another_account").v1.checkout.sessions
    second = other.create(params=SESSION_PARAMS, options=options)

    assert second.id != first.id


def test_reusing_idempotency_key_with_other_params_raises_idempotency_error(
    double_server: StripeDouble, double_client: stripe.StripeClient
) -> None:
    options: stripe.RequestOptions = {"idempotency_key": "order-42-checkout"}
    double_client.v1.checkout.sessions.create(params=SESSION_PARAMS, options=options)

    with pytest.raises(stripe.IdempotencyError, match="same parameters"):
        double_client.v1.checkout.sessions.create(
            params={**SESSION_PARAMS, "client_reference_id": "order-43"},
            options=options,
        )
    assert len(double_server.sessions) == 1


def test_failed_validation_does_not_consume_the_idempotency_key(
    double_client: stripe.StripeClient,
) -> None:
    options: stripe.RequestOptions = {"idempotency_key": "order-42-checkout"}
    with pytest.raises(stripe.InvalidRequestError):
        double_client.v1.checkout.sessions.create(
            params={**SESSION_PARAMS, "mode": "setup"}, options=options
        )

    session = double_client.v1.checkout.sessions.create(
        params=SESSION_PARAMS, options=options
    )
    assert session.status == "open"


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (500, stripe.APIError),
        (503, stripe.APIError),
        (429, stripe.RateLimitError),
        (402, stripe.CardError),
        (401, stripe.AuthenticationError),
    ],
)
def test_injected_fault_raises_the_sdk_error_for_its_status(
    double_server: StripeDouble,
    double_client: stripe.StripeClient,
    status: int,
    error_class: type[stripe.StripeError],
) -> None:
    double_server.fail_next(status=status)

    with pytest.raises(error_class) as raised:
        double_client.v1.checkout.sessions.create(params=SESSION_PARAMS)

    assert raised.value.http_status == status
    assert double_server.sessions == {}
    assert double_client.v1.checkout.sessions.create(params=SESSION_PARAMS).id


def test_sdk_retries_a_500_with_the_same_idempotency_key(
    double_server: StripeDouble,
) -> None:
    client = make_client(double_server, retries=2)
    double_server.fail_next(status=500)

    session = client.v1.checkout.sessions.create(params=SESSION_PARAMS)

    assert list(double_server.sessions) == [session.id]
    attempts = double_server.requests
    assert [attempt["status"] for attempt in attempts] == [500, 200]
    keys = {attempt["headers"]["idempotency-key"] for attempt in attempts}
    assert len(keys) == 1


def test_hang_longer_than_client_timeout_raises_connection_error(
    double_server: StripeDouble,
) -> None:
    client = make_client(double_server, timeout=0.3)
    double_server.fail_next(status=None, hang=1.5)

    with pytest.raises(stripe.APIConnectionError):
        client.v1.checkout.sessions.create(params=SESSION_PARAMS)

    assert client.v1.checkout.sessions.create(params=SESSION_PARAMS).id


def test_hang_shorter_than_client_timeout_only_delays(
    double_server: StripeDouble, double_client: stripe.StripeClient
) -> None:
    double_server.fail_next(status=None, hang=0.3)
    started = time.monotonic()

    session = double_client.v1.checkout.sessions.create(params=SESSION_PARAMS)

    assert time.monotonic() - started >= 0.3
    assert session.status == "open"


def test_unknown_api_path_raises_invalid_request_error(
    double_client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError, match="Unrecognized request URL"):
        double_client.raw_request("get", "/v1/charges")


def test_hosted_page_lists_items_and_total(
    double_session: stripe.checkout.Session,
) -> None:
    page = requests.get(double_session.url, timeout=5)

    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    html = page.text
    assert "<main>" in html
    assert "<h1>" in html
    assert "<script" not in html
    assert "Laptop" in html
    assert "Mouse &lt;wireless&gt;" in html
    assert "$999.99" in html
    assert "$1,999.98" in html
    assert "$2,012.48" in html
    assert '<form method="post">' in html
    assert 'name="email" value="shopper@example.com"' in html
    for value, text in [
        ("pay", "Pay"),
        ("pay_delayed", "Pay by bank debit (settles later)"),
        ("cancel", "Cancel"),
    ]:
        assert f'name="action" value="{value}"' in html
        assert f">{text}</button>" in html


def test_hosted_page_for_unknown_session_is_404(double_server: StripeDouble) -> None:
    page = requests.get(f"{double_server.url}/c/pay/cs_test_nope", timeout=5)

    assert page.status_code == 404
    assert "not found" in page.text


def test_pay_redirects_to_success_url_after_signed_completed_event(
    double_server: StripeDouble,
    double_receiver: WebhookReceiver,
    double_client: stripe.StripeClient,
    double_session: stripe.checkout.Session,
) -> None:
    response = press(double_session, "pay", email="ada@example.com")

    assert response.status_code == 303
    assert response.headers["Location"] == SUCCESS_URL.replace(
        "{CHECKOUT_SESSION_ID}", double_session.id
    )
    # Like Stripe, the redirect waits for the webhook's first attempt.
    [event] = double_receiver.events()
    assert event.type == "checkout.session.completed"
    assert event.api_version == "2026-10-28.endive"
    paid = event.data.object
    assert (paid.id, paid.status, paid.payment_status) == (
        double_session.id,
        "complete",
        "paid",
    )
    assert paid.payment_intent.startswith("pi_")
    assert paid.customer_details.email == "ada@example.com"
    assert paid.metadata["order_id"] == "42"
    headers = double_receiver.received[0]["headers"]
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["User-Agent"].startswith("Stripe/1.0")
    session = double_client.v1.checkout.sessions.retrieve(double_session.id)
    assert session.payment_status == "paid"
    page = requests.get(double_session.url, timeout=5).text
    assert 'value="pay"' not in page


def test_signature_does_not_verify_with_another_secret(
    double_receiver: WebhookReceiver, double_session: stripe.checkout.Session
) -> None:
    press(double_session, "pay")
    received = double_receiver.received[0]

    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            received["body"], received["headers"]["Stripe-Signature"], "whsec_other"
        )


def test_paying_a_completed_session_again_is_refused(
    double_server: StripeDouble, double_session: stripe.checkout.Session
) -> None:
    press(double_session, "pay")

    response = press(double_session, "pay")

    assert response.status_code == 409
    assert "complete" in response.text
    assert len(double_server.events) == 1


def test_cancel_redirects_to_cancel_url_and_keeps_session_open(
    double_server: StripeDouble, double_session: stripe.checkout.Session
) -> None:
    response = press(double_session, "cancel")

    assert response.status_code == 303
    assert response.headers["Location"] == CANCEL_URL
    assert double_server.sessions[double_session.id]["status"] == "open"
    assert double_server.events == []


def test_failed_deliveries_are_retried_until_accepted(
    double_server: StripeDouble,
    double_receiver: WebhookReceiver,
    double_session: stripe.checkout.Session,
) -> None:
    double_receiver.statuses = [500, 500]

    double_server.pay(double_session.id)
    double_server.wait_for_deliveries(1)

    attempts = [(d["attempt"], d["status"]) for d in double_server.deliveries]
    assert attempts == [(1, 500), (2, 500), (3, 200)]
    events = double_receiver.events()
    assert len({event.id for event in events}) == 1
    timestamps = [r["headers"]["Stripe-Signature"] for r in double_receiver.received]
    assert all(header.startswith("t=") for header in timestamps)


def test_delivery_gives_up_when_the_retry_delays_run_out(
    double_server: StripeDouble,
    double_receiver: WebhookReceiver,
    double_session: stripe.checkout.Session,
) -> None:
    double_receiver.statuses = [500] * 10

    double_server.pay(double_session.id)
    deadline = time.monotonic() + 5
    while len(double_server.deliveries) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)

    assert [d["attempt"] for d in double_server.deliveries] == [1, 2, 3, 4]


def test_unreachable_webhook_url_records_connection_errors(
    double_server: StripeDouble, double_session: stripe.checkout.Session
) -> None:
    double_server.webhook_url = "http://127.0.0.1:9/unreachable/"
    double_server.retry_delays = ()

    double_server.pay(double_session.id)

    [delivery] = double_server.deliveries
    assert delivery["status"] is None
    assert delivery["error"]


def test_delayed_payment_completes_unpaid_then_settles(
    double_server: StripeDouble,
    double_receiver: WebhookReceiver,
    double_session: stripe.checkout.Session,
) -> None:
    response = press(double_session, "pay_delayed")
    assert response.status_code == 303

    double_server.settle(double_session.id)
    double_server.wait_for_deliveries(2)

    events = double_receiver.events()
    assert [event.type for event in events] == [
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
    ]
    assert [event.data.object.payment_status for event in events] == ["unpaid", "paid"]


def test_failed_settlement_sends_async_payment_failed(
    double_server: StripeDouble, double_session: stripe.checkout.Session
) -> None:
    double_server.pay(double_session.id, delayed=True)

    session = double_server.settle(double_session.id, succeeded=False)

    assert session["payment_status"] == "unpaid"
    assert double_server.events[-1]["type"] == "checkout.session.async_payment_failed"
    with pytest.raises(ValueError, match="no payment to settle"):
        double_server.settle(double_session.id)


def test_held_events_are_released_in_reverse_order(
    double_server: StripeDouble,
    double_receiver: WebhookReceiver,
    double_session: stripe.checkout.Session,
) -> None:
    double_server.hold_events()
    double_server.pay(double_session.id, delayed=True)
    double_server.settle(double_session.id)
    assert double_receiver.received == []

    double_server.release_events(order="reverse")
    double_server.wait_for_deliveries(2)

    assert [event.type for event in double_receiver.events()] == [
        "checkout.session.async_payment_succeeded",
        "checkout.session.completed",
    ]


def test_duplicate_deliveries_send_each_event_twice(
    double_server: StripeDouble,
    double_receiver: WebhookReceiver,
    double_session: stripe.checkout.Session,
) -> None:
    double_server.duplicate_deliveries = True

    double_server.pay(double_session.id)
    double_server.wait_for_deliveries(2)

    events = double_receiver.events()
    assert len(events) == 2
    assert events[0].id == events[1].id


def test_delivery_delay_lets_the_redirect_come_first(
    double_server: StripeDouble,
    double_receiver: WebhookReceiver,
    double_session: stripe.checkout.Session,
) -> None:
    double_server.delivery_delay = 0.5

    response = press(double_session, "pay")

    assert response.status_code == 303
    assert double_receiver.received == []
    double_server.wait_for_deliveries(1)


def test_wait_for_deliveries_times_out(double_server: StripeDouble) -> None:
    with pytest.raises(TimeoutError):
        double_server.wait_for_deliveries(1, timeout=0.1)


def test_control_endpoints_drive_the_double_over_http(
    double_server: StripeDouble,
    double_receiver: WebhookReceiver,
    double_client: stripe.StripeClient,
    double_session: stripe.checkout.Session,
) -> None:
    control = f"{double_server.url}/_double"

    paid = requests.post(
        f"{control}/sessions/{double_session.id}/pay", json={}, timeout=15
    )
    failed = requests.post(f"{control}/fail", json={"status": 500}, timeout=5)

    assert paid.status_code == 200
    assert paid.json()["payment_status"] == "paid"
    assert failed.json() == {"ok": True}
    with pytest.raises(stripe.APIError):
        double_client.v1.checkout.sessions.retrieve(double_session.id)
    events = requests.get(f"{control}/events", timeout=5).json()
    assert [event["type"] for event in events] == ["checkout.session.completed"]
    deliveries = requests.get(f"{control}/deliveries", timeout=5).json()
    assert [delivery["status"] for delivery in deliveries] == [200]
    again = requests.post(f"{control}/sessions/{double_session.id}/pay", timeout=15)
    assert again.status_code == 409
    missing = requests.post(f"{control}/sessions/cs_test_nope/expire", timeout=5)
    assert missing.status_code == 404


def test_control_config_and_reset(
    double_server: StripeDouble, double_session: stripe.checkout.Session
) -> None:
    control = f"{double_server.url}/_double"

    config = requests.post(
        f"{control}/config",
        json={"duplicate_deliveries": True, "webhook_url": None},
        timeout=5,
    ).json()
    reset = requests.post(f"{control}/reset", timeout=5)

    assert config["duplicate_deliveries"] is True
    assert double_server.webhook_url is None
    assert reset.status_code == 200
    assert requests.get(f"{control}/sessions", timeout=5).json() == {}
    assert double_server.duplicate_deliveries is False


def test_command_line_prints_its_url_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "payments.stripe_double", "--port", "0", "--quiet"],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        assert requests.get(f"{url}/_double/sessions", timeout=5).json() == {}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        process.kill()
        process.wait()


def test_event_payload_is_a_snapshot_of_the_session(
    double_server: StripeDouble, double_session: stripe.checkout.Session
) -> None:
    double_server.pay(double_session.id, delayed=True)
    double_server.settle(double_session.id)

    completed, settled = double_server.events
    assert completed["data"]["object"]["payment_status"] == "unpaid"
    assert settled["data"]["object"]["payment_status"] == "paid"
    assert json.loads(json.dumps(completed))["object"] == "event"
    assert completed["request"] == {"id": None, "idempotency_key": None}
