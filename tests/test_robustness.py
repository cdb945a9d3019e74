"""Robustness: a database failure mid-request changes nothing, and the races the other suites leave out.

Already covered elsewhere (not repeated here): twenty parallel updates of one basket and parallel
initiates with one Idempotency-Key (tests/baskets/test_concurrency.py), parallel completion of one
basket and a promo code's availableQuantity under thirty parallel completions
(tests/baskets/test_order_concurrency.py).

The failure tests run on SQLite and PostgreSQL; the races need PostgreSQL's row locks.
"""

from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.db import connection

from baskets.models import Basket, BasketEvent, OrderItem, Payment, PromoCode, PromoRedemption
from subscriptions.models import Customer, Subscription, SubscriptionAddOn
from tests.conftest import bearer
from tests.factories import BasketFactory, OfferFactory, OrderItemFactory, PromoCodeFactory, SubscriptionFactory
from tests.threads import run_at_once

PASS = {"HTTP_X_LIMIO_RECAPTCHA": "pass-token"}


def basket_state(basket: Basket) -> dict:
    """Everything a request could have changed about a basket."""
    row = Basket.objects.get(pk=basket.pk)
    return {
        "status": row.status,
        "version": row.version,
        "updated": row.updated,
        "promo_code": row.promo_code_id,
        "email": row.email,
        "customer": row.customer_id,
        "items": sorted(
            OrderItem.objects.filter(basket=basket).values_list("id", "offer_id", "quantity", "position", "parent_id")
        ),
        "events": sorted(BasketEvent.objects.filter(basket=basket).values_list("id", "kind", "version")),
    }


# What the database answers when it refuses a write: (SQLSTATE on PostgreSQL, its message).
REFUSALS = {
    "deadlock": ("40P01", "deadlock detected"),  # OperationalError
    "timeout": ("57014", "canceling statement due to statement timeout"),  # OperationalError
    "unique": ("23505", "duplicate key value violates unique constraint"),  # IntegrityError
}
OPERATIONAL = {"deadlock", "timeout"}


@contextmanager
def database_refuses_insert(table: str, refusal: str, *, when: str = "1 = 1"):
    """The database itself fails the INSERT into `table` for which the SQL condition `when` holds.

    A trigger created for the test raises inside the database, on a statement the server received:
    PostgreSQL aborts the transaction (as on a real deadlock, timeout or constraint violation), so
    only a rollback of the whole transaction can undo its earlier writes. `when` is evaluated by
    the failing statement (`NEW` is the row being inserted): a condition on the transaction's
    earlier writes proves they were made, and visible, before the failure. On SQLite the trigger
    RAISEs (IntegrityError), or calls a function that raises (OperationalError)."""
    sqlstate, message = REFUSALS[refusal]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION test_refuse_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF {when} THEN RAISE EXCEPTION '{message}' USING ERRCODE = '{sqlstate}'; END IF; "
                "RETURN NEW; END $$"
            )
            cursor.execute(
                f'CREATE TRIGGER test_refuse_insert BEFORE INSERT ON "{table}" '
                "FOR EACH ROW EXECUTE FUNCTION test_refuse_insert()"
            )
        else:
            if refusal in OPERATIONAL:
                raise_it = "SELECT test_refuse_insert()"

                def refuse():
                    raise RuntimeError(message)  # sqlite3 reports it as an OperationalError

                connection.connection.create_function("test_refuse_insert", 0, refuse)
            else:
                raise_it = f"SELECT RAISE(ABORT, '{message}')"  # a constraint failure: IntegrityError
            cursor.execute(
                f'CREATE TRIGGER test_refuse_insert BEFORE INSERT ON "{table}" '
                f"FOR EACH ROW WHEN {when} BEGIN {raise_it}; END"
            )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f'DROP TRIGGER test_refuse_insert ON "{table}"')
                cursor.execute("DROP FUNCTION test_refuse_insert()")
            else:
                cursor.execute("DROP TRIGGER test_refuse_insert")


