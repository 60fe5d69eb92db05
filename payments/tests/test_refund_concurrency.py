"""Admins refunding one order at once on PostgreSQL: never more than was paid.

Real threads, each with its own database connection and its own signed-in
browser, released together by a barrier, post the real refund form, which asks
the double.
"""

from __future__ import annotations

import pytest
from django.db.models import Sum
from django.test import Client
from django.urls import reverse
from model_bakery import baker

from payments import stripe_api
from payments.models import Order, Refund
from payments.tests.test_concurrency import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _patient_stripe_calls(stripe_double, settings):
    # Eight threads on a loaded machine: a slow answer is not what is tested.
    settings.STRIPE_TIMEOUT_SECONDS = (10.0, 10.0)


def admins(django_user_model, count: int) -> list[Client]:
    browsers = []
    for number in range(count):
        browser = Client()
        browser.force_login(
            baker.make(
                django_user_model,
                username=f"admin{number}",
                is_staff=True,
                is_superuser=True,
            )
        )
        browsers.append(browser)
    return browsers


def refund_posts(stripe_double) -> list[dict]:
    return [
        request
        for request in stripe_double.requests
        if request["method"] == "POST" and request["path"] == "/v1/refunds"
    ]


def test_two_admins_refunding_most_of_an_order_at_once_refund_it_once(
    stripe_double, paid_order, django_user_model
):
    url = reverse("admin:payments_order_refund", args=[paid_order.pk])
    # Each form is valid on its own: $800 of $1,029.98 is left when it is read.
    form = {"amount": "800.00", "reason": "requested_by_customer"}

    answers = run_together(
        *[
            lambda browser=browser: browser.post(url, form)
            for browser in admins(django_user_model, 2)
        ]
    )

    # The one refused is told so on the form (it read what was left after the
    # other's reservation) or after it (its reservation found the order taken).
    assert 302 in [answer.status_code for answer in answers]
    assert all(answer.status_code in (200, 302) for answer in answers)
    [made] = Refund.objects.all()
    assert made.status == Refund.Status.SUCCEEDED
    assert made.amount_cents == 80000
    assert len(refund_posts(stripe_double)) == 1
    at_stripe = stripe_api.refunds_list(payment_intent=paid_order.payment_intent_id)
    assert [refund["amount"] for refund in at_stripe] == [80000]
    paid_order.refresh_from_db()
    assert paid_order.status == Order.Status.PARTIALLY_REFUNDED


def test_many_admins_refunding_parts_at_once_never_exceed_what_was_paid(
    stripe_double, paid_order, django_user_model
):
    url = reverse("admin:payments_order_refund", args=[paid_order.pk])
    # Eight refunds of $300: only three fit into $1,029.98.
    form = {"amount": "300.00", "reason": "duplicate"}

    run_together(
        *[
            lambda browser=browser: browser.post(url, form)
            for browser in admins(django_user_model, 8)
        ]
    )

    refunded = Refund.objects.filter(status=Refund.Status.SUCCEEDED)
    assert refunded.count() == 3
    assert refunded.aggregate(total=Sum("amount_cents"))["total"] == 90000
    assert len(refund_posts(stripe_double)) == 3
    at_stripe = stripe_api.refunds_list(payment_intent=paid_order.payment_intent_id)
    assert sum(refund["amount"] for refund in at_stripe) == 90000
    paid_order.refresh_from_db()
    assert paid_order.status == Order.Status.PARTIALLY_REFUNDED
