"""POST /api/checkout/initiate: shape, landing-state cookie, create-or-update, refusals, auth (API.md §1-§4)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from baskets.api.landing_state import basket_id_from_cookie, landing_state_value
from baskets.links import recovery_link
from baskets.models import Basket, BasketEvent, BasketStatus, OrderItem
from checkout_project.api.models import IdempotencyRecord
from checkout_project.api.wire import iso_utc
from tests.conftest import bearer
from tests.factories import (
    INTRO_THEN_RECURRING,
    AccessTokenFactory,
    ApplicationFactory,
    BasketFactory,
    OfferFactory,
    OrderItemFactory,
    ProductFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

URL = "/api/checkout/initiate"
COOKIE = "limio_state"
FOURTEEN_DAYS = 14 * 24 * 3600


def initiate(client, token, order, **extra):
    auth = bearer(token) if token is not None else {}
    return client.post(URL, {"order": order}, format="json", **auth, **extra)


def item(offer, quantity=None, **fields):
    requested = {"offer": {"id": offer.id, "version": offer.version}, **fields}
    if quantity is not None:
        requested["quantity"] = quantity
    return requested


def row_counts() -> tuple[int, int, int]:
    return Basket.objects.count(), OrderItem.objects.count(), BasketEvent.objects.count()


def offer_item_error(index: int, code: str, message: str, field: str = "orderItems") -> dict:
    return {
        "message": f"{field}[{index}]: {message}",
        "code": code,
        "details": {field: {str(index): {"code": code, "message": message}}},
    }


# --- The happy path ----------------------------------------------------------------------


def test_initiate_creates_a_basket_with_the_whole_order(api_client, storefront_app, storefront_token):
    product = ProductFactory(path="/products/digital", product_code="DIGITAL", name="Digital edition")
    offer = OfferFactory(
        name="Digital intro", path="/offers/digital-intro", products=[product], charges=INTRO_THEN_RECURRING
    )
    before = timezone.now()

    response = initiate(api_client, storefront_token, {"orderItems": [item(offer, quantity=2)]})
    after = timezone.now()

    assert response.status_code == 200, response.json()
    basket = Basket.objects.get()
    order_item = OrderItem.objects.get()
    assert before <= basket.created <= after
    assert basket.expires_at - basket.created == timedelta(days=14)
    assert response.json() == {
        "id": f"basket-{basket.id}",
        "order": {
            "checkoutId": f"basket-{basket.id}",
            "order_type": "new",
            "status": "active",
            "orderItems": [
                {
                    "id": str(order_item.id),
                    "type": "offer",
                    "offer": {
                        "id": offer.id,
                        "version": offer.version,
                        "name": "Digital intro",
                        "path": "/offers/digital-intro",
                        "products": [
                            {"path": "/products/digital", "productCode": "DIGITAL", "name": "Digital edition"}
                        ],
                    },
                    "quantity": 2,
                    "parentId": None,
                    "price": [
                        {
                            "name": "Introductory year",
                            "amount": "75.00",
                            "currency": "GBP",
                            "type": "recurring",
                            "repeatInterval": 52,
                            "repeatIntervalType": "weeks",
                            "repeatCount": 1,
                            "delayInterval": 0,
                            "delayIntervalType": "months",
                        },
                        {
                            "name": "Every 4 weeks",
                            "amount": "31.96",
                            "currency": "GBP",
                            "type": "recurring",
                            "repeatInterval": 4,
                            "repeatIntervalType": "weeks",
                            "repeatCount": None,
                            "delayInterval": 52,
                            "delayIntervalType": "weeks",
                        },
                    ],
                }
            ],
            "customerDetails": {"email": "", "firstName": "", "lastName": "", "companyName": "", "phone": ""},
            "tracking": {},
            "country": None,
            "source": None,
            "external_id": None,
            "customFields": {},
            "promoCode": None,
            # Only the charge that starts without delay is due at checkout: 2 x 75.00.
            "totals": {
                "subtotal": "150.00",
                "discount": "0.00",
                "total": "150.00",
                "currency": "GBP",
                "dueToday": "150.00",
            },
            "version": 1,
            "created": iso_utc(basket.created),
            "updated": iso_utc(basket.updated),
            "expiresAt": iso_utc(basket.expires_at),
            "completed": False,
        },
        "checkoutUrl": f"http://testserver{recovery_link(basket)}",
    }
    assert response["ETag"] == '"1"'
    assert (basket.status, basket.order_type, basket.version, basket.currency) == ("active", "new", 1, "GBP")
    assert (basket.application, basket.customer, basket.created_by_customer_token) == (storefront_app, None, False)
    assert (order_item.offer_id, order_item.offer_version, order_item.quantity) == (offer.id, offer.version, 2)


def test_initiate_sets_a_signed_http_only_landing_state_cookie(api_client, storefront_token, offer):
    response = initiate(api_client, storefront_token, {"orderItems": [item(offer)]})

    assert response.status_code == 200
    basket = Basket.objects.get()
    cookie = response.cookies[COOKIE]
    assert cookie.value == landing_state_value(basket)
    # basket-<uuid>:<link nonce>:<signature>: the hosted pages refuse it once the links are revoked.
    public_id, link_nonce, signature = cookie.value.split(":")
    assert public_id == f"basket-{basket.id}"
    assert link_nonce == basket.link_nonce
    assert len(signature) >= 20
    assert basket_id_from_cookie({COOKIE: cookie.value}) == basket.id
    assert basket_id_from_cookie({COOKIE: f"{public_id}:{link_nonce}:{'A' * len(signature)}"}) is None
    assert basket_id_from_cookie({COOKIE: f"{public_id}:{'A' * len(link_nonce)}:{signature}"}) is None
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    assert cookie["secure"] is True  # the test settings run with DEBUG off
    assert FOURTEEN_DAYS - 5 <= int(cookie["max-age"]) <= FOURTEEN_DAYS


def test_initiate_stores_and_returns_the_order_details(api_client, storefront_token, offer):
    details = {
        "customerDetails": {
            "email": "ada@example.com",
            "firstName": "Ada",
            "lastName": "Lovelace",
            "companyName": "Analytical Engines Ltd",
            "phone": "+44 20 7946 0000",
        },
        "tracking": {"campaign": "spring", "tag": "hero", "offers": ["a", "b"], "purchaseCountryCode": "GB"},
        "country": "GB",
        "source": "web",
        "external_id": "ext-42",
        "customFields": {"newsletter": True, "referrer": {"code": "FRIEND"}},
    }

    response = initiate(api_client, storefront_token, {"orderItems": [item(offer)], **details})

    assert response.status_code == 200, response.json()
    order = response.json()["order"]
    assert {key: order[key] for key in details} == details
    basket = Basket.objects.get()
    assert (basket.email, basket.first_name, basket.last_name, basket.company_name, basket.phone) == (
        "ada@example.com",
        "Ada",
        "Lovelace",
        "Analytical Engines Ltd",
        "+44 20 7946 0000",
    )
    assert basket.tracking == details["tracking"]
    assert basket.custom_fields == {"newsletter": True, "referrer": {"code": "FRIEND"}}
    assert (basket.country, basket.source, basket.external_id) == ("GB", "web", "ext-42")


def test_initiate_with_no_items_creates_an_empty_basket(api_client, storefront_token):
    response = initiate(api_client, storefront_token, {"orderItems": []})

    assert response.status_code == 200
    order = response.json()["order"]
    assert order["orderItems"] == []
    assert order["totals"] == {
        "subtotal": "0.00",
        "discount": "0.00",
        "total": "0.00",
        "currency": "",
        "dueToday": "0.00",
    }
    assert row_counts() == (1, 0, 1)


def test_an_add_on_belongs_to_the_preceding_offer_that_sells_it(api_client, storefront_token, offer, add_on):
    response = initiate(api_client, storefront_token, {"orderItems": [item(offer), item(add_on, type="add_on")]})

    assert response.status_code == 200, response.json()
    parent, child = response.json()["order"]["orderItems"]
    assert (parent["type"], parent["parentId"]) == ("offer", None)
    assert (child["type"], child["parentId"], child["offer"]["id"]) == ("add_on", parent["id"], add_on.id)
    assert OrderItem.objects.get(offer=add_on).parent_id == uuid.UUID(parent["id"])
    assert response.json()["order"]["totals"]["total"] == "15.49"


def test_a_customer_token_creates_a_basket_owned_by_its_customer(
    api_client, storefront_app, customer, customer_token, offer
):
    response = initiate(api_client, customer_token, {"orderItems": [item(offer)]})

    assert response.status_code == 200, response.json()
    basket = Basket.objects.get()
    assert (basket.application, basket.customer, basket.created_by_customer_token) == (storefront_app, customer, True)
    event = BasketEvent.objects.get()
    assert (event.basket, event.kind, event.version) == (basket, "created", 1)
    assert (event.application, event.customer, event.partner, event.staff_user) == (
        storefront_app,
        customer,
        None,
        None,
    )


def test_every_initiate_writes_one_event_with_the_application_as_actor(
    api_client, storefront_app, storefront_token, offer
):
    assert initiate(api_client, storefront_token, {"orderItems": [item(offer, quantity=2)]}).status_code == 200
    assert initiate(api_client, storefront_token, {"orderItems": [item(offer, quantity=3)]}).status_code == 200

    basket = Basket.objects.get()
    events = list(
        BasketEvent.objects.order_by("id").values_list("basket", "kind", "version", "application", "customer")
    )
    assert events == [
        (basket.id, "created", 1, storefront_app.id, None),
        (basket.id, "items_replaced", 2, storefront_app.id, None),
    ]
    assert list(BasketEvent.objects.order_by("id").values_list("data", flat=True)) == [
        {"orderItems": [{"offer": offer.id, "quantity": 2}]},
        {"orderItems": [{"offer": offer.id, "quantity": 3}]},
    ]


# --- Create or update --------------------------------------------------------------------


def test_a_second_initiate_with_the_cookie_replaces_items_and_details(api_client, storefront_token, offer):
    other_offer = OfferFactory(name="Print", path="/offers/print")
    first = initiate(
        api_client,
        storefront_token,
        {
            "orderItems": [item(offer, quantity=2)],
            "customerDetails": {"email": "ada@example.com", "firstName": "Ada"},
            "tracking": {"campaign": "spring"},
            "source": "web",
        },
    )
    assert first.status_code == 200
    first_item = OrderItem.objects.get()

    # The test client sends back the cookie the first response set.
    second = initiate(
        api_client,
        storefront_token,
        {"orderItems": [item(other_offer)], "customerDetails": {"lastName": "Lovelace"}, "country": "FR"},
    )

    assert second.status_code == 200, second.json()
    assert second.json()["id"] == first.json()["id"]
    order = second.json()["order"]
    assert order["version"] == 2
    assert [(i["offer"]["id"], i["quantity"]) for i in order["orderItems"]] == [(other_offer.id, 1)]
    assert order["customerDetails"] == {
        "email": "",
        "firstName": "",
        "lastName": "Lovelace",
        "companyName": "",
        "phone": "",
    }
    assert (order["tracking"], order["country"], order["source"]) == ({}, "FR", None)
    assert second["ETag"] == '"2"'
    assert second.cookies[COOKIE].value == first.cookies[COOKIE].value
    basket = Basket.objects.get()
    assert basket.version == 2
    assert list(basket.items.values_list("offer_id", flat=True)) == [other_offer.id]
    assert not OrderItem.objects.filter(id=first_item.id).exists()


def test_a_bare_basket_id_cookie_is_accepted(api_client, storefront_app, storefront_token, offer):
    basket = BasketFactory(application=storefront_app)
    OrderItemFactory(basket=basket, offer=offer)
    api_client.cookies[COOKIE] = f"basket-{basket.id}"

    response = initiate(api_client, storefront_token, {"orderItems": [item(offer, quantity=3)]})

    assert response.status_code == 200, response.json()
    assert response.json()["id"] == f"basket-{basket.id}"
    assert response.json()["order"]["version"] == 2
    assert Basket.objects.count() == 1
    assert list(OrderItem.objects.values_list("quantity", flat=True)) == [3]


def _foreign_basket_cookie(kind: str, storefront_app, offer) -> tuple[Basket | None, str]:
    """A landing-state cookie this client token must not be able to continue with."""
    if kind == "garbage":
        return None, "garbage"
    if kind == "unknown basket":
        return None, f"basket-{uuid.uuid4()}"
    if kind == "other application":
        basket = BasketFactory(application=ApplicationFactory())
    elif kind == "customer token basket":
        basket = BasketFactory(application=storefront_app, created_by_customer_token=True)
    elif kind in {"update_subscription", "renew"}:
        # A subscription change or renewal basket: initiate never replaces its items.
        basket = BasketFactory(application=storefront_app, order_type=kind)
    elif kind == "completed":
        basket = BasketFactory(application=storefront_app, status=BasketStatus.COMPLETED)
    elif kind == "expired status":
        basket = BasketFactory(application=storefront_app, status=BasketStatus.EXPIRED)
    else:  # "lifetime over" or "bad signature"
        past = timezone.now() - timedelta(days=20) if kind == "lifetime over" else timezone.now()
        basket = BasketFactory(application=storefront_app, created=past)
    OrderItemFactory(basket=basket, offer=offer)
    value = landing_state_value(basket)
    if kind == "bad signature":
        public_id, link_nonce, signature = value.split(":")
        value = f"{public_id}:{link_nonce}:{signature[::-1]}"
    return basket, value


@pytest.mark.parametrize(
    "kind",
    [
        "garbage",
        "unknown basket",
        "bad signature",
        "other application",
        "customer token basket",
        "update_subscription",
        "renew",
        "completed",
        "expired status",
        "lifetime over",
    ],
)
def test_a_cookie_for_a_basket_the_caller_cannot_continue_creates_a_new_basket(
    api_client, storefront_app, storefront_token, offer, kind
):
    existing, value = _foreign_basket_cookie(kind, storefront_app, offer)
    untouched = (existing.version, existing.status, existing.updated) if existing else None
    api_client.cookies[COOKIE] = value

    response = initiate(api_client, storefront_token, {"orderItems": [item(offer, quantity=2)]})

    assert response.status_code == 200, response.json()
    created = Basket.objects.get(application=storefront_app, status="active", version=1, items__quantity=2)
    assert response.json()["id"] == f"basket-{created.id}"
    assert response.cookies[COOKIE].value == landing_state_value(created)
    if existing is not None:
        assert created.id != existing.id
        existing.refresh_from_db()
        assert (existing.version, existing.status, existing.updated) == untouched
        assert list(existing.items.values_list("quantity", flat=True)) == [1]
        assert not existing.events.exists()


def test_a_customer_token_continues_its_customers_basket_from_another_application(
    api_client, customer, customer_token, offer
):
    basket = BasketFactory(application=ApplicationFactory(), customer=customer, created_by_customer_token=True)
    api_client.cookies[COOKIE] = landing_state_value(basket)

    response = initiate(api_client, customer_token, {"orderItems": [item(offer)]})

    assert response.status_code == 200, response.json()
    assert response.json()["id"] == f"basket-{basket.id}"
    assert Basket.objects.count() == 1


# --- Refused orders ----------------------------------------------------------------------


def test_an_unknown_offer_is_refused(api_client, storefront_token, offer):
    response = initiate(api_client, storefront_token, {"orderItems": [item(offer), {"offer": {"id": "f" * 40}}]})

    assert response.status_code == 400
    assert response.json() == offer_item_error(
        1, "offer_not_found", f"Offer '{'f' * 40}' does not exist or is not published."
    )
    assert row_counts() == (0, 0, 0)


def test_an_unpublished_offer_is_refused(api_client, storefront_token):
    unpublished = OfferFactory(published=False)

    response = initiate(api_client, storefront_token, {"orderItems": [item(unpublished)]})

    assert response.status_code == 400
    assert response.json() == offer_item_error(
        0, "offer_not_found", f"Offer '{unpublished.id}' does not exist or is not published."
    )
    assert row_counts() == (0, 0, 0)


def test_a_stale_offer_version_is_refused(api_client, storefront_token, offer):
    stale = "0" * 40

    response = initiate(api_client, storefront_token, {"orderItems": [{"offer": {"id": offer.id, "version": stale}}]})

    assert response.status_code == 400
    assert response.json() == offer_item_error(
        0, "offer_version_stale", f"Offer version '{stale}' is not current (current: {offer.version})."
    )
    assert row_counts() == (0, 0, 0)


def test_an_offer_without_version_gets_the_current_version(api_client, storefront_token, offer):
    response = initiate(api_client, storefront_token, {"orderItems": [{"offer": {"id": offer.id}}]})

    assert response.status_code == 200
    assert response.json()["order"]["orderItems"][0]["offer"]["version"] == offer.version


@pytest.mark.parametrize("quantity", [6, 10_000])
def test_a_quantity_outside_the_offers_range_is_refused(api_client, storefront_token, offer, quantity):
    response = initiate(api_client, storefront_token, {"orderItems": [item(offer, quantity=quantity)]})

    assert response.status_code == 400
    assert response.json() == offer_item_error(
        0, "quantity_out_of_range", "Quantity must be between 1 and 5 for this offer."
    )
    assert row_counts() == (0, 0, 0)


def test_the_offers_maximum_quantity_is_accepted(api_client, storefront_token, offer):
    response = initiate(api_client, storefront_token, {"orderItems": [item(offer, quantity=5)]})

    assert response.status_code == 200
    assert response.json()["order"]["totals"]["total"] == "64.95"


def test_offers_in_two_currencies_are_refused(api_client, storefront_token, offer):
    dollars = OfferFactory(currency="USD")

    response = initiate(api_client, storefront_token, {"orderItems": [item(offer), item(dollars)]})

    assert response.status_code == 400
    assert response.json() == offer_item_error(
        1, "currency_mismatch", "The basket is priced in GBP; this offer is in USD."
    )
    assert row_counts() == (0, 0, 0)


@pytest.mark.parametrize("order", ["add-on alone", "add-on before its offer", "add-on after an offer not selling it"])
def test_an_add_on_needs_a_preceding_offer_that_sells_it(api_client, storefront_token, offer, add_on, order):
    unrelated = OfferFactory()
    items = {
        "add-on alone": [item(add_on)],
        "add-on before its offer": [item(add_on), item(offer)],
        "add-on after an offer not selling it": [item(unrelated), item(add_on)],
    }[order]
    index = [requested["offer"]["id"] for requested in items].index(add_on.id)

    response = initiate(api_client, storefront_token, {"orderItems": items})

    assert response.status_code == 400
    assert response.json() == offer_item_error(
        index, "add_on_parent_required", "An add-on must follow an offer in this order that offers it as an add-on."
    )
    assert row_counts() == (0, 0, 0)


def test_every_refused_item_is_reported(api_client, storefront_token, offer):
    dollars = OfferFactory(currency="USD")

    response = initiate(
        api_client,
        storefront_token,
        {"orderItems": [item(offer), {"offer": {"id": "nope"}}, item(dollars), item(offer, quantity=9)]},
    )

    assert response.status_code == 400
    assert response.json() == {
        "message": "orderItems[1]: Offer 'nope' does not exist or is not published.",
        "code": "offer_not_found",
        "details": {
            "orderItems": {
                "1": {"code": "offer_not_found", "message": "Offer 'nope' does not exist or is not published."},
                "2": {"code": "currency_mismatch", "message": "The basket is priced in GBP; this offer is in USD."},
                "3": {"code": "quantity_out_of_range", "message": "Quantity must be between 1 and 5 for this offer."},
            }
        },
    }


def test_a_refused_replace_leaves_the_landing_basket_unchanged(api_client, storefront_app, storefront_token, offer):
    basket = BasketFactory(application=storefront_app, email="ada@example.com")
    OrderItemFactory(basket=basket, offer=offer, quantity=2)
    api_client.cookies[COOKIE] = landing_state_value(basket)

    response = initiate(
        api_client, storefront_token, {"orderItems": [{"offer": {"id": "nope"}}], "customerDetails": {"email": ""}}
    )

    assert response.status_code == 400
    basket.refresh_from_db()
    assert (basket.version, basket.email) == (1, "ada@example.com")
    assert list(basket.items.values_list("offer_id", "quantity")) == [(offer.id, 2)]
    assert row_counts() == (1, 1, 0)


@pytest.mark.parametrize(
    ("order", "details"),
    [
        (None, {"order": "This field may not be null."}),
        ({}, {"order.orderItems": "This field is required."}),
        ({"orderItems": "x"}, {"order.orderItems": 'Expected a list of items but got type "str".'}),
        ({"orderItems": {"offer": {"id": "x"}}}, {"order.orderItems": 'Expected a list of items but got type "dict".'}),
        ({"orderItems": [{}]}, {"order.orderItems.0.offer": "This field is required."}),
        (
            {"orderItems": [{"offer": {"id": "x"}, "quantity": 0}]},
            {"order.orderItems.0.quantity": "Ensure this value is greater than or equal to 1."},
        ),
        (
            {"orderItems": [{"offer": {"id": "x"}, "quantity": -1}]},
            {"order.orderItems.0.quantity": "Ensure this value is greater than or equal to 1."},
        ),
        (
            {"orderItems": [{"offer": {"id": "x"}, "quantity": 10_001}]},
            {"order.orderItems.0.quantity": "Ensure this value is less than or equal to 10000."},
        ),
        (
            {"orderItems": [{"offer": {"id": "x"}, "quantity": 1.5}]},
            {"order.orderItems.0.quantity": "A valid integer is required."},
        ),
        (
            {"orderItems": [{"offer": {"id": "x"}, "type": "bundle"}]},
            {"order.orderItems.0.type": '"bundle" is not a valid choice.'},
        ),
        (
            {"orderItems": [{"offer": {"id": "x" * 41}}]},
            {"order.orderItems.0.offer.id": "Ensure this field has no more than 40 characters."},
        ),
        ({"orderItems": [], "country": "gb"}, {"order.country": "This value does not match the required pattern."}),
        ({"orderItems": [], "country": "GBR"}, {"order.country": "This value does not match the required pattern."}),
        (
            {"orderItems": [], "customerDetails": {"email": "not-an-email"}},
            {"order.customerDetails.email": "Enter a valid email address."},
        ),
        ({"orderItems": [], "order_type": "renew"}, {"order.order_type": '"renew" is not a valid choice.'}),
        (
            {"orderItems": [], "tracking": ["campaign"]},
            {"order.tracking": 'Expected a dictionary of items but got type "list".'},
        ),
        (
            {"orderItems": [], "customFields": {"blob": "x" * 9000}},
            {"order.customFields": "At most 8192 bytes of JSON."},
        ),
        (
            {"orderItems": [{"offer": {"id": "x"}, "quantity": 0}], "country": "gb"},
            {
                "order.country": "This value does not match the required pattern.",
                "order.orderItems.0.quantity": "Ensure this value is greater than or equal to 1.",
            },
        ),
    ],
)
def test_invalid_input_is_a_validation_error_keyed_by_field_path(api_client, storefront_token, order, details):
    response = api_client.post(URL, {"order": order}, format="json", **bearer(storefront_token))

    assert response.status_code == 400
    first_path, first_message = next(iter(details.items()))
    assert response.json() == {
        "message": f"Invalid request: {first_path}: {first_message}",
        "code": "validation_error",
        "details": details,
    }
    assert row_counts() == (0, 0, 0)


def test_a_missing_order_is_a_validation_error(api_client, storefront_token):
    response = api_client.post(URL, {}, format="json", **bearer(storefront_token))

    assert response.status_code == 400
    assert response.json() == {
        "message": "Invalid request: order: This field is required.",
        "code": "validation_error",
        "details": {"order": "This field is required."},
    }


# --- Idempotency-Key ---------------------------------------------------------------------


def test_the_same_idempotency_key_and_body_replays_the_first_answer(api_client, storefront_token, offer):
    order = {"orderItems": [item(offer, quantity=2)]}
    first = initiate(api_client, storefront_token, order, HTTP_IDEMPOTENCY_KEY="key-1")
    assert first.status_code == 200
    assert "Idempotent-Replayed" not in first

    # A retry from a client that never saw the first answer (so it has no cookie either).
    retry = initiate(APIClient(), storefront_token, order, HTTP_IDEMPOTENCY_KEY="key-1")

    assert retry.status_code == 200
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert retry["ETag"] == '"1"'
    cookie = retry.cookies[COOKIE]
    assert cookie.value == first.cookies[COOKIE].value
    assert (cookie["httponly"], cookie["samesite"], cookie["path"]) == (True, "Lax", "/")
    assert row_counts() == (1, 1, 1)
    assert Basket.objects.get().version == 1


def test_the_same_idempotency_key_with_another_body_is_refused(api_client, storefront_token, offer):
    first = initiate(api_client, storefront_token, {"orderItems": [item(offer)]}, HTTP_IDEMPOTENCY_KEY="k")
    assert first.status_code == 200

    response = initiate(
        APIClient(), storefront_token, {"orderItems": [item(offer, quantity=2)]}, HTTP_IDEMPOTENCY_KEY="k"
    )

    assert response.status_code == 422
    assert response.json() == {
        "message": "This Idempotency-Key was used with a different request.",
        "code": "idempotency_key_reused",
    }
    assert row_counts() == (1, 1, 1)
    assert list(OrderItem.objects.values_list("quantity", flat=True)) == [1]


def test_an_idempotency_key_is_per_application(api_client, storefront_token, other_storefront_token, offer):
    order = {"orderItems": [item(offer)]}
    first = initiate(api_client, storefront_token, order, HTTP_IDEMPOTENCY_KEY="shared")

    other = initiate(APIClient(), other_storefront_token, order, HTTP_IDEMPOTENCY_KEY="shared")

    assert other.status_code == 200
    assert "Idempotent-Replayed" not in other
    assert other.json()["id"] != first.json()["id"]
    assert Basket.objects.count() == 2


@pytest.mark.parametrize(
    "refused_order",
    [{"orderItems": [{"offer": {"id": "nope"}}]}, {"orderItems": [{"offer": {"id": "x"}, "quantity": 0}]}],
    ids=["business rule", "validation"],
)
def test_a_refused_request_does_not_burn_its_idempotency_key(api_client, storefront_token, offer, refused_order):
    refused = initiate(api_client, storefront_token, refused_order, HTTP_IDEMPOTENCY_KEY="retry-me")
    assert refused.status_code == 400
    assert IdempotencyRecord.objects.count() == 0

    accepted = initiate(api_client, storefront_token, {"orderItems": [item(offer)]}, HTTP_IDEMPOTENCY_KEY="retry-me")

    assert accepted.status_code == 200, accepted.json()
    assert "Idempotent-Replayed" not in accepted
    assert row_counts() == (1, 1, 1)


# --- If-Match ----------------------------------------------------------------------------


def test_if_match_with_a_stale_version_refuses_the_replace(api_client, storefront_app, storefront_token, offer):
    basket = BasketFactory(application=storefront_app, version=2, source="web")
    OrderItemFactory(basket=basket, offer=offer, quantity=2)
    api_client.cookies[COOKIE] = landing_state_value(basket)

    response = initiate(
        api_client, storefront_token, {"orderItems": [item(offer, quantity=3)], "source": "app"}, HTTP_IF_MATCH='"1"'
    )

    assert response.status_code == 412
    assert response.json() == {
        "message": "The basket changed since you read it (If-Match does not match its version).",
        "code": "precondition_failed",
        "details": {"currentVersion": 2},
    }
    basket.refresh_from_db()
    assert (basket.version, basket.source) == (2, "web")
    assert list(basket.items.values_list("quantity", flat=True)) == [2]
    assert row_counts() == (1, 1, 0)


@pytest.mark.parametrize("if_match", ['"2"', 'W/"2"', "2", "*"])
def test_if_match_with_the_current_version_allows_the_replace(
    api_client, storefront_app, storefront_token, offer, if_match
):
    basket = BasketFactory(application=storefront_app, version=2)
    OrderItemFactory(basket=basket, offer=offer, quantity=2)
    api_client.cookies[COOKIE] = landing_state_value(basket)

    response = initiate(api_client, storefront_token, {"orderItems": [item(offer, quantity=3)]}, HTTP_IF_MATCH=if_match)

    assert response.status_code == 200, response.json()
    assert response["ETag"] == '"3"'
    assert response.json()["order"]["version"] == 3


@pytest.mark.parametrize("if_match", ["abc", '"1.0"', "²", "-1", "9" * 5000])
def test_a_malformed_if_match_is_refused(api_client, storefront_token, offer, if_match):
    response = initiate(api_client, storefront_token, {"orderItems": [item(offer)]}, HTTP_IF_MATCH=if_match)

    assert response.status_code == 400
    assert response.json() == {"message": 'If-Match must be a basket version, e.g. "3".', "code": "invalid_if_match"}
    assert row_counts() == (0, 0, 0)


# --- Auth matrix -------------------------------------------------------------------------


def _token_for(case: str, storefront_app):
    if case == "no token":
        return None
    if case == "expired token":
        return AccessTokenFactory(application=storefront_app, expires=timezone.now() - timedelta(seconds=1))
    if case == "revoked token":
        token = AccessTokenFactory(application=storefront_app)
        token.revoke()
        return token
    if case == "unknown token":
        return AccessTokenFactory.build(token="never-issued")
    if case == "wrong scope":
        app = ApplicationFactory(scopes="baskets:read")
        return AccessTokenFactory(application=app, scope="baskets:read")
    if case == "no scope":
        return AccessTokenFactory(application=storefront_app, scope="")
    return AccessTokenFactory(application=storefront_app, scope="checkout")


UNAUTHORIZED = {"message": "Unauthorized", "code": "unauthorized"}
INSUFFICIENT_SCOPE = {"message": "This endpoint needs the 'checkout' scope.", "code": "insufficient_scope"}


@pytest.mark.parametrize(
    ("case", "status", "body"),
    [
        ("no token", 401, UNAUTHORIZED),
        ("expired token", 401, UNAUTHORIZED),
        ("revoked token", 401, UNAUTHORIZED),
        ("unknown token", 401, UNAUTHORIZED),
        ("wrong scope", 403, INSUFFICIENT_SCOPE),
        ("no scope", 403, INSUFFICIENT_SCOPE),
        ("right scope", 200, None),
    ],
)
def test_auth_matrix(api_client, storefront_app, offer, case, status, body):
    token = _token_for(case, storefront_app)

    response = initiate(api_client, token, {"orderItems": [item(offer)]}, HTTP_IDEMPOTENCY_KEY="auth-matrix")

    assert response.status_code == status
    if body is None:
        assert row_counts() == (1, 1, 1)
        return
    assert response.json() == body
    if status == 401:
        assert response["WWW-Authenticate"].startswith('Bearer realm="api"')
    assert COOKIE not in response.cookies
    assert row_counts() == (0, 0, 0)
    assert IdempotencyRecord.objects.count() == 0


def test_an_expired_token_is_told_why_in_the_challenge(api_client, storefront_app, offer):
    token = AccessTokenFactory(application=storefront_app, expires=timezone.now() - timedelta(seconds=1))

    response = initiate(api_client, token, {"orderItems": [item(offer)]})

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == (
        'Bearer realm="api",error="invalid_token",error_description="The access token has expired."'
    )


def test_a_user_token_without_a_customer_account_is_refused(api_client, storefront_app, offer):
    token = AccessTokenFactory(application=storefront_app, user=UserFactory(), scope="checkout")

    response = initiate(api_client, token, {"orderItems": [item(offer)]})

    assert response.status_code == 403
    assert response.json() == {"message": "This user has no customer account.", "code": "no_customer_account"}
    assert row_counts() == (0, 0, 0)


@pytest.mark.parametrize(
    "authorization", ["Bearer", "Bearer ", "Bearer a b", "Basic Zm9vOmJhcg==", "Token abc", "bearer\x00x", "x" * 5000]
)
def test_a_malformed_authorization_header_is_unauthorized(api_client, offer, authorization):
    response = api_client.post(
        URL, {"order": {"orderItems": [item(offer)]}}, format="json", HTTP_AUTHORIZATION=authorization
    )

    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert row_counts() == (0, 0, 0)
