"""Fixtures of the hosted checkout page's tests (test_pages.py, test_page_payments.py): a basket
of one offer with an introductory price, and a browser holding its landing-state cookie. A module
that defines a fixture of the same name uses its own."""

import pytest

from baskets.api.landing_state import landing_state_value
from tests.factories import INTRO_THEN_RECURRING, BasketFactory, OfferFactory, OrderItemFactory


@pytest.fixture
def weekly():
    return OfferFactory(name="The Weekly", path="/offers/weekly", charges=INTRO_THEN_RECURRING)


@pytest.fixture
def basket(weekly):
    basket = BasketFactory(email="")
    OrderItemFactory(basket=basket, offer=weekly)
    return basket


@pytest.fixture
def customer_client(client, basket):
    """A browser holding the basket's signed landing-state cookie, as a recovery link leaves it."""
    client.cookies["limio_state"] = landing_state_value(basket)
    return client
