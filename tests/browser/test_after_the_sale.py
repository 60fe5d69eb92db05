"""After the sale, in a real Chromium: the order page and the admin's dashboard."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from model_bakery import baker
from playwright.sync_api import Page, expect

from payments.models import Order

from .test_shopping import serious_violations

pytestmark = pytest.mark.browser

PASSWORD = "a-long-password-for-the-browser-test"


@pytest.fixture
def paid_order(db, paid_order_with_items) -> Order:
    return paid_order_with_items()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_order_page_reads_well_with_or_without_javascript(
    browser, live_server, paid_order, javascript
):
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(f"{live_server.url}{paid_order.get_absolute_url()}")

        expect(page.get_by_role("heading", level=1)).to_contain_text("Order ")
        expect(page.locator("main")).to_contain_text(
            "Paid. We are preparing your order."
        )
        expect(page.locator("tbody th")).to_have_text(["Laptop", "Mouse"])
        expect(page.locator(".cart__total")).to_have_text("$1,059.97")
        expect(page.locator('meta[name="robots"]')).to_have_attribute(
            "content", "noindex"
        )
        if javascript:
            assert serious_violations(page) == []
        assert errors == []
    finally:
        context.close()


def test_admin_dashboard_draws_its_charts_without_javascript(
    browser, live_server, django_user_model
):
    django_user_model.objects.create_superuser("operator", "op@example.com", PASSWORD)
    for days_ago, cents in [(0, 2500), (0, 1000), (2, 99999), (9, 5000)]:
        baker.make(
            Order,
            status=Order.Status.PAID,
            paid_at=timezone.now() - timedelta(days=days_ago),
            total_cents=cents,
            currency="usd",
        )
    context = browser.new_context(java_script_enabled=False)
    page: Page = context.new_page()
    try:
        page.goto(f"{live_server.url}/admin/login/?next=/admin/")
        page.get_by_label("Username").fill("operator")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("link", name="Orders at a glance").click()

        expect(page.get_by_role("heading", level=1)).to_have_text("Orders at a glance")
        revenue = page.locator('svg[aria-labelledby="revenue-chart-title"]')
        expect(revenue.locator("rect.bar")).to_have_count(30)
        tallest = revenue.locator("rect.bar").nth(27)
        assert tallest.bounding_box()["height"] > 100
        expect(page.locator("#to-ship")).to_have_text("4 orders to ship")
        expect(page.get_by_role("heading", level=2).nth(1)).to_contain_text("$1,084.99")
    finally:
        context.close()
