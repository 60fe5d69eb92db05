"""Decode Stripe's form bodies and validate Checkout Session parameters."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

MAX_LINE_ITEMS = 100
MAX_UNIT_AMOUNT = 99_999_999
MIN_EXPIRY_SECONDS = 30 * 60
MAX_EXPIRY_SECONDS = 24 * 60 * 60
# Stripe measures the expiry window from its own clock; allow for a little skew.
EXPIRY_SLACK_SECONDS = 5

# A parameter tree: a dict names the keys a hash accepts, [spec] is an array of
# spec, None is a scalar and FREE_FORM a hash of any keys (metadata).
FREE_FORM = "free-form hash"
_METADATA = FREE_FORM
_PRODUCT_DATA = {
    "name": None,
    "description": None,
    "images": [None],
    "metadata": _METADATA,
}
_PRICE_DATA = {
    "currency": None,
    "unit_amount": None,
    "product_data": _PRODUCT_DATA,
    "tax_behavior": None,
}
_LINE_ITEM = {"price": None, "price_data": _PRICE_DATA, "quantity": None}
_ESTIMATE = {"unit": None, "value": None}
SHIPPING_RATE_DATA_PARAMS: dict[str, Any] = {
    "delivery_estimate": {"maximum": _ESTIMATE, "minimum": _ESTIMATE},
    "display_name": None,
    "fixed_amount": {"amount": None, "currency": None},
    "metadata": FREE_FORM,
    "tax_behavior": None,
    "tax_code": None,
    "type": None,
}
SESSION_CREATE_PARAMS: dict[str, Any] = {
    "allowed_payment_method_types": [None],
    "billing_address_collection": None,
    "cancel_url": None,
    "client_reference_id": None,
    "customer_email": None,
    "expand": [None],
    "expires_at": None,
    "line_items": [_LINE_ITEM],
    "locale": None,
    "metadata": _METADATA,
    "mode": None,
    "phone_number_collection": {"enabled": None},
    "shipping_address_collection": {"allowed_countries": [None]},
    "shipping_options": [
        {"shipping_rate": None, "shipping_rate_data": SHIPPING_RATE_DATA_PARAMS}
    ],
    "submit_type": None,
    "success_url": None,
    "ui_mode": None,
}
RETRIEVE_PARAMS: dict[str, Any] = {"expand": [None]}
PAYMENT_INTENT_CANCEL_PARAMS: dict[str, Any] = {
    "cancellation_reason": None,
    "expand": [None],
}
REFUND_CREATE_PARAMS: dict[str, Any] = {
    "amount": None,
    "charge": None,
    "expand": [None],
    "metadata": FREE_FORM,
    "payment_intent": None,
    "reason": None,
}
LIST_REFUNDS_PARAMS: dict[str, Any] = {
    "charge": None,
    "expand": [None],
    "limit": None,
    "payment_intent": None,
    "starting_after": None,
}
# Every endpoint the double serves and the parameters it accepts there.
ACCEPTED_PARAMS: dict[str, dict[str, Any]] = {
    "POST /v1/checkout/sessions": SESSION_CREATE_PARAMS,
    "GET /v1/checkout/sessions/{id}": RETRIEVE_PARAMS,
    "GET /v1/checkout/sessions/{id}/line_items": {
        "expand": [None],
        "limit": None,
        "starting_after": None,
    },
    "POST /v1/checkout/sessions/{id}/expire": RETRIEVE_PARAMS,
    "GET /v1/payment_intents/{id}": RETRIEVE_PARAMS,
    "POST /v1/payment_intents/{id}/cancel": PAYMENT_INTENT_CANCEL_PARAMS,
    "GET /v1/charges/{id}": RETRIEVE_PARAMS,
    "POST /v1/shipping_rates": {**SHIPPING_RATE_DATA_PARAMS, "expand": [None]},
    "GET /v1/shipping_rates/{id}": RETRIEVE_PARAMS,
    "POST /v1/refunds": REFUND_CREATE_PARAMS,
    "GET /v1/refunds": LIST_REFUNDS_PARAMS,
    "GET /v1/refunds/{id}": RETRIEVE_PARAMS,
    "GET /v1/disputes/{id}": RETRIEVE_PARAMS,
    "GET /v2/core/events/{id}": {},
}
_OPTIONAL_STRINGS = (
    "cancel_url",
    "client_reference_id",
    "customer_email",
    "locale",
    "submit_type",
    "billing_address_collection",
    "ui_mode",
)
UI_MODES = ("elements", "embedded_page", "form", "hosted_page")
# Card pays at once; the bank debits settle days later.
PAYMENT_METHOD_TYPES = ("card", "us_bank_account", "sepa_debit")
DELAYED_PAYMENT_METHOD_TYPES = frozenset({"us_bank_account", "sepa_debit"})
_KEY_PART = re.compile(r"\[([^\]]*)\]")


class ApiError(Exception):
    """An error Stripe would answer with, in its JSON shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        executed: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.param = param
        self.code = code
        # Stripe saves idempotent results only for requests that started executing.
        self.executed = executed

    def body(self) -> dict[str, Any]:
        """Return the error as Stripe's response body."""
        error: dict[str, Any] = {"message": self.message, "type": self.error_type}
        if self.param is not None:
            error["param"] = self.param
        if self.code is not None:
            error["code"] = self.code
        return {"error": error}


