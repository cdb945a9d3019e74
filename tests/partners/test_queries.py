"""Query counts of the partner endpoints: flat in the number of order items, within the CEILING of
every endpoint, counted in statements that touch data (tests.statements).

`transaction=True`: the service's transaction is the outermost one, as in production (no
SAVEPOINTs counted). Validate has its own test in test_validate.py.
"""

from __future__ import annotations

import pytest

from baskets.api.landing_state import landing_state_value
from baskets.models import Basket
from partners.models import PartnerEligibleOffer
from subscriptions.models import SubscriptionAddOn
from tests.conftest import bearer
from tests.factories import OfferFactory, ProductFactory
from tests.partners.conftest import RECAPTCHA, partner_basket, partner_subscription
from tests.statements import CEILING, max_data_statements

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("token_cache_off")]


@pytest.fixture
def offers(partner):
    """25 offers the partner may sell (listed for it), and a blocked product somewhere else."""
    offers = [OfferFactory(path=f"/offers/q-{n}") for n in range(25)]
    PartnerEligibleOffer.objects.bulk_create(PartnerEligibleOffer(partner=partner, offer=o) for o in offers)
    partner.blocked_products.add(ProductFactory())
    return offers


def measure(send):
    with max_data_statements(CEILING) as captured:
        response = send()
    assert response.status_code == 200, response.json()
    return len(captured)


def test_initiate(api_client, token, offers):
    def send(count):
        api_client.cookies.clear()
        items = [{"offer": {"id": offer.id}} for offer in offers[:count]]
        return lambda: api_client.post(
            "/api/partner/checkout/initiate", {"order": {"orderItems": items}}, format="json", **bearer(token)
        )

    assert measure(send(1)) == measure(send(25))


def test_update(api_client, token, offers):
    def send(count):
        basket = partner_basket(token, *offers[:count])
        api_client.cookies["limio_state"] = landing_state_value(basket)
        actions = [{"orderItemActionType": "add", "offer": {"id": offer.id}} for offer in offers[:count]]
        return lambda: api_client.put(
            "/api/partner/checkout/update", {"order": {"orderItems": actions}}, format="json", **bearer(token)
        )

    assert measure(send(1)) == measure(send(20))


@pytest.fixture
def subscription_world(partner, catalog):
    def make(add_ons: int):
        current = catalog["current"]
        subscription = partner_subscription(partner, current)
        for n in range(add_ons):
            add_on = OfferFactory(path=f"/offers/add-on-{add_ons}-{n}", type="add_on")
            current.cross_sell_add_ons.add(add_on)
            SubscriptionAddOn.objects.create(subscription=subscription, offer=add_on)
        return subscription

    return make


def test_subscription_checkout(api_client, token, catalog, subscription_world):
    url = "/api/partner/checkout/subscription"
    counts = {}
    for size in (1, 10):
        subscription = subscription_world(size)
        body = {"order": {"order_type": "update_subscription", "forSubscription": {"id": subscription.public_id}}}
        post = measure(
            lambda body=body: api_client.post(url, body, format="json", **bearer(token), **RECAPTCHA),
        )
        basket = Basket.objects.get(for_subscription=subscription)
        api_client.cookies["limio_state"] = landing_state_value(basket)
        get = measure(lambda: api_client.get(url, **bearer(token)))
        actions = [{"orderItemActionType": "add", "offer": {"id": catalog["upgrade"].id}}]
        put = measure(
            lambda actions=actions: api_client.put(
                url, {"order": {"orderItems": actions}}, format="json", **bearer(token), **RECAPTCHA
            ),
        )
        counts[size] = (post, get, put)
    assert counts[1] == counts[10]
