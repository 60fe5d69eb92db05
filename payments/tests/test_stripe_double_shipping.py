"""Shipping address, phone number and shipping rates on the local Stripe double."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import requests
import stripe

from payments.stripe_double import StripeDouble

from .stripe_double_support import (
    SESSION_PARAMS,
    SHIPPING_PARAMS,
    SUCCESS_URL,
    TOTAL,
    WebhookReceiver,
    press,
)

ADDRESS = {
    "line1": "10 Downing Street",
    "line2": "Flat 2",
    "city": "Toronto",
    "state": "ON",
    "postal_code": "M5V 2T6",
    "country": "CA",
}


@pytest.fixture
def shipping_session(double_client: stripe.StripeClient) -> stripe.checkout.Session:
    return double_client.v1.checkout.sessions.create(
        params={**SESSION_PARAMS, **SHIPPING_PARAMS}
    )


def test_session_lists_countries_rates_and_charges_the_first_rate(
    shipping_session: stripe.checkout.Session,
) -> None:
    standard, express = shipping_session.shipping_options

    assert shipping_session.shipping_address_collection.allowed_countries == [
        "US",
        "CA",
    ]
    assert shipping_session.phone_number_collection.enabled is True
    assert (standard.shipping_amount, express.shipping_amount) == (500, 1500)
    assert standard.shipping_rate.startswith("shr_")
    assert shipping_session.shipping_cost.to_dict() == {
        "amount_subtotal": 500,
        "amount_tax": 0,
        "amount_total": 500,
        "shipping_rate": standard.shipping_rate,
    }
    assert shipping_session.amount_subtotal == TOTAL
    assert shipping_session.amount_total == TOTAL + 500
    assert shipping_session.total_details.amount_shipping == 500


def test_shipping_rates_made_from_rate_data_can_be_retrieved(
    double_client: stripe.StripeClient, shipping_session: stripe.checkout.Session
) -> None:
    rate = double_client.v1.shipping_rates.retrieve(
        shipping_session.shipping_options[0].shipping_rate
    )

    assert rate.display_name == "Standard"
    assert rate.type == "fixed_amount"
    assert rate.fixed_amount.to_dict() == {"amount": 500, "currency": "usd"}
    assert rate.delivery_estimate.minimum.to_dict() == {
        "unit": "business_day",
        "value": 3,
    }
    assert rate.active is True


def test_hosted_page_asks_for_address_phone_and_rate_in_plain_html(
    shipping_session: stripe.checkout.Session,
) -> None:
    html = requests.get(shipping_session.url, timeout=5).text

    assert "<script" not in html
    assert "formaction" not in html
    assert re.findall(r'<option value="(\w+)"', html) == ["US", "CA"]
    for name in ("name", "line1", "line2", "city", "state", "postal_code", "phone"):
        assert f'name="{name}"' in html
    assert html.count('type="radio" name="shipping_rate"') == 2
    assert "Standard: $5.00 (3 business days to 5 business days)" in html
    assert "Express: $15.00" in html
    assert "Shipping (Standard)" in html
    assert '<button type="submit" name="action" value="pay">Pay</button>' in html


def test_hosted_page_says_one_day_in_the_singular(
    double_client: stripe.StripeClient,
) -> None:
    params = copy.deepcopy({**SESSION_PARAMS, **SHIPPING_PARAMS})
    params["shipping_options"][1]["shipping_rate_data"]["delivery_estimate"] = {
        "minimum": {"unit": "business_day", "value": 1},
        "maximum": {"unit": "business_day", "value": 2},
    }
    checkout_session = double_client.v1.checkout.sessions.create(params=params)

    html = requests.get(checkout_session.url, timeout=5).text

    assert "Express: $15.00 (1 business day to 2 business days)" in html


def test_paying_on_the_page_reports_address_phone_and_chosen_rate(
    double_server: StripeDouble,
    double_receiver: WebhookReceiver,
    double_client: stripe.StripeClient,
    shipping_session: stripe.checkout.Session,
) -> None:
    express = shipping_session.shipping_options[1].shipping_rate

    response = press(
        shipping_session,
        "pay",
        email="ada@example.com",
        name="Ada Lovelace",
        phone="+14165550123",
        shipping_rate=express,
        **ADDRESS,
    )

    assert response.status_code == 303
    assert response.headers["Location"] == SUCCESS_URL.replace(
        "{CHECKOUT_SESSION_ID}", shipping_session.id
    )
    [event] = double_receiver.events()
    session = event.data.object
    assert session.collected_information.shipping_details.to_dict() == {
        "address": ADDRESS,
        "name": "Ada Lovelace",
    }
    assert session.shipping_cost.to_dict() == {
        "amount_subtotal": 1500,
        "amount_tax": 0,
        "amount_total": 1500,
        "shipping_rate": express,
    }
    assert session.amount_total == TOTAL + 1500
    assert session.total_details.amount_shipping == 1500
    assert session.customer_details.address.to_dict() == ADDRESS
    assert session.customer_details.phone == "+14165550123"
    assert session.customer_details.name == "Ada Lovelace"
    payment_intent = double_client.v1.payment_intents.retrieve(session.payment_intent)
    assert payment_intent.amount == TOTAL + 1500
    assert payment_intent.shipping.name == "Ada Lovelace"
    assert payment_intent.shipping.address.to_dict() == ADDRESS


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"country": "FR"}, "Choose a country this shop ships to."),
        ({"line1": ""}, "Enter the street address."),
        ({"postal_code": " "}, "Enter the postal code."),
        ({"phone": ""}, "Enter a phone number."),
        ({"shipping_rate": "shr_other"}, "Choose a shipping rate."),
    ],
)
def test_page_refuses_incomplete_shipping_and_keeps_what_was_typed(
    double_server: StripeDouble,
    shipping_session: stripe.checkout.Session,
    change: dict[str, str],
    message: str,
) -> None:
    form: dict[str, Any] = {
        **ADDRESS,
        "name": "Ada Lovelace",
        "phone": "+14165550123",
        "shipping_rate": shipping_session.shipping_options[0].shipping_rate,
        **change,
    }

    response = press(shipping_session, "pay", **form)

    assert response.status_code == 400
    assert f'<p role="alert">{message}</p>' in response.text
    assert 'value="Ada Lovelace"' in response.text
    assert double_server.sessions[shipping_session.id]["status"] == "open"
    assert double_server.events == []


def test_control_pay_fills_in_an_address_in_the_first_allowed_country(
    double_server: StripeDouble, shipping_session: stripe.checkout.Session
) -> None:
    response = requests.post(
        f"{double_server.url}/_double/sessions/{shipping_session.id}/pay",
        json={"name": "Grace Hopper"},
        timeout=15,
    )

    session = response.json()
    details = session["collected_information"]["shipping_details"]
    assert details["name"] == "Grace Hopper"
    assert details["address"]["country"] == "US"
    assert session["customer_details"]["phone"]
    assert session["shipping_cost"]["amount_total"] == 500


def test_control_pay_refuses_a_country_the_session_does_not_ship_to(
    double_server: StripeDouble, shipping_session: stripe.checkout.Session
) -> None:
    with pytest.raises(ValueError, match="ships to"):
        double_server.pay(shipping_session.id, address={**ADDRESS, "country": "FR"})


def test_session_reuses_a_shipping_rate_by_id(
    double_client: stripe.StripeClient,
) -> None:
    rate = double_client.v1.shipping_rates.create(
        params={
            "display_name": "Pickup",
            "type": "fixed_amount",
            "fixed_amount": {"amount": 0, "currency": "usd"},
        }
    )

    session = double_client.v1.checkout.sessions.create(
        params={
            **SESSION_PARAMS,
            "shipping_address_collection": {"allowed_countries": ["US"]},
            "shipping_options": [{"shipping_rate": rate.id}],
        }
    )

    assert session.shipping_options[0].shipping_rate == rate.id
    assert session.amount_total == TOTAL
    assert session.total_details.amount_shipping == 0


def _rate_data(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(SHIPPING_PARAMS["shipping_options"][0]["shipping_rate_data"])
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        (
            {"shipping_address_collection": {"allowed_countries": ["US", "XX"]}},
            "shipping_address_collection[allowed_countries][1]",
            None,
        ),
        (
            {"shipping_address_collection": {"allowed_countries": ""}},
            "shipping_address_collection[allowed_countries]",
            "parameter_missing",
        ),
        (
            {"shipping_address_collection": {"countries": ["US"]}},
            "shipping_address_collection[countries]",
            "parameter_unknown",
        ),
        (
            {"phone_number_collection": {"enabled": "maybe"}},
            "phone_number_collection[enabled]",
            None,
        ),
        (
            {
                "shipping_options": [
                    {"shipping_rate": "shr_x", "shipping_rate_data": _rate_data()}
                ]
            },
            "shipping_options[0]",
            "parameters_exclusive",
        ),
        (
            {"shipping_options": [{"shipping_rate": "shr_missing"}]},
            "shipping_options[0][shipping_rate]",
            "resource_missing",
        ),
        (
            {"shipping_options": [{"shipping_rate_data": _rate_data()}] * 6},
            "shipping_options",
            None,
        ),
        (
            {
                "shipping_options": [
                    {
                        "shipping_rate_data": _rate_data(
                            fixed_amount={"amount": 500, "currency": "eur"}
                        )
                    }
                ]
            },
            "shipping_options[0]",
            None,
        ),
        (
            {"shipping_options": [{"shipping_rate_data": _rate_data(type="weight")}]},
            "shipping_options[0][shipping_rate_data][type]",
            None,
        ),
        (
            {
                "shipping_options": [
                    {"shipping_rate_data": _rate_data(fixed_amount={"amount": 5})}
                ]
            },
            "shipping_options[0][shipping_rate_data][fixed_amount][currency]",
            "parameter_missing",
        ),
        (
            {
                "shipping_options": [
                    {
                        "shipping_rate_data": _rate_data(
                            delivery_estimate={"minimum": {"unit": "year", "value": 1}}
                        )
                    }
                ]
            },
            "shipping_options[0][shipping_rate_data][delivery_estimate][minimum][unit]",
            None,
        ),
        (
            {"shipping_options": [{"shipping_rate_data": {"type": "fixed_amount"}}]},
            "shipping_options[0][shipping_rate_data][display_name]",
            "parameter_missing",
        ),
    ],
)
def test_shipping_params_are_validated_as_stripe_does(
    double_server: StripeDouble,
    double_client: stripe.StripeClient,
    params: dict[str, Any],
    param: str,
    code: str | None,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        double_client.v1.checkout.sessions.create(params={**SESSION_PARAMS, **params})

    assert raised.value.http_status == 400
    assert raised.value.param == param
    assert raised.value.code == code
    assert double_server.sessions == {}


def test_session_without_shipping_reports_none(
    double_server: StripeDouble, double_session: stripe.checkout.Session
) -> None:
    paid = double_server.pay(double_session.id)

    assert paid["collected_information"]["shipping_details"] is None
    assert paid["shipping_cost"] is None
    assert json.loads(json.dumps(paid))["total_details"]["amount_shipping"] == 0
