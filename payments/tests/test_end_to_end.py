"""A shopper's whole visit over real HTTP: the shop on live_server, Stripe the double.

The double delivers its signed webhooks to the live shop, as Stripe does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
import requests

import payments.webhooks
from payments.models import Order, StripeEvent

PAID = "Thank you! Your order is paid."


class Browser:
    """A real HTTP client on the live shop, carrying cookies like a browser.

    Every request gets a connection of its own, closed once answered, so that
    nothing is left half-open while the live server (which, on SQLite, lets one
    request at a time into the shop) handles the double's webhooks.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.headers["Connection"] = "close"
        self.token = ""

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        try:
            return self.http.request(
                method, url, allow_redirects=False, timeout=15, **kwargs
            )
        finally:
            self.http.close()

    def get(self, path: str) -> requests.Response:
        response = self.request("GET", self.base_url + path)
        match = re.search(r'hx-headers=\'\{"x-csrftoken": "([^"]+)"\}\'', response.text)
        if match:
            self.token = match.group(1)
        return response

    def post(self, path: str, data: dict | None = None) -> requests.Response:
        return self.request(
            "POST",
            self.base_url + path,
            data={**(data or {}), "csrfmiddlewaretoken": self.token},
        )


@pytest.fixture
def shopper_at_checkout(
    live_server, live_webhooks, laptop, mouse
) -> Callable[[], tuple[Browser, str]]:
    """Return a function that fills a cart over HTTP and presses Checkout.

    It returns the browser and the hosted payment page it was sent to.
    """

    def go() -> tuple[Browser, str]:
        browser = Browser(live_server.url)
        assert browser.get("/").status_code == 200
        assert browser.token
        for product, quantity in ((laptop, 1), (mouse, 2)):
            added = browser.post(
                "/cart/add/", {"product": product.pk, "quantity": quantity}
            )
            assert added.status_code == 303
        checkout = browser.post("/checkout/")
        assert checkout.status_code == 303
        hosted_page = checkout.headers["Location"]
        assert hosted_page.startswith(f"{live_webhooks.url}/c/pay/cs_test_")
        return browser, hosted_page

    return go


def pay_on_hosted_page(browser: Browser, hosted_page: str) -> requests.Response:
    page = browser.request("GET", hosted_page)
    assert page.status_code == 200
    assert "Pay $1,059.97" in page.text
    # The cart holds physical goods: the page asks for an address and a phone.
    shopper = {"action": "pay", "email": "ada@example.com", "name": "Ada Lovelace"}
    address = {"line1": "1 Main St", "city": "Springfield", "postal_code": "97477"}
    rate = re.search(r'name="shipping_rate" value="([^"]+)"', page.text).group(1)
    return browser.request(
        "POST",
        hosted_page,
        data={
            **shopper,
            **address,
            "country": "US",
            "phone": "+15555550100",
            "shipping_rate": rate,
        },
    )


def paid_transitions(order: Order) -> list[dict]:
    order.refresh_from_db()
    return [entry for entry in order.status_history if entry["to"] == "paid"]


def test_shopper_pays_and_the_signed_webhook_marks_the_order_paid_once(
    shopper_at_checkout, live_server, live_webhooks
):
    browser, hosted_page = shopper_at_checkout()
    order = Order.objects.get()
    session_id = order.checkout_session_id

    paid = pay_on_hosted_page(browser, hosted_page)

    assert paid.status_code == 303
    success_path = f"/checkout/success/?session_id={session_id}"
    assert paid.headers["Location"] == live_server.url + success_path
    # The double held the redirect until the shop had answered the webhook.
    [delivery] = live_webhooks.deliveries
    assert (delivery["type"], delivery["status"]) == ("checkout.session.completed", 200)
    event = StripeEvent.objects.get()
    assert event.event_id == delivery["event_id"]
    assert event.processed_at is not None
    assert [entry["by"] for entry in paid_transitions(order)] == [
        "webhook:checkout.session.completed"
    ]
    assert order.status == Order.Status.PAID
    assert order.customer_email == "ada@example.com"

    success = browser.get(success_path)

    assert success.status_code == 200
    assert PAID in success.text
    assert '<span class="visually-hidden">items: </span>0</span>' in success.text
    home = browser.get("/").text
    assert "Your cart is empty." in home
    assert "Your orders" in home and "1 × Laptop at $999.99" in home
    assert len(paid_transitions(order)) == 1


def test_shopper_back_before_the_webhook_sees_paid_and_the_late_webhook_is_a_no_op(
    shopper_at_checkout, live_webhooks
):
    live_webhooks.delivery_delay = 0.5
    browser, hosted_page = shopper_at_checkout()
    order = Order.objects.get()

    paid = pay_on_hosted_page(browser, hosted_page)
    assert live_webhooks.deliveries == []
    success = browser.get(paid.headers["Location"].split(browser.base_url, 1)[1])

    assert PAID in success.text
    live_webhooks.wait_for_deliveries(1, timeout=10)
    assert [d["status"] for d in live_webhooks.deliveries] == [200]
    assert [entry["by"] for entry in paid_transitions(order)] == ["success-page"]
    assert StripeEvent.objects.get().processed_at is not None
    assert "Your cart is empty." in browser.get("/").text


def test_webhook_that_fails_with_500_is_retried_until_the_order_is_paid(
    shopper_at_checkout, live_webhooks, monkeypatch
):
    real_sync = payments.webhooks.order_sync_with_checkout_session
    calls = []

    def sync_then_crash_once(**kwargs):
        calls.append(kwargs["checkout_session"]["id"])
        result = real_sync(**kwargs)
        if len(calls) == 1:
            # After the order was marked paid, inside the event's transaction.
            raise RuntimeError("the shop crashed while handling the webhook")
        return result

    monkeypatch.setattr(
        payments.webhooks, "order_sync_with_checkout_session", sync_then_crash_once
    )
    browser, hosted_page = shopper_at_checkout()
    order = Order.objects.get()

    pay_on_hosted_page(browser, hosted_page)
    live_webhooks.wait_for_deliveries(1, timeout=10)

    assert [d["status"] for d in live_webhooks.deliveries] == [500, 200]
    assert len(calls) == 2
    # The crash undid both the payment and the event record; the retry redid both.
    assert [entry["by"] for entry in paid_transitions(order)] == [
        "webhook:checkout.session.completed"
    ]
    assert StripeEvent.objects.count() == 1


def test_webhook_at_a_wrong_url_is_retried_once_fixed(
    shopper_at_checkout, live_server, live_webhooks, monkeypatch
):
    # Slow retries, so the URL can be fixed between the first attempt and the next.
    monkeypatch.setattr(live_webhooks, "retry_delays", (1.0, 1.0, 1.0))
    browser, hosted_page = shopper_at_checkout()
    order = Order.objects.get()
    live_webhooks.webhook_url = live_server.url + "/stripe/webhooks-typo/"

    pay_on_hosted_page(browser, hosted_page)
    assert [d["status"] for d in live_webhooks.deliveries] == [404]
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    live_webhooks.webhook_url = live_server.url + "/stripe/webhook/"
    started = time.monotonic()
    live_webhooks.wait_for_deliveries(1, timeout=10)

    assert time.monotonic() - started < 5
    assert [d["status"] for d in live_webhooks.deliveries] == [404, 200]
    assert [d["attempt"] for d in live_webhooks.deliveries] == [1, 2]
    assert len(paid_transitions(order)) == 1
    assert order.status == Order.Status.PAID
