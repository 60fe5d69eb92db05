"""Render the double's hosted checkout page: plain HTML, no scripts."""

from __future__ import annotations

from html import escape
from typing import Any

from .checkout_sessions import DEFAULT_NAME
from .params import DELAYED_PAYMENT_METHOD_TYPES

ZERO_DECIMAL_CURRENCIES = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga"}
    | {"pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$"}

_STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f6f8fa;
  color: #1a1f36; }
main { max-width: 36rem; margin: 2rem auto; padding: 2rem; background: #fff;
  border-radius: 8px; box-shadow: 0 1px 4px rgb(0 0 0 / 15%); }
.badge { display: inline-block; padding: .1rem .5rem; border-radius: 4px;
  background: #ffde92; color: #5c3b00; font-size: .85rem; }
table { width: 100%; border-collapse: collapse; margin: 1rem 0; }
th, td { padding: .4rem; border-bottom: 1px solid #e3e8ee; text-align: left; }
td.number, th.number { text-align: right; }
tfoot th, tfoot td { font-weight: 700; border-bottom: 0; }
p { margin: 1rem 0 0; }
label { display: block; font-weight: 600; }
fieldset { margin-top: 1rem; border: 1px solid #e3e8ee; border-radius: 4px; }
input[type=radio] { width: auto; }
input, select { width: 100%; box-sizing: border-box; padding: .5rem; font: inherit;
  border: 1px solid #8792a2; border-radius: 4px; }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; margin-top: 1.5rem; }
button { font: inherit; padding: .6rem 1.2rem; border-radius: 4px; cursor: pointer;
  border: 1px solid #635bff; background: #fff; color: #3d35c9; }
button[value=pay] { background: #635bff; color: #fff; }
button:focus-visible, input:focus-visible { outline: 3px solid #1a1f36;
  outline-offset: 2px; }
[role=alert] { color: #a41c1c; font-weight: 600; }
"""


def money(amount: int, currency: str) -> str:
    """Format an amount in the currency's smallest unit, e.g. "$1,999.99"."""
    if currency in ZERO_DECIMAL_CURRENCIES:
        number = f"{amount:,}"
    else:
        number = f"{amount // 100:,}.{amount % 100:02d}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{number}" if symbol else f"{number} {currency.upper()}"


def render_checkout(
    session: dict[str, Any],
    line_items: list[dict[str, Any]],
    shipping_rates: list[dict[str, Any]],
    *,
    message: str | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> str:
    """Return the checkout page, with buttons only while the session is open."""
    currency = session["currency"]
    total = money(session["amount_total"], currency)
    rows = "".join(
        "<tr>"
        f'<th scope="row">{escape(item["name"])}</th>'
        f'<td class="number">{item["quantity"]}</td>'
        f'<td class="number">{money(item["unit_amount"], currency)}</td>'
        f'<td class="number">'
        f"{money(item['unit_amount'] * item['quantity'], currency)}</td>"
        "</tr>"
        for item in line_items
    )
    footer = ""
    if session["shipping_cost"]:
        chosen = session["shipping_cost"]["shipping_rate"]
        name = next(r["display_name"] for r in shipping_rates if r["id"] == chosen)
        shipping = money(session["shipping_cost"]["amount_total"], currency)
        footer = (
            f'<tr><th scope="row" colspan="3">Shipping ({escape(name)})</th>'
            f'<td class="number">{escape(shipping)}</td></tr>'
        )
    parts = [
        '<p class="badge">Test mode: local Stripe double</p>',
        f"<h1>Pay {escape(total)}</h1>",
        "<table><caption>Order summary</caption><thead><tr>"
        '<th scope="col">Item</th><th scope="col" class="number">Quantity</th>'
        '<th scope="col" class="number">Unit price</th>'
        '<th scope="col" class="number">Price</th></tr></thead>'
        f"<tbody>{rows}</tbody><tfoot>{footer}"
        '<tr><th scope="row" colspan="3">Total</th>'
        f'<td class="number">{escape(total)}</td></tr></tfoot></table>',
    ]
    if error:
        parts.append(f'<p role="alert">{escape(error)}</p>')
    if message:
        parts.append(f'<p role="status">{escape(message)}</p>')
    elif session["status"] == "open":
        parts.append(_payment_form(session, shipping_rates, form or {}))
    return _document(f"Pay {total}", "".join(parts))


def render_not_found(session_id: str) -> str:
    """Return the page for a checkout session that does not exist."""
    return _document(
        "Checkout session not found",
        "<h1>Checkout session not found</h1>"
        f"<p>There is no checkout session <code>{escape(session_id)}</code>.</p>",
    )


def _payment_form(
    session: dict[str, Any], shipping_rates: list[dict[str, Any]], form: dict[str, str]
) -> str:
    prefilled = session["customer_email"]
    email = escape(prefilled or form.get("email") or "shopper@example.com")
    readonly = " readonly" if prefilled else ""
    name = escape(form.get("name") or DEFAULT_NAME)
    parts = [
        '<form method="post">',
        '<p><label for="email">Email</label>'
        f'<input type="email" id="email" name="email" value="{email}"'
        f' autocomplete="email" required{readonly}></p>',
    ]
    collection = session["shipping_address_collection"]
    if collection:
        parts.append(_address_fields(collection["allowed_countries"], name, form))
    else:
        parts.append(
            '<p><label for="name">Name on the card or account</label>'
            f'<input id="name" name="name" value="{name}" autocomplete="name"'
            " required></p>"
        )
    if session["phone_number_collection"]["enabled"]:
        phone = escape(form.get("phone", ""))
        parts.append(
            '<p><label for="phone">Phone number</label>'
            f'<input type="tel" id="phone" name="phone" value="{phone}"'
            ' autocomplete="tel" required></p>'
        )
    if shipping_rates:
        parts.append(_rate_choices(session, shipping_rates, form))
    types = session["payment_method_types"]
    parts.append('<div class="actions">')
    if "card" in types:
        parts.append('<button type="submit" name="action" value="pay">Pay</button>')
    if DELAYED_PAYMENT_METHOD_TYPES.intersection(types):
        parts.append(
            '<button type="submit" name="action" value="pay_delayed">'
            "Pay by bank debit (settles later)</button>"
        )
    parts.append(
        '<button type="submit" name="action" value="cancel" formnovalidate>'
        "Cancel</button></div></form>"
    )
    return "".join(parts)


def _address_fields(countries: list[str], name: str, form: dict[str, str]) -> str:
    chosen = form.get("country") or countries[0]
    options = "".join(
        f'<option value="{code}"{" selected" if code == chosen else ""}>{code}</option>'
        for code in countries
    )
    fields = [
        "<fieldset><legend>Shipping address</legend>"
        '<p><label for="name">Full name</label>'
        f'<input id="name" name="name" value="{name}" autocomplete="name" required>'
        "</p>"
    ]
    for key, label, autocomplete, required in [
        ("line1", "Address line 1", "address-line1", True),
        ("line2", "Address line 2 (optional)", "address-line2", False),
        ("city", "City", "address-level2", True),
        ("state", "State, county or region (optional)", "address-level1", False),
        ("postal_code", "Postal code", "postal-code", True),
    ]:
        value = escape(form.get(key, ""))
        fields.append(
            f'<p><label for="{key}">{label}</label>'
            f'<input id="{key}" name="{key}" value="{value}"'
            f' autocomplete="{autocomplete}"{" required" if required else ""}></p>'
        )
    fields.append(
        '<p><label for="country">Country</label>'
        f'<select id="country" name="country" autocomplete="country" required>'
        f"{options}</select></p></fieldset>"
    )
    return "".join(fields)


def _rate_choices(
    session: dict[str, Any], shipping_rates: list[dict[str, Any]], form: dict[str, str]
) -> str:
    chosen = form.get("shipping_rate") or shipping_rates[0]["id"]
    choices = []
    for rate in shipping_rates:
        price = money(rate["fixed_amount"]["amount"], session["currency"])
        checked = " checked" if rate["id"] == chosen else ""
        choices.append(
            f'<p><label><input type="radio" name="shipping_rate" value="{rate["id"]}"'
            f"{checked} required> {escape(rate['display_name'])}: {escape(price)}"
            f"{_estimate(rate['delivery_estimate'])}</label></p>"
        )
    return (
        "<fieldset><legend>Shipping method (its price replaces the one in the "
        f"total)</legend>{''.join(choices)}</fieldset>"
    )


def _estimate(estimate: dict[str, Any] | None) -> str:
    if not estimate:
        return ""
    bounds = [
        f"{bound['value']} {bound['unit'].replace('_', ' ')}"
        f"{'' if bound['value'] == 1 else 's'}"
        for bound in (estimate["minimum"], estimate["maximum"])
        if bound
    ]
    return f" ({' to '.join(bounds)})" if bounds else ""


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
