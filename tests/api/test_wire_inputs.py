"""Input on the wire that must never reach a service: ids that are not strings, lone surrogates.

- Every id field of every endpoint is a JSON string: a number is 400 `validation_error` naming the
  field, never looked up (a 404 or a business refusal would mean it was) and nothing is written.
- A lone UTF-16 surrogate (`"\\ud800"`, valid JSON but no text) anywhere in any body is 400
  `validation_error` naming its field, in the error shape, on every endpoint that reads a body
  (it used to be 500 where a choice field echoed it in its message). Nothing is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from baskets.api.landing_state import landing_state_value
from baskets.models import Basket, BasketEvent, OrderItem, OrderType, Payment
from checkout_project.api.parsers import JSONRenderer, first_surrogate
from partners.services import partner_subscription_link
from subscriptions.models import Subscription
from tests import factories
from tests.conftest import bearer
from tests.factories import (
    AccessTokenFactory,
    ApplicationFactory,
    BasketFactory,
    CustomerFactory,
    OfferFactory,
    OrderItemFactory,
    PromoCodeFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db

PASS = {"HTTP_X_LIMIO_RECAPTCHA": "pass-token"}
ITEM = "00000000-0000-4000-8000-000000000005"


@dataclass(frozen=True)
class World:
    tokens: dict
    cookies: dict
    basket: Basket
    offer_id: str
    reference: str


@pytest.fixture
def world() -> World:
    """Real objects behind every id, so that a lenient field would reach a service and answer it."""
    offer = OfferFactory(name="Standard", path="/offers/standard")
    upgrade = OfferFactory(name="Premium", path="/offers/premium")
    offer.upgrade_offers.add(upgrade)
    PromoCodeFactory(code="123")
    customer = CustomerFactory()
    app = ApplicationFactory(scopes="checkout")
    customer_token = AccessTokenFactory(application=app, user=customer.user, scope="checkout")
    admin_token = AccessTokenFactory(application=ApplicationFactory(scopes="checkout:admin"), scope="checkout:admin")
    # The reference a number would spell: a lenient field would find this subscription.
    subscription = SubscriptionFactory(customer=customer, offer=offer, reference="123456789012")
    basket = BasketFactory(application=app, customer=customer, created_by_customer_token=True)
    OrderItemFactory(basket=basket, offer=offer)
    update = BasketFactory(
        application=app, customer=customer, created_by_customer_token=True,
        order_type=OrderType.UPDATE_SUBSCRIPTION, for_subscription=subscription,
    )  # fmt: skip
    partner_token = factories.partner_token()
    partner = partner_token.application.partner_client.partner
    partner_sub = SubscriptionFactory(offer=offer)
    partner_subscription_link(partner=partner, subscription=partner_sub)
    partner_basket = BasketFactory(application=partner_token.application, partner=partner)
    OrderItemFactory(basket=partner_basket, offer=offer)
    partner_update = BasketFactory(
        application=partner_token.application, partner=partner, customer=partner_sub.customer,
        order_type=OrderType.UPDATE_SUBSCRIPTION, for_subscription=partner_sub,
    )  # fmt: skip
    return World(
        tokens={"customer": customer_token, "admin": admin_token, "partner": partner_token},
        cookies={
            "new": landing_state_value(basket),
            "update": landing_state_value(update),
            "partner new": landing_state_value(partner_basket),
            "partner update": landing_state_value(partner_update),
        },
        basket=basket,
        offer_id=offer.id,
        reference=subscription.reference,
    )


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    token: str
    cookie: str | None = None


INITIATE = Endpoint("POST", "/api/checkout/initiate", "customer")
UPDATE = Endpoint("PUT", "/api/checkout/update", "customer", "new")
PARTNER_INITIATE = Endpoint("POST", "/api/partner/checkout/initiate", "partner")
PARTNER_UPDATE = Endpoint("PUT", "/api/partner/checkout/update", "partner", "partner new")
ADMIN_INITIATE = Endpoint("POST", "/api/admin/checkout/initiate", "admin")
RENEW = Endpoint("POST", "/api/admin/checkout/initiate/renew", "admin")
PROMO_CODE = Endpoint("POST", "/api/admin/v2/promo_code", "admin")
ORDER = Endpoint("POST", "/api/order", "customer")
SUBSCRIPTION_INITIATE = Endpoint("POST", "/api/checkout/subscription", "customer")
SUBSCRIPTION_UPDATE = Endpoint("PUT", "/api/checkout/subscription", "customer", "update")
PARTNER_SUBSCRIPTION_INITIATE = Endpoint("POST", "/api/partner/checkout/subscription", "partner")
PARTNER_SUBSCRIPTION_UPDATE = Endpoint("PUT", "/api/partner/checkout/subscription", "partner", "partner update")


def send(api_client, world: World, endpoint: Endpoint, raw: str):
    if endpoint.cookie is not None:
        api_client.cookies["limio_state"] = world.cookies[endpoint.cookie]
    return api_client.generic(
        endpoint.method,
        endpoint.path,
        raw.encode(),
        content_type="application/json",
        **bearer(world.tokens[endpoint.token]),
        **PASS,
    )


def written() -> tuple:
    """What any of these requests could write."""
    return (
        sorted(Basket.objects.values_list("id", "version", "status", "promo_code_id", "expires_at")),
        sorted(OrderItem.objects.values_list("id", "quantity")),
        BasketEvent.objects.count(),
        Payment.objects.count(),
        sorted(Subscription.objects.values_list("id", "offer_id", "status")),
    )


# --- Ids are strings ----------------------------------------------------------------------------

OFFER = "__OFFER__"  # replaced by a real offer id in the bodies below (where the id is not the field)


def add_offer(offer_id):
    return {"orderItemActionType": "add", "offer": {"id": offer_id}}


NUMERIC_IDS = {
    "initiate offer id": (INITIATE, {"order": {"orderItems": [{"offer": {"id": 123}}]}}, "order.orderItems.0.offer.id"),
    "initiate offer version": (
        INITIATE,
        {"order": {"orderItems": [{"offer": {"id": OFFER, "version": 1}}]}},
        "order.orderItems.0.offer.version",
    ),
    "update offer id": (UPDATE, {"order": {"orderItems": [add_offer(123)]}}, "order.orderItems.0.offer.id"),
    "update item id": (
        UPDATE, {"order": {"orderItems": [{"orderItemActionType": "remove", "id": 5}]}}, "order.orderItems.0.id",
    ),
    "update parent id": (
        UPDATE, {"order": {"orderItems": [{**add_offer(OFFER), "parentId": 5}]}}, "order.orderItems.0.parentId",
    ),
    "partner initiate offer id": (
        PARTNER_INITIATE, {"order": {"orderItems": [{"offer": {"id": 123}}]}}, "order.orderItems.0.offer.id",
    ),
    "partner update item id": (
        PARTNER_UPDATE,
        {"order": {"orderItems": [{"orderItemActionType": "update", "id": 5, "quantity": 2}]}},
        "order.orderItems.0.id",
    ),
    "admin initiate offer id": (
        ADMIN_INITIATE, {"order": {"orderItems": [{"offer": {"id": 123}}]}}, "order.orderItems.0.offer.id",
    ),
    "renew subscription reference": (RENEW, {"subscriptionReference": 123456789012}, "subscriptionReference"),
    "renew nested reference": (RENEW, {"subscription": {"reference": 123456789012}}, "subscription.reference"),
    "promo code": (PROMO_CODE, {"code": 123, "basketId": "__BASKET__"}, "code"),
    "promo code basket id": (PROMO_CODE, {"code": "123", "basketId": 123}, "basketId"),
    "order checkout id": (ORDER, {"checkoutId": 123}, "checkoutId"),
    "order payment method id": (
        ORDER, {"checkoutId": "__BASKET__", "payment": {"paymentMethodId": 123}}, "payment.paymentMethodId",
    ),
    "subscription by reference": (
        SUBSCRIPTION_INITIATE, {"order": {"forSubscription": {"name": 123456789012}}}, "order.forSubscription.name",
    ),
    "subscription update item id": (
        SUBSCRIPTION_UPDATE,
        {"order": {"orderItems": [{"orderItemActionType": "remove", "id": 5}]}},
        "order.orderItems.0.id",
    ),
    "partner subscription offer id": (
        PARTNER_SUBSCRIPTION_UPDATE, {"order": {"orderItems": [add_offer(123)]}}, "order.orderItems.0.offer.id",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(NUMERIC_IDS))
def test_a_number_for_an_id_is_a_validation_error(api_client, world, case):
    endpoint, body, field = NUMERIC_IDS[case]
    raw = json.dumps(body).replace('"__OFFER__"', json.dumps(world.offer_id))
    raw = raw.replace('"__BASKET__"', json.dumps(world.basket.public_id))
    before = written()

    response = send(api_client, world, endpoint, raw)

    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "validation_error"
    assert field in response.json()["details"]
    assert written() == before


def test_the_same_ids_as_strings_reach_the_services(api_client, world):
    """The control: the fields above are judged by the services when they are strings."""
    order = send(api_client, world, ORDER, json.dumps({"checkoutId": "123"}))
    renew = send(api_client, world, RENEW, json.dumps({"subscriptionReference": "123456789012"}))

    assert (order.status_code, order.json()["code"]) == (404, "basket_not_found")
    assert renew.status_code == 200, renew.json()


# --- Lone surrogates -----------------------------------------------------------------------------

# Below, "\\ud800" as it arrives: a JSON escape (UTF-8 cannot carry a lone surrogate).

SURROGATES = {
    "initiate order type (a choice)": (
        INITIATE, '{"order": {"orderItems": [], "order_type": "\\ud800"}}', "order.order_type",
    ),
    "initiate item type (a choice)": (
        INITIATE, '{"order": {"orderItems": [{"offer": {"id": "x"}, "type": "\\ud800"}]}}', "order.orderItems.0.type",
    ),
    "initiate customer name": (
        INITIATE, '{"order": {"orderItems": [], "customerDetails": {"firstName": "a\\ud800b"}}}',
        "order.customerDetails.firstName",
    ),
    "initiate tracking, deep": (
        INITIATE, '{"order": {"orderItems": [], "tracking": {"a": [{"b": "\\ud800"}]}}}', "order.tracking.a.0.b",
    ),
    "initiate a key": (INITIATE, '{"order": {"orderItems": [], "customFields": {"\\ud800": 1}}}', "order.customFields"),
    "update action type (a choice)": (
        UPDATE, '{"order": {"orderItems": [{"orderItemActionType": "\\ud800"}]}}',
        "order.orderItems.0.orderItemActionType",
    ),
    "partner initiate order type": (
        PARTNER_INITIATE, '{"order": {"orderItems": [], "order_type": "\\ud800"}}', "order.order_type",
    ),
    "partner update action type": (
        PARTNER_UPDATE, '{"order": {"orderItems": [{"orderItemActionType": "\\ud800"}]}}',
        "order.orderItems.0.orderItemActionType",
    ),
    "admin initiate order type": (
        ADMIN_INITIATE, '{"order": {"orderItems": [], "order_type": "\\ud800"}}', "order.order_type",
    ),
    "admin initiate customer email": (
        ADMIN_INITIATE, '{"order": {"orderItems": []}, "customer": {"email": "\\ud800@x.com"}}', "customer.email",
    ),
    "renew reference": (RENEW, '{"subscriptionReference": "\\ud800"}', "subscriptionReference"),
    "promo code": (PROMO_CODE, '{"code": "\\ud800", "basketId": "basket-x"}', "code"),
    "order checkout id": (ORDER, '{"checkoutId": "\\ud800"}', "checkoutId"),
    "order payment reference": (
        ORDER, '{"checkoutId": "basket-x", "payment": {"reference": "\\ud800"}}', "payment.reference",
    ),
    "subscription order type": (
        SUBSCRIPTION_INITIATE, '{"order": {"order_type": "\\ud800", "forSubscription": {"name": "x"}}}',
        "order.order_type",
    ),
    "subscription tracking": (SUBSCRIPTION_INITIATE, '{"tracking": {"campaign": "\\ud800"}}', "tracking.campaign"),
    "subscription update item type (a choice)": (
        SUBSCRIPTION_UPDATE, '{"order": {"orderItems": [{"orderItemActionType": "add", "type": "\\ud800"}]}}',
        "order.orderItems.0.type",
    ),
    "partner subscription tracking": (
        PARTNER_SUBSCRIPTION_INITIATE, '{"tracking": {"tag": "\\ud800"}}', "tracking.tag",
    ),
    "partner subscription update action type": (
        PARTNER_SUBSCRIPTION_UPDATE, '{"order": {"orderItems": [{"orderItemActionType": "\\ud800"}]}}',
        "order.orderItems.0.orderItemActionType",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(SURROGATES))
def test_a_lone_surrogate_anywhere_is_a_validation_error(api_client, world, case):
    endpoint, raw, field = SURROGATES[case]
    before = written()

    response = send(api_client, world, endpoint, raw)

    assert response.status_code == 400
    body = json.loads(response.content.decode("utf-8"))  # valid UTF-8 JSON, in the error shape
    assert body["code"] == "validation_error"
    assert list(body["details"]) == [field]
    assert body["details"][field].startswith(("Surrogate characters are not allowed: U+D800.", "Keys must not"))
    assert written() == before


@pytest.mark.parametrize("endpoint", [INITIATE, UPDATE, ADMIN_INITIATE, ORDER, SUBSCRIPTION_INITIATE])
def test_a_surrogate_with_an_idempotency_key_is_refused_before_the_key_is_recorded(api_client, world, endpoint):
    from checkout_project.api.models import IdempotencyRecord

    if endpoint.cookie is not None:
        api_client.cookies["limio_state"] = world.cookies[endpoint.cookie]
    response = api_client.generic(
        endpoint.method, endpoint.path, (b'{"tracking": {"a": "\\ud800"}}'), content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-1", **bearer(world.tokens[endpoint.token]), **PASS,
    )  # fmt: skip

    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert IdempotencyRecord.objects.count() == 0


def test_the_first_surrogate_is_reported_in_document_order():
    value = {"a": ["ok", "\ud801"], "b": "\udc00"}
    assert first_surrogate(value) == ("a.1", "Surrogate characters are not allowed: U+D801.")
    assert first_surrogate({"x": {"k\udfff": 1}}) == ("x", "Keys must not contain surrogate characters.")
    assert first_surrogate(["\u00e9", {"n": None, "z": 1.5}]) is None


def test_the_renderer_escapes_what_utf8_cannot_carry():
    """A last line of defence: a message that echoes an unencodable value renders, escaped."""
    rendered = JSONRenderer().render({"message": '"\ud800" is not a valid choice.', "name": "Zoë"})

    assert json.loads(rendered) == {"message": '"\ud800" is not a valid choice.', "name": "Zoë"}
    assert b"\\ud800" in rendered
    assert JSONRenderer().render({"name": "Zoë"}) == '{"name":"Zoë"}'.encode()
