"""Keep the double honest: check it against the stripe SDK's own types, at run time.

Upgrading stripe-python re-checks everything: every field the double serves
must be one the SDK's resource classes declare, and every parameter it accepts
one the SDK's params TypedDicts declare.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator
from typing import Any

import pytest
import stripe
from stripe._stripe_object import UntypedStripeObject
from stripe.params import (
    ChargeRetrieveParams,
    DisputeRetrieveParams,
    PaymentIntentCancelParams,
    PaymentIntentRetrieveParams,
    RefundCreateParams,
    RefundListParams,
    RefundRetrieveParams,
    ShippingRateCreateParams,
    ShippingRateRetrieveParams,
)
from stripe.params.checkout import (
    SessionCreateParams,
    SessionExpireParams,
    SessionLineItemListParams,
    SessionRetrieveParams,
)
from stripe.params.v2.core import EventRetrieveParams
from typing_extensions import is_typeddict

from payments.stripe_double import DEFAULT_WEBHOOK_SECRET, StripeDouble
from payments.stripe_double.params import ACCEPTED_PARAMS, FREE_FORM

from .stripe_double_support import (
    SESSION_PARAMS,
    SHIPPING_PARAMS,
    WebhookReceiver,
    declared_fields,
)

# The SDK's parameters for each endpoint the double serves. A new endpoint in
# the double fails test_every_endpoint_has_its_sdk_params until it is added here.
SDK_PARAMS: dict[str, type] = {
    "POST /v1/checkout/sessions": SessionCreateParams,
    "GET /v1/checkout/sessions/{id}": SessionRetrieveParams,
    "GET /v1/checkout/sessions/{id}/line_items": SessionLineItemListParams,
    "POST /v1/checkout/sessions/{id}/expire": SessionExpireParams,
    "GET /v1/payment_intents/{id}": PaymentIntentRetrieveParams,
    "POST /v1/payment_intents/{id}/cancel": PaymentIntentCancelParams,
    "GET /v1/charges/{id}": ChargeRetrieveParams,
    "POST /v1/shipping_rates": ShippingRateCreateParams,
    "GET /v1/shipping_rates/{id}": ShippingRateRetrieveParams,
    "POST /v1/refunds": RefundCreateParams,
    "GET /v1/refunds": RefundListParams,
    "GET /v1/refunds/{id}": RefundRetrieveParams,
    "GET /v1/disputes/{id}": DisputeRetrieveParams,
    "GET /v2/core/events/{id}": EventRetrieveParams,
}


def undeclared_fields(value: Any, path: str) -> Iterator[str]:
    """Yield the path of every field the SDK's class for its object lacks."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from undeclared_fields(item, f"{path}[{index}]")
    if not isinstance(value, stripe.StripeObject):
        return
    # A plain StripeObject is a hash the SDK leaves free-form (metadata).
    typed = type(value) not in (stripe.StripeObject, UntypedStripeObject)
    declared = declared_fields(type(value))
    for key in list(value.to_dict()):
        if typed and key not in declared:
            yield f"{path}.{key} ({type(value).__qualname__})"
        yield from undeclared_fields(value[key], f"{path}.{key}")


def mistyped_fields(value: Any, path: str) -> Iterator[str]:
    """Yield the path of every field whose value its SDK annotation does not allow.

    A null where the SDK declares no Optional, a string for an int, a value
    outside a closed Literal: what the SDK's users would trip over.
    """
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from mistyped_fields(item, f"{path}[{index}]")
    if not isinstance(value, stripe.StripeObject):
        return
    hints: dict[str, Any] = {}
    for base in reversed(type(value).__mro__):
        hints.update(getattr(base, "__annotations__", {}))
    for key in list(value.to_dict()):
        item = value[key]
        if key in hints and not _allows(hints[key], item):
            yield f"{path}.{key} = {item!r} ({hints[key]})"
        yield from mistyped_fields(item, f"{path}.{key}")


def _allows(annotation: Any, value: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        return any(_allows(option, value) for option in typing.get_args(annotation))
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if value is None:
        return annotation is type(None)
    if annotation is typing.Any or isinstance(annotation, (str, typing.ForwardRef)):
        return True
    if origin is list:
        return isinstance(value, list)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation in (str, float):
        return isinstance(value, annotation)
    if origin is not None or not isinstance(annotation, type):
        return True
    return isinstance(value, (annotation, stripe.StripeObject))


def _typed_dict(annotation: Any, module: Any) -> type | None:
    """Return the TypedDict an annotation names, through NotRequired and List."""
    if isinstance(annotation, typing.ForwardRef):
        annotation = annotation.__forward_arg__
    if isinstance(annotation, str):
        found = getattr(module, annotation.strip(), None)
        return found if is_typeddict(found) else None
    if is_typeddict(annotation):
        return annotation
    for argument in typing.get_args(annotation):
        found = _typed_dict(argument, module)
        if found is not None:
            return found
    return None


def _is_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) is list:
        return True
    return any(_is_list(argument) for argument in typing.get_args(annotation))


