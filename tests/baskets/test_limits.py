"""Limits (API.md §4): an offer's maxQuantity caps its quantities summed across the whole basket,
and a basket holds at most BASKET_MAX_ITEMS order items, on every write path and at completion.
Every refusal is a 400 that changes nothing."""

from __future__ import annotations

import pytest
from django.utils import timezone

from baskets.api.landing_state import landing_state_value
from baskets.models import Basket, BasketEvent, OrderItem
from subscriptions.models import Offer, Subscription, SubscriptionAddOn
from tests.baskets.test_subscription_checkout import NOW
from tests.baskets.test_subscription_checkout import add as subscription_add
from tests.baskets.test_subscription_checkout import initiate as subscription_initiate
from tests.baskets.test_subscription_checkout import put as subscription_put
from tests.baskets.test_update import add, remove, set_quantity, snapshot, update
from tests.conftest import bearer
from tests.factories import (
    BasketFactory,
    OfferFactory,
    OrderItemFactory,
    PartnerFactory,
    SubscriptionFactory,
    partner_token,
)
from tests.partners.conftest import partner_basket
from tests.subscription_flows import subscription_of_2025

pytestmark = pytest.mark.django_db

INITIATE = "/api/checkout/initiate"


def initiate(api_client, token, items, url=INITIATE, **body):
    return api_client.post(url, {"order": {"orderItems": items, **body}}, format="json", **bearer(token))


def item(offer, quantity=1):
    return {"offer": {"id": offer.id}, "quantity": quantity}


def rows():
    return Basket.objects.count(), OrderItem.objects.count(), BasketEvent.objects.count()


def over_quantity(offer, total):
    return {
        "code": "quantity_limit_exceeded",
        "message": f"A basket holds at most {offer.max_quantity} of offer {offer.name!r} ({offer.id}); "
        f"this one comes to {total}.",
        "details": {
            "offer": {"id": offer.id, "name": offer.name},
            "maxQuantity": offer.max_quantity,
            "quantity": total,
        },
    }


def too_large(limit, count):
    return {
        "code": "basket_too_large",
        "message": f"A basket holds at most {limit} order items; this one comes to {count}.",
        "details": {"maxItems": limit, "items": count},
    }


@pytest.fixture
def crossword(offer, add_on):
    """The Crossword add-on, sold with the offer, at most one per basket."""
    Offer.objects.filter(pk=add_on.pk).update(max_quantity=1)
    add_on.refresh_from_db()
    return add_on


# --- POST /api/checkout/initiate ------------------------------------------------------------------


def test_crossword_initiated_with_quantity_ten_is_refused(api_client, storefront_token, offer, crossword):
    response = initiate(api_client, storefront_token, [item(offer), item(crossword, 10)])

    assert response.status_code == 400
    assert response.json()["code"] == "quantity_out_of_range"  # one item alone over the offer's limit
    assert rows() == (0, 0, 0)


def test_quantities_of_one_offer_are_summed_across_the_items(api_client, storefront_token, offer, crossword):
    response = initiate(api_client, storefront_token, [item(offer), item(crossword), item(offer), item(crossword)])

    assert response.status_code == 400
    assert response.json() == over_quantity(crossword, 2)
    assert rows() == (0, 0, 0)


def test_quantities_within_the_limit_together_are_accepted(api_client, storefront_token, offer):
    response = initiate(api_client, storefront_token, [item(offer, 2), item(offer, 3)])  # max 5

    assert response.status_code == 200, response.json()
    assert [i["quantity"] for i in response.json()["order"]["orderItems"]] == [2, 3]


def test_fifty_one_items_are_refused_and_fifty_accepted(api_client, storefront_token):
    many = OfferFactory(name="Gift", path="/offers/gift", max_quantity=100)

    response = initiate(api_client, storefront_token, [item(many)] * 51)

    assert response.status_code == 400
    assert response.json() == too_large(50, 51)
    assert rows() == (0, 0, 0)

    response = initiate(api_client, storefront_token, [item(many)] * 50)
    assert response.status_code == 200, response.json()
    assert OrderItem.objects.count() == 50


def test_replacing_the_landing_basket_over_a_limit_changes_nothing(api_client, storefront_token, offer, settings):
    settings.BASKET_MAX_ITEMS = 2
    response = initiate(api_client, storefront_token, [item(offer)])
    assert response.status_code == 200
    basket = Basket.objects.get()
    before = snapshot(basket)

    response = initiate(api_client, storefront_token, [item(offer)] * 3)  # the cookie names the basket

    assert response.status_code == 400
    assert response.json() == too_large(2, 3)
    assert snapshot(basket) == before


def test_admin_initiate_checks_the_limits(api_client, backoffice_token, offer, crossword):
    url = "/api/admin/checkout/initiate"
    response = initiate(api_client, backoffice_token, [item(offer), item(crossword), item(crossword)], url=url)

    assert response.status_code == 400
    assert response.json() == over_quantity(crossword, 2)
    assert rows() == (0, 0, 0)


