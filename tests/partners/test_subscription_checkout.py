"""GET/POST/PUT /api/partner/checkout/subscription (API.md §8): subscription checkout of the partner
organisation's subscriptions, with the public flow's services."""

from __future__ import annotations

import pytest

from baskets.api.landing_state import landing_state_value
from baskets.models import Basket, BasketEvent, OrderItem
from partners.models import PartnerEligibleOffer
from subscriptions.models import Subscription
from tests.conftest import bearer, succeeded
from tests.factories import AccessTokenFactory, SubscriptionFactory
from tests.partners.conftest import RECAPTCHA, partner_subscription

pytestmark = pytest.mark.django_db

URL = "/api/partner/checkout/subscription"


def initiate(api_client, token, subscription_ref: dict, **extra):
    body = {"order": {"order_type": "update_subscription", "forSubscription": subscription_ref}}
    return api_client.post(URL, body, format="json", **bearer(token), **{**RECAPTCHA, **extra})


def put(api_client, token, basket, actions, **extra):
    api_client.cookies["limio_state"] = landing_state_value(basket)
    body = {"order": {"orderItems": actions}}
    return api_client.put(URL, body, format="json", **bearer(token), **{**RECAPTCHA, **extra})


def add(offer):
    return {"orderItemActionType": "add", "offer": {"id": offer.id}}


@pytest.fixture
def subscription(partner, catalog):
    return partner_subscription(partner, catalog["current"])


def test_initiate_for_a_subscription_of_the_partner(api_client, partner, token, subscription, catalog):
    response = initiate(api_client, token, {"id": subscription.public_id})

    assert response.status_code == 200, response.json()
    body = response.json()
    basket = Basket.objects.get()
    assert body["id"] == basket.public_id
    assert body["order"]["forSubscription"] == {"id": subscription.public_id, "reference": subscription.reference}
    assert [offer["id"] for offer in body["nextActions"]["upgrades"]] == [catalog["upgrade"].id]
    assert response.cookies["limio_state"].value == landing_state_value(basket)
    assert (basket.partner, basket.customer, basket.created_by_customer_token) == (
        partner, subscription.customer, False,
    )  # fmt: skip
    assert basket.email == subscription.customer.email
    assert basket.events.get().partner == partner


def test_initiate_by_reference(api_client, token, subscription):
    response = initiate(api_client, token, {"name": subscription.reference})

    assert response.status_code == 200, response.json()
    assert response.json()["order"]["forSubscription"]["id"] == subscription.public_id


@pytest.mark.parametrize("whose", ["other partner", "no partner"])
def test_initiate_for_a_subscription_not_of_the_partner_is_404(api_client, token, other_partner, catalog, whose):
    foreign = (
        partner_subscription(other_partner, catalog["current"])
        if whose == "other partner"
        else SubscriptionFactory(offer=catalog["current"])
    )

    for ref in ({"id": foreign.public_id}, {"name": foreign.reference}):
        response = initiate(api_client, token, ref)
        assert response.status_code == 404
        assert response.json()["code"] == "subscription_not_found"
    assert not Basket.objects.exists()


def test_initiate_needs_the_recaptcha_token(api_client, token, subscription):
    response = api_client.post(
        URL, {"order": {"forSubscription": {"id": subscription.public_id}}}, format="json", **bearer(token)
    )

    assert response.status_code == 400
    assert not Basket.objects.exists()


def test_get_returns_the_partners_update_basket(api_client, token, subscription):
    basket_id = succeeded(initiate(api_client, token, {"id": subscription.public_id})).json()["id"]

    response = api_client.get(URL, **bearer(token))

    assert response.status_code == 200, response.json()
    assert response.json()["id"] == basket_id
    assert response.json()["completed"] is False


def test_put_upgrades_and_adds_an_add_on(api_client, token, subscription, catalog):
    succeeded(initiate(api_client, token, {"id": subscription.public_id}))
    basket = Basket.objects.get()

    response = put(api_client, token, basket, [add(catalog["upgrade"]), add(catalog["add_on"])])

    assert response.status_code == 200, response.json()
    statuses = [(r["orderItemActionType"], r["status"]) for r in response.json()["actionResults"]]
    assert statuses == [("add", "applied"), ("remove", "auto"), ("add", "applied")]
    basket.refresh_from_db()
    assert basket.version == 2


