"""Two partner organisations, A ("partner") and B ("other partner"), their tokens and objects."""

from __future__ import annotations

import pytest

from baskets.models import OrderType
from partners.services import partner_subscription_link
from tests.factories import (
    BasketFactory,
    OfferFactory,
    OrderItemFactory,
    PartnerFactory,
    SubscriptionFactory,
    partner_token,
)

RECAPTCHA = {"HTTP_X_LIMIO_RECAPTCHA": "pass-token"}


@pytest.fixture
def partner():
    return PartnerFactory(name="Acme Reseller", slug="acme")


@pytest.fixture
def other_partner():
    return PartnerFactory(name="Globex", slug="globex")


@pytest.fixture
def token(partner):
    """A token of one of partner A's clients."""
    return partner_token(partner)


@pytest.fixture
def other_token(other_partner):
    return partner_token(other_partner)


def partner_basket(token, *offers, **fields):
    """A `new` basket of the token's partner, created by its client, with one item per offer."""
    link = token.application.partner_client
    basket = BasketFactory(application=token.application, partner=link.partner, **fields)
    for position, offer in enumerate(offers):
        OrderItemFactory(basket=basket, offer=offer, position=position)
    return basket


@pytest.fixture
def catalog():
    """A base offer that upgrades to `upgrade` and sells `add_on`; both also sold with the upgrade."""
    current = OfferFactory(name="Standard", path="/offers/standard")
    upgrade = OfferFactory(name="Premium", path="/offers/premium")
    add_on = OfferFactory(name="Puzzles", path="/offers/puzzles", type="add_on")
    current.upgrade_offers.add(upgrade)
    current.cross_sell_add_ons.add(add_on)
    upgrade.cross_sell_add_ons.add(add_on)
    return {"current": current, "upgrade": upgrade, "add_on": add_on}


def partner_subscription(partner, offer):
    subscription = SubscriptionFactory(offer=offer)
    partner_subscription_link(partner=partner, subscription=subscription)
    return subscription


def update_basket(subscription, *, application, partner=None, customer_token=False):
    return BasketFactory(
        order_type=OrderType.UPDATE_SUBSCRIPTION,
        for_subscription=subscription,
        application=application,
        partner=partner,
        customer=subscription.customer,
        created_by_customer_token=customer_token,
    )
