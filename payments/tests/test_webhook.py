"""POST /stripe/webhook/: the signature, the body's shape, and each event once."""

from __future__ import annotations

import json
import logging
import time
import uuid

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from model_bakery import baker

from payments import fulfillment, stripe_api, views
from payments.models import Order, StripeEvent
from payments.tests.conftest import WEBHOOK_URL, deliver_events, post_event, sign

pytestmark = pytest.mark.django_db


def completed_event(stripe_double, order: Order) -> dict:
    """Pay the order's session on the double; return its (undelivered) event."""
    stripe_double.pay(order.checkout_session_id)
    [event] = stripe_double.events
    assert event["type"] == "checkout.session.completed"
    return event


def post_raw(body: bytes, **headers: str):
    return Client().post(WEBHOOK_URL, body, content_type="application/json", **headers)


def paid_log_lines(caplog) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.getMessage().startswith("order paid:")
    ]


def assert_nothing_changed(order: Order) -> None:
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert order.status_history == []
    assert not StripeEvent.objects.exists()


def test_signed_event_is_recorded_and_pays_the_order(stripe_double, pending_order):
    event = completed_event(stripe_double, pending_order)

    response = post_event(Client(), event)

    assert response.status_code == 200
    assert response.json() == {"received": True, "outcome": "processed"}
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PAID
    record = StripeEvent.objects.get()
    assert record.event_id == event["id"]
    assert record.type == "checkout.session.completed"
    assert record.checkout_session_id == pending_order.checkout_session_id
    assert record.payload == event
    assert record.processed_at is not None