# --- PUT /api/checkout/update ---------------------------------------------------------------------


@pytest.fixture
def basket(storefront_app, offer, crossword):
    basket = BasketFactory(application=storefront_app)
    main = OrderItemFactory(basket=basket, offer=offer, position=0)
    OrderItemFactory(basket=basket, offer=crossword, position=1, parent=main, quantity=1)
    return basket


def test_an_add_split_across_requests_is_refused_once_the_sum_exceeds(
    api_client, storefront_token, basket, offer, crossword
):
    main = basket.items.get(position=0)
    before = snapshot(basket)

    response = update(api_client, storefront_token, basket, [add(crossword, parentId=str(main.id))])

    assert response.status_code == 400
    assert response.json() == over_quantity(crossword, 2)
    assert snapshot(basket) == before


def test_adds_split_across_actions_of_one_request_are_summed(api_client, storefront_token, basket, offer):
    before = snapshot(basket)

    # 1 already, then 2 + 2 (each within 5 alone): 5 is accepted, one more is not.
    response = update(api_client, storefront_token, basket, [add(offer, quantity=2), add(offer, quantity=2)])
    assert response.status_code == 200, response.json()
    after = snapshot(basket)

    response = update(api_client, storefront_token, basket, [add(offer, quantity=1)])

    assert response.status_code == 400
    assert response.json() == over_quantity(offer, 6)
    assert snapshot(basket) == after != before


def test_an_update_of_a_quantity_is_summed_with_the_offers_other_items(api_client, storefront_token, basket, offer):
    second = OrderItemFactory(basket=basket, offer=offer, position=2, quantity=3)
    before = snapshot(basket)

    response = update(api_client, storefront_token, basket, [set_quantity(second, 5)])  # 1 + 5

    assert response.status_code == 400
    assert response.json() == over_quantity(offer, 6)
    assert snapshot(basket) == before


def test_an_add_past_basket_max_items_is_refused(api_client, storefront_token, basket, offer, settings):
    settings.BASKET_MAX_ITEMS = 2
    before = snapshot(basket)

    response = update(api_client, storefront_token, basket, [add(offer)])

    assert response.status_code == 400
    assert response.json() == too_large(2, 3)
    assert snapshot(basket) == before


def test_a_basket_over_limits_lowered_since_may_shrink_but_not_grow(
    api_client, storefront_token, basket, offer, crossword, settings
):
    extra = OrderItemFactory(basket=basket, offer=offer, position=2, quantity=4)  # offer: 1 + 4 = 5
    Offer.objects.filter(pk=offer.pk).update(max_quantity=4)
    settings.BASKET_MAX_ITEMS = 2
    offer.refresh_from_db()
    before = snapshot(basket)

    refused = update(api_client, storefront_token, basket, [add(offer)])
    assert refused.status_code == 400
    assert refused.json()["code"] == "quantity_limit_exceeded"
    assert snapshot(basket) == before

    shrunk = update(api_client, storefront_token, basket, [set_quantity(extra, 2)])  # 3 items, offer at 3
    assert shrunk.status_code == 200, shrunk.json()
    assert update(api_client, storefront_token, basket, [remove(extra)]).status_code == 200


# --- PUT /api/checkout/subscription (add-ons) ------------------------------------------------------


def test_a_subscription_change_over_basket_max_items_is_refused(
    api_client, monkeypatch, customer, customer_token, settings
):
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    current = OfferFactory(name="Standard", path="/offers/standard")
    catalog = {
        "upgrade": OfferFactory(name="Premium", path="/offers/premium"),
        "downgrade": OfferFactory(name="Lite", path="/offers/lite"),
        "puzzles": OfferFactory(name="Puzzles", path="/offers/puzzles", type="add_on"),
    }
    archive = OfferFactory(name="Archive", path="/offers/archive", type="add_on")
    current.upgrade_offers.add(catalog["upgrade"])
    current.downgrade_offers.add(catalog["downgrade"])
    current.cross_sell_add_ons.add(archive, catalog["puzzles"])
    catalog["downgrade"].cross_sell_add_ons.add(archive, catalog["puzzles"])
    subscription = subscription_of_2025(customer, current, archive)
    settings.BASKET_MAX_ITEMS = 1
    assert subscription_initiate(api_client, customer_token, subscription).status_code == 200
    basket = Basket.objects.get()
    before = snapshot(basket)

    response = subscription_put(
        api_client, customer_token, [subscription_add(catalog["downgrade"]), subscription_add(catalog["puzzles"])]
    )

    assert response.status_code == 400
    assert response.json() == too_large(1, 2)
    assert snapshot(basket) == before
    # One item is within the limit; the automatic removals (the current offer) are not counted.
    response = subscription_put(api_client, customer_token, [subscription_add(catalog["upgrade"])])
    assert response.status_code == 200, response.json()


# --- Renewals built by staff ----------------------------------------------------------------------


