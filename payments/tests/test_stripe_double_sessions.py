"""Checkout Sessions from the double as API 2026-10-28.endive shapes them."""

from __future__ import annotations

import copy

import pytest
import stripe

from payments.stripe_double import StripeDouble

from .stripe_double_support import SESSION_PARAMS, TOTAL, declared_fields, press


def test_session_has_every_field_the_sdk_declares_but_line_items(
    double_session: stripe.checkout.Session,
) -> None:
    expected = declared_fields(stripe.checkout.Session) - {"line_items"}

    assert set(double_session.to_dict()) == expected


def test_session_defaults_are_stripes(double_session: stripe.checkout.Session) -> None:
    assert double_session.ui_mode == "hosted_page"
    assert double_session.mode == "payment"
    assert double_session.allowed_payment_method_types is None
    assert double_session.payment_method_types == ["card", "us_bank_account"]
    assert double_session.customer_details is None
    assert double_session.collected_information is None
    assert double_session.presentment_details.to_dict() == {
        "presentment_amount": TOTAL,
        "presentment_currency": "usd",
    }
    assert double_session.total_details.to_dict() == {
        "amount_discount": 0,
        "amount_shipping": 0,
        "amount_tax": 0,
    }
    assert double_session.shipping_cost is None
    assert double_session.shipping_options == []
    assert double_session.phone_number_collection.enabled is False
    assert double_session.tax_id_collection.to_dict() == {
        "enabled": False,
        "required": "never",
    }
    assert double_session.custom_fields == []
    assert double_session.livemode is False


@pytest.mark.parametrize(
    ("ui_mode", "message"),
    [
        ("hosted", "must be one of elements, embedded_page, form, hosted_page"),
        ("embedded_page", "supports only ui_mode=hosted_page"),
    ],
)
def test_ui_mode_other_than_hosted_page_is_refused(
    double_client: stripe.StripeClient, ui_mode: str, message: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError, match=message) as raised:
        double_client.v1.checkout.sessions.create(
            params={**SESSION_PARAMS, "ui_mode": ui_mode}
        )

    assert raised.value.param == "ui_mode"


def test_ui_mode_hosted_page_is_accepted(double_client: stripe.StripeClient) -> None:
    session = double_client.v1.checkout.sessions.create(
        params={**SESSION_PARAMS, "ui_mode": "hosted_page"}
    )

    assert session.ui_mode == "hosted_page"


def test_payment_method_types_is_an_unknown_parameter_in_this_version(
    double_server: StripeDouble, double_client: stripe.StripeClient
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        double_client.v1.checkout.sessions.create(
            params={**SESSION_PARAMS, "payment_method_types": ["card"]}
        )

    assert raised.value.http_status == 400
    assert raised.value.code == "parameter_unknown"
    assert raised.value.param == "payment_method_types"
    assert raised.value.error.type == "invalid_request_error"
    assert raised.value.user_message == (
        "Received unknown parameter: payment_method_types"
    )
    assert double_server.sessions == {}


def test_allowed_payment_method_types_limits_the_session(
    double_client: stripe.StripeClient,
) -> None:
    session = double_client.v1.checkout.sessions.create(
        params={**SESSION_PARAMS, "allowed_payment_method_types": ["card"]}
    )

    assert session.allowed_payment_method_types == ["card"]
    assert session.payment_method_types == ["card"]
    assert session.payment_method_configuration_details is None


@pytest.mark.parametrize(
    ("types", "param"),
    [
        (["sepa_debit"], "allowed_payment_method_types"),
        (["card", "alipay"], "allowed_payment_method_types[1]"),
    ],
)
def test_allowed_payment_method_types_must_fit_the_currency_and_the_double(
    double_client: stripe.StripeClient, types: list[str], param: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        double_client.v1.checkout.sessions.create(
            params={**SESSION_PARAMS, "allowed_payment_method_types": types}
        )

    assert raised.value.param == param


def test_unknown_nested_parameter_is_refused_with_its_path(
    double_client: stripe.StripeClient,
) -> None:
    params = copy.deepcopy(SESSION_PARAMS)
    params["line_items"][1]["price_data"]["product_data"]["colour"] = "red"

    with pytest.raises(stripe.InvalidRequestError) as raised:
        double_client.v1.checkout.sessions.create(params=params)

    assert raised.value.code == "parameter_unknown"
    assert raised.value.param == "line_items[1][price_data][product_data][colour]"


def test_missing_parameter_has_stripes_code(
    double_client: stripe.StripeClient,
) -> None:
    params = {key: value for key, value in SESSION_PARAMS.items() if key != "mode"}

    with pytest.raises(stripe.InvalidRequestError) as raised:
        double_client.v1.checkout.sessions.create(params=params)

    assert raised.value.code == "parameter_missing"


def test_completed_session_has_no_url_and_full_customer_details(
    double_client: stripe.StripeClient, double_session: stripe.checkout.Session
) -> None:
    press(double_session, "pay", email="ada@example.com", name="Ada Lovelace")

    session = double_client.v1.checkout.sessions.retrieve(double_session.id)

    assert session.url is None
    assert session.customer_details.to_dict() == {
        "address": {
            "city": None,
            "country": "US",
            "line1": None,
            "line2": None,
            "postal_code": None,
            "state": None,
        },
        "business_name": None,
        "email": "ada@example.com",
        "individual_name": None,
        "name": "Ada Lovelace",
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }
    assert session.collected_information.to_dict() == {
        "business_name": None,
        "individual_name": None,
        "shipping_details": None,
    }
    assert session.customer_email is None
    assert set(session.to_dict()) == set(double_session.to_dict())


def test_expired_session_has_no_url(
    double_server: StripeDouble,
    double_client: stripe.StripeClient,
    double_session: stripe.checkout.Session,
) -> None:
    double_server.expire(double_session.id)

    session = double_client.v1.checkout.sessions.retrieve(double_session.id)

    assert session.status == "expired"
    assert session.url is None


def test_prefilled_email_is_kept_and_shown_in_customer_details(
    double_server: StripeDouble, double_client: stripe.StripeClient
) -> None:
    session = double_client.v1.checkout.sessions.create(
        params={**SESSION_PARAMS, "customer_email": "grace@example.com"}
    )

    paid = double_server.pay(session.id, email="other@example.com")

    assert session.customer_details.email == "grace@example.com"
    assert paid["customer_email"] == "grace@example.com"
    assert paid["customer_details"]["email"] == "grace@example.com"


def test_line_items_expand_and_list_with_their_prices(
    double_client: stripe.StripeClient, double_session: stripe.checkout.Session
) -> None:
    session = double_client.v1.checkout.sessions.retrieve(
        double_session.id, params={"expand": ["line_items"]}
    )
    first = double_client.v1.checkout.sessions.line_items.list(
        double_session.id, params={"limit": 1}
    )
    rest = double_client.v1.checkout.sessions.line_items.list(
        double_session.id, params={"starting_after": first.data[0].id}
    )

    laptop, mouse = session.line_items.data
    assert session.line_items.url == (
        f"/v1/checkout/sessions/{double_session.id}/line_items"
    )
    assert (laptop.description, laptop.quantity, laptop.amount_total) == (
        "Laptop",
        2,
        2 * 99999,
    )
    assert laptop.price.unit_amount == 99999
    assert laptop.price.type == "one_time"
    assert mouse.description == "Mouse <wireless>"
    assert [item.id for item in first.data] == [laptop.id]
    assert first.has_more is True
    assert [item.id for item in rest.data] == [mouse.id]
    assert rest.has_more is False