def _missing(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {}


def _wrong_secret(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {"HTTP_STRIPE_SIGNATURE": sign(body, secret="whsec_not_ours")}


def _tampered_byte(body: bytes) -> tuple[bytes, dict[str, str]]:
    header = sign(body)
    # Change the amount's first digit: one byte, after signing.
    at = body.index(b'"amount_total": ') + len(b'"amount_total": ')
    digit = b"2" if body[at : at + 1] == b"1" else b"1"
    return body[:at] + digit + body[at + 1 :], {"HTTP_STRIPE_SIGNATURE": header}


def _301_seconds_old(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {"HTTP_STRIPE_SIGNATURE": sign(body, at=int(time.time()) - 301)}


def _garbage_header(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {"HTTP_STRIPE_SIGNATURE": "t=yesterday,v1=not-a-digest"}


def _signature_of_another_body(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {"HTTP_STRIPE_SIGNATURE": sign(body + b" ")}


@pytest.mark.parametrize(
    "forge",
    [
        _missing,
        _wrong_secret,
        _tampered_byte,
        _301_seconds_old,
        _garbage_header,
        _signature_of_another_body,
    ],
    ids=lambda forge: forge.__name__.strip("_"),
)
def test_bad_or_stale_signature_returns_400_and_changes_nothing(
    stripe_double, pending_order, forge
):
    event = completed_event(stripe_double, pending_order)
    body, headers = forge(json.dumps(event).encode())

    response = post_raw(body, **headers)

    assert response.status_code == 400
    assert_nothing_changed(pending_order)


def test_signature_290_seconds_old_is_accepted(stripe_double, pending_order):
    event = completed_event(stripe_double, pending_order)

    # Inside Stripe's 300 s tolerance, with room for a slow machine.
    response = post_event(Client(), event, at=int(time.time()) - 290)

    assert response.status_code == 200
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PAID


def test_webhook_refuses_events_when_no_secret_is_configured(
    stripe_double, pending_order, settings
):
    event = completed_event(stripe_double, pending_order)
    settings.STRIPE_WEBHOOK_SECRET = ""

    response = post_event(Client(), event)

    assert response.status_code == 400
    assert_nothing_changed(pending_order)


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": "evt_1", "type": "checkout.session.completed",',
        b"\xff\xfe not utf-8",
        b"[]",
        b'{"type": "checkout.session.completed", "data": {"object": {}}}',
        b'{"id": "evt_1", "type": "checkout.session.completed"}',
        b'{"id": "evt_1", "type": "checkout.session.completed", "data": []}',
        b'{"id": "evt_1", "data": {"object": {"id": "cs_test_1"}}}',
        b'{"id": "evt_1", "type": "checkout.session.completed",'
        b' "data": {"object": {"object": "checkout.session"}}}',
        b'{"id": "evt_\\ud83d\\ude00", "type": "customer.created",'
        b' "data": {"object": {}}}',
        b'{"id": "evt_1\\n", "type": "customer.created", "data": {"object": {}}}',
    ],
    ids=[
        "truncated-json",
        "not-utf8",
        "not-an-object",
        "no-id",
        "no-data",
        "data-not-an-object",
        "no-type",
        "session-without-id",
        "id-not-ascii",
        "id-with-a-newline",
    ],
)
def test_correctly_signed_malformed_body_returns_400(db, stripe_double, body):
    response = post_raw(body, HTTP_STRIPE_SIGNATURE=sign(body))

    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def padded_body(event: dict, size: int) -> bytes:
    """Return the event as JSON of exactly `size` bytes (padding in metadata)."""
    event = json.loads(json.dumps(event))
    event["data"]["object"]["metadata"]["padding"] = ""
    short = len(json.dumps(event).encode())
    event["data"]["object"]["metadata"]["padding"] = "x" * (size - short)
    body = json.dumps(event).encode()
    assert len(body) == size
    return body


def test_body_over_256_kib_is_refused_with_413_before_it_is_read(
    stripe_double, pending_order, monkeypatch
):
    verified = []
    monkeypatch.setattr(
        stripe_api,
        "webhook_event_verify",
        lambda **kwargs: verified.append(kwargs) or {},
    )
    event = completed_event(stripe_double, pending_order)
    body = padded_body(event, views.WEBHOOK_MAX_BYTES + 1)

    response = post_raw(body, HTTP_STRIPE_SIGNATURE=sign(body))

    assert response.status_code == 413
    assert verified == []
    assert_nothing_changed(pending_order)


def test_body_of_exactly_256_kib_is_still_processed(stripe_double, pending_order):
    event = completed_event(stripe_double, pending_order)
    body = padded_body(event, 256 * 1024)

    response = post_raw(body, HTTP_STRIPE_SIGNATURE=sign(body))

    assert response.status_code == 200
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PAID


def test_get_on_the_webhook_returns_405(client):
    response = client.get(WEBHOOK_URL)

    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_webhook_takes_a_post_without_a_csrf_token(
    stripe_double, pending_order, csrf_client
):
    event = completed_event(stripe_double, pending_order)

    response = post_event(csrf_client, event)

    assert response.status_code == 200
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PAID


@pytest.mark.parametrize(
    "url", [reverse("payments:checkout"), reverse("storefront:cart-add")]
)
def test_other_posts_without_a_csrf_token_return_403(csrf_client, laptop, url):
    response = csrf_client.post(url, {"product": laptop.pk, "quantity": 1})

    assert response.status_code == 403


def test_webhook_is_the_only_csrf_exempt_view():
    def views_of(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from views_of(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern), pattern.callback

    routes = list(views_of(get_resolver().url_patterns))
    exempt = [path for path, view in routes if getattr(view, "csrf_exempt", False)]

    assert len(routes) > 10
    assert exempt == [WEBHOOK_URL.lstrip("/")]


def session_event(*, session_id: str, reference: str, amount: int) -> dict:
    """Return a checkout.session.completed event, paid, in Stripe's shape."""
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": "checkout.session.completed",
        "livemode": False,
        "created": int(time.time()),
        "data": {
            "object": {
                "id": session_id,
                "object": "checkout.session",
                "client_reference_id": reference,
                "amount_total": amount,
                "currency": "usd",
                "status": "complete",
                "payment_status": "paid",
                "payment_intent": "pi_early_bird",
                "customer_details": {"email": "early@example.com"},
            }
        },
    }


@pytest.mark.parametrize(
    "reference",
    [
        {},
        {"client_reference_id": str(uuid.UUID(int=7))},
        {"client_reference_id": "plink-order-42"},
        {"metadata": {"order_id": str(uuid.UUID(int=8))}},
    ],
    ids=["none", "unknown-uuid", "not-a-uuid", "unknown-metadata"],
)
def test_event_about_a_session_the_shop_did_not_create_is_200_and_changes_nothing(
    stripe_double, pending_order, reference, caplog
):
    caplog.set_level(logging.INFO, logger="payments")
    event = session_event(session_id="cs_test_payment_link", reference="", amount=1)
    event["data"]["object"].update(reference)

    assert deliver_events(event) == [(200, "ignored")]

    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PENDING
    assert not Order.objects.filter(checkout_session_id="cs_test_payment_link")
    record = StripeEvent.objects.get()
    assert record.checkout_session_id == "cs_test_payment_link"
    assert record.processed_at is not None
    assert "is not a Checkout Session this shop created" in caplog.text
    # Stripe's retry of the same event is a repeat, not a second look.
    assert deliver_events(event) == [(200, "repeat")]


def test_a_session_naming_an_order_that_holds_another_session_is_not_that_orders(
    stripe_double, pending_order
):
    event = session_event(
        session_id="cs_test_someone_elses",
        reference=str(pending_order.public_id),
        amount=pending_order.total_cents,
    )
    event["data"]["object"]["status"] = "expired"

    assert deliver_events(event) == [(200, "ignored")]

    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PENDING


@pytest.mark.parametrize("named_by", ["client_reference_id", "metadata"])
def test_order_is_found_by_what_the_shop_put_into_the_session_before_its_id_is_saved(
    db, stripe_double, named_by
):
    order = baker.make(Order, total_cents=4200, currency="usd")
    assert order.checkout_session_id is None  # checkout has not saved it yet
    reference = str(order.public_id) if named_by == "client_reference_id" else ""
    event = session_event(
        session_id="cs_test_early_event", reference=reference, amount=4200
    )
    event["data"]["object"]["metadata"] = {"order_id": str(order.public_id)}

    assert deliver_events(event) == [(200, "processed")]

    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.checkout_session_id == "cs_test_early_event"
    assert order.customer_email == "early@example.com"
    assert StripeEvent.objects.get().event_id == event["id"]


def test_snapshot_without_the_fields_fulfilment_needs_is_completed_from_stripe(
    stripe_double, pending_order
):
    event = completed_event(stripe_double, pending_order)
    for field in ("status", "payment_status", "amount_total", "currency"):
        del event["data"]["object"][field]

    assert deliver_events(event) == [(200, "processed")]

    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PAID
    fetched = [
        request
        for request in stripe_double.requests
        if request["method"] == "GET"
        and request["path"]
        == f"/v1/checkout/sessions/{pending_order.checkout_session_id}"
    ]
    assert len(fetched) == 1


def test_complete_snapshot_is_processed_without_asking_stripe(
    stripe_double, pending_order
):
    event = completed_event(stripe_double, pending_order)
    asked_before = len(stripe_double.requests)

    assert deliver_events(event) == [(200, "processed")]
    assert len(stripe_double.requests) == asked_before


def test_event_of_another_api_version_is_logged_and_processed(
    stripe_double, pending_order, caplog
):
    event = completed_event(stripe_double, pending_order)
    event["api_version"] = "2024-06-20"

    assert deliver_events(event) == [(200, "processed")]

    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PAID
    [warning] = [r for r in caplog.records if "api_version" in r.getMessage()]
    assert "2024-06-20 differs from the SDK's 2026-10-28.endive" in warning.getMessage()


def test_event_of_the_sdks_api_version_logs_no_warning(
    stripe_double, pending_order, caplog
):
    event = completed_event(stripe_double, pending_order)
    assert event["api_version"] == stripe_api.API_VERSION

    assert deliver_events(event) == [(200, "processed")]
    assert "api_version" not in caplog.text


def signed_body_with(event: dict, raw_value: str) -> bytes:
    """Return the event as JSON, its metadata holding a raw JSON string."""
    event = json.loads(json.dumps(event))
    event["data"]["object"]["metadata"]["note"] = "PLACEHOLDER"
    return json.dumps(event).encode().replace(b'"PLACEHOLDER"', raw_value.encode())


@pytest.mark.parametrize(
    "raw_value",
    [
        '"\\ud800"',
        '"before \\udfff after"',
        '"nul \\u0000 byte"',
        "[" * 40 + "]" * 40,
        "[" * 100_000 + "]" * 100_000,
        '{"a": ' * 2000 + "1" + "}" * 2000,
    ],
    ids=[
        "lone-surrogate",
        "lone-low-surrogate",
        "nul",
        "nested-40",
        "nested-100000",
        "nested-objects-2000",
    ],
)
def test_signed_event_with_unstorable_json_is_400_and_changes_nothing(
    stripe_double, pending_order, raw_value
):
    event = completed_event(stripe_double, pending_order)
    body = signed_body_with(event, raw_value)
    if len(body) > views.WEBHOOK_MAX_BYTES:
        body = body[: views.WEBHOOK_MAX_BYTES]

    response = post_raw(body, HTTP_STRIPE_SIGNATURE=sign(body))

    assert response.status_code == 400
    assert_nothing_changed(pending_order)


def test_signed_event_with_escaped_but_valid_unicode_is_processed(
    stripe_double, pending_order
):
    event = completed_event(stripe_double, pending_order)
    body = signed_body_with(event, '"\\ud83d\\ude00 \\u00e9 \\/ \\\\"')

    response = post_raw(body, HTTP_STRIPE_SIGNATURE=sign(body))

    assert response.status_code == 200
    record = StripeEvent.objects.get()
    assert record.payload["data"]["object"]["metadata"]["note"] == "😀 é / \\"


@pytest.mark.parametrize(
    "event_type",
    ["payment_intent.succeeded", "charge.refunded", "checkout.session.updated"],
)
def test_unhandled_event_type_is_recorded_and_has_no_effect(
    stripe_double, pending_order, event_type
):
    event = completed_event(stripe_double, pending_order)
    event["type"] = event_type

    assert deliver_events(event) == [(200, "ignored")]

    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PENDING
    assert pending_order.payment_intent_id == ""
    record = StripeEvent.objects.get()
    assert record.type == event_type
    assert record.processed_at is not None


def test_unhandled_event_without_a_session_is_still_acknowledged(db, stripe_double):
    event = {
        "id": "evt_customer_1",
        "type": "customer.created",
        "data": {"object": {"object": "customer", "email": "x@example.com"}},
    }

    assert deliver_events(event) == [(200, "ignored")]
    assert StripeEvent.objects.get().checkout_session_id == ""


def test_repeated_event_id_is_a_200_repeat_and_pays_once(
    stripe_double, pending_order, caplog
):
    caplog.set_level(logging.INFO, logger="payments")
    event = completed_event(stripe_double, pending_order)

    first = deliver_events(event)
    pending_order.refresh_from_db()
    paid_at = pending_order.paid_at
    again = deliver_events(event, event)

    assert first == [(200, "processed")]
    assert again == [(200, "repeat"), (200, "repeat")]
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PAID
    assert pending_order.paid_at == paid_at
    assert len(pending_order.status_history) == 1
    assert StripeEvent.objects.count() == 1
    assert len(paid_log_lines(caplog)) == 1


def test_processing_error_rolls_back_the_event_and_the_order(
    stripe_double, pending_order, monkeypatch
):
    event = completed_event(stripe_double, pending_order)
    real_sync = fulfillment.order_sync_with_checkout_session

    def sync_then_fail(**kwargs):
        real_sync(**kwargs)  # the order is PAID inside the transaction...
        raise RuntimeError("the database went away")  # ...and then it fails

    monkeypatch.setattr(
        "payments.webhooks.order_sync_with_checkout_session", sync_then_fail
    )
    client = Client()
    client.raise_request_exception = False

    response = post_event(client, event)

    assert response.status_code == 500
    assert_nothing_changed(pending_order)

    monkeypatch.undo()
    assert deliver_events(event) == [(200, "processed")]
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PAID