# --- A database error mid-request ---------------------------------------------------------------

DATABASE_ERRORS = [
    pytest.param(
        "deadlock",
        503,
        {"message": "The database is unavailable; nothing was changed. Try again.", "code": "database_unavailable"},
        id="operational-503",
    ),
    pytest.param(
        "unique",
        500,
        {"message": "Internal server error.", "code": "server_error"},
        id="integrity-500",
    ),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("refusal", "status", "body"), DATABASE_ERRORS)
def test_a_database_error_after_the_items_were_written_leaves_the_basket_as_it_was(
    api_client, storefront_token, offer, add_on, refusal, status, body
):
    basket = BasketFactory(application=storefront_token.application, version=4)
    first = OrderItemFactory(basket=basket, offer=offer, position=0, quantity=1)
    second = OrderItemFactory(basket=basket, offer=OfferFactory(name="Second", path="/offers/second"), position=1)
    BasketEvent.objects.create(basket=basket, kind="created", version=4)
    before = basket_state(basket)
    # The event is the last write of an update: it fails only once this transaction has deleted the
    # second item, inserted the add-on, set the first item's quantity and bumped the version.
    written = (
        "(SELECT version FROM baskets_basket WHERE id = NEW.basket_id) = 5"
        " AND (SELECT count(*) FROM baskets_orderitem WHERE basket_id = NEW.basket_id AND parent_id IS NULL) = 1"
        " AND (SELECT count(*) FROM baskets_orderitem WHERE basket_id = NEW.basket_id AND parent_id IS NOT NULL) = 1"
        " AND (SELECT max(quantity) FROM baskets_orderitem WHERE basket_id = NEW.basket_id) = 3"
    )
    api_client.cookies["limio_state"] = basket.public_id
    with database_refuses_insert("baskets_basketevent", refusal, when=written):
        response = api_client.put(
            "/api/checkout/update",
            {"order": {"orderItems": [
                {"orderItemActionType": "add", "offer": {"id": add_on.id}, "parentId": str(first.id)},
                {"orderItemActionType": "update", "id": str(first.id), "quantity": 3},
                {"orderItemActionType": "remove", "id": str(second.id)},
            ]}},
            format="json",
            **bearer(storefront_token),
        )  # fmt: skip

    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json() == body
    if status == 503:
        assert response["Retry-After"] == "1"
    assert basket_state(basket) == before