@pytest.mark.parametrize("refusal", ["offer_not_eligible", "product_blocked"])
def test_put_refuses_an_upgrade_the_partner_may_not_sell(
    api_client, partner, other_partner, token, subscription, catalog, refusal
):
    succeeded(initiate(api_client, token, {"id": subscription.public_id}))
    basket = Basket.objects.get()
    upgrade = catalog["upgrade"]
    if refusal == "offer_not_eligible":
        PartnerEligibleOffer.objects.create(partner=other_partner, offer=upgrade)
    else:
        partner.blocked_products.add(upgrade.products.get())
    before = (OrderItem.objects.count(), BasketEvent.objects.count())

    response = put(api_client, token, basket, [add(upgrade)])

    assert response.status_code == 400
    assert response.json()["code"] == refusal
    assert (OrderItem.objects.count(), BasketEvent.objects.count()) == before
    basket.refresh_from_db()
    assert basket.version == 1


def test_completing_a_partner_update_basket_changes_the_partners_subscription(
    api_client, backoffice_token, token, subscription, catalog
):
    succeeded(initiate(api_client, token, {"id": subscription.public_id}))
    basket = Basket.objects.get()
    succeeded(put(api_client, token, basket, [add(catalog["upgrade"])]))

    response = api_client.post(
        "/api/order", {"checkoutId": basket.public_id}, format="json", **bearer(backoffice_token)
    )

    assert response.status_code == 200, response.json()
    subscription.refresh_from_db()
    assert subscription.offer == catalog["upgrade"]


def test_a_partner_update_basket_is_revalidated_for_the_partner_on_completion(
    api_client, backoffice_token, partner, token, subscription, catalog
):
    succeeded(initiate(api_client, token, {"id": subscription.public_id}))
    basket = Basket.objects.get()
    succeeded(put(api_client, token, basket, [add(catalog["upgrade"])]))
    partner.blocked_products.add(catalog["upgrade"].products.get())

    response = api_client.post(
        "/api/order", {"checkoutId": basket.public_id}, format="json", **bearer(backoffice_token)
    )

    assert response.status_code == 400
    assert [f["code"] for f in response.json()["details"]["findings"]] == ["product_blocked"]
    assert Subscription.objects.get(pk=subscription.pk).offer == catalog["current"]


def test_the_public_flow_still_needs_a_customer_token(api_client, storefront_token, customer, catalog):
    subscription = SubscriptionFactory(customer=customer, offer=catalog["current"])
    body = {"order": {"order_type": "update_subscription", "forSubscription": {"id": subscription.public_id}}}

    response = api_client.post(
        "/api/checkout/subscription", body, format="json", **bearer(storefront_token), **RECAPTCHA
    )

    assert response.status_code == 403
    assert response.json()["code"] == "customer_token_required"


def test_next_actions_leave_out_what_the_partner_may_not_sell(
    api_client, partner, other_partner, token, subscription, catalog
):
    PartnerEligibleOffer.objects.create(partner=other_partner, offer=catalog["upgrade"])
    partner.blocked_products.add(catalog["add_on"].products.get())

    posted = initiate(api_client, token, {"id": subscription.public_id})
    got = api_client.get(URL, **bearer(token))

    for response in (posted, got):
        assert response.status_code == 200, response.json()
        actions = response.json()["nextActions"]
        assert (actions["upgrades"], actions["crossSells"]) == ([], [])


def test_the_subscriber_sees_every_next_action_on_the_public_endpoint(
    api_client, storefront_app, other_partner, subscription, catalog
):
    # Partner rules bind partners only: the same subscription through its customer's own token.
    PartnerEligibleOffer.objects.create(partner=other_partner, offer=catalog["upgrade"])
    token = AccessTokenFactory(application=storefront_app, user=subscription.customer.user, scope="checkout")
    body = {"order": {"order_type": "update_subscription", "forSubscription": {"id": subscription.public_id}}}

    response = api_client.post("/api/checkout/subscription", body, format="json", **bearer(token), **RECAPTCHA)

    assert response.status_code == 200, response.json()
    assert [offer["id"] for offer in response.json()["nextActions"]["upgrades"]] == [catalog["upgrade"].id]
