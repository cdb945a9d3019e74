"""POST /api/partner/checkout/initiate and PUT /api/partner/checkout/update (API.md §8): the public
flow, bound to the token's partner organisation, refusing what the partner may not sell."""

from __future__ import annotations

import pytest

from baskets.api.landing_state import landing_state_value
from baskets.models import Basket, BasketEvent, OrderItem
from partners.models import PartnerEligibleOffer, PartnerSubscription
from tests.conftest import bearer
from tests.factories import BasketFactory, OfferFactory, OrderItemFactory, ProductFactory
from tests.partners.conftest import partner_basket

pytestmark = pytest.mark.django_db

INITIATE = "/api/partner/checkout/initiate"
UPDATE = "/api/partner/checkout/update"


def initiate(api_client, token, *offers, **extra):
    items = [{"offer": {"id": offer.id, "version": offer.version}} for offer in offers]
    return api_client.post(INITIATE, {"order": {"orderItems": items}}, format="json", **bearer(token), **extra)


def update(api_client, token, basket, actions):
    api_client.cookies["limio_state"] = landing_state_value(basket)
    return api_client.put(UPDATE, {"order": {"orderItems": actions}}, format="json", **bearer(token))


def add(offer):
    return {"orderItemActionType": "add", "offer": {"id": offer.id}}


def written():
    return (Basket.objects.count(), OrderItem.objects.count(), BasketEvent.objects.count())


# --- Initiate -------------------------------------------------------------------------------------


def test_initiate_creates_a_basket_of_the_partner_organisation(api_client, partner, token, offer):
    response = initiate(api_client, token, offer, HTTP_REFERER="https://reseller.example/shop")

    assert response.status_code == 200, response.json()
    basket = Basket.objects.get()
    body = response.json()
    assert body["id"] == basket.public_id
    assert [item["offer"]["id"] for item in body["order"]["orderItems"]] == [offer.id]
    assert body["order"]["totals"]["total"] == "12.99"
    assert response["ETag"] == '"1"'
    assert response.cookies["limio_state"].value == landing_state_value(basket)
    assert (basket.partner, basket.application, basket.created_by_customer_token) == (
        partner, token.application, False,
    )  # fmt: skip
    event = basket.events.get()
    assert (event.kind, event.partner, event.application) == ("created", partner, token.application)


def test_initiate_with_the_landing_basket_replaces_its_items(api_client, token, offer):
    basket = partner_basket(token, OfferFactory())
    api_client.cookies["limio_state"] = landing_state_value(basket)

    response = initiate(api_client, token, offer)

    assert response.status_code == 200, response.json()
    assert response.json()["id"] == basket.public_id
    basket.refresh_from_db()
    assert basket.version == 2
    assert [item.offer_id for item in basket.items.all()] == [offer.id]


def test_an_offer_listing_other_partners_only_is_refused(api_client, token, other_partner, offer):
    restricted = OfferFactory(path="/offers/restricted")
    PartnerEligibleOffer.objects.create(partner=other_partner, offer=restricted)

    response = initiate(api_client, token, offer, restricted)

    assert response.status_code == 400
    assert response.json() == {
        "message": "orderItems[1]: This offer is not sold through this partner.",
        "code": "offer_not_eligible",
        "details": {
            "orderItems": {
                "1": {"code": "offer_not_eligible", "message": "This offer is not sold through this partner."}
            }
        },
    }
    assert written() == (0, 0, 0)


def test_an_offer_listing_the_partner_is_sold_and_one_listing_none_is_sold_to_every_partner(
    api_client, partner, other_partner, token, offer
):
    listed = OfferFactory(path="/offers/listed")
    PartnerEligibleOffer.objects.create(partner=partner, offer=listed)
    PartnerEligibleOffer.objects.create(partner=other_partner, offer=listed)

    response = initiate(api_client, token, offer, listed)

    assert response.status_code == 200, response.json()
    assert [item["offer"]["id"] for item in response.json()["order"]["orderItems"]] == [offer.id, listed.id]


def test_an_offer_with_a_product_blocked_for_the_partner_is_refused(api_client, partner, token):
    blocked = ProductFactory(product_code="ARCHIVE")
    offer = OfferFactory(products=[ProductFactory(), blocked])
    partner.blocked_products.add(blocked)

    response = initiate(api_client, token, offer)

    assert response.status_code == 400
    assert response.json()["code"] == "product_blocked"
    assert response.json()["details"]["orderItems"]["0"]["message"] == (
        "Product ARCHIVE cannot be sold through this partner."
    )
    assert written() == (0, 0, 0)


def test_a_product_blocked_for_another_partner_is_sold(api_client, other_partner, token):
    blocked = ProductFactory(product_code="ARCHIVE")
    offer = OfferFactory(products=[blocked])
    other_partner.blocked_products.add(blocked)

    assert initiate(api_client, token, offer).status_code == 200


def test_public_checkout_ignores_partner_eligibility(api_client, other_partner, storefront_token):
    restricted = OfferFactory(path="/offers/restricted")
    PartnerEligibleOffer.objects.create(partner=other_partner, offer=restricted)
    body = {"order": {"orderItems": [{"offer": {"id": restricted.id}}]}}

    response = api_client.post("/api/checkout/initiate", body, format="json", **bearer(storefront_token))

    assert response.status_code == 200, response.json()
    assert Basket.objects.get().partner is None


# --- Update ---------------------------------------------------------------------------------------


