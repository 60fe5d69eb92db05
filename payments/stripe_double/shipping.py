"""Shipping: the parameters Checkout takes for it and the shipping rates it makes."""

from __future__ import annotations

from typing import Any

from .params import InvalidParam, integer, missing, string
from .payment_intents import new_id

# The countries Checkout ships to (shipping_address_collection[allowed_countries]).
_COUNTRY_CODES = (
    "AC AD AE AF AG AI AL AM AO AQ AR AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM "
    "BN BO BQ BR BS BT BV BW BY BZ CA CD CF CG CH CI CK CL CM CN CO CR CV CW CY CZ DE "
    "DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FO FR GA GB GD GE GF GG GH GI GL GM "
    "GN GP GQ GR GS GT GU GW GY HK HN HR HT HU ID IE IL IM IN IO IQ IS IT JE JM JO JP "
    "KE KG KH KI KM KN KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG "
    "MK ML MM MN MO MQ MR MS MT MU MV MW MX MY MZ NA NC NE NG NI NL NO NP NR NU NZ OM "
    "PA PE PF PG PH PK PL PM PN PR PS PT PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI "
    "SJ SK SL SM SN SO SR SS ST SV SX SZ TA TC TD TF TG TH TJ TK TL TM TN TO TR TT TV "
    "TW TZ UA UG US UY UZ VA VC VE VG VN VU WF WS XK YE YT ZA ZM ZW ZZ "
)
ALLOWED_COUNTRIES = frozenset(_COUNTRY_CODES.split())
MAX_SHIPPING_OPTIONS = 5
DELIVERY_UNITS = ("business_day", "day", "hour", "month", "week")
TAX_BEHAVIORS = ("exclusive", "inclusive", "unspecified")


def allowed_countries(params: dict[str, Any]) -> list[str] | None:
    """Return shipping_address_collection's countries, or None when not asked."""
    collection = _given_object(params, "shipping_address_collection")
    if collection is None:
        return None
    countries = collection.get("allowed_countries")
    path = "shipping_address_collection[allowed_countries]"
    if not countries:
        raise missing(path)
    if not isinstance(countries, list):
        raise InvalidParam("Invalid array", path)
    for index, country in enumerate(countries):
        if country not in ALLOWED_COUNTRIES:
            raise InvalidParam(
                f"Invalid {path}[{index}]: must be one of "
                f"{', '.join(sorted(ALLOWED_COUNTRIES))}",
                f"{path}[{index}]",
            )
    return list(dict.fromkeys(countries))


def phone_number_collection(params: dict[str, Any]) -> bool:
    """Return whether the session collects a phone number."""
    collection = _given_object(params, "phone_number_collection")
    if collection is None:
        return False
    return boolean(collection, "enabled", "phone_number_collection")


def shipping_options(params: dict[str, Any]) -> list[tuple[str, Any]]:
    """Return the options as ("rate", id) or ("data", validated rate data)."""
    options = params.get("shipping_options", [])
    if options == "":
        return []
    if not isinstance(options, list):
        raise InvalidParam("Invalid array", "shipping_options")
    if len(options) > MAX_SHIPPING_OPTIONS:
        raise InvalidParam(
            f"You may only specify up to {MAX_SHIPPING_OPTIONS} shipping options.",
            "shipping_options",
        )
    chosen = []
    for index, option in enumerate(options):
        path = f"shipping_options[{index}]"
        if not isinstance(option, dict):
            raise InvalidParam("Invalid object", path)
        if "shipping_rate" in option and "shipping_rate_data" in option:
            raise InvalidParam(
                "You may only specify one of these parameters: shipping_rate, "
                "shipping_rate_data.",
                path,
                "parameters_exclusive",
            )
        if "shipping_rate" in option:
            rate = string(option, "shipping_rate", path, required=True)
            chosen.append(("rate", rate))
        elif "shipping_rate_data" in option:
            data_path = f"{path}[shipping_rate_data]"
            data = option["shipping_rate_data"]
            if not isinstance(data, dict):
                raise InvalidParam("Invalid object", data_path)
            chosen.append(("data", shipping_rate_data(data, data_path)))
        else:
            raise InvalidParam(
                "You must specify one of these parameters: shipping_rate, "
                "shipping_rate_data.",
                path,
                "parameter_missing",
            )
    return chosen


