"""Query counts: initiate, update and an abandoned page cost the same for 1 item or 30, 5 rows or 200.

Counted in statements that touch data (tests.statements), at most the CEILING of every endpoint.
`transaction=True` makes each test run outside pytest-django's wrapping transaction, so the
service's `transaction.atomic()` is the outermost one, as in production: a test-wrapped run
would turn it into a SAVEPOINT / RELEASE SAVEPOINT pair and count statements production never
sends.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from baskets.models import Basket, OrderItem
from subscriptions.models import Offer
from tests.conftest import bearer
from tests.factories import BasketFactory, CustomerFactory, OfferFactory, OrderItemFactory
from tests.statements import CEILING, assert_flat, max_data_statements

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("token_cache_off")]

BUDGET = CEILING


@pytest.fixture
def catalog(add_on):
    """30 base offers (each selling the add-on) and the add-on; every offer allows quantity 1..5."""
    # The add-on is sold in numbers: the baskets hold it once per offer, summed across the basket.
    Offer.objects.filter(pk=add_on.pk).update(max_quantity=100)
    offers = [OfferFactory(name=f"Offer {n}", path=f"/offers/q-{n}") for n in range(30)]
    for offer in offers:
        offer.cross_sell_add_ons.add(add_on)
    return offers


# --- POST /api/checkout/initiate -------------------------------------------------------------


def initiate(api_client, token, order_items):
    return api_client.post(
        "/api/checkout/initiate", {"order": {"orderItems": order_items}}, format="json", **bearer(token)
    )


def initiate_items(catalog, add_on, count: int) -> list[dict]:
    """`count` order items: offers, each followed by the add-on (so the compatibility check runs)."""
    items: list[dict] = []
    for offer in catalog:
        items.append({"offer": {"id": offer.id, "version": offer.version}, "quantity": 2})
        if len(items) < count:
            items.append({"offer": {"id": add_on.id}, "type": "add_on"})
        if len(items) >= count:
            break
    return items[:count]


def test_initiate_query_count_does_not_grow_with_items(api_client, storefront_token, catalog, add_on):
    with max_data_statements(BUDGET) as small:
        response = initiate(api_client, storefront_token, initiate_items(catalog, add_on, 1))
    assert response.status_code == 200, response.json()
    assert len(response.json()["order"]["orderItems"]) == 1

    api_client.cookies.clear()
    with max_data_statements(BUDGET) as big:
        response = initiate(api_client, storefront_token, initiate_items(catalog, add_on, 20))
    assert response.status_code == 200, response.json()
    assert len(response.json()["order"]["orderItems"]) == 20
    assert OrderItem.objects.filter(type="add_on").count() == 10

    assert_flat(small, big)


def test_initiate_replacing_the_landing_basket_costs_the_same(api_client, storefront_token, catalog, add_on):
    assert initiate(api_client, storefront_token, initiate_items(catalog, add_on, 1)).status_code == 200
    with max_data_statements(BUDGET) as small:
        response = initiate(api_client, storefront_token, initiate_items(catalog, add_on, 1))
    assert response.status_code == 200, response.json()

    with max_data_statements(BUDGET) as big:
        response = initiate(api_client, storefront_token, initiate_items(catalog, add_on, 20))
    assert response.status_code == 200, response.json()
    assert Basket.objects.count() == 1
    assert Basket.objects.get().items.count() == 20

    assert_flat(small, big)


# --- PUT /api/checkout/update ----------------------------------------------------------------


def basket_with_items(token, offers) -> Basket:
    basket = BasketFactory(application=token.application)
    for position, offer in enumerate(offers):
        OrderItemFactory(basket=basket, offer=offer, position=position)
    return basket


def update(api_client, token, basket, actions):
    api_client.cookies["limio_state"] = basket.public_id
    return api_client.put("/api/checkout/update", {"order": {"orderItems": actions}}, format="json", **bearer(token))


def mixed_actions(basket, add_on, new_offer) -> list[dict]:
    """Add an offer and an add-on, remove the last item, change the first item's quantity."""
    items = list(basket.items.order_by("position"))
    return [
        {"orderItemActionType": "add", "offer": {"id": new_offer.id}, "quantity": 2},
        {"orderItemActionType": "add", "offer": {"id": add_on.id}, "type": "add_on", "parentId": str(items[0].id)},
        {"orderItemActionType": "remove", "id": str(items[-1].id)},
        {"orderItemActionType": "update", "id": str(items[0].id), "quantity": 3},
    ]


def test_update_query_count_does_not_grow_with_items(api_client, storefront_token, catalog, add_on):
    small_basket = basket_with_items(storefront_token, catalog[:2])
    big_basket = basket_with_items(storefront_token, catalog[:30])
    new_offer = OfferFactory(name="New", path="/offers/new")

    small_actions = mixed_actions(small_basket, add_on, new_offer)
    with max_data_statements(BUDGET) as small:
        response = update(api_client, storefront_token, small_basket, small_actions)
    assert response.status_code == 200, response.json()
    assert len(response.json()["order"]["orderItems"]) == 3

    big_actions = mixed_actions(big_basket, add_on, new_offer)
    with max_data_statements(BUDGET) as big:
        response = update(api_client, storefront_token, big_basket, big_actions)
    assert response.status_code == 200, response.json()
    assert len(response.json()["order"]["orderItems"]) == 31
    assert [r["status"] for r in response.json()["actionResults"]] == ["applied"] * 4

    assert_flat(small, big)