def unknown_params(spec: Any, typed_dict: type, path: str) -> Iterator[str]:
    """Yield every parameter in the double's spec that the TypedDict lacks."""
    module = __import__(typed_dict.__module__, fromlist=["_"])
    annotations = typed_dict.__annotations__
    for key, child in spec.items():
        name = f"{path}[{key}]" if path else key
        if key not in annotations:
            yield name
            continue
        annotation = annotations[key]
        nested = _typed_dict(annotation, module)
        if isinstance(child, list) and not _is_list(annotation):
            yield f"{name} (an array in the double, not in the SDK)"
        element = child[0] if isinstance(child, list) else child
        if isinstance(element, dict):
            if nested is None:
                yield f"{name} (a hash in the double, not in the SDK)"
            else:
                yield from unknown_params(element, nested, name)
        elif element is FREE_FORM and nested is not None:
            yield f"{name} (free-form in the double, typed in the SDK)"


def test_every_endpoint_has_its_sdk_params() -> None:
    assert set(ACCEPTED_PARAMS) == set(SDK_PARAMS)


@pytest.mark.parametrize("route", sorted(ACCEPTED_PARAMS))
def test_accepted_params_exist_in_the_sdk(route: str) -> None:
    assert list(unknown_params(ACCEPTED_PARAMS[route], SDK_PARAMS[route], "")) == []


def test_the_params_check_notices_a_parameter_the_sdk_lacks() -> None:
    spec = {
        "line_items": [{"price_data": {"product_data": {"colour": None}}}],
        "payment_method_types": [None],
    }

    assert list(unknown_params(spec, SessionCreateParams, "")) == [
        "line_items[price_data][product_data][colour]",
        "payment_method_types",
    ]


def _existing_ids(double: StripeDouble, client: stripe.StripeClient) -> dict[str, str]:
    session = client.v1.checkout.sessions.create(params=SESSION_PARAMS)
    double.pay(session.id, delayed=True)
    double.settle(session.id, succeeded=False)
    payment_intent = double.sessions[session.id]["payment_intent"]
    paid = client.v1.checkout.sessions.create(params=SESSION_PARAMS)
    double.pay(paid.id)
    return {
        "refunds": double.refund(paid.id, amount=100)["id"],
        "disputes": double.dispute(paid.id)["id"],
        "checkout/sessions": session.id,
        "payment_intents": payment_intent,
        "charges": double.payment_intents[payment_intent]["latest_charge"],
        "core/events": double.thin_events[0]["id"],
        "shipping_rates": client.v1.shipping_rates.create(
            params=SHIPPING_PARAMS["shipping_options"][0]["shipping_rate_data"]
        ).id,
    }


@pytest.mark.parametrize("route", sorted(ACCEPTED_PARAMS))
def test_every_endpoint_refuses_an_unknown_parameter(
    double_server: StripeDouble, double_client: stripe.StripeClient, route: str
) -> None:
    double_server.event_payloads = "both"
    ids = _existing_ids(double_server, double_client)
    method, path = route.split(" ")
    collection = path.split("/{id}")[0].split("/", 2)[2]
    url = path.replace("{id}", ids.get(collection, ""))

    with pytest.raises(stripe.InvalidRequestError) as raised:
        double_client.raw_request(method.lower(), url, no_such_parameter="x")

    assert raised.value.http_status == 400
    assert raised.value.code == "parameter_unknown"
    assert raised.value.param == "no_such_parameter"


