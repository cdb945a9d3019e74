"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.factories import AccessTokenFactory, ApplicationFactory, CustomerFactory, OfferFactory


def pytest_collection_modifyitems(config, items):
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="requires_postgres: needs PostgreSQL row locks and real concurrency")
    for item in items:
        if "requires_postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def bearer(token) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token.token}"}


@pytest.fixture
def storefront_app():
    return ApplicationFactory(name="storefront", scopes="checkout")


@pytest.fixture
def storefront_token(storefront_app):
    return AccessTokenFactory(application=storefront_app, scope="checkout")


@pytest.fixture
def other_storefront_token():
    app = ApplicationFactory(name="other storefront", scopes="checkout")
    return AccessTokenFactory(application=app, scope="checkout")


@pytest.fixture
def backoffice_token():
    app = ApplicationFactory(name="backoffice", scopes="checkout:admin baskets:read")
    return AccessTokenFactory(application=app, scope="checkout:admin baskets:read")


@pytest.fixture
def customer():
    return CustomerFactory()


@pytest.fixture
def customer_token(storefront_app, customer):
    return AccessTokenFactory(application=storefront_app, user=customer.user, scope="checkout")


@pytest.fixture
def offer():
    return OfferFactory(name="Digital monthly", path="/offers/digital-monthly")


@pytest.fixture
def add_on(offer):
    add_on = OfferFactory(name="Crossword", path="/offers/crossword", type="add_on", charges=[
        {"name": "Monthly", "amount": "2.50", "repeat_interval": 1, "repeat_interval_type": "months"}
    ])  # fmt: skip
    offer.cross_sell_add_ons.add(add_on)
    return add_on