@pytest.mark.django_db(transaction=True)
def test_a_database_error_while_replacing_the_landing_basket_leaves_it_as_it_was(api_client, storefront_token, offer):
    basket = BasketFactory(application=storefront_token.application, email="ada@example.com")
    OrderItemFactory(basket=basket, offer=offer, position=0, quantity=2)
    before = basket_state(basket)
    # The event is the last write: by then the basket took the new e-mail and its items were replaced.
    written = (
        "(SELECT email FROM baskets_basket WHERE id = NEW.basket_id) = 'grace@example.com'"
        " AND (SELECT sum(quantity) FROM baskets_orderitem WHERE basket_id = NEW.basket_id) = 5"
    )
    api_client.cookies["limio_state"] = basket.public_id
    with database_refuses_insert("baskets_basketevent", "deadlock", when=written):
        response = api_client.post(
            "/api/checkout/initiate",
            {
                "order": {
                    "orderItems": [{"offer": {"id": offer.id}, "quantity": 5}],
                    "customerDetails": {"email": "grace@example.com"},
                }
            },
            format="json",
            **bearer(storefront_token),
        )

    assert response.status_code == 503, response.content
    assert response.json()["code"] == "database_unavailable"
    assert "limio_state" not in response.cookies
    assert basket_state(basket) == before
    assert Basket.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_database_error_late_in_completion_leaves_no_order_behind(api_client, storefront_token, offer):
    """The payment row is written after the customer, the promo redemption and the subscription."""
    promo = PromoCodeFactory(code="LASTONE", available_quantity=1)
    basket = BasketFactory(application=storefront_token.application, promo_code=promo)
    OrderItemFactory(basket=basket, offer=offer)
    before = basket_state(basket)
    written = (
        "EXISTS (SELECT 1 FROM subscriptions_customer WHERE email = 'new.buyer@example.com')"
        " AND EXISTS (SELECT 1 FROM subscriptions_subscription)"
        " AND EXISTS (SELECT 1 FROM baskets_promoredemption)"
        " AND (SELECT redeemed_count FROM baskets_promocode) = 1"
    )
    with database_refuses_insert("baskets_payment", "timeout", when=written):
        response = api_client.post(
            "/api/order",
            {"checkoutId": basket.public_id, "customerDetails": {"email": "new.buyer@example.com"}},
            format="json",
            **bearer(storefront_token),
        )

    assert response.status_code == 503, response.content
    assert response.json()["code"] == "database_unavailable"
    assert basket_state(basket) == before
    assert (Customer.objects.count(), Subscription.objects.count(), Payment.objects.count()) == (0, 0, 0)
    assert PromoRedemption.objects.count() == 0
    assert PromoCode.objects.get().redeemed_count == 0

    # Nothing was half-done: the same request succeeds once the database is back, and the last
    # redemption of the code is still there to take.
    response = api_client.post(
        "/api/order",
        {"checkoutId": basket.public_id, "customerDetails": {"email": "new.buyer@example.com"}},
        format="json",
        **bearer(storefront_token),
    )
    assert response.status_code == 200, response.json()
    assert PromoCode.objects.get().redeemed_count == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("table", "written"),
    [
        # Each fails once the writes before it in the order's transaction were made.
        (
            "baskets_promoredemption",
            "(SELECT redeemed_count FROM baskets_promocode) = 1 AND EXISTS (SELECT 1 FROM subscriptions_customer)",
        ),
        (
            "subscriptions_subscription",
            "(SELECT redeemed_count FROM baskets_promocode) = 1 AND EXISTS (SELECT 1 FROM baskets_promoredemption)"
            " AND EXISTS (SELECT 1 FROM subscriptions_customer)",
        ),
        (
            "subscriptions_subscriptionaddon",
            "EXISTS (SELECT 1 FROM subscriptions_subscription) AND EXISTS (SELECT 1 FROM baskets_promoredemption)",
        ),
    ],
    ids=["baskets_promoredemption", "subscriptions_subscription", "subscriptions_subscriptionaddon"],
)
def test_a_database_error_writing_the_order_never_charges(
    api_client, storefront_token, offer, add_on, asserting_gateway, table, written
):
    """The money is only authorised before the order's writes: when the database refuses them,
    the authorisation is voided and nothing is captured (the capture comes after the commit)."""
    basket = BasketFactory(application=storefront_token.application, promo_code=PromoCodeFactory(code="FIRST"))
    parent = OrderItemFactory(basket=basket, offer=offer, position=0)
    OrderItemFactory(basket=basket, offer=add_on, position=1, parent=parent)
    before = basket_state(basket)

    with database_refuses_insert(table, "timeout", when=written):
        response = api_client.post(
            "/api/order",
            {"checkoutId": basket.public_id, "customerDetails": {"email": "buyer@example.com"}},
            format="json",
            **bearer(storefront_token),
        )

    assert response.status_code == 503, response.content
    assert [method for method, _ in asserting_gateway.calls] == ["authorise", "void"]
    assert basket_state(basket) == before
    assert (Subscription.objects.count(), Payment.objects.count(), PromoRedemption.objects.count()) == (0, 0, 0)
    assert (Customer.objects.count(), SubscriptionAddOn.objects.count()) == (0, 0)
    assert PromoCode.objects.get().redeemed_count == 0

    response = api_client.post(
        "/api/order",
        {"checkoutId": basket.public_id, "customerDetails": {"email": "buyer@example.com"}},
        format="json",
        **bearer(storefront_token),
    )
    assert response.status_code == 200, response.json()
    assert [method for method, _ in asserting_gateway.calls] == ["authorise", "void", "authorise", "capture"]
    assert Payment.objects.get().status == "captured"