def _served_objects(
    double: StripeDouble, client: stripe.StripeClient, receiver: WebhookReceiver
) -> Iterator[tuple[str, stripe.StripeObject]]:
    """Yield every kind of object the double serves, as the SDK reads it."""
    double.event_payloads = "both"
    opened = client.v1.checkout.sessions.create(
        params={**SESSION_PARAMS, "expand": ["line_items"]}
    )
    yield "open session", opened
    yield "line item", client.v1.checkout.sessions.line_items.list(opened.id).data[0]
    card = client.v1.checkout.sessions.create(params=SESSION_PARAMS)
    double.pay(card.id)
    expand = {"expand": ["payment_intent.latest_charge"]}
    paid = client.v1.checkout.sessions.retrieve(card.id, params=expand)
    yield "paid session", paid
    card_payment = paid.payment_intent.id
    debit = client.v1.checkout.sessions.create(params=SESSION_PARAMS)
    double.pay(debit.id, delayed=True)
    yield "processing", client.v1.checkout.sessions.retrieve(debit.id, params=expand)
    double.settle(debit.id, succeeded=False)
    failed = client.v1.checkout.sessions.retrieve(debit.id, params=expand)
    yield "failed payment", failed
    yield "canceled", client.v1.payment_intents.cancel(failed.payment_intent.id)
    yield (
        "refund",
        client.v1.refunds.create(
            params={"payment_intent": card_payment, "amount": 100}
        ),
    )
    yield "dashboard refund", client.v1.refunds.retrieve(double.refund(card.id)["id"])
    yield (
        "refunded charge",
        client.v1.charges.retrieve(
            double.payment_intents[card_payment]["latest_charge"]
        ),
    )
    yield (
        "refunds",
        client.v1.refunds.list(params={"payment_intent": card.payment_intent}),
    )
    disputed = client.v1.checkout.sessions.create(params=SESSION_PARAMS)
    double.pay(disputed.id)
    dispute = double.dispute(disputed.id, reason="product_not_received")
    yield "dispute", client.v1.disputes.retrieve(dispute["id"])
    double.close_dispute(dispute["id"], won=False)
    bank = client.v1.checkout.sessions.create(params=SESSION_PARAMS)
    double.pay(bank.id, delayed=True)
    double.settle(bank.id)
    pending = double.refund(bank.id)
    yield (
        "failed refund",
        client.v1.refunds.retrieve(
            double.settle_refund(pending["id"], succeeded=False)["id"]
        ),
    )
    yield "expired", client.v1.checkout.sessions.expire(opened.id)
    shipped = client.v1.checkout.sessions.create(
        params={**SESSION_PARAMS, **SHIPPING_PARAMS}
    )
    yield "open with shipping", shipped
    rate_id = shipped.shipping_options[0].shipping_rate
    yield "shipping rate", client.v1.shipping_rates.retrieve(rate_id)
    double.pay(shipped.id)
    yield (
        "shipped",
        client.v1.checkout.sessions.retrieve(
            shipped.id,
            params={
                "expand": [
                    "payment_intent.latest_charge",
                    "shipping_cost.shipping_rate",
                ]
            },
        ),
    )
    double.wait_for_deliveries(2 * len(double.events))
    for item in receiver.received:
        body, signature = item["body"], item["headers"]["Stripe-Signature"]
        if json.loads(body)["object"] == "event":
            yield (
                "snapshot event",
                stripe.Webhook.construct_event(body, signature, DEFAULT_WEBHOOK_SECRET),
            )
    for event in double.thin_events:
        yield event["type"], client.v2.core.events.retrieve(event["id"])


@pytest.fixture
def served(
    double_server: StripeDouble,
    double_client: stripe.StripeClient,
    double_receiver: WebhookReceiver,
) -> list[tuple[str, stripe.StripeObject]]:
    return list(_served_objects(double_server, double_client, double_receiver))


def test_every_served_field_is_declared_by_the_sdk(
    served: list[tuple[str, stripe.StripeObject]],
) -> None:
    undeclared = [
        f"{name}: {field}"
        for name, found in served
        for field in undeclared_fields(found, type(found).__name__)
    ]

    assert undeclared == []


def test_every_served_value_has_the_type_the_sdk_declares(
    served: list[tuple[str, stripe.StripeObject]],
) -> None:
    mistyped = [
        f"{name}: {field}"
        for name, found in served
        for field in mistyped_fields(found, type(found).__name__)
    ]

    assert mistyped == []


def test_the_type_check_notices_a_null_the_sdk_does_not_allow() -> None:
    session = stripe.checkout.Session.construct_from(
        {"object": "checkout.session", "created": "yesterday", "custom_fields": None},
        "sk_test_x",
    )

    assert [field.split(" = ")[0] for field in mistyped_fields(session, "s")] == [
        "s.created",
        "s.custom_fields",
    ]


def test_served_objects_are_read_as_their_sdk_classes(
    served: list[tuple[str, stripe.StripeObject]],
) -> None:
    classes = {type(found).__name__ for _, found in served}

    assert {
        "Session",
        "Event",
        "PaymentIntent",
        "ShippingRate",
        "LineItem",
        "Refund",
        "Dispute",
        "Charge",
    } <= classes
    assert any(name.startswith("V1CheckoutSession") for name in classes)


def test_every_thin_event_type_has_its_own_sdk_class(
    served: list[tuple[str, stripe.StripeObject]],
) -> None:
    thin = {name: type(found) for name, found in served if name.startswith("v1.")}

    assert len(thin) >= 9
    assert [name for name, klass in thin.items() if klass is stripe.v2.core.Event] == []


def test_the_field_check_notices_a_field_the_sdk_lacks(
    double_client: stripe.StripeClient,
) -> None:
    session = stripe.checkout.Session.construct_from(
        {
            "id": "cs_test_1",
            "object": "checkout.session",
            "colour": "red",
            "customer_details": {"email": "a@b.c", "shoe_size": 9},
        },
        "sk_test_x",
    )

    assert sorted(undeclared_fields(session, "checkout.session")) == [
        "checkout.session.colour (Session)",
        "checkout.session.customer_details.shoe_size (Session.CustomerDetails)",
    ]


def test_thin_notification_fields_are_those_the_sdk_reads(
    double_server: StripeDouble,
    double_client: stripe.StripeClient,
    double_receiver: WebhookReceiver,
) -> None:
    double_server.event_payloads = "thin"
    session = double_client.v1.checkout.sessions.create(params=SESSION_PARAMS)
    double_server.pay(session.id)
    body = double_receiver.received[0]["body"]

    notification = double_client.parse_event_notification(
        body,
        double_receiver.received[0]["headers"]["Stripe-Signature"],
        DEFAULT_WEBHOOK_SECRET,
    )

    assert set(json.loads(body)) <= declared_fields(type(notification))