def test_update_adds_an_eligible_offer(api_client, token, offer):
    basket = partner_basket(token, offer)
    other = OfferFactory(path="/offers/other")

    response = update(api_client, token, basket, [add(other)])

    assert response.status_code == 200, response.json()
    assert response.json()["actionResults"][0]["status"] == "applied"
    basket.refresh_from_db()
    assert basket.version == 2
    assert basket.events.get().partner == basket.partner


@pytest.mark.parametrize("refusal", ["offer_not_eligible", "product_blocked"])
def test_update_refuses_offers_the_partner_may_not_sell_and_changes_nothing(
    api_client, partner, other_partner, token, offer, refusal
):
    basket = partner_basket(token, offer)
    product = ProductFactory(product_code="BLOCKED")
    refused = OfferFactory(path="/offers/refused", products=[product])
    if refusal == "offer_not_eligible":
        PartnerEligibleOffer.objects.create(partner=other_partner, offer=refused)
    else:
        partner.blocked_products.add(product)
    before = written()
    change_quantity = {"orderItemActionType": "update", "id": str(basket.items.get().id), "quantity": 2}

    response = update(api_client, token, basket, [change_quantity, add(refused)])

    assert response.status_code == 400
    assert response.json()["code"] == refusal
    assert set(response.json()["details"]["actions"]) == {"1"}
    assert written() == before
    basket.refresh_from_db()
    assert basket.version == 1
    assert basket.items.get().quantity == 1


def test_update_keeps_items_added_before_the_offer_became_ineligible(api_client, other_partner, token, offer):
    # Eligibility is checked on add (and by validate and order submission), not on other actions.
    basket = partner_basket(token, offer)
    PartnerEligibleOffer.objects.create(partner=other_partner, offer=offer)

    response = update(api_client, token, basket, [add(OfferFactory(path="/offers/more"))])

    assert response.status_code == 200, response.json()


# --- The abandoned feed and order submission -----------------------------------------------------


@pytest.mark.usefixtures("token_cache_off")
def test_the_abandoned_feed_names_the_partner_by_slug_at_no_extra_query_per_basket(
    api_client, backoffice_token, token, other_token, offer, django_assert_max_num_queries
):
    def feed_queries(per_partner: int) -> int:
        with django_assert_max_num_queries(3) as captured:
            response = api_client.get("/api/checkout/abandoned", {"limit": 50}, **bearer(backoffice_token))
        assert response.status_code == 200
        partners = sorted(item["partner"] for item in response.json()["items"])
        assert partners == ["acme"] * per_partner + ["globex"] * per_partner
        return len(captured.captured_queries)

    partner_basket(token, offer)
    partner_basket(other_token, offer)
    small = feed_queries(1)
    for _ in range(9):
        partner_basket(token, offer)
        partner_basket(other_token, offer)
    big = feed_queries(10)
    assert big == small


def test_order_submission_revalidates_a_partner_basket_for_its_partner(
    api_client, backoffice_token, other_partner, token, offer
):
    basket = partner_basket(token, offer, email="buyer@example.com")
    item = basket.items.get()
    PartnerEligibleOffer.objects.create(partner=other_partner, offer=offer)

    response = api_client.post(
        "/api/order", {"checkoutId": basket.public_id}, format="json", **bearer(backoffice_token)
    )

    assert response.status_code == 400
    assert response.json()["code"] == "basket_invalid"
    assert response.json()["details"]["findings"] == [
        {"code": "offer_not_eligible", "message": "This offer is no longer sold through this partner.",
         "orderItemId": str(item.id)},
    ]  # fmt: skip
    basket.refresh_from_db()
    assert (basket.status, basket.version) == ("active", 1)


def test_order_submission_completes_a_valid_partner_basket(api_client, backoffice_token, partner, token, offer):
    basket = partner_basket(token, offer, email="buyer@example.com")
    PartnerEligibleOffer.objects.create(partner=partner, offer=offer)

    response = api_client.post(
        "/api/order", {"checkoutId": basket.public_id}, format="json", **bearer(backoffice_token)
    )

    assert response.status_code == 200, response.json()
    basket.refresh_from_db()
    assert basket.status == "completed"
    # The subscription the partner sold is the partner's: it shows in its subscription checkout.
    created = [s["id"] for s in response.json()["subscriptions"]]
    assert len(created) == 1
    links = PartnerSubscription.objects.select_related("subscription")
    assert [(link.partner_id, link.subscription.public_id) for link in links] == [(partner.pk, created[0])]


def test_order_submission_of_a_public_basket_links_no_partner(api_client, storefront_app, storefront_token, offer):
    basket = BasketFactory(application=storefront_app, email="buyer@example.com")
    OrderItemFactory(basket=basket, offer=offer)

    response = api_client.post(
        "/api/order", {"checkoutId": basket.public_id}, format="json", **bearer(storefront_token)
    )

    assert response.status_code == 200, response.json()
    assert PartnerSubscription.objects.count() == 0


def test_order_submission_ignores_partner_rules_for_public_baskets(
    api_client, storefront_app, storefront_token, other_partner, offer
):
    basket = BasketFactory(application=storefront_app, email="buyer@example.com")
    OrderItemFactory(basket=basket, offer=offer)
    PartnerEligibleOffer.objects.create(partner=other_partner, offer=offer)

    response = api_client.post(
        "/api/order", {"checkoutId": basket.public_id}, format="json", **bearer(storefront_token)
    )

    assert response.status_code == 200, response.json()