def test_update_of_one_item_basket_and_thirty_item_basket(api_client, storefront_token, catalog, add_on):
    """The brief's sizes: a basket of 1 item and one of 30, each getting add, remove and update."""
    new_offer = OfferFactory(name="New", path="/offers/new")
    one = basket_with_items(storefront_token, catalog[:1])
    thirty = basket_with_items(storefront_token, catalog[:30])

    def actions(basket):
        first = basket.items.order_by("position").first()
        return [
            {"orderItemActionType": "add", "offer": {"id": new_offer.id}},
            {"orderItemActionType": "update", "id": str(first.id), "quantity": 4},
            {"orderItemActionType": "add", "offer": {"id": add_on.id}, "parentId": str(first.id)},
            {"orderItemActionType": "remove", "id": str(first.id)},  # and the add-on just added to it
        ]

    one_actions, thirty_actions = actions(one), actions(thirty)
    with max_data_statements(BUDGET) as small:
        response = update(api_client, storefront_token, one, one_actions)
    assert response.status_code == 200, response.json()
    assert len(response.json()["order"]["orderItems"]) == 1

    with max_data_statements(BUDGET) as big:
        response = update(api_client, storefront_token, thirty, thirty_actions)
    assert response.status_code == 200, response.json()
    assert len(response.json()["order"]["orderItems"]) == 30
    # The add-on added to the removed item went with it: nothing orphaned was written.
    assert sorted(str(pk) for pk in thirty.items.values_list("id", flat=True)) == sorted(
        item["id"] for item in response.json()["order"]["orderItems"]
    )
    assert not thirty.items.filter(offer=add_on).exists()

    assert_flat(small, big)


@pytest.mark.parametrize(
    ("kind", "reads_offers", "reads_cross_sells"),
    [("remove", False, False), ("update", True, False), ("add", True, False), ("add_on", True, True)],
)
def test_update_reads_only_the_offers_its_actions_need(
    api_client, storefront_token, catalog, add_on, kind, reads_offers, reads_cross_sells
):
    """Removals read no offer; quantity changes and plain adds no cross-sells; only an add-on's add does."""
    basket = basket_with_items(storefront_token, catalog[:3])
    first, last = list(basket.items.order_by("position"))[::2]
    action = {
        "remove": {"orderItemActionType": "remove", "id": str(last.id)},
        "update": {"orderItemActionType": "update", "id": str(first.id), "quantity": 2},
        "add": {"orderItemActionType": "add", "offer": {"id": catalog[5].id}},
        "add_on": {"orderItemActionType": "add", "offer": {"id": add_on.id}, "parentId": str(first.id)},
    }[kind]

    with max_data_statements(BUDGET) as captured:
        response = update(api_client, storefront_token, basket, [action])

    assert response.status_code == 200, response.json()
    offer_reads = [sql for sql in captured.statements if sql.startswith('SELECT "subscriptions_offer"')]
    assert len(offer_reads) == int(reads_offers), captured.sql()
    assert any("cross_sell_add_ons" in sql for sql in offer_reads) is reads_cross_sells


# --- GET /api/checkout/abandoned -------------------------------------------------------------


def test_abandoned_page_query_count_does_not_grow_with_limit(api_client, backoffice_token, catalog, add_on):
    created = timezone.now() - timedelta(days=1)
    customer = CustomerFactory()
    for n in range(201):
        basket = BasketFactory(created=created + timedelta(seconds=n), customer=customer if n % 2 else None)
        for position, offer in enumerate(catalog[n % 25 : n % 25 + 3]):
            OrderItemFactory(basket=basket, offer=offer, position=position)
        OrderItemFactory(basket=basket, offer=add_on, position=3)

    with max_data_statements(BUDGET) as small:
        response = api_client.get("/api/checkout/abandoned", {"limit": 5}, **bearer(backoffice_token))
    assert response.status_code == 200
    assert len(response.json()["items"]) == 5
    assert all(len(item["orderItems"]) == 4 for item in response.json()["items"])

    with max_data_statements(BUDGET) as big:
        response = api_client.get("/api/checkout/abandoned", {"limit": 200}, **bearer(backoffice_token))
    assert response.status_code == 200
    body = response.json()
    assert len(body["items"]) == 200
    assert all(len(item["orderItems"]) == 4 for item in body["items"])

    # A deep page costs what the first one does.
    with max_data_statements(BUDGET) as deep:
        response = api_client.get(
            "/api/checkout/abandoned", {"limit": 5, "queryMore": body["queryMore"]}, **bearer(backoffice_token)
        )
    assert response.status_code == 200
    assert len(response.json()["items"]) == 1

    assert_flat(small, big)
    assert_flat(small, deep)
