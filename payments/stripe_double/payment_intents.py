"""PaymentIntents and their charges, as Checkout leaves them after payment."""

from __future__ import annotations

import secrets
import string
from typing import Any

_ALPHANUMERIC = string.ascii_letters + string.digits
CANCELABLE_STATUSES = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
)
CANCELLATION_REASONS = ("abandoned", "duplicate", "fraudulent", "requested_by_customer")
_FAILURE_CODE = "insufficient_funds"
_FAILURE_MESSAGE = "The account has insufficient funds to cover this payment."
_PAYMENT_METHOD_DETAILS: dict[str, dict[str, Any]] = {
    "card": {
        "brand": "visa",
        "checks": {
            "address_line1_check": None,
            "address_postal_code_check": None,
            "cvc_check": "pass",
        },
        "country": "US",
        "exp_month": 12,
        "exp_year": 2034,
        "extended_authorization": {"status": "disabled"},
        "fingerprint": "LocalDoubleVisa1",
        "funding": "credit",
        "incremental_authorization": {"status": "unavailable"},
        "installments": None,
        "last4": "4242",
        "mandate": None,
        "multicapture": {"status": "unavailable"},
        "network": "visa",
        "network_token": {"used": False},
        "overcapture": {"maximum_amount_capturable": 0, "status": "unavailable"},
        "regulated_status": "unregulated",
        "three_d_secure": None,
        "wallet": None,
    },
    "us_bank_account": {
        "account_holder_type": "individual",
        "account_type": "checking",
        "bank_name": "STRIPE TEST BANK",
        "fingerprint": "LocalDoubleBank1",
        "last4": "6789",
        "payment_reference": None,
        "routing_number": "110000000",
    },
    "sepa_debit": {
        "bank_code": "37040044",
        "branch_code": None,
        "country": "DE",
        "fingerprint": "LocalDoubleSepa1",
        "last4": "3000",
    },
}


def new_id(prefix: str, length: int = 24) -> str:
    """Return a Stripe-like id: the prefix and random letters and digits."""
    return prefix + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def new_payment(
    *,
    amount: int,
    currency: str,
    method_type: str,
    delayed: bool,
    billing_details: dict[str, Any],
    shipping: dict[str, Any] | None,
    now: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return a confirmed PaymentIntent and its charge: succeeded, or processing."""
    payment_intent_id = new_id("pi_")
    charge_id = new_id("ch_")
    payment_method_id = new_id("pm_")
    presentment = {"presentment_amount": amount, "presentment_currency": currency}
    details = dict(_PAYMENT_METHOD_DETAILS[method_type])
    if method_type == "card":
        details["amount_authorized"] = amount
        details["overcapture"] = {
            "maximum_amount_capturable": amount,
            "status": "unavailable",
        }
    else:
        details["mandate"] = new_id("mandate_")
    charge = {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": None,
        "billing_details": {**billing_details, "tax_id": None},
        "calculated_statement_descriptor": "LOCAL STRIPE DOUBLE",
        "captured": True,
        "created": now,
        "currency": currency,
        "customer": None,
        "description": None,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": {},
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 12,
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        "paid": False,
        "payment_intent": payment_intent_id,
        "payment_method": payment_method_id,
        "payment_method_details": {"type": method_type, method_type: details},
        "presentment_details": presentment,
        "radar_options": {},
        "receipt_email": billing_details["email"],
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "review": None,
        "shipping": shipping,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "pending",
        "transfer_data": None,
        "transfer_group": None,
    }
    payment_intent = {
        "id": payment_intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{payment_intent_id}_secret_{new_id('', 25)}",
        "confirmation_method": "automatic",
        "created": now,
        "currency": currency,
        "customer": None,
        "customer_account": None,
        "description": None,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": charge_id,
        "livemode": False,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": payment_method_id,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": [method_type],
        "presentment_details": presentment,
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": shipping,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "processing",
        "transfer_data": None,
        "transfer_group": None,
    }
    if not delayed:
        payment_succeed(payment_intent, charge)
    return payment_intent, charge


def payment_succeed(payment_intent: dict[str, Any], charge: dict[str, Any]) -> None:
    """Mark the payment as received, as when a card is charged or a debit clears."""
    payment_intent.update(status="succeeded", amount_received=payment_intent["amount"])
    charge.update(
        status="succeeded",
        paid=True,
        balance_transaction=new_id("txn_"),
        receipt_url=f"https://pay.stripe.com/receipts/payment/{new_id('', 40)}",
    )


def payment_fail(payment_intent: dict[str, Any], charge: dict[str, Any]) -> None:
    """Mark a processing payment as failed, as when the bank returns a debit."""
    payment_intent.update(
        status="requires_payment_method",
        payment_method=None,
        last_payment_error={
            "charge": charge["id"],
            "code": _FAILURE_CODE,
            "decline_code": None,
            "doc_url": "https://docs.stripe.com/error-codes/insufficient-funds",
            "message": _FAILURE_MESSAGE,
            "type": "card_error",
        },
    )
    charge.update(
        status="failed",
        paid=False,
        captured=False,
        amount_captured=0,
        failure_code=_FAILURE_CODE,
        failure_message=_FAILURE_MESSAGE,
        outcome={
            **charge["outcome"],
            "network_status": "declined_by_network",
            "reason": _FAILURE_CODE,
            "seller_message": f"The bank returned the decline code `{_FAILURE_CODE}`.",
            "type": "issuer_declined",
        },
    )