RENEW = "/api/admin/checkout/initiate/renew"


def test_a_renewal_over_the_renewal_offers_limit_is_refused(api_client, backoffice_token, customer, offer):
    subscription = SubscriptionFactory(customer=customer, offer=offer, quantity=3)
    Offer.objects.filter(pk=offer.pk).update(max_quantity=2)
    offer.refresh_from_db()

    response = api_client.post(
        RENEW, {"subscriptionId": subscription.public_id}, format="json", **bearer(backoffice_token)
    )

    assert response.status_code == 400
    assert response.json() == over_quantity(offer, 3)
    assert rows() == (0, 0, 0)


def test_a_renewal_over_basket_max_items_is_refused(api_client, backoffice_token, customer, offer, add_on, settings):
    subscription = SubscriptionFactory(customer=customer, offer=offer, quantity=1)
    SubscriptionAddOn.objects.create(subscription=subscription, offer=add_on, quantity=1)
    settings.BASKET_MAX_ITEMS = 1

    response = api_client.post(
        RENEW, {"subscriptionId": subscription.public_id}, format="json", **bearer(backoffice_token)
    )

    assert response.status_code == 400
    assert response.json() == too_large(1, 2)
    assert rows() == (0, 0, 0)


# --- Completion (POST /api/order, the hosted page) re-checks them ----------------------------------


@pytest.fixture
def complete_basket(storefront_app, offer, add_on):
    """Built within the limits: the offer, and the add-on twice (1 + 1) under it."""
    basket = BasketFactory(application=storefront_app, email="ada@example.com", first_name="Ada")
    main = OrderItemFactory(basket=basket, offer=offer, position=0)
    OrderItemFactory(basket=basket, offer=add_on, position=1, parent=main)
    OrderItemFactory(basket=basket, offer=add_on, position=2, parent=main)
    return basket


def order(api_client, token, basket):
    return api_client.post("/api/order", {"checkoutId": basket.public_id}, format="json", **bearer(token))


def completion_rows():
    return (
        Subscription.objects.count(),
        SubscriptionAddOn.objects.count(),
        BasketEvent.objects.count(),
        list(Basket.objects.values_list("status", "version")),
    )


def test_completion_refuses_a_basket_over_a_quantity_limit_lowered_since(
    api_client, storefront_token, complete_basket, add_on
):
    Offer.objects.filter(pk=add_on.pk).update(max_quantity=1)
    add_on.refresh_from_db()
    before = completion_rows()
    last = complete_basket.items.get(position=2)

    response = order(api_client, storefront_token, complete_basket)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "basket_invalid"
    message = over_quantity(add_on, 2)["message"]
    assert body["details"]["findings"] == [
        {"code": "quantity_limit_exceeded", "message": message, "orderItemId": str(last.id)}
    ]
    assert completion_rows() == before


def test_completion_refuses_a_basket_over_basket_max_items_lowered_since(
    api_client, storefront_token, complete_basket, settings
):
    settings.BASKET_MAX_ITEMS = 2
    before = completion_rows()

    response = order(api_client, storefront_token, complete_basket)

    assert response.status_code == 400
    assert response.json()["details"]["findings"] == [
        {"code": "basket_too_large", "message": too_large(2, 3)["message"]}
    ]
    assert completion_rows() == before


def test_completion_within_the_limits_completes(api_client, storefront_token, complete_basket):
    response = order(api_client, storefront_token, complete_basket)

    assert response.status_code == 200, response.json()
    assert SubscriptionAddOn.objects.get().quantity == 2


# --- Partner endpoints ----------------------------------------------------------------------------


def test_partner_initiate_and_update_check_the_limits(api_client, offer, settings):
    token = partner_token(PartnerFactory())
    response = initiate(api_client, token, [item(offer, 3), item(offer, 3)], url="/api/partner/checkout/initiate")
    assert response.status_code == 400
    assert response.json() == over_quantity(offer, 6)
    assert rows() == (0, 0, 0)

    basket = partner_basket(token, offer)
    settings.BASKET_MAX_ITEMS = 1
    before = snapshot(basket)
    api_client.cookies["limio_state"] = landing_state_value(basket)
    response = api_client.put(
        "/api/partner/checkout/update", {"order": {"orderItems": [add(offer)]}}, format="json", **bearer(token)
    )
    assert response.status_code == 400
    assert response.json() == too_large(1, 2)
    assert snapshot(basket) == before


def test_partner_validate_reports_the_limits(api_client, offer, settings):
    token = partner_token(PartnerFactory())
    basket = partner_basket(token, offer, offer)
    settings.BASKET_MAX_ITEMS = 1

    response = api_client.post(f"/api/partner/checkout/validate/{basket.public_id}", **bearer(token))

    assert response.status_code == 200, response.json()
    assert response.json()["checkout"]["valid"] is False
    assert response.json()["checkout"]["errors"] == [
        {"code": "basket_too_large", "message": too_large(1, 2)["message"]}
    ]