@pytest.mark.django_db
def test_a_database_error_is_logged_with_its_traceback(api_client, storefront_token, offer, caplog):
    with database_refuses_insert("baskets_basketevent", "timeout"):
        response = api_client.post(
            "/api/checkout/initiate",
            {"order": {"orderItems": [{"offer": {"id": offer.id}}]}},
            format="json",
            **bearer(storefront_token),
        )
    assert response.status_code == 503
    records = [r for r in caplog.records if r.name == "checkout_project.api.errors"]
    assert [r.getMessage() for r in records] == ["database unavailable on /api/checkout/initiate: OperationalError"]
    assert records[0].exc_info is not None


# --- Races the other suites do not cover (PostgreSQL) --------------------------------------------


@pytest.mark.requires_postgres
@pytest.mark.django_db(transaction=True)
def test_updates_racing_the_completion_of_their_basket_never_change_a_completed_order(storefront_token, offer):
    """One request completes the basket while seven add items: an add lands before or is refused 409."""
    offers = [OfferFactory(name=f"Race {n}", path=f"/offers/race-{n}") for n in range(7)]
    basket = BasketFactory(application=storefront_token.application, email="racer@example.com")
    OrderItemFactory(basket=basket, offer=offer)

    def send(index, client):
        if index == 0:
            return client.post(
                "/api/order", {"checkoutId": basket.public_id}, format="json", **bearer(storefront_token)
            )
        client.cookies["limio_state"] = basket.public_id
        return client.put(
            "/api/checkout/update",
            {"order": {"orderItems": [{"orderItemActionType": "add", "offer": {"id": offers[index - 1].id}}]}},
            format="json",
            **bearer(storefront_token),
        )

    responses = run_at_once(8, send)

    assert responses[0].status_code == 200, responses[0].json()
    updates = responses[1:]
    assert {r.status_code for r in updates} <= {200, 409}, [r.json() for r in updates]
    assert {r.json()["code"] for r in updates if r.status_code == 409} <= {"basket_completed"}
    applied = sum(1 for r in updates if r.status_code == 200)
    basket.refresh_from_db()
    # The order is exactly the items present when it completed: the first item and every applied add.
    assert basket.status == "completed"
    assert basket.items.count() == 1 + applied
    assert Subscription.objects.count() == 1 + applied
    assert len(responses[0].json()["subscriptions"]) == 1 + applied
    kinds = list(BasketEvent.objects.filter(basket=basket).order_by("version").values_list("kind", "version"))
    assert kinds == [*(("items_changed", v) for v in range(2, 2 + applied)), ("completed", 2 + applied)]
    assert Payment.objects.get().amount == Decimal("12.99") * (1 + applied)


@pytest.fixture
def upgradable_subscription(customer):
    current = OfferFactory(name="Standard", path="/offers/race-standard")
    premium = OfferFactory(name="Premium", path="/offers/race-premium")
    add_ons = [OfferFactory(name=f"Extra {n}", path=f"/offers/race-extra-{n}", type="add_on") for n in range(10)]
    current.upgrade_offers.add(premium)
    current.cross_sell_add_ons.add(*add_ons)
    premium.cross_sell_add_ons.add(*add_ons)
    subscription = SubscriptionFactory(customer=customer, offer=current)
    return subscription, premium, add_ons


def subscription_basket(client, token, subscription) -> str:
    body = {"order": {"order_type": "update_subscription", "forSubscription": {"id": subscription.public_id}}}
    response = client.post("/api/checkout/subscription", body, format="json", **bearer(token), **PASS)
    assert response.status_code == 200, response.json()
    return response.json()["id"]