def shipping_rate_data(data: dict[str, Any], path: str) -> dict[str, Any]:
    """Validate the parameters of a fixed-amount shipping rate."""
    display_name = string(data, "display_name", path, required=True)
    if len(display_name) > 100:
        raise InvalidParam(
            "display_name must be at most 100 characters.", _join(path, "display_name")
        )
    kind = string(data, "type", path) or "fixed_amount"
    if kind != "fixed_amount":
        raise InvalidParam(
            f"Invalid {_join(path, 'type')}: must be one of fixed_amount",
            _join(path, "type"),
        )
    fixed_path = _join(path, "fixed_amount")
    fixed = data.get("fixed_amount")
    if fixed is None:
        raise missing(fixed_path)
    if not isinstance(fixed, dict):
        raise InvalidParam("Invalid object", fixed_path)
    amount = integer(fixed, "amount", fixed_path, minimum=0)
    currency = string(fixed, "currency", fixed_path, required=True)
    estimate = data.get("delivery_estimate")
    if estimate is not None:
        estimate = _delivery_estimate(estimate, _join(path, "delivery_estimate"))
    tax_behavior = string(data, "tax_behavior", path)
    if tax_behavior is not None and tax_behavior not in TAX_BEHAVIORS:
        raise InvalidParam(
            f"Invalid {_join(path, 'tax_behavior')}: must be one of "
            f"{', '.join(TAX_BEHAVIORS)}",
            _join(path, "tax_behavior"),
        )
    metadata = data.get("metadata", {})
    return {
        "delivery_estimate": estimate,
        "display_name": display_name,
        "fixed_amount": {"amount": amount, "currency": currency.lower()},
        "metadata": metadata if isinstance(metadata, dict) else {},
        "tax_behavior": tax_behavior or "unspecified",
        "tax_code": string(data, "tax_code", path),
        "type": kind,
    }


def new_shipping_rate(data: dict[str, Any], *, now: int) -> dict[str, Any]:
    """Return a shipping rate object for validated rate data."""
    return {
        "id": new_id("shr_"),
        "object": "shipping_rate",
        "active": True,
        "created": now,
        "livemode": False,
        **data,
    }


def _delivery_estimate(estimate: Any, path: str) -> dict[str, Any]:
    if not isinstance(estimate, dict):
        raise InvalidParam("Invalid object", path)
    result: dict[str, Any] = {"maximum": None, "minimum": None}
    for bound in ("minimum", "maximum"):
        value = estimate.get(bound)
        if value is None:
            continue
        bound_path = f"{path}[{bound}]"
        if not isinstance(value, dict):
            raise InvalidParam("Invalid object", bound_path)
        unit = string(value, "unit", bound_path, required=True)
        if unit not in DELIVERY_UNITS:
            raise InvalidParam(
                f"Invalid {bound_path}[unit]: must be one of "
                f"{', '.join(DELIVERY_UNITS)}",
                f"{bound_path}[unit]",
            )
        number = integer(value, "value", bound_path, minimum=1)
        result[bound] = {"unit": unit, "value": number}
    return result


def _given_object(params: dict[str, Any], key: str) -> dict[str, Any] | None:
    """Return the object parameter `key`, or None when it is not given."""
    if key not in params:
        return None
    value = params[key]
    if not isinstance(value, dict):
        raise InvalidParam("Invalid object", key)
    return value


def _join(path: str, key: str) -> str:
    return f"{path}[{key}]" if path else key


def boolean(values: dict[str, Any], key: str, path: str) -> bool:
    """Return a form-encoded boolean ("true" or "false"), which is required."""
    param = f"{path}[{key}]"
    value = values.get(key)
    if value is None:
        raise missing(param)
    if value not in ("true", "false"):
        raise InvalidParam(f"Invalid boolean: {value}", param)
    return value == "true"
