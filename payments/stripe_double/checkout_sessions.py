"""Checkout Sessions in the shape API 2026-10-28.endive gives them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .payment_intents import new_id

NO_ADDRESS: dict[str, Any] = {
    "city": None,
    "country": None,
    "line1": None,
    "line2": None,
    "postal_code": None,
    "state": None,
}
# What a shopper types on the page when a test does not say otherwise.
DEFAULT_NAME = "Jenny Rosen"
DEFAULT_COUNTRY = "US"
DEFAULT_STREET = {"line1": "1 Test Street", "city": "Testville", "postal_code": "12345"}


@dataclass
class Shopper:
    """What the shopper enters on the hosted page."""

    email: str
    name: str = DEFAULT_NAME
    # The billing country, when the session collects no shipping address.
    country: str = DEFAULT_COUNTRY
    # The shipping address (line1, line2, city, state, postal_code, country).
    address: dict[str, Any] | None = None
    phone: str | None = None
    shipping_rate: str | None = None


def shopper_problem(session: dict[str, Any], shopper: Shopper) -> str | None:
    """Return what the shopper must still fix for this session, if anything."""
    countries = _allowed_countries(session)
    if countries:
        address = shopper.address or {}
        for key, label in [
            ("line1", "the street address"),
            ("city", "the city"),
            ("postal_code", "the postal code"),
        ]:
            if not (address.get(key) or "").strip():
                return f"Enter {label}."
        if address.get("country") not in countries:
            return "Choose a country this shop ships to."
    if (
        session["phone_number_collection"]["enabled"]
        and not (shopper.phone or "").strip()
    ):
        return "Enter a phone number."
    rates = [option["shipping_rate"] for option in session["shipping_options"]]
    if rates and shopper.shipping_rate not in rates:
        return "Choose a shipping rate."
    return None


def shopper_with_defaults(session: dict[str, Any], shopper: Shopper) -> Shopper:
    """Fill in what a test left out: an address it ships to, a phone, a rate."""
    countries = _allowed_countries(session)
    if countries and shopper.address is None:
        shopper.address = {**DEFAULT_STREET, "country": countries[0]}
    if session["phone_number_collection"]["enabled"] and shopper.phone is None:
        shopper.phone = "+15555550100"
    if session["shipping_options"] and shopper.shipping_rate is None:
        shopper.shipping_rate = session["shipping_options"][0]["shipping_rate"]
    return shopper


def _allowed_countries(session: dict[str, Any]) -> list[str]:
    collection = session["shipping_address_collection"]
    return collection["allowed_countries"] if collection else []


def new_checkout_session(
    *,
    session_id: str,
    url: str,
    fields: dict[str, Any],
    line_items: list[dict[str, Any]],
    shipping_rates: list[dict[str, Any]],
    now: int,
) -> dict[str, Any]:
    """Return an open Checkout Session for validated parameters."""
    amount = sum(item["unit_amount"] * item["quantity"] for item in line_items)
    currency = line_items[0]["currency"]
    allowed = fields["allowed_payment_method_types"]
    email = fields["customer_email"]
    countries = fields["allowed_countries"]
    session = {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": None,
        "allowed_payment_method_types": allowed,
        "amount_subtotal": amount,
        "amount_total": amount,
        "automatic_tax": {
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "billing_address_collection": fields["billing_address_collection"],
        "branding_settings": None,
        "cancel_url": fields["cancel_url"],
        "client_reference_id": fields["client_reference_id"],
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": now,
        "currency": currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": None,
        "customer_account": None,
        "customer_creation": "if_required",
        "customer_details": None if email is None else customer_details(email=email),
        "customer_email": email,
        "discounts": [],
        "excluded_payment_method_types": None,
        "expires_at": fields["expires_at"],
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": {
            "enabled": False,
            "invoice_data": {
                "account_tax_ids": None,
                "custom_fields": None,
                "description": None,
                "footer": None,
                "issuer": None,
                "metadata": {},
                "rendering_options": None,
            },
        },
        "livemode": False,
        "locale": fields["locale"],
        "managed_payments": None,
        "metadata": fields["metadata"],
        "mode": "payment",
        "name_collection": None,
        "optional_items": None,
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_configuration_details": (
            None if allowed else {"id": new_id("pmc_"), "parent": None}
        ),
        "payment_method_options": {},
        "payment_method_types": allowed or default_payment_method_types(currency),
        "payment_status": "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": fields["phone_number_collection"]},
        "presentment_details": {
            "presentment_amount": amount,
            "presentment_currency": currency,
        },
        "recovered_from": None,
        "redirect_on_completion": None,
        "return_url": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": (
            {"allowed_countries": countries} if countries else None
        ),
        "shipping_cost": None,
        "shipping_options": [
            {
                "shipping_amount": rate["fixed_amount"]["amount"],
                "shipping_rate": rate["id"],
            }
            for rate in shipping_rates
        ],
        "status": "open",
        "submit_type": fields["submit_type"],
        "subscription": None,
        "success_url": fields["success_url"],
        "tax_id_collection": {"enabled": False, "required": "never"},
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": fields["ui_mode"],
        "url": url,
        "wallet_options": None,
    }
    if shipping_rates:
        choose_shipping_rate(session, shipping_rates[0])
    return session


def choose_shipping_rate(session: dict[str, Any], rate: dict[str, Any]) -> None:
    """Charge a shipping rate: Checkout preselects the first, the shopper may change."""
    shipping = rate["fixed_amount"]["amount"]
    total = session["amount_subtotal"] + shipping
    session.update(
        amount_total=total,
        shipping_cost={
            "amount_subtotal": shipping,
            "amount_tax": 0,
            "amount_total": shipping,
            "shipping_rate": rate["id"],
        },
    )
    session["total_details"]["amount_shipping"] = shipping
    session["presentment_details"]["presentment_amount"] = total


def line_item_objects(
    line_items: list[dict[str, Any]], *, now: int
) -> list[dict[str, Any]]:
    """Return a session's line items as Stripe lists them, each with its price."""
    objects = []
    for item in line_items:
        amount = item["unit_amount"] * item["quantity"]
        price = {
            "id": new_id("price_"),
            "object": "price",
            "active": False,
            "billing_scheme": "per_unit",
            "created": now,
            "currency": item["currency"],
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": None,
            "metadata": {},
            "nickname": None,
            "product": new_id("prod_", 14),
            "recurring": None,
            "tax_behavior": "unspecified",
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "one_time",
            "unit_amount": item["unit_amount"],
            "unit_amount_decimal": str(item["unit_amount"]),
        }
        objects.append(
            {
                "id": new_id("li_"),
                "object": "item",
                "amount_discount": 0,
                "amount_subtotal": amount,
                "amount_tax": 0,
                "amount_total": amount,
                "currency": item["currency"],
                "description": item["name"],
                "metadata": {},
                "price": price,
                "quantity": item["quantity"],
            }
        )
    return objects


def default_payment_method_types(currency: str) -> list[str]:
    """Return what the dashboard's default configuration offers in a currency."""
    debit = {"usd": "us_bank_account", "eur": "sepa_debit"}.get(currency)
    return ["card", debit] if debit else ["card"]


def customer_details(
    *,
    email: str,
    name: str | None = None,
    address: dict[str, Any] | None = None,
    phone: str | None = None,
) -> dict[str, Any]:
    """Return a session's customer_details."""
    return {
        "address": address,
        "business_name": None,
        "email": email,
        "individual_name": None,
        "name": name,
        "phone": phone,
        "tax_exempt": "none",
        "tax_ids": [],
    }


def complete_checkout_session(
    session: dict[str, Any],
    *,
    details: dict[str, Any],
    payment_intent_id: str,
    paid: bool,
    shipping_details: dict[str, Any] | None,
) -> None:
    """Close the session as Checkout does once the shopper has paid or confirmed."""
    session.update(
        status="complete",
        payment_status="paid" if paid else "unpaid",
        payment_intent=payment_intent_id,
        customer_email=session["customer_email"],
        customer_details=details,
        collected_information={
            "business_name": None,
            "individual_name": None,
            "shipping_details": shipping_details,
        },
        url=None,
    )