class InvalidParam(ApiError):
    """A 400 invalid_request_error that names the offending parameter."""

    def __init__(self, message: str, param: str, code: str | None = None) -> None:
        super().__init__(400, message, param=param, code=code)


def decode_form(query: str) -> dict[str, Any]:
    """Decode Stripe's bracket-nested form encoding into dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        head, _, rest = key.partition("[")
        parts = [head, *_KEY_PART.findall("[" + rest)] if rest else [head]
        node = root
        for depth, part in enumerate(parts):
            name = part or str(len(node))
            if depth == len(parts) - 1:
                if isinstance(node.get(name), dict):
                    raise InvalidParam(f"Invalid hash: {key}", key)
                node[name] = value
                break
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                raise InvalidParam(f"Invalid hash: {key}", key)
            node = child
    return _listify(root)


def _listify(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    items = {key: _listify(item) for key, item in value.items()}
    if items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


def validate_session_params(
    params: dict[str, Any], *, now: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return the session's fields and line items, or raise ApiError like Stripe."""
    mode = string(params, "mode", required=True)
    if mode in ("setup", "subscription"):
        raise InvalidParam("The Stripe double supports only mode=payment.", "mode")
    if mode != "payment":
        raise InvalidParam(f"Invalid mode: {mode}", "mode")
    line_items = _line_items(params.get("line_items"))
    fields: dict[str, Any] = {key: string(params, key) for key in _OPTIONAL_STRINGS}
    fields["success_url"] = _url(params, "success_url", required=True)
    fields["cancel_url"] = _url(params, "cancel_url")
    if len(fields["client_reference_id"] or "") > 200:
        raise InvalidParam(
            "client_reference_id must be at most 200 characters.",
            "client_reference_id",
        )
    email = fields["customer_email"]
    if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise InvalidParam(f"Invalid email address: {email}", "customer_email")
    fields["ui_mode"] = _ui_mode(fields["ui_mode"])
    fields["allowed_payment_method_types"] = _payment_method_types(
        params, line_items[0]["currency"]
    )
    fields["metadata"] = metadata_hash(params.get("metadata", {}))
    fields["expires_at"] = _expires_at(params, now=now)
    fields["expand"] = expansions(params)
    return fields, line_items


def expansions(params: dict[str, Any]) -> list[str]:
    """Return the `expand` paths of a request."""
    return _string_list(params, "expand")


def reject_unknown(values: Any, spec: Any, path: str = "") -> None:
    """Refuse, like Stripe, the first parameter that `spec` does not name."""
    if isinstance(spec, dict) and isinstance(values, dict):
        for key, value in values.items():
            name = f"{path}[{key}]" if path else key
            if key not in spec:
                raise InvalidParam(
                    f"Received unknown parameter: {name}", name, "parameter_unknown"
                )
            reject_unknown(value, spec[key], name)
    elif isinstance(spec, list) and isinstance(values, list):
        for index, value in enumerate(values):
            reject_unknown(value, spec[0], f"{path}[{index}]")


def _ui_mode(value: str | None) -> str:
    if value is None:
        return "hosted_page"
    if value not in UI_MODES:
        raise InvalidParam(
            f"Invalid ui_mode: must be one of {', '.join(UI_MODES)}.", "ui_mode"
        )
    if value != "hosted_page":
        raise InvalidParam(
            "The Stripe double supports only ui_mode=hosted_page.", "ui_mode"
        )
    return value


def _payment_method_types(params: dict[str, Any], currency: str) -> list[str] | None:
    if "allowed_payment_method_types" not in params:
        return None
    types = _string_list(params, "allowed_payment_method_types")
    if not types:
        raise InvalidParam(
            "Missing required param: allowed_payment_method_types.",
            "allowed_payment_method_types",
            "parameter_missing",
        )
    for index, value in enumerate(types):
        if value not in PAYMENT_METHOD_TYPES:
            raise InvalidParam(
                "The Stripe double supports only these payment method types: "
                f"{', '.join(PAYMENT_METHOD_TYPES)}.",
                f"allowed_payment_method_types[{index}]",
            )
        required = {"us_bank_account": "usd", "sepa_debit": "eur"}.get(value)
        if required and currency != required:
            raise InvalidParam(
                f"The payment method type `{value}` is invalid. Please ensure the "
                f"provided type is activated in your dashboard and that the "
                f"currency ({currency}) is supported by {value}.",
                "allowed_payment_method_types",
            )
    return types


