"""POST /api/partner/checkout/subscription with Limio's documented body, `{"tracking"}` alone (API.md §6):
the subscription is the partner landing state's, else the partner organisation's only active one."""

from __future__ import annotations

import pytest

from baskets.api.landing_state import subscription_landing_state_value
from baskets.models import Basket
from tests.baskets.test_subscription_limio_body import nothing_written, post
from tests.factories import OfferFactory, SubscriptionFactory
from tests.partners.conftest import partner_subscription

pytestmark = pytest.mark.django_db

PARTNER_URL = "/api/partner/checkout/subscription"


@pytest.fixture
def standard():
    return OfferFactory(name="Standard", path="/offers/standard")


def test_partner_tracking_body_changes_the_partners_only_active_subscription(
    api_client, partner, token, other_partner, standard
):
    subscription = partner_subscription(partner, standard)
    partner_subscription(other_partner, standard)
    SubscriptionFactory(offer=standard)  # nobody's partner

    response = post(api_client, token, url=PARTNER_URL)

    assert response.status_code == 200, response.json()
    assert response.json()["order"]["forSubscription"]["id"] == subscription.public_id
    assert Basket.objects.get().partner == partner


def test_partner_with_several_subscriptions_is_ambiguous(api_client, partner, token, standard):
    subscriptions = [partner_subscription(partner, standard) for _ in range(2)]

    response = post(api_client, token, url=PARTNER_URL)

    assert response.status_code == 400
    assert response.json()["code"] == "subscription_ambiguous"
    listed = {s["id"] for s in response.json()["details"]["subscriptions"]}
    assert listed == {s.public_id for s in subscriptions}
    assert nothing_written()


def test_partner_without_subscriptions_is_404(api_client, other_partner, token, standard):
    partner_subscription(other_partner, standard)

    response = post(api_client, token, url=PARTNER_URL)

    assert response.status_code == 404
    assert response.json() == {"message": "Subscription not found", "code": "subscription_not_found"}
    assert nothing_written()


def test_partner_landing_state_of_another_partners_subscription_is_404(
    api_client, partner, token, other_partner, standard
):
    partner_subscription(partner, standard)
    theirs = partner_subscription(other_partner, standard)

    response = post(api_client, token, url=PARTNER_URL, cookie=subscription_landing_state_value(theirs.public_id))

    assert response.status_code == 404
    assert nothing_written()


def test_partner_landing_state_names_one_of_its_subscriptions(api_client, partner, token, standard):
    partner_subscription(partner, standard)
    named = partner_subscription(partner, standard)

    response = post(api_client, token, url=PARTNER_URL, cookie=subscription_landing_state_value(named.public_id))

    assert response.status_code == 200, response.json()
    assert response.json()["order"]["forSubscription"]["id"] == named.public_id
