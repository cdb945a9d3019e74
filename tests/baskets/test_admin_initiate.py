"""POST /api/admin/checkout/initiate (scope checkout:admin): assisted sales (API.md §5, §7)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from baskets.links import LinkKind, verify_link_token
from baskets.models import Basket, BasketEvent, OrderItem
from checkout_project.api.models import IdempotencyRecord
from tests.conftest import bearer
from tests.factories import AccessTokenFactory, ApplicationFactory, CustomerFactory

pytestmark = pytest.mark.django_db

URL = "/api/admin/checkout/initiate"


def order_of(offer, quantity=1, **fields):
    return {"orderItems": [{"offer": {"id": offer.id, "version": offer.version}, "quantity": quantity}], **fields}


def post(client, token, body, **extra):
    auth = bearer(token) if token is not None else {}
    return client.post(URL, body, format="json", **auth, **extra)


def row_counts() -> tuple[int, int, int, int]:
    return (
        Basket.objects.count(),
        OrderItem.objects.count(),
        BasketEvent.objects.count(),
        IdempotencyRecord.objects.count(),
    )


def token_of(link: str, parameter: str) -> tuple[str, str, str]:
    """(path, basketId, token) of a link."""
    parts = urlsplit(link)
    query = parse_qs(parts.query, strict_parsing=True)
    assert sorted(query) == sorted(["basketId", parameter])
    return parts.path, query["basketId"][0], query[parameter][0]


# --- Happy paths ----------------------------------------------------------------------------


def test_without_owner_returns_only_a_recovery_link(api_client, backoffice_token, offer):
    response = post(api_client, backoffice_token, {"order": order_of(offer, quantity=2)})

    assert response.status_code == 200, response.json()
    basket = Basket.objects.get()
    body = response.json()
    assert sorted(body) == ["id", "recoveryLink"]
    assert body["id"] == basket.public_id
    path, basket_id, token = token_of(body["recoveryLink"], "recover")
    assert (path, basket_id) == ("/api/checkout/recover", basket.public_id)
    assert verify_link_token(token, kind=LinkKind.RECOVER, basket_id=basket.id, link_nonce=basket.link_nonce) is None
    assert response["ETag"] == '"1"'
    assert "limio_state" not in response.cookies  # the caller is a back office, not the customer
    assert (basket.status, basket.order_type, basket.version, basket.currency) == ("active", "new", 1, "GBP")
    assert basket.application == backoffice_token.application
    assert (basket.customer, basket.created_by_customer_token, basket.created_by_staff) == (None, False, None)
    assert list(OrderItem.objects.values_list("offer_id", "quantity")) == [(offer.id, 2)]
    event = BasketEvent.objects.get()
    assert (event.kind, event.application, event.customer, event.version) == (
        "created",
        backoffice_token.application,
        None,
        1,
    )
    assert event.data == {"orderItems": [{"offer": offer.id, "quantity": 2}], "assisted": True, "owner": None}


@pytest.mark.parametrize("by", ["id", "email", "email in another case"])
def test_with_an_owner_returns_both_links_and_records_the_owner(api_client, backoffice_token, offer, by):
    owner = CustomerFactory(email="grace@example.com", first_name="Grace", last_name="Hopper", phone="+441234")
    CustomerFactory(email="someone.else@example.com")
    reference = {
        "id": {"id": owner.public_id},
        "email": {"email": "grace@example.com"},
        "email in another case": {"email": "Grace@Example.COM"},
    }[by]

    response = post(api_client, backoffice_token, {"order": order_of(offer), "customer": reference})

    assert response.status_code == 200, response.json()
    basket = Basket.objects.get()
    body = response.json()
    assert sorted(body) == ["assistedCheckoutLink", "id", "recoveryLink"]
    path, basket_id, token = token_of(body["assistedCheckoutLink"], "cl")
    assert (path, basket_id) == ("/api/checkout/assisted", basket.public_id)
    assert verify_link_token(token, kind=LinkKind.ASSISTED, basket_id=basket.id, link_nonce=basket.link_nonce) is None
    assert token_of(body["recoveryLink"], "recover")[:2] == ("/api/checkout/recover", basket.public_id)
    assert (basket.customer, basket.created_by_customer_token) == (owner, False)
    assert basket.application == backoffice_token.application
    # The owner's details fill the customer details the order left out.
    assert (basket.email, basket.first_name, basket.last_name, basket.phone) == (
        "grace@example.com",
        "Grace",
        "Hopper",
        "+441234",
    )
    event = BasketEvent.objects.get()
    assert (event.kind, event.customer) == ("created", None)  # the agent acted, not the customer
    assert event.data["owner"] == owner.public_id


def test_given_customer_details_win_over_the_owners(api_client, backoffice_token, offer):
    owner = CustomerFactory(email="grace@example.com", first_name="Grace")
    order = order_of(offer, customerDetails={"email": "work@example.com", "firstName": ""}, country="GB")

    response = post(api_client, backoffice_token, {"order": order, "customer": {"id": owner.public_id}})

    assert response.status_code == 200, response.json()
    basket = Basket.objects.get()
    assert (basket.email, basket.first_name, basket.country) == ("work@example.com", "Grace", "GB")


def test_a_landing_state_cookie_is_ignored(api_client, backoffice_token, offer):
    first = post(api_client, backoffice_token, {"order": order_of(offer)})
    api_client.cookies["limio_state"] = first.json()["id"]

    second = post(api_client, backoffice_token, {"order": order_of(offer, quantity=3)})

    assert second.status_code == 200
    assert second.json()["id"] != first.json()["id"]
    assert Basket.objects.count() == 2


def test_a_customer_token_with_the_admin_scope_does_not_own_the_basket(api_client, offer):
    staff_customer = CustomerFactory()
    app = ApplicationFactory(scopes="checkout:admin")
    token = AccessTokenFactory(application=app, user=staff_customer.user, scope="checkout:admin")

    response = post(api_client, token, {"order": order_of(offer)})

    assert response.status_code == 200, response.json()
    basket = Basket.objects.get()
    assert (basket.customer, basket.created_by_customer_token, basket.application) == (None, False, app)
    assert "assistedCheckoutLink" not in response.json()


def test_links_from_the_response_open_the_basket(api_client, backoffice_token, offer, client):
    owner = CustomerFactory()
    body = post(api_client, backoffice_token, {"order": order_of(offer), "customer": {"id": owner.public_id}}).json()

    for link in (body["recoveryLink"], body["assistedCheckoutLink"]):
        response = client.get(link)
        assert response.status_code == 302, response.content
        assert response["Location"] == "/checkout/"
        assert response.cookies["limio_state"].value
    assert list(BasketEvent.objects.order_by("id").values_list("kind", flat=True)) == [
        "created",
        "recovered",
        "assisted",
    ]


# --- Refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "customer",
    [{"id": "cus-00000000-0000-4000-8000-000000000000"}, {"email": "nobody@example.com"}],
    ids=["unknown id", "unknown email"],
)
def test_unknown_customer_is_400_and_writes_nothing(api_client, backoffice_token, offer, customer):
    CustomerFactory(email="somebody@example.com")

    response = post(api_client, backoffice_token, {"order": order_of(offer), "customer": customer})

    assert response.status_code == 400
    assert response.json() == {"message": "No customer has this id or e-mail.", "code": "customer_not_found"}
    assert row_counts() == (0, 0, 0, 0)


@pytest.mark.parametrize(
    "customer, field",
    [
        ({"id": "cus-nope"}, "customer.id"),
        ({"id": "00000000-0000-4000-8000-000000000000"}, "customer.id"),
        ({"email": "not-an-email"}, "customer.email"),
        ({}, "customer"),
        ({"id": "cus-00000000-0000-4000-8000-000000000000", "email": "a@example.com"}, "customer"),
        ("cus-00000000-0000-4000-8000-000000000000", "customer"),
    ],
    ids=["bad id", "id without prefix", "bad email", "empty", "both", "not an object"],
)
def test_malformed_customer_is_400_invalid_customer(api_client, backoffice_token, offer, customer, field):
    response = post(api_client, backoffice_token, {"order": order_of(offer), "customer": customer})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_customer"
    assert list(body["details"]) == [field]
    assert body["message"].startswith(f"Invalid request: {field}: ")
    assert row_counts() == (0, 0, 0, 0)


def test_a_malformed_order_is_a_validation_error_even_with_a_bad_customer(api_client, backoffice_token):
    response = post(api_client, backoffice_token, {"order": {"orderItems": "x"}, "customer": {"id": "x"}})

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert row_counts() == (0, 0, 0, 0)


def test_a_null_customer_means_no_owner(api_client, backoffice_token, offer):
    response = post(api_client, backoffice_token, {"order": order_of(offer), "customer": None})

    assert response.status_code == 200, response.json()
    assert sorted(response.json()) == ["id", "recoveryLink"]


def test_a_stale_offer_version_is_refused_like_the_public_initiate(api_client, backoffice_token, offer):
    owner = CustomerFactory()
    order = {"orderItems": [{"offer": {"id": offer.id, "version": "0" * 40}}]}

    response = post(api_client, backoffice_token, {"order": order, "customer": {"id": owner.public_id}})

    assert response.status_code == 400
    assert response.json()["code"] == "offer_version_stale"
    assert row_counts() == (0, 0, 0, 0)


# --- Auth matrix --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["no token", "unknown token", "expired token", "checkout scope", "partner scope"])
def test_refused_callers_change_nothing(api_client, offer, case):
    owner = CustomerFactory()
    headers: dict[str, str] = {}
    if case == "unknown token":
        headers = {"HTTP_AUTHORIZATION": "Bearer not-a-token"}
    elif case == "expired token":
        app = ApplicationFactory(scopes="checkout:admin")
        expired = AccessTokenFactory(
            application=app, scope="checkout:admin", expires=timezone.now() - timedelta(seconds=1)
        )
        headers = bearer(expired)
    elif case == "checkout scope":
        headers = bearer(AccessTokenFactory(scope="checkout baskets:read"))
    elif case == "partner scope":
        headers = bearer(AccessTokenFactory(scope="partner"))

    response = api_client.post(
        URL, {"order": order_of(offer), "customer": {"id": owner.public_id}}, format="json", **headers
    )

    expected = 403 if case.endswith("scope") else 401
    assert response.status_code == expected
    assert response.json()["code"] == ("insufficient_scope" if expected == 403 else "unauthorized")
    if expected == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert row_counts() == (0, 0, 0, 0)


def test_the_admin_scope_is_enough(api_client, offer):
    app = ApplicationFactory(scopes="checkout:admin")
    response = post(api_client, AccessTokenFactory(application=app, scope="checkout:admin"), {"order": order_of(offer)})
    assert response.status_code == 200, response.json()


# --- Idempotency-Key ----------------------------------------------------------------------------


def test_the_same_idempotency_key_replays_the_first_answer(api_client, backoffice_token, offer):
    owner = CustomerFactory()
    body = {"order": order_of(offer), "customer": {"email": owner.email}}
    first = post(api_client, backoffice_token, body, HTTP_IDEMPOTENCY_KEY="assist-1")
    assert first.status_code == 200
    assert "Idempotent-Replayed" not in first

    retry = post(api_client, backoffice_token, body, HTTP_IDEMPOTENCY_KEY="assist-1")

    assert retry.status_code == 200
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert retry["ETag"] == '"1"'
    assert row_counts() == (1, 1, 1, 1)


def test_the_same_idempotency_key_with_another_body_is_422(api_client, backoffice_token, offer):
    assert post(api_client, backoffice_token, {"order": order_of(offer)}, HTTP_IDEMPOTENCY_KEY="k").status_code == 200

    response = post(api_client, backoffice_token, {"order": order_of(offer, quantity=2)}, HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert row_counts() == (1, 1, 1, 1)


def test_a_refused_request_does_not_burn_its_idempotency_key(api_client, backoffice_token, offer):
    body = {"order": order_of(offer), "customer": {"email": "later@example.com"}}
    assert post(api_client, backoffice_token, body, HTTP_IDEMPOTENCY_KEY="k").status_code == 400
    CustomerFactory(email="later@example.com")

    response = post(api_client, backoffice_token, body, HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == 200, response.json()
    assert "assistedCheckoutLink" in response.json()
