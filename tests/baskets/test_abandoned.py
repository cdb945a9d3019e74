"""GET /api/checkout/abandoned: shape, filters, keyset pagination, cursor validation, auth (API.md §4)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from baskets.models import Basket, BasketStatus
from tests.conftest import bearer
from tests.factories import (
    AccessTokenFactory,
    ApplicationFactory,
    BasketFactory,
    CustomerFactory,
    OfferFactory,
    OrderItemFactory,
    PartnerFactory,
    ProductFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

URL = "/api/checkout/abandoned"
T0 = datetime(2024, 3, 26, 15, 44, 54, 975000, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def cursor_of(payload: dict) -> str:
    return b64(json.dumps(payload).encode())


def get(api_client, token, **params):
    return api_client.get(URL, params, **(bearer(token) if token is not None else {}))


def ids(response) -> list[str]:
    return [item["id"] for item in response.json()["items"]]


# --- Shape -------------------------------------------------------------------------------


def test_item_has_the_contract_shape(api_client, backoffice_token, customer):
    product = ProductFactory(path="/products/digital", product_code="DIGITAL", name="Digital")
    offer = OfferFactory(name="Digital monthly", path="/offers/digital-monthly", products=[product])
    basket = BasketFactory(
        created=T0,
        updated=at(60),
        customer=customer,
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        company_name="Analytical Engines",
        phone="+44 20 7946 0000",
        tracking={"campaign": "spring", "offers": [offer.id]},
        custom_fields={"newsletter": True},
        entry={"referer": "https://shop.example.com/offers"},
    )
    OrderItemFactory(basket=basket, offer=offer, quantity=2)

    response = get(api_client, backoffice_token)

    assert response.status_code == 200
    body = response.json()
    # A signed, time-stamped token: its form here, its working in tests/baskets/test_links.py.
    recovery_link = body["items"][0].pop("recoveryLink")
    assert recovery_link.startswith(f"/api/checkout/recover?basketId=basket-{basket.id}&recover=")
    assert body == {
        "items": [
            {
                "id": f"basket-{basket.id}",
                "created": "2024-03-26T15:44:54.975Z",
                "updated": "2024-03-26T15:45:54.975Z",
                "status": "active",
                "customerDetails": {
                    "email": "ada@example.com",
                    "firstName": "Ada",
                    "lastName": "Lovelace",
                    "companyName": "Analytical Engines",
                    "phone": "+44 20 7946 0000",
                },
                "orderItems": [
                    {
                        "name": "Digital monthly",
                        "path": "/offers/digital-monthly",
                        "products": [{"path": "/products/digital", "productCode": "DIGITAL"}],
                    }
                ],
                "tracking": {"campaign": "spring", "offers": [offer.id]},
                "customFields": {"newsletter": True},
                "identities": [
                    {"type": "customer", "id": f"cus-{customer.id}", "email": customer.email},
                    {"type": "email", "email": "ada@example.com"},
                ],
                "entry": {"referer": "https://shop.example.com/offers"},
                "partner": None,
                "completed": False,
            }
        ]
    }


def test_anonymous_basket_without_items_has_empty_collections(api_client, backoffice_token):
    basket = BasketFactory(created=T0)

    item = get(api_client, backoffice_token).json()["items"][0]

    assert item["id"] == basket.public_id
    assert item["customerDetails"] == {"email": "", "firstName": "", "lastName": "", "companyName": "", "phone": ""}
    assert item["orderItems"] == []
    assert item["identities"] == []
    assert item["tracking"] == {}
    assert item["customFields"] == {}
    assert item["entry"] == {}


def test_order_items_are_listed_in_basket_order(api_client, backoffice_token):
    basket = BasketFactory(created=T0)
    second = OfferFactory(name="Second", path="/offers/second")
    first = OfferFactory(name="First", path="/offers/first")
    OrderItemFactory(basket=basket, offer=second, position=1)
    OrderItemFactory(basket=basket, offer=first, position=0)

    item = get(api_client, backoffice_token).json()["items"][0]

    assert [line["name"] for line in item["orderItems"]] == ["First", "Second"]


# --- Which baskets, in which order ----------------------------------------------------------


def test_completed_baskets_are_excluded_and_expired_ones_included(api_client, backoffice_token):
    active = BasketFactory(created=at(0))
    BasketFactory(created=at(1), status=BasketStatus.COMPLETED, completed_at=at(2))
    expired = BasketFactory(created=at(2), status=BasketStatus.EXPIRED)
    # Past its lifetime but not yet swept to `expired`: still abandoned.
    lapsed = BasketFactory(created=at(3), expires_at=at(4))

    response = get(api_client, backoffice_token)

    assert ids(response) == [active.public_id, expired.public_id, lapsed.public_id]
    assert [item["status"] for item in response.json()["items"]] == ["active", "expired", "active"]
    assert all(item["completed"] is False for item in response.json()["items"])


def test_oldest_first_then_by_id(api_client, backoffice_token):
    newest = BasketFactory(created=at(10))
    oldest = BasketFactory(created=at(-10))
    twins = [BasketFactory(created=at(0)), BasketFactory(created=at(0)), BasketFactory(created=at(0))]
    twins.sort(key=lambda basket: basket.id)

    response = get(api_client, backoffice_token)

    assert ids(response) == [b.public_id for b in [oldest, *twins, newest]]
    assert "queryMore" not in response.json()


def test_created_after_is_strict(api_client, backoffice_token):
    BasketFactory(created=at(-1))
    BasketFactory(created=at(0))
    later = BasketFactory(created=at(0.001))

    response = get(api_client, backoffice_token, createdAfter="2024-03-26T15:44:54.975Z")

    assert ids(response) == [later.public_id]


def test_created_after_accepts_any_offset(api_client, backoffice_token):
    BasketFactory(created=at(0))
    later = BasketFactory(created=at(1))

    # 17:44:54.975+02:00 is T0 in UTC.
    response = get(api_client, backoffice_token, createdAfter="2024-03-26T17:44:54.975+02:00")

    assert ids(response) == [later.public_id]


def test_updated_after_filters_on_last_change(api_client, backoffice_token):
    BasketFactory(created=at(0), updated=at(5))
    BasketFactory(created=at(1), updated=at(10))
    touched = BasketFactory(created=at(2), updated=at(11))

    response = get(api_client, backoffice_token, updatedAfter=at(10).isoformat())

    assert ids(response) == [touched.public_id]


def test_has_email_keeps_baskets_with_an_email(api_client, backoffice_token):
    BasketFactory(created=at(0))
    with_email = BasketFactory(created=at(1), email="grace@example.com")

    assert ids(get(api_client, backoffice_token, hasEmail="true")) == [with_email.public_id]
    assert len(ids(get(api_client, backoffice_token))) == 2


def test_limit_defaults_to_50(api_client, backoffice_token):
    BasketFactory.create_batch(51, created=at(0))

    response = get(api_client, backoffice_token)

    assert len(response.json()["items"]) == 50
    assert "queryMore" in response.json()


def test_limit_of_1000_is_accepted(api_client, backoffice_token):
    BasketFactory(created=at(0))

    response = get(api_client, backoffice_token, limit=1000)

    assert response.status_code == 200
    assert len(response.json()["items"]) == 1


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "ten"])
def test_limit_out_of_range_is_refused(api_client, backoffice_token, limit):
    response = get(api_client, backoffice_token, limit=limit)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert list(body["details"]) == ["limit"]


@pytest.mark.parametrize(
    "value", ["2024-03-26T15:44:54", "2024-03-26T15:44:54.975", "2024-03-26", "yesterday", "2024-13-01T00:00:00Z"]
)
@pytest.mark.parametrize("param", ["createdAfter", "updatedAfter"])
def test_naive_or_malformed_dates_are_refused(api_client, backoffice_token, param, value):
    response = get(api_client, backoffice_token, **{param: value})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert list(body["details"]) == [param]


# --- Keyset pagination ----------------------------------------------------------------------


def test_walk_over_all_pages_returns_each_basket_once_in_order(api_client, backoffice_token):
    # Microseconds on purpose: the cursor must carry the full precision of `created`.
    same = T0 + timedelta(microseconds=123_457)
    baskets = [
        BasketFactory(created=at(-5)),
        *[BasketFactory(created=same) for _ in range(4)],
        BasketFactory(created=at(7)),
        BasketFactory(created=at(7) + timedelta(microseconds=1)),
        BasketFactory(created=at(8)),
    ]
    BasketFactory(created=same, status=BasketStatus.COMPLETED)
    expected = [b.public_id for b in sorted(baskets, key=lambda b: (b.created, b.id))]

    seen: list[str] = []
    pages = 0
    params: dict[str, str | int] = {"limit": 3}
    while True:
        response = get(api_client, backoffice_token, **params)
        assert response.status_code == 200
        body = response.json()
        pages += 1
        assert len(body["items"]) <= 3
        seen.extend(item["id"] for item in body["items"])
        if "queryMore" not in body:
            break
        params = {"limit": 3, "queryMore": body["queryMore"]}
        assert pages < 10, "pagination does not terminate"

    assert seen == expected
    assert pages == 3
    assert len(set(seen)) == len(baskets)


def test_a_full_last_page_without_more_has_no_cursor(api_client, backoffice_token):
    BasketFactory.create_batch(4, created=at(0))

    first = get(api_client, backoffice_token, limit=2).json()
    second = get(api_client, backoffice_token, limit=2, queryMore=first["queryMore"]).json()

    assert len(second["items"]) == 2
    assert "queryMore" not in second


def test_pages_keep_the_filters(api_client, backoffice_token):
    BasketFactory(created=at(0), email="a@example.com")
    BasketFactory(created=at(1))
    third = BasketFactory(created=at(2), email="c@example.com")
    BasketFactory(created=at(3))
    fifth = BasketFactory(created=at(4), email="e@example.com")

    first = get(api_client, backoffice_token, limit=1, hasEmail="true", createdAfter=at(0).isoformat()).json()
    second = get(
        api_client, backoffice_token, limit=1, hasEmail="true", createdAfter=at(0).isoformat(),
        queryMore=first["queryMore"],
    ).json()  # fmt: skip

    assert [item["id"] for item in first["items"]] == [third.public_id]
    assert [item["id"] for item in second["items"]] == [fifth.public_id]
    assert "queryMore" not in second


def test_cursor_is_base64_json_of_the_last_basket(api_client, backoffice_token):
    created = T0 + timedelta(microseconds=123_456)
    first, second = sorted([BasketFactory(created=created), BasketFactory(created=created)], key=lambda b: b.id)

    body = get(api_client, backoffice_token, limit=1).json()

    assert [item["id"] for item in body["items"]] == [first.public_id]
    payload = json.loads(base64.b64decode(body["queryMore"], validate=True))
    assert set(payload) == {"v", "c", "r"}
    assert payload["v"] == "1"
    assert payload["c"] == str(first.id)
    assert datetime.fromisoformat(payload["r"]) == created
    assert ids(get(api_client, backoffice_token, limit=1, queryMore=body["queryMore"])) == [second.public_id]


def test_a_hand_built_cursor_is_honoured(api_client, backoffice_token):
    a, b = sorted([BasketFactory(created=at(0)), BasketFactory(created=at(0))], key=lambda basket: basket.id)
    c = BasketFactory(created=at(1))

    cursor = cursor_of({"v": "1", "c": str(a.id), "r": "2024-03-26T17:44:54.975+02:00"})

    assert ids(get(api_client, backoffice_token, queryMore=cursor)) == [b.public_id, c.public_id]


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("not base64!", id="not-base64"),
        pytest.param("eyJ2IjoiMSJ", id="truncated-base64"),
        pytest.param("é", id="non-ascii"),
        pytest.param(b64(b"hello, world"), id="base64-of-non-json"),
        pytest.param(b64(b"\xff\xfe\xfd"), id="base64-of-non-utf8"),
        pytest.param(cursor_of(["1", "x", "y"]), id="json-not-an-object"),
        pytest.param(cursor_of({"v": "2", "c": str(uuid.uuid4()), "r": "2024-03-26T15:44:54Z"}), id="wrong-v"),
        pytest.param(cursor_of({"v": 1, "c": str(uuid.uuid4()), "r": "2024-03-26T15:44:54Z"}), id="v-not-string"),
        pytest.param(cursor_of({"c": str(uuid.uuid4()), "r": "2024-03-26T15:44:54Z"}), id="missing-v"),
        pytest.param(cursor_of({"v": "1", "c": "not-a-uuid", "r": "2024-03-26T15:44:54Z"}), id="bad-uuid"),
        pytest.param(cursor_of({"v": "1", "r": "2024-03-26T15:44:54Z"}), id="missing-c"),
        pytest.param(cursor_of({"v": "1", "c": str(uuid.uuid4()), "r": "2024-03-26T15:44:54"}), id="naive-date"),
        pytest.param(cursor_of({"v": "1", "c": str(uuid.uuid4()), "r": "last tuesday"}), id="bad-date"),
        pytest.param(cursor_of({"v": "1", "c": str(uuid.uuid4()), "r": 1711468094}), id="date-not-string"),
        pytest.param(cursor_of({"v": "1", "c": str(uuid.uuid4())}), id="missing-r"),
    ],
)
def test_malformed_cursor_is_refused(api_client, backoffice_token, cursor):
    BasketFactory(created=at(0))

    response = get(api_client, backoffice_token, queryMore=cursor)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_cursor"
    assert body["message"] == "queryMore is not a cursor this API issued."


# --- Auth --------------------------------------------------------------------------------


def test_no_token_is_401(api_client):
    BasketFactory(created=at(0))

    response = api_client.get(URL)

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized", "code": "unauthorized"}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_unknown_token_is_401(api_client):
    response = api_client.get(URL, HTTP_AUTHORIZATION="Bearer not-a-token-we-issued")

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def test_expired_token_is_401(api_client):
    app = ApplicationFactory(scopes="baskets:read")
    token = AccessTokenFactory(application=app, scope="baskets:read", expires=at(-1))
    BasketFactory(created=at(0))

    response = get(api_client, token)

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized", "code": "unauthorized"}


def test_token_without_baskets_read_is_403(api_client, storefront_token):
    BasketFactory(created=at(0), application=storefront_token.application)

    response = get(api_client, storefront_token)

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert "baskets:read" in response.json()["message"]


def test_a_back_office_token_sees_every_basket(api_client, backoffice_token, customer):
    # checkout:admin reaches every basket through the admin endpoints: its feed is the whole export.
    other_app = BasketFactory(created=at(0))
    customer_made = BasketFactory(created=at(1), customer=customer, created_by_customer_token=True)
    partner_basket = BasketFactory(created=at(2), partner=PartnerFactory(slug="acme"))
    assert other_app.application != backoffice_token.application

    response = get(api_client, backoffice_token)

    assert response.status_code == 200
    assert ids(response) == [other_app.public_id, customer_made.public_id, partner_basket.public_id]
    assert response.json()["items"][2]["partner"] == "acme"


def test_a_client_token_with_only_baskets_read_sees_its_applications_client_baskets(api_client, customer):
    # API.md §2, client token: "the baskets that client tokens of the same application created;
    # never a basket created with a customer token"; partner baskets never on public endpoints.
    app = ApplicationFactory(scopes="checkout baskets:read")
    token = AccessTokenFactory(application=app, scope="checkout baskets:read")
    own = BasketFactory(created=at(0), application=app)
    BasketFactory(created=at(1))  # another application's
    BasketFactory(created=at(2), application=app, customer=customer, created_by_customer_token=True)
    BasketFactory(created=at(3), application=app, partner=PartnerFactory())
    own_later = BasketFactory(created=at(4), application=app, email="ada@example.com")

    response = get(api_client, token)

    assert response.status_code == 200
    assert ids(response) == [own.public_id, own_later.public_id]
    assert ids(get(api_client, token, hasEmail="true")) == [own_later.public_id]


def test_customer_token_sees_only_its_customers_baskets(api_client, customer):
    app = ApplicationFactory(scopes="checkout baskets:read")
    token = AccessTokenFactory(application=app, user=customer.user, scope="baskets:read")
    other_app = ApplicationFactory(scopes="checkout")
    own_here = BasketFactory(created=at(0), application=app, customer=customer, created_by_customer_token=True)
    # Created for this customer by another application: still the customer's basket (API.md §2).
    own_elsewhere = BasketFactory(created=at(1), application=other_app, customer=customer)
    BasketFactory(created=at(2), application=app, customer=CustomerFactory(), created_by_customer_token=True)
    BasketFactory(created=at(3), application=app)
    BasketFactory(created=at(4), application=app, customer=customer, status=BasketStatus.COMPLETED)

    response = get(api_client, token)

    assert response.status_code == 200
    assert ids(response) == [own_here.public_id, own_elsewhere.public_id]


def test_customer_token_of_a_user_without_customer_sees_nothing(api_client):
    app = ApplicationFactory(scopes="baskets:read")
    token = AccessTokenFactory(application=app, user=UserFactory(), scope="baskets:read")
    BasketFactory(created=at(0), application=app)

    response = get(api_client, token)

    assert response.status_code == 200
    assert response.json() == {"items": []}


def test_feed_reads_never_change_baskets(api_client, backoffice_token, storefront_token):
    basket = BasketFactory(created=at(0))
    before = Basket.objects.values().get(pk=basket.pk)

    read = get(api_client, backoffice_token)
    refused = [get(api_client, storefront_token).status_code, api_client.get(URL).status_code]

    assert read.status_code == 200
    assert [item["id"] for item in read.json()["items"]] == [basket.public_id]
    assert refused == [403, 401]
    assert Basket.objects.values().get(pk=basket.pk) == before


# --- A read replica -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_with_a_replica_the_feed_reads_it_and_nothing_else_does(api_client, backoffice_token, settings, customer):
    """DATABASE_REPLICA_URL sets ABANDONED_FEED_DATABASE to "replica" (here a mirror of the test database)."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    settings.ABANDONED_FEED_DATABASE = "replica"
    offer = OfferFactory()
    baskets = [BasketFactory(created=at(n), customer=customer) for n in range(3)]
    OrderItemFactory(basket=baskets[0], offer=offer)

    with (
        CaptureQueriesContext(connections["replica"]) as replica,
        CaptureQueriesContext(connections["default"]) as primary,
    ):
        response = get(api_client, backoffice_token, limit=2)

    assert response.status_code == 200, response.json()
    assert ids(response) == [baskets[0].public_id, baskets[1].public_id]
    assert len(response.json()["items"][0]["orderItems"]) == 1
    assert [q["sql"].split()[0] for q in replica.captured_queries] == ["SELECT", "SELECT"]  # the page, its items
    assert all("baskets_basket" not in q["sql"] for q in primary.captured_queries)  # only the token check
