from __future__ import annotations

import pytest
from django.test import Client
from model_bakery import baker

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


HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/"}


@pytest.fixture
def htmx_headers() -> dict[str, str]:
    return dict(HTMX)
