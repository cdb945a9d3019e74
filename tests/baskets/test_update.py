"""PUT /api/checkout/update: order-item actions, all-or-nothing, visibility, state, If-Match, auth (API.md §2-§4)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from baskets.api.landing_state import landing_state_value
from baskets.models import Basket, BasketEvent, BasketStatus, OrderItem
from checkout_project.api.models import IdempotencyRecord
from tests.conftest import bearer
from tests.factories import (
    AccessTokenFactory,
    ApplicationFactory,
    BasketFactory,
    CustomerFactory,
    OfferFactory,
    OrderItemFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

URL = "/api/checkout/update"
COOKIE = "limio_state"
NOT_FOUND = {"message": "Basket not found in landing state", "code": "basket_not_found"}


def update(client, token, basket, actions, **extra):
    if basket is not None:
        client.cookies[COOKIE] = landing_state_value(basket)
    auth = bearer(token) if token is not None else {}
    return client.put(URL, {"order": {"orderItems": actions}}, format="json", **auth, **extra)


def add(offer, **fields):
    return {"orderItemActionType": "add", "offer": {"id": offer.id, "version": offer.version}, **fields}


def remove(order_item):
    return {"orderItemActionType": "remove", "id": str(order_item.id)}


def set_quantity(order_item, quantity):
    return {"orderItemActionType": "update", "id": str(order_item.id), "quantity": quantity}


def applied(index, kind, item_id):
    return {"index": index, "orderItemActionType": kind, "status": "applied", "orderItemId": str(item_id)}


def snapshot(basket: Basket):
    """Everything a refused request must leave as it was."""
    basket.refresh_from_db()
    items = list(basket.items.order_by("position").values_list("id", "offer_id", "quantity", "parent_id"))
    return basket.version, basket.updated, basket.status, items, basket.events.count()


@pytest.fixture
def basket(storefront_app):
    return BasketFactory(application=storefront_app)


@pytest.fixture
def offer_item(basket, offer):
    return OrderItemFactory(basket=basket, offer=offer, position=0)


# --- Actions -----------------------------------------------------------------------------


def test_add_an_offer(api_client, storefront_app, storefront_token, basket, offer):
    response = update(api_client, storefront_token, basket, [add(offer, quantity=2)])

    assert response.status_code == 200, response.json()
    new_item = OrderItem.objects.get()
    body = response.json()
    assert body["id"] == f"basket-{basket.id}"
    assert body["actionResults"] == [applied(0, "add", new_item.id)]
    assert body["order"]["orderItems"] == [
        {
            "id": str(new_item.id),
            "type": "offer",
            "offer": {
                "id": offer.id,
                "version": offer.version,
                "name": "Digital monthly",
                "path": "/offers/digital-monthly",
                "products": offer.snapshot["products"],
            },
            "quantity": 2,
            "parentId": None,
            "price": [
                {
                    "name": "Monthly",
                    "amount": "12.99",
                    "currency": "GBP",
                    "type": "recurring",
                    "repeatInterval": 1,
                    "repeatIntervalType": "months",
                    "repeatCount": None,
                    "delayInterval": 0,
                    "delayIntervalType": "months",
                }
            ],
        }
    ]
    assert body["order"]["totals"] == {
        "subtotal": "25.98",
        "discount": "0.00",
        "total": "25.98",
        "currency": "GBP",
        "dueToday": "25.98",
    }
    assert body["order"]["version"] == 2
    assert response["ETag"] == '"2"'
    assert (new_item.offer_id, new_item.offer_version, new_item.quantity) == (offer.id, offer.version, 2)
    event = BasketEvent.objects.get()
    assert (event.basket_id, event.kind, event.version) == (basket.id, "items_changed", 2)
    assert (event.application, event.customer) == (storefront_app, None)
    assert event.data == {"actions": [{"index": 0, "type": "add", "item": str(new_item.id)}]}


def test_add_an_add_on_to_an_offer_item(api_client, storefront_token, basket, offer_item, add_on):
    response = update(api_client, storefront_token, basket, [add(add_on, type="add_on", parentId=str(offer_item.id))])

    assert response.status_code == 200, response.json()
    add_on_item = OrderItem.objects.get(offer=add_on)
    assert add_on_item.parent_id == offer_item.id
    assert response.json()["actionResults"] == [applied(0, "add", add_on_item.id)]
    items = response.json()["order"]["orderItems"]
    assert [(i["id"], i["type"], i["parentId"]) for i in items] == [
        (str(offer_item.id), "offer", None),
        (str(add_on_item.id), "add_on", str(offer_item.id)),
    ]
    assert response.json()["order"]["totals"]["total"] == "15.49"


def test_remove_an_item_removes_its_add_ons(api_client, storefront_token, basket, offer_item, offer, add_on):
    child = OrderItemFactory(basket=basket, offer=add_on, parent=offer_item, position=1)
    other = OrderItemFactory(basket=basket, offer=OfferFactory(), position=2)

    response = update(api_client, storefront_token, basket, [remove(offer_item)])

    assert response.status_code == 200, response.json()
    assert response.json()["actionResults"] == [applied(0, "remove", offer_item.id)]
    assert [i["id"] for i in response.json()["order"]["orderItems"]] == [str(other.id)]
    assert list(OrderItem.objects.values_list("id", flat=True)) == [other.id]
    assert not OrderItem.objects.filter(id__in=[offer_item.id, child.id]).exists()
    assert response.json()["order"]["totals"]["total"] == "12.99"


def test_remove_an_add_on_keeps_its_parent(api_client, storefront_token, basket, offer_item, add_on):
    child = OrderItemFactory(basket=basket, offer=add_on, parent=offer_item, position=1)

    response = update(api_client, storefront_token, basket, [remove(child)])

    assert response.status_code == 200, response.json()
    assert list(OrderItem.objects.values_list("id", flat=True)) == [offer_item.id]


def test_update_a_quantity(api_client, storefront_token, basket, offer_item):
    response = update(api_client, storefront_token, basket, [set_quantity(offer_item, 3)])

    assert response.status_code == 200, response.json()
    assert response.json()["actionResults"] == [applied(0, "update", offer_item.id)]
    assert response.json()["order"]["orderItems"][0]["quantity"] == 3
    assert response.json()["order"]["totals"]["total"] == "38.97"
    offer_item.refresh_from_db()
    assert offer_item.quantity == 3


def test_several_actions_apply_in_order_in_one_version(api_client, storefront_token, basket, offer_item, offer, add_on):
    second_offer = OfferFactory(name="Print", path="/offers/print")
    response = update(
        api_client,
        storefront_token,
        basket,
        [
            add(add_on, parentId=str(offer_item.id)),
            set_quantity(offer_item, 2),
            add(second_offer),
            set_quantity(offer_item, 4),
        ],
    )

    assert response.status_code == 200, response.json()
    add_on_item = OrderItem.objects.get(offer=add_on)
    print_item = OrderItem.objects.get(offer=second_offer)
    assert response.json()["actionResults"] == [
        applied(0, "add", add_on_item.id),
        applied(1, "update", offer_item.id),
        applied(2, "add", print_item.id),
        applied(3, "update", offer_item.id),
    ]
    assert [(i["id"], i["quantity"]) for i in response.json()["order"]["orderItems"]] == [
        (str(offer_item.id), 4),
        (str(add_on_item.id), 1),
        (str(print_item.id), 1),
    ]
    assert response.json()["order"]["version"] == 2
    assert BasketEvent.objects.count() == 1


# --- Refused actions: all or nothing -----------------------------------------------------


def test_one_bad_action_refuses_the_whole_list(api_client, storefront_token, basket, offer_item, offer):
    before = snapshot(basket)
    missing = uuid.uuid4()

    response = update(
        api_client,
        storefront_token,
        basket,
        [
            add(offer),
            {"orderItemActionType": "remove", "id": str(missing)},
            set_quantity(offer_item, 2),
        ],
    )

    assert response.status_code == 400
    assert response.json() == {
        "message": f"actions[1]: No order item {missing} in this basket.",
        "code": "order_item_not_found",
        "details": {
            "actions": {"1": {"code": "order_item_not_found", "message": f"No order item {missing} in this basket."}}
        },
    }
    assert snapshot(basket) == before


def test_every_bad_action_is_reported(api_client, storefront_token, basket, offer_item, offer, add_on):
    before = snapshot(basket)
    dollars = OfferFactory(currency="USD")
    unsold = OfferFactory(type="add_on")

    response = update(
        api_client,
        storefront_token,
        basket,
        [
            set_quantity(offer_item, 6),
            add(dollars),
            add(add_on),
            add(unsold, parentId=str(offer_item.id)),
            add(offer, parentId=str(offer_item.id)),
            {"orderItemActionType": "add", "offer": {"id": offer.id, "version": "0" * 40}},
            add(offer, type="add_on"),
            {"orderItemActionType": "add", "offer": {"id": "nope"}},
            add(offer),
        ],
    )

    assert response.status_code == 400
    assert response.json()["code"] == "quantity_out_of_range"
    assert response.json()["message"] == "actions[0]: Quantity must be between 1 and 5 for this offer."
    assert response.json()["details"] == {
        "actions": {
            "0": {"code": "quantity_out_of_range", "message": "Quantity must be between 1 and 5 for this offer."},
            "1": {"code": "currency_mismatch", "message": "The basket is priced in GBP; this offer is in USD."},
            "2": {
                "code": "add_on_parent_required",
                "message": "An add-on needs parentId: an offer item of this basket.",
            },
            "3": {"code": "add_on_not_compatible", "message": "This add-on is not sold with that offer."},
            "4": {"code": "offer_type_mismatch", "message": "Only add-ons have a parentId."},
            "5": {
                "code": "offer_version_stale",
                "message": f"Offer version '{'0' * 40}' is not current (current: {offer.version}).",
            },
            "6": {"code": "offer_type_mismatch", "message": "This offer is of type 'offer'."},
            "7": {"code": "offer_not_found", "message": "Offer 'nope' does not exist or is not published."},
        }
    }
    assert snapshot(basket) == before


def test_an_add_on_cannot_hang_from_another_add_on(api_client, storefront_token, basket, offer_item, add_on):
    child = OrderItemFactory(basket=basket, offer=add_on, parent=offer_item, position=1)
    before = snapshot(basket)

    response = update(api_client, storefront_token, basket, [add(add_on, parentId=str(child.id))])

    assert response.status_code == 400
    assert response.json()["details"] == {
        "actions": {
            "0": {
                "code": "add_on_parent_required",
                "message": "An add-on needs parentId: an offer item of this basket.",
            }
        }
    }
    assert snapshot(basket) == before


def test_an_add_on_cannot_hang_from_an_item_removed_earlier_in_the_list(
    api_client, storefront_token, basket, offer_item, add_on
):
    before = snapshot(basket)

    response = update(
        api_client, storefront_token, basket, [remove(offer_item), add(add_on, parentId=str(offer_item.id))]
    )

    assert response.status_code == 400
    assert response.json()["code"] == "add_on_parent_required"
    assert list(response.json()["details"]["actions"]) == ["1"]
    assert snapshot(basket) == before


def test_an_item_of_another_basket_is_not_found(api_client, storefront_app, storefront_token, basket, offer_item):
    elsewhere = OrderItemFactory(basket=BasketFactory(application=storefront_app))
    before = snapshot(basket)

    response = update(api_client, storefront_token, basket, [set_quantity(elsewhere, 2)])

    assert response.status_code == 400
    assert response.json()["code"] == "order_item_not_found"
    assert snapshot(basket) == before
    elsewhere.refresh_from_db()
    assert elsewhere.quantity == 1


@pytest.mark.parametrize(
    ("action", "details"),
    [
        (
            {"orderItemActionType": "rename"},
            {"order.orderItems.0.orderItemActionType": '"rename" is not a valid choice.'},
        ),
        ({"orderItemActionType": "add"}, {"order.orderItems.0.offer": "An add action needs an offer."}),
        ({"orderItemActionType": "remove"}, {"order.orderItems.0.id": "A remove action needs the order item id."}),
        (
            {"orderItemActionType": "update", "id": str(uuid.UUID(int=1))},
            {"order.orderItems.0.quantity": "An update action needs a quantity."},
        ),
        (
            {"orderItemActionType": "update", "id": str(uuid.UUID(int=1)), "quantity": 0},
            {"order.orderItems.0.quantity": "Ensure this value is greater than or equal to 1."},
        ),
        ({"orderItemActionType": "remove", "id": "not-a-uuid"}, {"order.orderItems.0.id": "Must be a valid UUID."}),
    ],
)
def test_a_malformed_action_is_a_validation_error(api_client, storefront_token, basket, offer_item, action, details):
    before = snapshot(basket)

    response = update(api_client, storefront_token, basket, [action])

    assert response.status_code == 400
    path, message = next(iter(details.items()))
    # The field's path, and (API.md §4: "any invalid action → 400 with details.actions[index]")
    # the action by its index, as a business-rule refusal would be.
    field = path.removeprefix("order.orderItems.0.")
    assert response.json() == {
        "message": f"Invalid request: {path}: {message}",
        "code": "validation_error",
        "details": {**details, "actions": {"0": {"code": "invalid_action", "message": f"{field}: {message}"}}},
    }
    assert snapshot(basket) == before


def test_malformed_actions_are_each_reported_by_index(api_client, storefront_token, basket, offer_item, offer):
    before = snapshot(basket)
    actions = [add(offer), {"orderItemActionType": "update", "id": "nope", "quantity": 0}, remove(offer_item),
               {"orderItemActionType": "remove"}]  # fmt: skip

    response = update(api_client, storefront_token, basket, actions)

    assert response.status_code == 400
    assert response.json()["details"]["actions"] == {
        "1": {
            "code": "invalid_action",
            "message": "id: Must be a valid UUID.; quantity: Ensure this value is greater than or equal to 1.",
        },
        "3": {"code": "invalid_action", "message": "id: A remove action needs the order item id."},
    }
    assert snapshot(basket) == before


def test_an_empty_action_list_is_refused(api_client, storefront_token, basket):
    before = snapshot(basket)

    response = update(api_client, storefront_token, basket, [])

    assert response.status_code == 400
    assert response.json()["details"] == {"order.orderItems": "Ensure this field has at least 1 elements."}
    assert snapshot(basket) == before


def test_at_most_100_actions(api_client, storefront_token, basket, offer_item):
    before = snapshot(basket)

    too_many = update(api_client, storefront_token, basket, [set_quantity(offer_item, 2)] * 101)

    assert too_many.status_code == 400
    assert too_many.json() == {
        "message": "Invalid request: order.orderItems: Ensure this field has no more than 100 elements.",
        "code": "validation_error",
        "details": {"order.orderItems": "Ensure this field has no more than 100 elements."},
    }
    assert snapshot(basket) == before

    hundred = update(api_client, storefront_token, basket, [set_quantity(offer_item, n % 5 + 1) for n in range(100)])

    assert hundred.status_code == 200, hundred.json()
    assert len(hundred.json()["actionResults"]) == 100
    assert hundred.json()["actionResults"][99] == applied(99, "update", offer_item.id)
    offer_item.refresh_from_db()
    assert offer_item.quantity == 5
    assert Basket.objects.get().version == 2


# --- Which basket --------------------------------------------------------------------------


def test_a_missing_cookie_is_not_found(api_client, storefront_token, basket, offer_item):
    before = snapshot(basket)

    response = update(api_client, storefront_token, None, [set_quantity(offer_item, 2)])

    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert snapshot(basket) == before


@pytest.mark.parametrize("value", ["garbage", "basket-", "{basket}:forged-signature", f"basket-{uuid.UUID(int=7)}"])
def test_an_unusable_cookie_is_not_found(api_client, storefront_token, basket, offer_item, value):
    before = snapshot(basket)
    api_client.cookies[COOKIE] = value.format(basket=f"basket-{basket.id}")

    response = update(api_client, storefront_token, None, [set_quantity(offer_item, 2)])

    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert snapshot(basket) == before


def test_a_bare_basket_id_cookie_is_accepted(api_client, storefront_token, basket, offer_item):
    api_client.cookies[COOKIE] = f"basket-{basket.id}"

    response = update(api_client, storefront_token, None, [set_quantity(offer_item, 2)])

    assert response.status_code == 200, response.json()
    assert response.json()["id"] == f"basket-{basket.id}"


def test_another_applications_basket_is_not_found(api_client, other_storefront_token, basket, offer_item):
    before = snapshot(basket)

    response = update(api_client, other_storefront_token, basket, [set_quantity(offer_item, 2)])

    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert snapshot(basket) == before


def test_a_customer_token_sees_its_customers_basket_from_any_application(
    api_client, storefront_app, customer, customer_token, offer
):
    other_app_basket = BasketFactory(
        application=ApplicationFactory(), customer=customer, created_by_customer_token=True
    )
    order_item = OrderItemFactory(basket=other_app_basket, offer=offer)

    response = update(api_client, customer_token, other_app_basket, [set_quantity(order_item, 2)])

    assert response.status_code == 200, response.json()
    event = BasketEvent.objects.get()
    assert (event.application, event.customer) == (storefront_app, customer)


def test_a_customer_token_does_not_see_a_client_token_basket(api_client, customer_token, basket, offer_item):
    before = snapshot(basket)

    response = update(api_client, customer_token, basket, [set_quantity(offer_item, 2)])

    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert snapshot(basket) == before


def test_a_customer_token_does_not_see_another_customers_basket(api_client, storefront_app, customer_token, offer):
    foreign = BasketFactory(application=storefront_app, customer=CustomerFactory(), created_by_customer_token=True)
    order_item = OrderItemFactory(basket=foreign, offer=offer)
    before = snapshot(foreign)

    response = update(api_client, customer_token, foreign, [set_quantity(order_item, 2)])

    assert response.status_code == 404
    assert snapshot(foreign) == before


def test_a_client_token_never_sees_a_customer_token_basket(
    api_client, storefront_app, storefront_token, customer, offer
):
    customers_basket = BasketFactory(application=storefront_app, customer=customer, created_by_customer_token=True)
    order_item = OrderItemFactory(basket=customers_basket, offer=offer)
    before = snapshot(customers_basket)

    response = update(api_client, storefront_token, customers_basket, [set_quantity(order_item, 2)])

    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert snapshot(customers_basket) == before


def test_a_basket_created_through_initiate_can_be_updated_with_its_cookie(api_client, storefront_token, offer):
    created = api_client.post(
        "/api/checkout/initiate",
        {"order": {"orderItems": [{"offer": {"id": offer.id}}]}},
        format="json",
        **bearer(storefront_token),
    )
    item_id = created.json()["order"]["orderItems"][0]["id"]

    # No explicit cookie: the client sends back the one initiate set.
    response = api_client.put(
        URL,
        {"order": {"orderItems": [{"orderItemActionType": "update", "id": item_id, "quantity": 2}]}},
        format="json",
        **bearer(storefront_token),
    )

    assert response.status_code == 200, response.json()
    assert response.json()["id"] == created.json()["id"]
    assert COOKIE not in response.cookies


# --- Basket state ------------------------------------------------------------------------


def test_a_completed_basket_refuses_changes(api_client, storefront_app, storefront_token, offer):
    completed = BasketFactory(application=storefront_app, status=BasketStatus.COMPLETED)
    order_item = OrderItemFactory(basket=completed, offer=offer)
    before = snapshot(completed)

    response = update(api_client, storefront_token, completed, [set_quantity(order_item, 2)])

    assert response.status_code == 409
    assert response.json() == {
        "message": "This basket has already been completed and can no longer change.",
        "code": "basket_completed",
    }
    assert snapshot(completed) == before


@pytest.mark.parametrize("how", ["lifetime over", "status expired"])
def test_an_expired_basket_refuses_changes(api_client, storefront_app, storefront_token, offer, how):
    if how == "lifetime over":
        expired = BasketFactory(application=storefront_app, expires_at=timezone.now() - timedelta(seconds=1))
    else:
        expired = BasketFactory(application=storefront_app, status=BasketStatus.EXPIRED)
    order_item = OrderItemFactory(basket=expired, offer=offer)
    before = snapshot(expired)

    response = update(api_client, storefront_token, expired, [set_quantity(order_item, 2)])

    assert response.status_code == 410
    assert response.json() == {"message": "This basket has expired.", "code": "basket_expired"}
    assert snapshot(expired) == before


@pytest.mark.parametrize(
    "order_type, where",
    [
        ("update_subscription", "change it with PUT /api/checkout/subscription"),
        ("renew", "its items are those of the renewal and cannot be changed"),
    ],
)
def test_a_subscription_change_or_renewal_basket_refuses_acquisition_actions(
    api_client, storefront_app, storefront_token, offer, order_type, where
):
    other = OfferFactory(path="/offers/unrelated")
    basket = BasketFactory(application=storefront_app, order_type=order_type)
    order_item = OrderItemFactory(basket=basket, offer=offer)
    before = snapshot(basket)

    response = update(api_client, storefront_token, basket, [add(other), set_quantity(order_item, 2)])

    assert response.status_code == 409
    assert response.json() == {
        "message": f"This is a {order_type} basket: {where}. PUT /api/checkout/update changes new (acquisition) "
        "baskets.",
        "code": "order_type_mismatch",
        "details": {"order_type": order_type},
    }
    assert snapshot(basket) == before


# --- Versions, ETag and If-Match ---------------------------------------------------------


def test_each_request_bumps_the_version_by_exactly_one(api_client, storefront_token, basket, offer_item, offer):
    versions, etags = [], []
    for actions in (
        [set_quantity(offer_item, 2)],
        [add(offer), add(offer), set_quantity(offer_item, 3)],
        [set_quantity(offer_item, 1)],
    ):
        response = update(api_client, storefront_token, basket, actions)
        assert response.status_code == 200, response.json()
        versions.append(response.json()["order"]["version"])
        etags.append(response["ETag"])

    assert versions == [2, 3, 4]
    assert etags == ['"2"', '"3"', '"4"']
    assert Basket.objects.get().version == 4
    assert list(BasketEvent.objects.order_by("id").values_list("version", flat=True)) == [2, 3, 4]


def test_if_match_with_a_stale_version_is_refused(api_client, storefront_app, storefront_token, offer):
    current = BasketFactory(application=storefront_app, version=3)
    order_item = OrderItemFactory(basket=current, offer=offer)
    before = snapshot(current)

    response = update(api_client, storefront_token, current, [set_quantity(order_item, 2)], HTTP_IF_MATCH='"2"')

    assert response.status_code == 412
    assert response.json() == {
        "message": "The basket changed since you read it (If-Match does not match its version).",
        "code": "precondition_failed",
        "details": {"currentVersion": 3},
    }
    assert snapshot(current) == before


@pytest.mark.parametrize("if_match", ['"3"', 'W/"3"', "3"])
def test_if_match_with_the_current_version_is_applied(api_client, storefront_app, storefront_token, offer, if_match):
    current = BasketFactory(application=storefront_app, version=3)
    order_item = OrderItemFactory(basket=current, offer=offer)

    response = update(api_client, storefront_token, current, [set_quantity(order_item, 2)], HTTP_IF_MATCH=if_match)

    assert response.status_code == 200, response.json()
    assert response["ETag"] == '"4"'
    assert response.json()["order"]["version"] == 4


def test_an_idempotent_retry_replays_without_applying_twice(api_client, storefront_token, basket, offer_item, offer):
    actions = [add(offer)]
    first = update(api_client, storefront_token, basket, actions, HTTP_IDEMPOTENCY_KEY="once")
    retry = update(api_client, storefront_token, basket, actions, HTTP_IDEMPOTENCY_KEY="once")

    assert (first.status_code, retry.status_code) == (200, 200)
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert retry["ETag"] == '"2"'
    assert OrderItem.objects.count() == 2
    assert Basket.objects.get().version == 2

    changed = update(api_client, storefront_token, basket, [add(offer, quantity=2)], HTTP_IDEMPOTENCY_KEY="once")

    assert changed.status_code == 422
    assert changed.json()["code"] == "idempotency_key_reused"
    assert OrderItem.objects.count() == 2


def test_a_key_reused_for_another_basket_or_if_match_is_refused_not_replayed(
    api_client, storefront_app, storefront_token, basket, offer_item, offer
):
    # Same key and body, but the cookie names another basket (or If-Match differs): a different
    # request, so 422, never basket A's answer (and its Set-Cookie) for basket B.
    other = BasketFactory(application=storefront_app)
    OrderItemFactory(basket=other, offer=offer)
    actions = [set_quantity(offer_item, 2)]
    assert update(api_client, storefront_token, basket, actions, HTTP_IDEMPOTENCY_KEY="k").status_code == 200
    before = snapshot(other)

    for target, extra in ((other, {}), (basket, {"HTTP_IF_MATCH": '"2"'})):
        response = update(api_client, storefront_token, target, actions, HTTP_IDEMPOTENCY_KEY="k", **extra)

        assert response.status_code == 422
        assert response.json()["code"] == "idempotency_key_reused"
    assert snapshot(other) == before


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
        return AccessTokenFactory(application=ApplicationFactory(scopes="baskets:read"), scope="baskets:read")
    if case == "admin scope only":
        return AccessTokenFactory(application=ApplicationFactory(scopes="checkout:admin"), scope="checkout:admin")
    if case == "user without customer":
        return AccessTokenFactory(application=storefront_app, user=UserFactory(), scope="checkout")
    if case == "other application":
        return AccessTokenFactory(application=ApplicationFactory(scopes="checkout"), scope="checkout")
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
        ("admin scope only", 403, INSUFFICIENT_SCOPE),
        ("other application", 404, NOT_FOUND),
        ("user without customer", 404, NOT_FOUND),
        ("right scope", 200, None),
    ],
)
def test_auth_matrix(api_client, storefront_app, basket, offer_item, case, status, body):
    token = _token_for(case, storefront_app)
    before = snapshot(basket)

    response = update(api_client, token, basket, [set_quantity(offer_item, 2)], HTTP_IDEMPOTENCY_KEY="auth-matrix")

    assert response.status_code == status
    if body is None:
        assert snapshot(basket)[0] == 2
        return
    assert response.json() == body
    if status == 401:
        assert response["WWW-Authenticate"].startswith('Bearer realm="api"')
    assert snapshot(basket) == before
    assert (Basket.objects.count(), OrderItem.objects.count(), BasketEvent.objects.count()) == (1, 1, 0)
    assert IdempotencyRecord.objects.count() == 0
