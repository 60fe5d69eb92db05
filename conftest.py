from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from django.test import Client
from django.utils import timezone
from django_tasks import task_backends
from django_tasks.backends.dummy import DummyBackend
from model_bakery import baker

from payments.models import Order, OrderItem
from payments.stripe_double import StripeDouble
from storefront.models import Product


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    """Serve static files unhashed: tests don't run collectstatic first."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        },
    }


@pytest.fixture(autouse=True)
def _media_in_temporary_folder(settings, tmp_path_factory):
    """Write uploads (product pictures) to a temporary folder, not the project's."""
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _no_rate_limits(settings):
    """Tests send many requests from one address; rate-limit tests opt back in."""
    settings.RATELIMIT_ENABLE = False


@pytest.fixture(autouse=True)
def tasks_queued(settings) -> DummyBackend:
    """Record queued tasks instead of running them; tests read `.results`.

    The email tests that need the real queue (a rollback, the worker process)
    switch back to the database backend.
    """
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}
    }
    return task_backends["default"]


@pytest.fixture(scope="session")
def stripe_double_server() -> Iterator[StripeDouble]:
    """One local Stripe double for the whole run, with quick webhook retries."""
    double = StripeDouble(retry_delays=(0.05, 0.1, 0.2, 0.4)).start()
    yield double
    double.stop()


@pytest.fixture
def csrf_client() -> Client:
    """A client that enforces CSRF checks, as a browser meets them."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def laptop(db) -> Product:
    return baker.make(Product, name="Laptop", price_cents=99999)


@pytest.fixture
def mouse(db) -> Product:
    return baker.make(Product, name="Mouse", price_cents=2999)


@pytest.fixture
def keyboard(db) -> Product:
    return baker.make(Product, name="Keyboard", price_cents=7999)


@pytest.fixture
def inactive_product(db) -> Product:
    return baker.make(Product, name="Old Monitor", price_cents=15000, is_active=False)


@pytest.fixture
def order_fill() -> Callable[..., Order]:
    """Return a function that puts a laptop and mice in an order at their prices."""

    def fill(
        order: Order,
        *,
        mice: int = 2,
        laptop: Product | None = None,
        mouse: Product | None = None,
    ) -> Order:
        baker.make(
            OrderItem,
            order=order,
            product=laptop,
            product_name="Laptop",
            unit_price_cents=99999,
            quantity=1,
        )
        baker.make(
            OrderItem,
            order=order,
            product=mouse,
            product_name="Mouse",
            unit_price_cents=2999,
            quantity=mice,
        )
        return order

    return fill


@pytest.fixture
def paid_order_with_items(order_fill) -> Callable[..., Order]:
    """Return a function that makes a paid order of a laptop and two mice."""

    def make(
        *, laptop: Product | None = None, mouse: Product | None = None, **fields
    ) -> Order:
        order = baker.make(
            Order,
            status=Order.Status.PAID,
            paid_at=timezone.now(),
            total_cents=105997,
            currency="usd",
            **fields,
        )
        return order_fill(order, laptop=laptop, mouse=mouse)

    return make


HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/"}


@pytest.fixture
def htmx_headers() -> dict[str, str]:
    return dict(HTMX)


def pytest_collection_modifyitems(config, items) -> None:
    """Skip PostgreSQL-only tests when the database is not PostgreSQL."""
    from django.conf import settings

    if "postgresql" in settings.DATABASES["default"]["ENGINE"]:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://…")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Fail, rather than skip, the tests that SHOP_REQUIRED_MARKERS names.

    CI sets SHOP_REQUIRED_MARKERS=postgres,browser so that a missing database
    or browser cannot pass quietly as a skip.
    """
    report = yield
    required = {
        name.strip()
        for name in os.environ.get("SHOP_REQUIRED_MARKERS", "").split(",")
        if name.strip()
    }
    missing = required.intersection(item.keywords)
    if report.skipped and missing and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = (
            f"skipped, but SHOP_REQUIRED_MARKERS requires {', '.join(sorted(missing))}"
            f" tests to run: {report.longrepr}"
        )
    return report
