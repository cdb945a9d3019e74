"""POST /api/checkout/subscription with Limio's documented body, `{"tracking": {...}}` alone (API.md §6).

The subscription is then the one a subscription-scoped landing state names (`limio_state` =
`sub-<uuid>`, signed or bare), else the caller's only active subscription: several are 400
`subscription_ambiguous` listing them, none is 404 "Subscription not found". The same on the
partner endpoint, among the partner organisation's subscriptions.
"""

from __future__ import annotations

import pytest

from baskets.api.landing_state import (
    basket_id_from_cookie,
    subscription_id_from_cookie,
    subscription_landing_state_value,
)
from baskets.models import Basket, BasketEvent
from subscriptions.models import Subscription
from tests.conftest import bearer
from tests.factories import CustomerFactory, OfferFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

URL = "/api/checkout/subscription"
RECAPTCHA = {"HTTP_X_LIMIO_RECAPTCHA": "pass-token"}
LIMIO_BODY = {"tracking": {"campaign": "spring", "offers": ["premium"]}}


def post(api_client, token, body=None, url=URL, cookie=None):
    if cookie is not None:
        api_client.cookies["limio_state"] = cookie
    body = LIMIO_BODY if body is None else body
    return api_client.post(url, body, format="json", **bearer(token), **RECAPTCHA)


def nothing_written():
    return Basket.objects.count() == 0 and BasketEvent.objects.count() == 0


@pytest.fixture
def standard():
    return OfferFactory(name="Standard", path="/offers/standard")


def test_the_tracking_body_alone_changes_the_callers_only_active_subscription(
    api_client, customer, customer_token, standard
):
    subscription = SubscriptionFactory(customer=customer, offer=standard)
    SubscriptionFactory(customer=customer, offer=standard, status=Subscription.Status.CANCELLED)
    SubscriptionFactory(offer=standard)  # another customer's

    response = post(api_client, customer_token)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["order"]["forSubscription"] == {"id": subscription.public_id, "reference": subscription.reference}
    assert body["order"]["tracking"] == LIMIO_BODY["tracking"]
    basket = Basket.objects.get()
    assert (basket.public_id, basket.for_subscription) == (body["id"], subscription)
    assert basket_id_from_cookie({"limio_state": response.cookies["limio_state"].value}) == basket.id


@pytest.mark.parametrize("body", [{}, {"tracking": {}}], ids=["empty body", "empty tracking"])
def test_an_empty_body_is_the_same_request(api_client, customer, customer_token, standard, body):
    subscription = SubscriptionFactory(customer=customer, offer=standard)

    response = post(api_client, customer_token, body)

    assert response.status_code == 200, response.json()
    assert response.json()["order"]["forSubscription"]["id"] == subscription.public_id


def test_several_active_subscriptions_are_400_subscription_ambiguous_listing_them(
    api_client, customer, customer_token, standard
):
    first = SubscriptionFactory(customer=customer, offer=standard)
    second = SubscriptionFactory(customer=customer, offer=standard)
    SubscriptionFactory(offer=standard)  # another customer's: not listed

    response = post(api_client, customer_token)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "subscription_ambiguous"
    assert body["details"] == {
        "subscriptions": [
            {"id": first.public_id, "reference": first.reference},
            {"id": second.public_id, "reference": second.reference},
        ]
    }
    assert nothing_written()


def test_no_active_subscription_is_404_subscription_not_found(api_client, customer, customer_token, standard):
    SubscriptionFactory(customer=customer, offer=standard, status=Subscription.Status.CANCELLED)
    SubscriptionFactory(offer=standard)  # another customer's

    response = post(api_client, customer_token)

    assert response.status_code == 404
    assert response.json() == {"message": "Subscription not found", "code": "subscription_not_found"}
    assert nothing_written()


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "bare"])
def test_a_subscription_landing_state_names_the_subscription(api_client, customer, customer_token, standard, signed):
    SubscriptionFactory(customer=customer, offer=standard)
    named = SubscriptionFactory(customer=customer, offer=standard)
    cookie = subscription_landing_state_value(named.public_id) if signed else named.public_id

    response = post(api_client, customer_token, cookie=cookie)

    assert response.status_code == 200, response.json()
    assert response.json()["order"]["forSubscription"]["id"] == named.public_id
    assert Basket.objects.get().for_subscription == named
    # The answer's cookie names the new basket, no longer the subscription.
    new_cookie = {"limio_state": response.cookies["limio_state"].value}
    assert basket_id_from_cookie(new_cookie) == Basket.objects.get().id
    assert subscription_id_from_cookie(new_cookie) is None


def test_a_landing_state_naming_another_customers_subscription_is_404(api_client, customer, customer_token, standard):
    SubscriptionFactory(customer=customer, offer=standard)  # the caller's only one: not used instead
    theirs = SubscriptionFactory(customer=CustomerFactory(), offer=standard)

    response = post(api_client, customer_token, cookie=subscription_landing_state_value(theirs.public_id))

    assert response.status_code == 404
    assert response.json()["code"] == "subscription_not_found"
    assert nothing_written()


def test_a_forged_subscription_landing_state_is_ignored(api_client, customer, customer_token, standard):
    mine = SubscriptionFactory(customer=customer, offer=standard)
    theirs = SubscriptionFactory(customer=CustomerFactory(), offer=standard)
    forged = subscription_landing_state_value(theirs.public_id)[:-2] + "xx"

    response = post(api_client, customer_token, cookie=forged)

    assert response.status_code == 200, response.json()
    assert response.json()["order"]["forSubscription"]["id"] == mine.public_id


def test_a_named_subscription_wins_over_the_landing_state(api_client, customer, customer_token, standard):
    named = SubscriptionFactory(customer=customer, offer=standard)
    other = SubscriptionFactory(customer=customer, offer=standard)
    body = {"order": {"order_type": "update_subscription", "forSubscription": {"id": named.public_id}}}

    response = post(api_client, customer_token, body, cookie=subscription_landing_state_value(other.public_id))

    assert response.status_code == 200, response.json()
    assert response.json()["order"]["forSubscription"]["id"] == named.public_id


def test_a_basket_landing_state_does_not_name_a_subscription(api_client, customer, customer_token, standard):
    first = SubscriptionFactory(customer=customer, offer=standard)
    SubscriptionFactory(customer=customer, offer=standard)
    started = post(api_client, customer_token, {"order": {"forSubscription": {"id": first.public_id}}})
    assert started.status_code == 200, started.json()

    response = post(api_client, customer_token, cookie=started.cookies["limio_state"].value)

    assert response.status_code == 400
    assert response.json()["code"] == "subscription_ambiguous"
    assert Basket.objects.count() == 1


def test_a_client_token_is_still_403(api_client, storefront_token, standard):
    SubscriptionFactory(offer=standard)

    response = post(api_client, storefront_token)

    assert response.status_code == 403
    assert response.json()["code"] == "customer_token_required"
    assert nothing_written()