def _line_items(raw: Any) -> list[dict[str, Any]]:
    if raw is None or raw == "":
        raise InvalidParam("Missing required param: line_items.", "line_items")
    if not isinstance(raw, list):
        raise InvalidParam("Invalid array", "line_items")
    if len(raw) > MAX_LINE_ITEMS:
        raise InvalidParam(
            f"You may only specify up to {MAX_LINE_ITEMS} line items.", "line_items"
        )
    items = [_line_item(item, f"line_items[{index}]") for index, item in enumerate(raw)]
    if len({item["currency"] for item in items}) > 1:
        raise InvalidParam(
            "Checkout does not support multiple currencies.", "line_items"
        )
    return items


def _line_item(item: Any, path: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise InvalidParam("Invalid object", path)
    if "price" in item:
        raise InvalidParam(
            "The Stripe double supports only price_data, not price ids.",
            f"{path}[price]",
        )
    quantity = integer(item, "quantity", path, minimum=1)
    price_path = f"{path}[price_data]"
    price_data = _section(item, "price_data", price_path)
    currency = price_data.get("currency")
    if not isinstance(currency, str) or not re.fullmatch(r"[a-z]{3}", currency):
        raise InvalidParam(f"Invalid currency: {currency}", f"{price_path}[currency]")
    unit_amount = integer(
        price_data, "unit_amount", price_path, minimum=0, maximum=MAX_UNIT_AMOUNT
    )
    product_path = f"{price_path}[product_data]"
    product = _section(price_data, "product_data", product_path)
    name = product.get("name")
    if not isinstance(name, str) or not name.strip():
        raise missing(f"{product_path}[name]")
    return {
        "name": name,
        "quantity": quantity,
        "unit_amount": unit_amount,
        "currency": currency,
    }


def _section(parent: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    value = parent.get(key)
    if value is None:
        raise missing(path)
    if not isinstance(value, dict):
        raise InvalidParam("Invalid object", path)
    return value


def missing(param: str) -> InvalidParam:
    """Return the error for a required parameter that is absent."""
    return InvalidParam(f"Missing required param: {param}.", param, "parameter_missing")


def integer(
    values: dict[str, Any],
    key: str,
    path: str = "",
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    param = f"{path}[{key}]" if path else key
    value = values.get(key)
    if value is None:
        raise missing(param)
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise InvalidParam(f"Invalid integer: {value}", param)
    number = int(value)
    if minimum is not None and number < minimum:
        raise InvalidParam(
            f"This value must be greater than or equal to {minimum}.", param
        )
    if maximum is not None and number > maximum:
        raise InvalidParam(
            f"This value must be less than or equal to {maximum}.", param
        )
    return number


def string(
    params: dict[str, Any], key: str, path: str = "", *, required: bool = False
) -> str | None:
    """Return a string parameter (None when absent or empty)."""
    param = f"{path}[{key}]" if path else key
    value = params.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidParam(f"Invalid string: {value}", param)
    if required and not value:
        raise missing(param)
    return value or None


def _string_list(params: dict[str, Any], key: str) -> list[str]:
    value = params.get(key, [])
    if value == "":
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParam("Invalid array", key)
    return value


def _url(params: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = string(params, key, required=required)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(value) > 5000:
        raise InvalidParam("Not a valid URL", key)
    return value


def metadata_hash(value: Any) -> dict[str, str]:
    """Return a metadata hash, refusing what Stripe refuses."""
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise InvalidParam("Invalid hash", "metadata")
    if len(value) > 50:
        raise InvalidParam("Metadata can have at most 50 keys.", "metadata")
    for key, item in value.items():
        if len(key) > 40:
            raise InvalidParam(
                "Metadata keys must be at most 40 characters.", "metadata"
            )
        if not isinstance(item, str) or len(item) > 500:
            raise InvalidParam(
                "Metadata values must be strings of at most 500 characters.",
                f"metadata[{key}]",
            )
    return value


def _expires_at(params: dict[str, Any], *, now: int) -> int:
    if "expires_at" not in params:
        return now + MAX_EXPIRY_SECONDS
    expires_at = integer(params, "expires_at")
    too_soon = expires_at < now + MIN_EXPIRY_SECONDS - EXPIRY_SLACK_SECONDS
    too_late = expires_at > now + MAX_EXPIRY_SECONDS + EXPIRY_SLACK_SECONDS
    if too_soon or too_late:
        bound = "at least 30 minutes" if too_soon else "less than 24 hours"
        raise InvalidParam(
            f"The `expires_at` timestamp must be {bound} from Checkout Session "
            "creation.",
            "expires_at",
        )
    return expires_at
