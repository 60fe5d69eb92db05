"""Refunds and disputes of the double's charges."""

from __future__ import annotations

from typing import Any

from .payment_intents import new_id

REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
DISPUTE_REASONS = (
    "bank_cannot_process",
    "check_returned",
    "credit_not_processed",
    "customer_initiated",
    "debit_not_authorized",
    "duplicate",
    "fraudulent",
    "general",
    "incorrect_account_details",
    "insufficient_funds",
    "noncompliant",
    "product_not_received",
    "product_unacceptable",
    "subscription_canceled",
    "unrecognized",
)
# Card networks give the merchant about a week to answer a dispute.
EVIDENCE_WINDOW_SECONDS = 7 * 24 * 60 * 60
_EVIDENCE_FIELDS = (
    "access_activity_log billing_address cancellation_policy "
    "cancellation_policy_disclosure cancellation_rebuttal customer_communication "
    "customer_email_address customer_name customer_purchase_ip customer_signature "
    "duplicate_charge_documentation duplicate_charge_explanation duplicate_charge_id "
    "product_description receipt refund_policy refund_policy_disclosure "
    "refund_refusal_explanation service_date service_documentation shipping_address "
    "shipping_carrier shipping_date shipping_documentation shipping_tracking_number "
    "uncategorized_file uncategorized_text"
)


def new_refund(
    *,
    charge: dict[str, Any],
    amount: int,
    reason: str | None,
    metadata: dict[str, str],
    now: int,
) -> dict[str, Any]:
    """Return a refund of a charge: a card's succeeds, a bank debit's is pending."""
    method_type = charge["payment_method_details"]["type"]
    if method_type == "card":
        destination: dict[str, Any] = {
            "card": {
                "reference": None,
                "reference_status": "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        }
    else:
        # The SDK declares no details for bank debit refunds, only their type.
        destination = {"type": method_type}
    return {
        "id": new_id("re_"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn_"),
        "charge": charge["id"],
        "created": now,
        "currency": charge["currency"],
        "destination_details": destination,
        "metadata": metadata,
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded" if method_type == "card" else "pending",
        "transfer_reversal": None,
    }


def refundable_amount(charge: dict[str, Any]) -> int:
    """Return what is left to refund of a charge."""
    return charge["amount_captured"] - charge["amount_refunded"]


def new_dispute(
    *, charge: dict[str, Any], amount: int, reason: str, now: int
) -> dict[str, Any]:
    """Return a dispute of a charge that waits for the merchant's evidence."""
    card = charge["payment_method_details"].get("card")
    return {
        "id": new_id("dp_"),
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": charge["id"],
        "created": now,
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {
            **dict.fromkeys(_EVIDENCE_FIELDS.split()),
            "enhanced_evidence": {},
        },
        "evidence_details": {
            "due_by": now + EVIDENCE_WINDOW_SECONDS,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
            "submission_method": "not_submitted",
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "network_reason_code": "10.4" if reason == "fraudulent" else "13.1",
        "payment_intent": charge["payment_intent"],
        "payment_method_details": (
            {
                "card": {
                    "brand": card["brand"],
                    "case_type": "chargeback",
                    "network": card["network"],
                    "network_reason_code": "10.4",
                },
                "type": "card",
            }
            if card
            else None
        ),
        "reason": reason,
        "status": "needs_response",
    }


def list_object(url: str, data: list[dict[str, Any]], has_more: bool) -> dict:
    """Return a page of a list, as Stripe's list endpoints answer."""
    return {"object": "list", "data": data, "has_more": has_more, "url": url}
