"""The isolation matrix (API.md §2, §8): every partner endpoint x {own object, other partner's object,
public object} x {partner token, other partner token, storefront token, admin token}.

"Own" objects are partner A's, the "partner token" is A's and the "other partner token" B's. A
partner reaches its own baskets and subscriptions only; everything else is 404 (initiate, which
creates a basket when the landing state is not the caller's, starts a new one and leaves the other
untouched); storefront and admin tokens are 403. On every refusal nothing changes anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from baskets.api.landing_state import landing_state_value
from baskets.models import Basket, BasketEvent, OrderItem
from subscriptions.models import Subscription, SubscriptionAddOn
from tests.conftest import bearer
from tests.factories import AccessTokenFactory, BasketFactory, OrderItemFactory, SubscriptionFactory
from tests.partners.conftest import RECAPTCHA, partner_basket, partner_subscription, update_basket

pytestmark = pytest.mark.django_db

TOKENS = ["partner", "other_partner", "storefront", "admin"]
OBJECTS = ["own", "other", "public"]
OWNER = {"own": "partner", "other": "other_partner", "public": None}


@dataclass
class World:
    tokens: dict
    baskets: dict  # new baskets by owner
    update_baskets: dict  # update-subscription baskets by owner
    subscriptions: dict
    catalog: dict


@pytest.fixture
def world(token, other_token, storefront_app, storefront_token, backoffice_token, customer, catalog):
    current = catalog["current"]
    public_basket = BasketFactory(application=storefront_app)
    OrderItemFactory(basket=public_basket, offer=current)
    subscriptions = {
        "own": partner_subscription(token.application.partner_client.partner, current),
        "other": partner_subscription(other_token.application.partner_client.partner, current),
        "public": SubscriptionFactory(customer=customer, offer=current),
    }
    return World(
        tokens={"partner": token, "other_partner": other_token, "storefront": storefront_token,
                "admin": backoffice_token},
        baskets={"own": partner_basket(token, current), "other": partner_basket(other_token, current),
                 "public": public_basket},
        update_baskets={
            "own": update_basket(subscriptions["own"], application=token.application,
                                 partner=token.application.partner_client.partner),
            "other": update_basket(subscriptions["other"], application=other_token.application,
                                   partner=other_token.application.partner_client.partner),
            "public": update_basket(subscriptions["public"], application=storefront_app, customer_token=True),
        },
        subscriptions=subscriptions,
        catalog=catalog,
    )  # fmt: skip


def state() -> dict:
    """Everything a partner endpoint could change."""
    return {
        "baskets": sorted(
            (str(b.id), b.version, b.status, b.partner_id, b.updated, b.promo_code_id) for b in Basket.objects.all()
        ),
        "items": sorted(
            (str(i.id), str(i.basket_id), i.offer_id, i.quantity, i.action_type) for i in OrderItem.objects.all()
        ),
        "events": sorted(BasketEvent.objects.values_list("id", flat=True)),
        "subscriptions": sorted(
            (str(s.id), s.offer_id, s.quantity, s.status, s.pending_offer_id, s.term_end)
            for s in Subscription.objects.all()
        ),
        "subscription_add_ons": sorted(SubscriptionAddOn.objects.values_list("subscription_id", "offer_id")),
    }


# --- The endpoints: each sends one request about one object -------------------------------------


def _cookie(api_client, basket):
    api_client.cookies["limio_state"] = landing_state_value(basket)


def send_initiate(api_client, world, obj, token):
    _cookie(api_client, world.baskets[obj])
    body = {"order": {"orderItems": [{"offer": {"id": world.catalog["upgrade"].id}}]}}
    return api_client.post("/api/partner/checkout/initiate", body, format="json", **bearer(token))


def send_update(api_client, world, obj, token):
    basket = world.baskets[obj]
    _cookie(api_client, basket)
    actions = [{"orderItemActionType": "update", "id": str(basket.items.get().id), "quantity": 2}]
    return api_client.put("/api/partner/checkout/update", {"order": {"orderItems": actions}}, format="json",
                          **bearer(token))  # fmt: skip


def send_validate(api_client, world, obj, token):
    return api_client.post(f"/api/partner/checkout/validate/{world.baskets[obj].public_id}", **bearer(token))


def send_subscription_get(api_client, world, obj, token):
    _cookie(api_client, world.update_baskets[obj])
    return api_client.get("/api/partner/checkout/subscription", **bearer(token))


def send_subscription_post(api_client, world, obj, token):
    subscription = world.subscriptions[obj]
    body = {"order": {"order_type": "update_subscription", "forSubscription": {"id": subscription.public_id}}}
    return api_client.post("/api/partner/checkout/subscription", body, format="json", **bearer(token), **RECAPTCHA)


def send_subscription_put(api_client, world, obj, token):
    _cookie(api_client, world.update_baskets[obj])
    actions = [{"orderItemActionType": "add", "offer": {"id": world.catalog["add_on"].id}}]
    return api_client.put("/api/partner/checkout/subscription", {"order": {"orderItems": actions}}, format="json",
                          **bearer(token), **RECAPTCHA)  # fmt: skip


ENDPOINTS: dict[str, Callable] = {
    "POST /partner/checkout/initiate": send_initiate,
    "PUT /partner/checkout/update": send_update,
    "POST /partner/checkout/validate/{id}": send_validate,
    "GET /partner/checkout/subscription": send_subscription_get,
    "POST /partner/checkout/subscription": send_subscription_post,
    "PUT /partner/checkout/subscription": send_subscription_put,
}


def expected_status(endpoint: str, obj: str, token: str) -> int:
    if token in {"storefront", "admin"}:
        return 403
    if OWNER[obj] == token or endpoint == "POST /partner/checkout/initiate":
        return 200
    return 404


@pytest.mark.parametrize("token_name", TOKENS)
@pytest.mark.parametrize("obj", OBJECTS)
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_isolation_matrix(api_client, world, endpoint, obj, token_name):
    token = world.tokens[token_name]
    before = state()

    response = ENDPOINTS[endpoint](api_client, world, obj, token)

    status = expected_status(endpoint, obj, token_name)
    assert response.status_code == status, response.json()
    if status == 403:
        assert response.json()["code"] == "insufficient_scope"
    if status == 404:
        assert response.json()["code"] in {"basket_not_found", "subscription_not_found"}
    if status != 200:
        assert state() == before
        return

    owns = OWNER[obj] == token_name
    caller_partner = token.application.partner_client.partner
    after = state()
    if endpoint == "POST /partner/checkout/validate/{id}" or endpoint == "GET /partner/checkout/subscription":
        assert after == before  # reads change nothing
    elif endpoint == "POST /partner/checkout/subscription" or (endpoint.endswith("initiate") and not owns):
        # A new basket of the caller's partner; every existing row as it was.
        new = Basket.objects.exclude(id__in=[row[0] for row in before["baskets"]]).get()
        assert response.json()["id"] == new.public_id
        assert new.partner == caller_partner
        assert [row for row in after["baskets"] if row[0] != str(new.id)] == before["baskets"]
        assert [row for row in after["items"] if row[1] != str(new.id)] == before["items"]
        assert after["subscriptions"] == before["subscriptions"]
    else:
        target = world.update_baskets[obj] if "subscription" in endpoint else world.baskets[obj]
        assert response.json()["id"] == target.public_id
        target.refresh_from_db()
        assert (target.version, target.partner) == (2, caller_partner)
        others_before = [row for row in before["baskets"] if row[0] != str(target.id)]
        assert [row for row in after["baskets"] if row[0] != str(target.id)] == others_before
        assert after["subscriptions"] == before["subscriptions"]


# --- Partner objects through the public endpoints --------------------------------------------------


@pytest.fixture
def subscriber_token(world, storefront_app):
    """A customer token of the customer whose subscription partner A manages."""
    customer = world.subscriptions["own"].customer
    return AccessTokenFactory(application=storefront_app, user=customer.user, scope="checkout")


PUBLIC_BASKET_ENDPOINTS = {
    "PUT /checkout/update": lambda c, w, t: c.put(
        "/api/checkout/update",
        {"order": {"orderItems": [{"orderItemActionType": "update", "id": str(w.baskets["own"].items.get().id),
                                   "quantity": 2}]}},
        format="json", **bearer(t),
    ),
    "GET /checkout/subscription": lambda c, w, t: c.get("/api/checkout/subscription", **bearer(t)),
    "PUT /checkout/subscription": lambda c, w, t: c.put(
        "/api/checkout/subscription",
        {"order": {"orderItems": [{"orderItemActionType": "add", "offer": {"id": w.catalog["add_on"].id}}]}},
        format="json", **bearer(t), **RECAPTCHA,
    ),
    "POST /order": lambda c, w, t: c.post("/api/order", {"checkoutId": w.baskets["own"].public_id}, format="json",
                                          **bearer(t)),
}  # fmt: skip


@pytest.mark.parametrize("who", ["storefront", "subscriber"])
@pytest.mark.parametrize("endpoint", list(PUBLIC_BASKET_ENDPOINTS))
def test_partner_baskets_are_never_reachable_through_public_endpoints(
    api_client, world, subscriber_token, endpoint, who
):
    token = world.tokens["storefront"] if who == "storefront" else subscriber_token
    basket = world.update_baskets["own"] if "subscription" in endpoint else world.baskets["own"]
    api_client.cookies["limio_state"] = landing_state_value(basket)
    before = state()

    response = PUBLIC_BASKET_ENDPOINTS[endpoint](api_client, world, token)

    if endpoint.endswith("/checkout/subscription") and who == "storefront":
        assert response.status_code == 403  # subscription checkout needs a customer token
    else:
        assert response.status_code == 404, response.json()
    assert state() == before


def test_public_initiate_with_a_partner_baskets_landing_state_starts_a_new_public_basket(
    api_client, world, storefront_token
):
    partner_basket_ = world.baskets["own"]
    api_client.cookies["limio_state"] = landing_state_value(partner_basket_)
    before = state()
    body = {"order": {"orderItems": [{"offer": {"id": world.catalog["upgrade"].id}}]}}

    response = api_client.post("/api/checkout/initiate", body, format="json", **bearer(storefront_token))

    assert response.status_code == 200
    assert response.json()["id"] != partner_basket_.public_id
    assert Basket.objects.get(pk=response.json()["id"].removeprefix("basket-")).partner is None
    assert [row for row in state()["baskets"] if row[0] != response.json()["id"].removeprefix("basket-")] == (
        before["baskets"]
    )
