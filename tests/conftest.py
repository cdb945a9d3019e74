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


def succeeded(response, status: int = 200):
    """A setup request's response, once it is known to have done its part (`status`): a test that
    then asserts that something is absent or unchanged must not pass because its setup failed."""
    body = response.content[:2000]
    assert response.status_code == status, f"setup request answered {response.status_code}: {body!r}"
    return response


@pytest.fixture
def token_cache_off(settings):
    """Statement counts are taken with every token loaded from the database (one statement).

    With the token cache on, a hit costs the same one statement (the cache's read instead of the
    token's query) and a miss two more (the cache's read and write): tests/api/test_token_cache.py
    proves both, so a budget counted here holds for every request after a token's first.
    """
    settings.TOKEN_CACHE_SECONDS = 0


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


# --- Payments: a real Stripe-compatible server and the asserting test gateway ---------------------


@pytest.fixture(scope="session")
def stripe_server():
    """localstripe on a free port for the whole session (tests/stripe_server.py); its base URL."""
    from tests.stripe_server import localstripe

    with localstripe() as base:
        yield base


@pytest.fixture
def stripe_settings(settings, stripe_server):
    """PAYMENT_GATEWAY=stripe against the session's localstripe."""
    from tests import stripe_server as server

    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = server.SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = server.PUBLISHABLE_KEY
    settings.STRIPE_WEBHOOK_SECRET = server.WEBHOOK_SECRET
    settings.STRIPE_API_BASE = stripe_server
    settings.STRIPE_JS_URL = f"{stripe_server}/js.stripe.com/v3/"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    return settings


@pytest.fixture
def stripe_client(stripe_settings):
    """An SDK client on the same server, for what the tests do as the customer's browser would."""
    from baskets.payments.stripe_gateway import stripe_client

    return stripe_client()


@pytest.fixture
def asserting_gateway(settings):
    """PAYMENT_GATEWAY = tests.payments.AssertingGateway; its script, reset around the test."""
    from tests.payments import SCRIPT

    SCRIPT.reset()
    settings.PAYMENT_GATEWAY = "tests.payments.AssertingGateway"
    yield SCRIPT
    SCRIPT.reset()