@pytest.mark.requires_postgres
@pytest.mark.django_db(transaction=True)
def test_update_baskets_of_one_subscription_completing_at_once_change_it_once(
    api_client, customer_token, upgradable_subscription
):
    """Six upgrade baskets for one subscription: one completes, the others see the plan changed (409)."""
    subscription, premium, _ = upgradable_subscription
    basket_ids = []
    for _ in range(6):
        api_client.cookies.clear()
        basket_ids.append(subscription_basket(api_client, customer_token, subscription))
        response = api_client.put(
            "/api/checkout/subscription",
            {"order": {"orderItems": [{"orderItemActionType": "add", "offer": {"id": premium.id}}]}},
            format="json",
            **bearer(customer_token),
            **PASS,
        )
        assert response.status_code == 200, response.json()

    def send(index, client):
        return client.post("/api/order", {"checkoutId": basket_ids[index]}, format="json", **bearer(customer_token))

    responses = run_at_once(6, send)

    assert sorted(r.status_code for r in responses) == [200] + [409] * 5, [r.json() for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"subscription_changed"}
    subscription.refresh_from_db()
    assert subscription.offer_id == premium.id
    assert Basket.objects.filter(status="completed").count() == 1
    assert Payment.objects.count() == 1


@pytest.mark.requires_postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_changes_of_one_subscription_basket_lose_none(api_client, customer_token, upgradable_subscription):
    subscription, _, add_ons = upgradable_subscription
    basket_id = subscription_basket(api_client, customer_token, subscription)
    cookie = api_client.cookies["limio_state"].value

    def send(index, client):
        client.cookies["limio_state"] = cookie
        return client.put(
            "/api/checkout/subscription",
            {"order": {"orderItems": [{"orderItemActionType": "add", "offer": {"id": add_ons[index].id}}]}},
            format="json",
            **bearer(customer_token),
            **PASS,
        )

    responses = run_at_once(10, send)

    assert [r.status_code for r in responses] == [200] * 10, [r.json() for r in responses]
    basket = Basket.objects.get(pk=basket_id.removeprefix("basket-"))
    assert basket.version == 11
    assert sorted(r["ETag"] for r in responses) == sorted(f'"{v}"' for v in range(2, 12))
    assert sorted(basket.items.values_list("offer_id", flat=True)) == sorted(a.id for a in add_ons)
    assert sorted(basket.items.values_list("position", flat=True)) == list(range(10))
    assert BasketEvent.objects.filter(basket=basket, kind="items_changed").count() == 10
    assert not SubscriptionAddOn.objects.exists()  # nothing is applied before the basket completes


@pytest.mark.requires_postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_updates_with_one_idempotency_key_apply_once(storefront_token, offer, add_on):
    basket = BasketFactory(application=storefront_token.application)
    parent = OrderItemFactory(basket=basket, offer=offer)
    body = {"order": {"orderItems": [
        {"orderItemActionType": "add", "offer": {"id": add_on.id}, "parentId": str(parent.id)},
    ]}}  # fmt: skip

    def send(index, client):
        client.cookies["limio_state"] = basket.public_id
        return client.put(
            "/api/checkout/update",
            body,
            format="json",
            HTTP_IDEMPOTENCY_KEY="add-crossword",
            **bearer(storefront_token),
        )

    responses = run_at_once(8, send)

    assert [r.status_code for r in responses] == [200] * 8, [r.json() for r in responses]
    assert sum(1 for r in responses if r.get("Idempotent-Replayed") == "true") == 7
    assert len({r.json()["actionResults"][0]["orderItemId"] for r in responses}) == 1
    basket.refresh_from_db()
    assert basket.version == 2
    assert basket.items.count() == 2
    assert BasketEvent.objects.filter(basket=basket).count() == 1


# --- Inputs tests/test_fuzz.py found -------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "moment",
    ["0001-01-01T00:00:03+23:00", "9999-12-31T23:59:59-05:00"],
    ids=["before-year-1-in-utc", "after-year-9999-in-utc"],
)
@pytest.mark.parametrize("parameter", ["createdAfter", "updatedAfter"])
def test_a_date_outside_the_utc_range_is_a_400_not_a_500(api_client, backoffice_token, parameter, moment):
    response = api_client.get("/api/checkout/abandoned", {parameter: moment}, **bearer(backoffice_token))
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["details"]) == [parameter]
