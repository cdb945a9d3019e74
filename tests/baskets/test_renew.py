"""POST /api/admin/checkout/initiate/renew (scope checkout:admin)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from baskets.models import Basket, BasketEvent, OrderItem
from subscriptions.models import Subscription, SubscriptionAddOn
from tests.conftest import bearer
from tests.factories import AccessTokenFactory, ApplicationFactory, OfferFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
URL = "/api/admin/checkout/initiate/renew"


@pytest.fixture
def subscription(customer, offer, add_on):
    customer.segments = ["loyal", "digital"]
    customer.save()
    subscription = SubscriptionFactory(customer=customer, offer=offer, quantity=1)
    SubscriptionAddOn.objects.create(subscription=subscription, offer=add_on, quantity=2)
    return subscription


def nothing_written():
    return Basket.objects.count() == 0 and OrderItem.objects.count() == 0 and BasketEvent.objects.count() == 0


@pytest.mark.parametrize(
    "body_for",
    [
        lambda s: {"subscription": {"id": s.public_id}},
        lambda s: {"subscription": {"reference": s.reference}},
        lambda s: {"subscriptionId": s.public_id},
        lambda s: {"subscriptionReference": s.reference},
    ],
    ids=["id", "reference", "top-level id", "top-level reference"],
)
def test_renew_creates_a_renew_basket_with_offer_and_add_ons(
    api_client, backoffice_token, subscription, offer, add_on, body_for
):
    response = api_client.post(URL, body_for(subscription), format="json", **bearer(backoffice_token))

    assert response.status_code == 200, response.json()
    body = response.json()
    basket = Basket.objects.get()
    assert body["id"] == basket.public_id
    assert body["segments"] == ["loyal", "digital"]
    assert response["ETag"] == '"1"'
    assert basket.order_type == "renew"
    assert basket.for_subscription == subscription
    assert basket.customer == subscription.customer
    assert basket.application == backoffice_token.application
    assert basket.email == subscription.customer.email
    items = body["order"]["orderItems"]
    assert [(i["offer"]["id"], i["quantity"], i["type"]) for i in items] == [
        (offer.id, 1, "offer"),
        (add_on.id, 2, "add_on"),
    ]
    assert items[1]["parentId"] == items[0]["id"]
    assert body["order"]["order_type"] == "renew"
    assert body["order"]["totals"]["subtotal"] == "17.99"  # 12.99 + 2 x 2.50
    assert BasketEvent.objects.get().data["renewal"] == subscription.public_id


def test_renew_uses_the_renewal_offer_and_drops_add_ons_it_does_not_sell(
    api_client, backoffice_token, subscription, offer
):
    successor = OfferFactory(name="Digital monthly 2027", path="/offers/digital-monthly-2027")
    offer.renewal_offer = successor
    offer.save()

    response = api_client.post(
        URL, {"subscriptionId": subscription.public_id}, format="json", **bearer(backoffice_token)
    )

    assert response.status_code == 200, response.json()
    assert [i["offer"]["id"] for i in response.json()["order"]["orderItems"]] == [successor.id]


def test_unpublished_renewal_offer_is_refused(api_client, backoffice_token, subscription, offer):
    offer.published = False
    offer.save()
    response = api_client.post(
        URL, {"subscriptionId": subscription.public_id}, format="json", **bearer(backoffice_token)
    )
    assert response.status_code == 400
    assert response.json()["code"] == "renewal_offer_unavailable"
    assert nothing_written()


def test_cancelled_subscription_is_409(api_client, backoffice_token, subscription):
    Subscription.objects.filter(pk=subscription.pk).update(status="cancelled")
    response = api_client.post(
        URL, {"subscriptionId": subscription.public_id}, format="json", **bearer(backoffice_token)
    )
    assert response.status_code == 409
    assert response.json()["code"] == "subscription_not_active"
    assert nothing_written()


@pytest.mark.parametrize(
    "body",
    [
        {"subscriptionId": "sub-00000000-0000-4000-8000-000000000000"},
        {"subscription": {"reference": "ZZZZZZZZZZZZ"}},
    ],
)
def test_unknown_subscription_is_404(api_client, backoffice_token, subscription, body):
    response = api_client.post(URL, body, format="json", **bearer(backoffice_token))
    assert response.status_code == 404
    assert response.json() == {"message": "Subscription not found", "code": "subscription_not_found"}
    assert nothing_written()


@pytest.mark.parametrize(
    "body",
    [{}, {"subscription": {}}, {"subscriptionId": "sub-nope"}, {"subscription": "x"}, {"subscriptionReference": 7}],
)
def test_invalid_body_is_400(api_client, backoffice_token, subscription, body):
    response = api_client.post(URL, body, format="json", **bearer(backoffice_token))
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert nothing_written()


@pytest.mark.parametrize("case", ["no token", "expired token", "wrong scope", "partner scope"])
def test_refused_callers_change_nothing(api_client, subscription, case):
    headers = {}
    if case == "expired token":
        app = ApplicationFactory(scopes="checkout:admin")
        headers = bearer(
            AccessTokenFactory(application=app, scope="checkout:admin", expires=timezone.now() - timedelta(seconds=1))
        )
    elif case == "wrong scope":
        headers = bearer(AccessTokenFactory(scope="checkout baskets:read"))
    elif case == "partner scope":
        headers = bearer(AccessTokenFactory(scope="partner"))

    response = api_client.post(URL, {"subscriptionId": subscription.public_id}, format="json", **headers)

    expected = 403 if case in {"wrong scope", "partner scope"} else 401
    assert response.status_code == expected
    assert response.json()["code"] == ("insufficient_scope" if expected == 403 else "unauthorized")
    assert nothing_written()


@pytest.mark.usefixtures("token_cache_off")
def test_query_count_does_not_grow_with_add_ons(api_client, backoffice_token, customer, offer):
    add_ons = [
        OfferFactory(type="add_on", path=f"/offers/extra-{n}", max_quantity=3) for n in range(6)
    ]  # fmt: skip
    offer.cross_sell_add_ons.add(*add_ons)
    small = SubscriptionFactory(customer=customer, offer=offer)
    SubscriptionAddOn.objects.create(subscription=small, offer=add_ons[0])
    big = SubscriptionFactory(customer=customer, offer=offer)
    for add_on in add_ons:
        SubscriptionAddOn.objects.create(subscription=big, offer=add_on)

    counts = []
    for subscription in (small, big):
        with CaptureQueriesContext(connection) as queries:
            response = api_client.post(
                URL, {"subscriptionId": subscription.public_id}, format="json", **bearer(backoffice_token)
            )
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert counts[1] <= 10
