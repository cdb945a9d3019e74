"""GET/POST/PUT /api/checkout/subscription and completing an update basket (API.md §6).

Time is frozen at 2025-07-02 12:00 UTC in a yearly term 2025-01-01 → 2026-01-01: 183 of 365 days
remain, so a 10.00-a-month offer (term amount 120.00) is worth 120 * 183/365 = 60.1643… → 60.16
and a 2.50-a-month add-on (30.00 a term) 30 * 183/365 = 15.0410… → 15.04.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from baskets.errors import BasketInvalid
from baskets.models import Basket, BasketEvent, BasketStatus, OrderItem, OrderType, Payment
from baskets.services import basket_complete
from checkout_project.api.actor import Actor
from checkout_project.api.errors import Conflict
from checkout_project.api.models import IdempotencyRecord
from checkout_project.api.recaptcha import RecaptchaInvalid
from subscriptions.models import SubscriptionAddOn
from subscriptions.services import subscriptions_apply_due_changes
from tests.conftest import bearer, succeeded
from tests.factories import (
    AccessTokenFactory,
    ApplicationFactory,
    BasketFactory,
    CustomerFactory,
    OfferFactory,
    OrderItemFactory,
    PartnerFactory,
    partner_token,
)
from tests.partners.conftest import partner_subscription
from tests.statements import max_data_statements
from tests.subscription_flows import subscription_of_2025

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 7, 2, 12, tzinfo=UTC)
URL = "/api/checkout/subscription"
PASS = {"HTTP_X_LIMIO_RECAPTCHA": "pass-token"}


def monthly(amount: str):
    return [{"name": "Monthly", "amount": amount, "repeat_interval": 1, "repeat_interval_type": "months"}]


@pytest.fixture
def frozen(monkeypatch):
    def freeze(moment: datetime):
        monkeypatch.setattr(timezone, "now", lambda: moment)

    freeze(NOW)
    return freeze


@pytest.fixture
def catalog():
    current = OfferFactory(name="Standard", path="/offers/standard", charges=monthly("10.00"))
    upgrade = OfferFactory(name="Premium", path="/offers/premium", charges=monthly("20.00"))
    downgrade = OfferFactory(name="Lite", path="/offers/lite", charges=monthly("5.00"))
    unrelated = OfferFactory(name="Other", path="/offers/other", charges=monthly("1.00"))
    puzzles = OfferFactory(name="Puzzles", path="/offers/puzzles", type="add_on", charges=monthly("2.50"))
    archive = OfferFactory(name="Archive", path="/offers/archive", type="add_on", charges=monthly("2.50"))
    podcasts = OfferFactory(name="Podcasts", path="/offers/podcasts", type="add_on", charges=monthly("2.50"))
    current.upgrade_offers.add(upgrade)
    current.downgrade_offers.add(downgrade)
    current.cross_sell_add_ons.add(puzzles, archive)  # archive is on the subscription already
    upgrade.cross_sell_add_ons.add(puzzles, podcasts)  # premium does not sell the archive
    downgrade.cross_sell_add_ons.add(archive, puzzles)
    return {
        "current": current, "upgrade": upgrade, "downgrade": downgrade, "unrelated": unrelated,
        "puzzles": puzzles, "archive": archive, "podcasts": podcasts,
    }  # fmt: skip


@pytest.fixture
def subscription(customer, catalog):
    return subscription_of_2025(customer, catalog["current"], catalog["archive"])


def change_basket(api_client, token, subscription, actions) -> Basket:
    """A new change basket for `subscription` (POST …/subscription) with `actions` applied (PUT)."""
    response = initiate(api_client, token, subscription)
    assert response.status_code == 200, response.json()
    assert put(api_client, token, actions).status_code == 200
    return Basket.objects.get(pk=response.json()["id"].removeprefix("basket-"))


def initiate(api_client, token, subscription, **headers):
    body = {"order": {"order_type": "update_subscription", "forSubscription": {"id": subscription.public_id}}}
    return api_client.post(URL, body, format="json", **bearer(token), **{**PASS, **headers})


def put(api_client, token, actions, **headers):
    return api_client.put(URL, {"order": {"orderItems": actions}}, format="json", **bearer(token), **PASS, **headers)


def add(offer, **extra):
    return {"orderItemActionType": "add", "offer": {"id": offer.id}, **extra}


# --- POST -------------------------------------------------------------------------------------


def test_initiate_returns_the_basket_with_next_actions(api_client, frozen, customer_token, subscription, catalog):
    response = initiate(api_client, customer_token, subscription, HTTP_REFERER="https://shop.example/account")
    assert response.status_code == 200, response.json()
    body = response.json()
    basket = Basket.objects.get()
    assert body["id"] == basket.public_id
    assert body["completed"] is False
    assert response.cookies["limio_state"]["httponly"]
    order = body["order"]
    assert order["order_type"] == "update_subscription"
    assert order["orderItems"] == []
    assert order["forSubscription"] == {"id": subscription.public_id, "reference": subscription.reference}
    assert order["forSubscriptionOffer"]["id"] == catalog["current"].id
    assert order["forSubscriptionOffer"]["price"][0]["amount"] == "10.00"
    assert order["totals"]["dueToday"] == "0.00"
    # The renewal on 2026-01-01: the offer's 10.00 and the archive's 2.50.
    assert order["totals"]["nextChargeDate"] == "2026-01-01T00:00:00.000Z"
    assert order["totals"]["nextChargeAmount"] == "12.50"
    actions = body["nextActions"]
    assert [o["id"] for o in actions["upgrades"]] == [catalog["upgrade"].id]
    assert [o["id"] for o in actions["downgrades"]] == [catalog["downgrade"].id]
    assert [o["id"] for o in actions["crossSells"]] == [catalog["puzzles"].id]
    assert [(o["id"], o["quantity"]) for o in actions["subscriptionAddOns"]] == [(catalog["archive"].id, 1)]
    assert basket.for_subscription == subscription
    assert basket.customer == subscription.customer
    assert basket.created_by_customer_token is True
    assert basket.entry == {"referer": "https://shop.example/account"}
    assert list(BasketEvent.objects.values_list("kind", "version")) == [("created", 1)]


def test_initiate_by_reference(api_client, frozen, customer_token, subscription):
    body = {"order": {"order_type": "update_subscription", "forSubscription": {"name": subscription.reference}}}
    response = api_client.post(URL, body, format="json", **bearer(customer_token), **PASS)
    assert response.status_code == 200, response.json()
    assert response.json()["order"]["forSubscription"]["reference"] == subscription.reference


@pytest.mark.parametrize(
    "for_subscription",
    [
        {"id": "sub-00000000-0000-4000-8000-000000000000"},
        {"name": "ZZZZZZZZZZZZ"},
    ],
)
def test_initiate_unknown_subscription_is_404(api_client, frozen, customer_token, subscription, for_subscription):
    body = {"order": {"order_type": "update_subscription", "forSubscription": for_subscription}}
    response = api_client.post(URL, body, format="json", **bearer(customer_token), **PASS)
    assert response.status_code == 404
    assert response.json() == {"message": "Subscription not found", "code": "subscription_not_found"}
    assert Basket.objects.count() == 0


def test_initiate_is_locked_until_the_pending_change_takes_effect(api_client, frozen, customer_token, subscription):
    locked_until = datetime(2026, 1, 1, tzinfo=UTC)
    subscription.pending_change_at = locked_until
    subscription.save()
    customer_token.expires = datetime(2030, 1, 1, tzinfo=UTC)
    customer_token.save()
    frozen(locked_until - timedelta(microseconds=1))
    response = initiate(api_client, customer_token, subscription)
    assert response.status_code == 423
    assert response.json()["code"] == "subscription_locked"
    assert response.json()["details"] == {"lockedUntil": "2026-01-01T00:00:00.000Z"}
    assert Basket.objects.count() == 0
    frozen(locked_until)
    assert initiate(api_client, customer_token, subscription).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        # No body at all is Limio's `{}`: the caller's only subscription (test_subscription_limio_body.py).
        [],
        {"order": "x"},
        {"order": {}},
        {"order": {"forSubscription": {}}},
        {"order": {"forSubscription": {"id": "sub-not-a-uuid"}}},
        {"order": {"forSubscription": {"id": 5}}},
        {"order": {"order_type": "new", "forSubscription": {"name": "ABCDEFGHJKLM"}}},
        {"order": {"forSubscription": {"name": "ABCDEFGHJKLM"}}, "tracking": "not an object"},
    ],
)
def test_initiate_malformed_bodies_are_400(api_client, frozen, customer_token, subscription, body):
    response = api_client.post(URL, body, format="json", **bearer(customer_token), **PASS)
    assert response.status_code == 400, response.content
    assert Basket.objects.count() == 0


def test_initiate_non_json_is_400(api_client, frozen, customer_token, subscription):
    response = api_client.post(URL, "{not json", content_type="application/json", **bearer(customer_token), **PASS)
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


# --- Auth and reCAPTCHA -------------------------------------------------------------------------


@pytest.fixture
def tokens(storefront_app, customer_token, subscription):
    other_customer = CustomerFactory()
    return {
        "none": None,
        "expired": AccessTokenFactory(
            application=storefront_app, user=subscription.customer.user, scope="checkout",
            expires=datetime(2000, 1, 1, tzinfo=UTC),
        ),
        "wrong_scope": AccessTokenFactory(
            application=ApplicationFactory(scopes="baskets:read"), user=subscription.customer.user,
            scope="baskets:read",
        ),
        # A client token has no user, so no customer: subscription checkout refuses it with 403.
        "client": AccessTokenFactory(application=storefront_app, scope="checkout"),
        "other_customer": AccessTokenFactory(application=storefront_app, user=other_customer.user, scope="checkout"),
        "right": customer_token,
    }  # fmt: skip


AUTH_MATRIX = [
    ("none", 401, "unauthorized"),
    ("expired", 401, "unauthorized"),
    ("wrong_scope", 403, "insufficient_scope"),
    ("client", 403, "customer_token_required"),
    ("other_customer", 404, "subscription_not_found"),
    ("right", 200, None),
]


@pytest.mark.parametrize(("who", "status", "code"), AUTH_MATRIX)
def test_initiate_auth_matrix(api_client, frozen, tokens, subscription, who, status, code):
    token = tokens[who]
    body = {"order": {"order_type": "update_subscription", "forSubscription": {"id": subscription.public_id}}}
    auth = bearer(token) if token else {}
    response = api_client.post(URL, body, format="json", **auth, **PASS)
    assert response.status_code == status, response.json()
    if code:
        assert response.json()["code"] == code
        assert Basket.objects.count() == 0
    else:
        assert Basket.objects.count() == 1


PUT_MATRIX = [
    ("none", 401, "unauthorized"),
    ("expired", 401, "unauthorized"),
    ("wrong_scope", 403, "insufficient_scope"),
    ("client", 403, "customer_token_required"),
    ("other_customer", 404, "basket_not_found"),
    ("right", 200, None),
]


@pytest.mark.parametrize(("who", "status", "code"), PUT_MATRIX)
def test_update_and_get_auth_matrix(
    api_client, frozen, tokens, customer_token, subscription, catalog, who, status, code
):
    succeeded(initiate(api_client, customer_token, subscription))
    token = tokens[who]
    auth = bearer(token) if token else {}
    actions = {"order": {"orderItems": [add(catalog["puzzles"])]}}
    response = api_client.put(URL, actions, format="json", **auth, **PASS)
    assert response.status_code == status, response.json()
    got = api_client.get(URL, **auth)
    if code:
        assert response.json()["code"] == code
        assert got.status_code == (404 if status == 404 else status)
        assert Basket.objects.get().version == 1
        assert OrderItem.objects.count() == 0
    else:
        assert got.status_code == 200
        assert Basket.objects.get().version == 2


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 400, "recaptcha_required"),
        ({"HTTP_X_LIMIO_RECAPTCHA": "bot"}, 400, "recaptcha_invalid"),
        ({"HTTP_X_LIMIO_RECAPTCHA": "unavailable-now"}, 502, "upstream_unavailable"),
    ],
)
def test_recaptcha_is_checked_first(api_client, frozen, customer_token, subscription, catalog, headers, status, code):
    # Even an invalid body gets the reCAPTCHA answer: nothing is read before it.
    response = api_client.post(URL, {"junk": True}, format="json", **bearer(customer_token), **headers)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert Basket.objects.count() == 0
    succeeded(initiate(api_client, customer_token, subscription))
    body = {"order": {"orderItems": [add(catalog["puzzles"])]}}
    response = api_client.put(URL, body, format="json", **bearer(customer_token), **headers)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert Basket.objects.get().version == 1


# --- Idempotent retries and reCAPTCHA ----------------------------------------------------------


class SingleUseVerifier:
    """As Google's siteverify: a "pass" token verifies once, a second use is refused."""

    used: list[str] = []

    def verify(self, token: str, remote_ip: str | None) -> None:
        refused = token in SingleUseVerifier.used or not token.startswith("pass")
        SingleUseVerifier.used.append(token)
        if refused:
            raise RecaptchaInvalid("reCAPTCHA verification failed.", details={"errorCodes": ["timeout-or-duplicate"]})


@pytest.fixture
def single_use(settings, monkeypatch):
    """The tokens the verifier was asked about, in order."""
    settings.RECAPTCHA_ENABLED = True
    settings.RECAPTCHA_VERIFIER = "tests.baskets.test_subscription_checkout.SingleUseVerifier"
    used: list[str] = []
    monkeypatch.setattr(SingleUseVerifier, "used", used)
    return used


def test_post_retry_with_the_same_key_replays_without_asking_the_verifier(
    api_client, frozen, customer_token, subscription, single_use
):
    first = initiate(
        api_client, customer_token, subscription, HTTP_X_LIMIO_RECAPTCHA="pass-1", HTTP_IDEMPOTENCY_KEY="k"
    )
    retry = initiate(
        api_client, customer_token, subscription, HTTP_X_LIMIO_RECAPTCHA="pass-1", HTTP_IDEMPOTENCY_KEY="k"
    )

    assert (first.status_code, retry.status_code) == (200, 200), retry.json()
    assert first.get("Idempotent-Replayed") is None
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert retry["ETag"] == first["ETag"] == '"1"'
    assert retry.cookies["limio_state"].value == first.cookies["limio_state"].value
    assert single_use == ["pass-1"]
    assert Basket.objects.count() == 1
    # Without the key the spent token is verified again, and refused.
    again = initiate(api_client, customer_token, subscription, HTTP_X_LIMIO_RECAPTCHA="pass-1")
    assert (again.status_code, again.json()["code"]) == (400, "recaptcha_invalid")
    assert single_use == ["pass-1", "pass-1"]
    assert Basket.objects.count() == 1


def test_a_malformed_put_action_is_reported_by_its_index(api_client, frozen, customer_token, subscription, catalog):
    succeeded(initiate(api_client, customer_token, subscription, HTTP_X_LIMIO_RECAPTCHA="pass-post"))
    basket = Basket.objects.get()

    response = put(api_client, customer_token, [add(catalog["puzzles"]), {"orderItemActionType": "swap"}])

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["details"]["actions"] == {
        "1": {"code": "invalid_action", "message": 'orderItemActionType: "swap" is not a valid choice.'}
    }
    basket.refresh_from_db()
    assert (basket.version, basket.items.count()) == (1, 0)


def test_put_retry_with_the_same_key_replays_without_asking_the_verifier(
    api_client, frozen, customer_token, subscription, catalog, single_use
):
    succeeded(initiate(api_client, customer_token, subscription, HTTP_X_LIMIO_RECAPTCHA="pass-post"))
    body = {"order": {"orderItems": [add(catalog["puzzles"])]}}

    def send(**headers):
        return api_client.put(URL, body, format="json", **bearer(customer_token), **headers)

    first = send(HTTP_X_LIMIO_RECAPTCHA="pass-put", HTTP_IDEMPOTENCY_KEY="k", HTTP_IF_MATCH='"1"')
    retry = send(HTTP_X_LIMIO_RECAPTCHA="pass-put", HTTP_IDEMPOTENCY_KEY="k", HTTP_IF_MATCH='"1"')

    assert (first.status_code, retry.status_code) == (200, 200), retry.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert retry["ETag"] == first["ETag"] == '"2"'
    assert single_use == ["pass-post", "pass-put"]
    assert Basket.objects.get().version == 2
    assert OrderItem.objects.count() == 1


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 400, "recaptcha_required"),
        ({"HTTP_X_LIMIO_RECAPTCHA": "bot"}, 400, "recaptcha_invalid"),
        ({"HTTP_X_LIMIO_RECAPTCHA": "unavailable-now"}, 502, "upstream_unavailable"),
    ],
)
def test_a_first_attempt_with_a_key_still_needs_recaptcha_and_keeps_no_key(
    api_client, frozen, customer_token, subscription, catalog, headers, status, code
):
    refused = api_client.post(
        URL, {"order": {"forSubscription": {"id": subscription.public_id}}}, format="json",
        HTTP_IDEMPOTENCY_KEY="post", **bearer(customer_token), **headers,
    )  # fmt: skip

    assert (refused.status_code, refused.json()["code"]) == (status, code)
    assert Basket.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0
    accepted = initiate(api_client, customer_token, subscription, HTTP_IDEMPOTENCY_KEY="post")
    assert accepted.status_code == 200, accepted.json()
    assert accepted.get("Idempotent-Replayed") is None

    body = {"order": {"orderItems": [add(catalog["puzzles"])]}}
    refused = api_client.put(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="put", **bearer(customer_token), **headers)

    assert (refused.status_code, refused.json()["code"]) == (status, code)
    assert Basket.objects.get().version == 1
    assert IdempotencyRecord.objects.count() == 1
    accepted = put(api_client, customer_token, body["order"]["orderItems"], HTTP_IDEMPOTENCY_KEY="put")
    assert accepted.status_code == 200, accepted.json()
    assert accepted.get("Idempotent-Replayed") is None
    assert Basket.objects.get().version == 2


def test_the_same_key_with_a_different_body_is_422(
    api_client, frozen, customer_token, subscription, catalog, single_use
):
    succeeded(initiate(api_client, customer_token, subscription, HTTP_X_LIMIO_RECAPTCHA="pass-post"))
    first = api_client.put(
        URL, {"order": {"orderItems": [add(catalog["puzzles"])]}}, format="json", **bearer(customer_token),
        HTTP_X_LIMIO_RECAPTCHA="pass-1", HTTP_IDEMPOTENCY_KEY="k",
    )  # fmt: skip
    assert first.status_code == 200, first.json()

    for token in ("pass-1", "pass-2"):
        other = api_client.put(
            URL, {"order": {"orderItems": [add(catalog["upgrade"])]}}, format="json", **bearer(customer_token),
            HTTP_X_LIMIO_RECAPTCHA=token, HTTP_IDEMPOTENCY_KEY="k",
        )  # fmt: skip
        assert other.status_code == 422
        assert other.json() == {
            "message": "This Idempotency-Key was used with a different request.", "code": "idempotency_key_reused",
        }  # fmt: skip

    assert single_use == ["pass-post", "pass-1"]  # a reused key is refused before any verification
    assert Basket.objects.get().version == 2
    assert list(OrderItem.objects.values_list("offer_id", flat=True)) == [catalog["puzzles"].id]


@pytest.mark.parametrize("method", ["post", "put"])
def test_partner_retry_with_the_same_key_replays_without_asking_the_verifier(
    api_client, frozen, catalog, single_use, method
):
    partner = PartnerFactory()
    token = partner_token(partner)
    subscription = partner_subscription(partner, catalog["current"])
    url = "/api/partner/checkout/subscription"
    initiate_body = {"order": {"forSubscription": {"id": subscription.public_id}}}
    if method == "put":
        succeeded(
            api_client.post(url, initiate_body, format="json", **bearer(token), HTTP_X_LIMIO_RECAPTCHA="pass-post")
        )
    body = initiate_body if method == "post" else {"order": {"orderItems": [add(catalog["puzzles"])]}}
    send = getattr(api_client, method)
    headers = {"HTTP_X_LIMIO_RECAPTCHA": "pass-once", "HTTP_IDEMPOTENCY_KEY": "k"}

    first = send(url, body, format="json", **bearer(token), **headers)
    retry = send(url, body, format="json", **bearer(token), **headers)

    assert (first.status_code, retry.status_code) == (200, 200), retry.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert single_use[-1:] == ["pass-once"]
    assert single_use.count("pass-once") == 1
    assert Basket.objects.get().version == (1 if method == "post" else 2)


# --- PUT --------------------------------------------------------------------------------------


def test_upgrade_is_prorated_and_removes_incompatible_add_ons(
    api_client, frozen, customer_token, subscription, catalog
):
    succeeded(initiate(api_client, customer_token, subscription))
    response = put(api_client, customer_token, [add(catalog["upgrade"], type="offer")])
    assert response.status_code == 200, response.json()
    body = response.json()
    items = {(i["offer"]["id"], i["orderItemActionType"]): i for i in body["order"]["orderItems"]}
    added = items[(catalog["upgrade"].id, "add")]
    removed_offer = items[(catalog["current"].id, "remove")]
    removed_archive = items[(catalog["archive"].id, "remove")]
    assert [r["status"] for r in body["actionResults"]] == ["applied", "auto", "auto"]
    assert body["actionResults"][0] == {
        "index": 0, "orderItemActionType": "add", "status": "applied", "orderItemId": added["id"],
    }  # fmt: skip
    assert {r["orderItemId"] for r in body["actionResults"][1:]} == {removed_offer["id"], removed_archive["id"]}
    assert (added["automatic"], removed_offer["automatic"], removed_archive["automatic"]) == (False, True, True)
    assert added["effectiveDate"] == "2025-07-02T12:00:00.000Z"
    assert removed_offer["effectiveDate"] == "2025-07-02T12:00:00.000Z"
    # Upgrade: credit 60.16 for the rest of the 10.00 term, charge 20.00 * 12 * 183/365 = 120.3287… → 120.33.
    assert (added["proration"]["credit"], added["proration"]["charge"]) == ("60.16", "120.33")
    # The archive goes today too: credit 15.04.
    assert removed_archive["proration"]["credit"] == "15.04"
    totals = body["order"]["totals"]
    # 120.33 - (60.16 + 15.04) = 45.13; the renewal is Premium alone: 20.00.
    assert (totals["subtotal"], totals["credit"], totals["dueToday"]) == ("120.33", "75.20", "45.13")
    assert (totals["nextChargeDate"], totals["nextChargeAmount"]) == ("2026-01-01T00:00:00.000Z", "20.00")
    # Premium sells puzzles and podcasts; the upgrade removed the archive.
    assert [o["id"] for o in body["nextActions"]["crossSells"]] == [catalog["podcasts"].id, catalog["puzzles"].id]
    basket = Basket.objects.get()
    assert basket.version == 2
    assert list(basket.events.values_list("kind", flat=True)) == ["created", "items_changed"]
    assert response["ETag"] == '"2"'


def test_downgrade_waits_for_the_term_end(api_client, frozen, customer_token, subscription, catalog):
    succeeded(initiate(api_client, customer_token, subscription))
    response = put(api_client, customer_token, [add(catalog["downgrade"])])
    assert response.status_code == 200, response.json()
    body = response.json()
    # Lite sells the archive, so only the current offer is removed automatically.
    assert [(r["orderItemActionType"], r["status"]) for r in body["actionResults"]] == [
        ("add", "applied"), ("remove", "auto"),
    ]  # fmt: skip
    added = body["order"]["orderItems"][0]
    assert added["effectiveDate"] == "2026-01-01T00:00:00.000Z"
    assert body["order"]["orderItems"][1]["effectiveDate"] == "2026-01-01T00:00:00.000Z"
    totals = body["order"]["totals"]
    # Nothing due today; from 2026-01-01 Lite 5.00 + archive 2.50.
    assert (totals["dueToday"], totals["nextChargeAmount"]) == ("0.00", "7.50")


def test_add_on_mid_term(api_client, frozen, customer_token, subscription, catalog):
    succeeded(initiate(api_client, customer_token, subscription))
    response = put(api_client, customer_token, [add(catalog["puzzles"], quantity=1)])
    assert response.status_code == 200, response.json()
    body = response.json()
    item = body["order"]["orderItems"][0]
    assert item["effectiveDate"] == "2025-07-02T12:00:00.000Z"
    assert item["proration"]["charge"] == "15.04"
    # Renewal: 10.00 + archive 2.50 + puzzles 2.50.
    assert (body["order"]["totals"]["dueToday"], body["order"]["totals"]["nextChargeAmount"]) == ("15.04", "15.00")
    assert body["nextActions"]["crossSells"] == []


def test_switching_offers_replaces_the_previous_choice_and_removing_it_reverts(
    api_client, frozen, customer_token, subscription, catalog
):
    succeeded(initiate(api_client, customer_token, subscription))
    first = succeeded(put(api_client, customer_token, [add(catalog["upgrade"])])).json()
    upgrade_id = first["actionResults"][0]["orderItemId"]
    second = succeeded(put(api_client, customer_token, [add(catalog["downgrade"])])).json()
    assert {r["orderItemId"] for r in second["actionResults"] if r["status"] == "auto"} >= {upgrade_id}
    offers = sorted((i["offer"]["id"], i["orderItemActionType"]) for i in second["order"]["orderItems"])
    assert offers == sorted([(catalog["downgrade"].id, "add"), (catalog["current"].id, "remove")])
    downgrade_id = second["actionResults"][0]["orderItemId"]
    third = succeeded(put(api_client, customer_token, [{"orderItemActionType": "remove", "id": downgrade_id}])).json()
    assert third["order"]["orderItems"] == []
    assert OrderItem.objects.count() == 0
    assert Basket.objects.get().version == 4


def test_an_add_on_incompatible_with_the_new_offer_leaves_with_it(
    api_client, frozen, customer_token, subscription, catalog
):
    succeeded(initiate(api_client, customer_token, subscription))
    succeeded(put(api_client, customer_token, [add(catalog["upgrade"]), add(catalog["podcasts"])]))
    body = succeeded(put(api_client, customer_token, [add(catalog["downgrade"])])).json()
    assert catalog["podcasts"].id not in {i["offer"]["id"] for i in body["order"]["orderItems"]}


@pytest.mark.parametrize(
    ("actions", "code"),
    [
        (lambda c: [add(c["upgrade"]), add(c["downgrade"])], "multiple_offer_adds"),
        (lambda c: [add(c["unrelated"])], "offer_not_allowed_for_subscription"),
        (lambda c: [add(c["current"])], "offer_not_allowed_for_subscription"),
        (lambda c: [add(c["podcasts"])], "add_on_not_compatible"),
        (lambda c: [add(c["archive"])], "add_on_already_on_subscription"),
        (lambda c: [add(c["puzzles"]), add(c["puzzles"])], "add_on_already_in_basket"),
        (lambda c: [add(c["puzzles"], quantity=9)], "quantity_out_of_range"),
        (lambda c: [add(c["upgrade"], type="add_on")], "offer_type_mismatch"),
        (lambda c: [{"orderItemActionType": "remove", "id": "00000000-0000-4000-8000-000000000000"}],
         "order_item_not_found"),
        (lambda c: [{"orderItemActionType": "add", "offer": {"id": "nope"}}], "offer_not_found"),
    ],
)  # fmt: skip
def test_refused_actions_change_nothing(api_client, frozen, customer_token, subscription, catalog, actions, code):
    succeeded(initiate(api_client, customer_token, subscription))
    response = put(api_client, customer_token, actions(catalog))
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == code
    assert OrderItem.objects.count() == 0
    assert Basket.objects.get().version == 1
    assert BasketEvent.objects.count() == 1


def test_automatic_items_cannot_be_removed_directly(api_client, frozen, customer_token, subscription, catalog):
    succeeded(initiate(api_client, customer_token, subscription))
    body = succeeded(put(api_client, customer_token, [add(catalog["upgrade"])])).json()
    auto_id = body["actionResults"][1]["orderItemId"]
    response = put(api_client, customer_token, [{"orderItemActionType": "remove", "id": auto_id}])
    assert (response.status_code, response.json()["code"]) == (400, "order_item_automatic")


@pytest.mark.parametrize(
    "body",
    [None, [], {"order": []}, {"order": {"orderItems": []}}, {"order": {"orderItems": [{"orderItemActionType": "x"}]}},
     {"order": {"orderItems": [{"orderItemActionType": "add"}]}}, {"order": {"orderItems": "x"}}],
)  # fmt: skip
def test_update_malformed_bodies_are_400(api_client, frozen, customer_token, subscription, body):
    succeeded(initiate(api_client, customer_token, subscription))
    response = api_client.put(URL, body, format="json", **bearer(customer_token), **PASS)
    assert response.status_code == 400, response.content
    assert Basket.objects.get().version == 1


def test_update_without_cookie_is_404(api_client, frozen, customer_token, subscription, catalog):
    succeeded(initiate(api_client, customer_token, subscription))
    api_client.cookies.clear()
    response = put(api_client, customer_token, [add(catalog["puzzles"])])
    assert (response.status_code, response.json()["code"]) == (404, "basket_not_found")
    assert api_client.get(URL, **bearer(customer_token)).status_code == 404


def test_update_is_locked_when_a_pending_change_appeared(api_client, frozen, customer_token, subscription, catalog):
    succeeded(initiate(api_client, customer_token, subscription))
    subscription.pending_change_at = datetime(2026, 1, 1, tzinfo=UTC)
    subscription.save()
    response = put(api_client, customer_token, [add(catalog["puzzles"])])
    assert (response.status_code, response.json()["code"]) == (423, "subscription_locked")


# --- GET and completion -----------------------------------------------------------------------


def test_get_returns_the_current_state_and_completed_after_completion(
    api_client, frozen, customer_token, subscription, catalog
):
    succeeded(initiate(api_client, customer_token, subscription))
    changed = succeeded(put(api_client, customer_token, [add(catalog["puzzles"])])).json()
    got = api_client.get(URL, **bearer(customer_token))
    assert got.status_code == 200
    expected = {key: value for key, value in changed.items() if key != "actionResults"}
    assert got.json() == expected
    basket = Basket.objects.get()
    customer = subscription.customer
    actor = Actor(customer=customer, user=customer.user, is_customer_token=True)
    basket_complete(actor=actor, basket_id=basket.id)
    got = api_client.get(URL, **bearer(customer_token)).json()
    assert got["completed"] is True
    assert got["order"]["completed"] is True


def _complete(subscription, basket):
    """Complete an update basket as staff would (any basket), with the manual gateway."""
    return basket_complete(actor=Actor(is_staff=True), basket_id=basket.id, any_basket=True)


def test_completing_an_upgrade_applies_it_now(api_client, frozen, customer_token, subscription, catalog):
    basket = change_basket(
        api_client, customer_token, subscription, [add(catalog["upgrade"], quantity=2), add(catalog["podcasts"])]
    )
    state = _complete(subscription, basket)
    subscription.refresh_from_db()
    basket.refresh_from_db()
    assert (subscription.offer_id, subscription.quantity) == (catalog["upgrade"].id, 2)
    assert set(subscription.add_ons.values_list("offer_id", flat=True)) == {catalog["podcasts"].id}
    assert subscription.pending_change_at is None
    assert (basket.status, basket.version, basket.completed_at) == (BasketStatus.COMPLETED, 3, NOW)
    assert basket.events.last().kind == "completed"
    assert state.totals.to_wire()["nextChargeAmount"] == "42.50"  # 2 * 20.00 + 2.50


def test_completing_a_downgrade_schedules_it_and_locks_the_subscription(
    api_client, frozen, customer_token, subscription, catalog
):
    basket = change_basket(
        api_client, customer_token, subscription, [add(catalog["downgrade"]), add(catalog["puzzles"])]
    )
    _complete(subscription, basket)
    subscription.refresh_from_db()
    assert subscription.offer_id == catalog["current"].id
    assert subscription.pending_offer_id == catalog["downgrade"].id
    assert subscription.pending_change_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert subscription.pending_change["offer"]["id"] == catalog["downgrade"].id
    # The add-on was immediate.
    assert set(subscription.add_ons.values_list("offer_id", flat=True)) == {
        catalog["archive"].id, catalog["puzzles"].id,
    }  # fmt: skip
    response = initiate(api_client, customer_token, subscription)
    assert response.status_code == 423
    assert response.json()["details"]["lockedUntil"] == "2026-01-01T00:00:00.000Z"


def test_completing_twice_or_an_empty_basket_is_refused(api_client, frozen, customer_token, subscription, catalog):
    from baskets.errors import BasketCompleted

    succeeded(initiate(api_client, customer_token, subscription))
    basket = Basket.objects.get()
    with pytest.raises(BasketInvalid) as refused:
        _complete(subscription, basket)
    assert refused.value.code == "basket_invalid"
    assert [finding["code"] for finding in refused.value.details["findings"]] == ["basket_empty"]
    succeeded(put(api_client, customer_token, [add(catalog["puzzles"])]))
    _complete(subscription, basket)
    with pytest.raises(BasketCompleted):
        _complete(subscription, basket)
    assert put(api_client, customer_token, [add(catalog["podcasts"])]).status_code == 409


def test_completing_a_basket_built_on_a_plan_that_changed_since_is_409(
    api_client, frozen, customer_token, subscription, catalog
):
    from checkout_project.api.errors import Conflict

    first = change_basket(api_client, customer_token, subscription, [add(catalog["upgrade"])])
    second = change_basket(api_client, customer_token, subscription, [add(catalog["downgrade"])])
    _complete(subscription, first)

    with pytest.raises(Conflict) as refused:
        _complete(subscription, second)

    assert refused.value.code == "subscription_changed"
    subscription.refresh_from_db()
    second.refresh_from_db()
    assert (subscription.offer_id, subscription.pending_offer_id) == (catalog["upgrade"].id, None)
    assert second.status == BasketStatus.ACTIVE


# --- Query counts -----------------------------------------------------------------------------


@pytest.mark.usefixtures("token_cache_off")
def test_query_counts_do_not_grow_with_add_ons(api_client, frozen, customer, customer_token, catalog):
    """The same requests for a subscription with one add-on and for one with five, its offer selling
    two extra add-ons, then ten: each request sends as many statements for the big one."""

    def counts(extra_add_ons: int, subscribed: int) -> list[int]:
        subscription = subscription_of_2025(customer, catalog["current"], catalog["archive"])
        start = catalog["current"].cross_sell_add_ons.count()
        extra = [
            OfferFactory(path=f"/offers/extra-{start + n}", type="add_on", charges=monthly("1.00"))
            for n in range(extra_add_ons)
        ]
        catalog["current"].cross_sell_add_ons.add(*extra)
        for offer in extra[:subscribed]:
            SubscriptionAddOn.objects.create(subscription=subscription, offer=offer)
        # Statements that touch data (inside the test's transaction the requests' own transactions
        # are savepoints, which are not counted).
        measured = []
        with max_data_statements(8) as captured:
            assert initiate(api_client, customer_token, subscription).status_code == 200
        measured.append(len(captured))
        with max_data_statements(8) as captured:
            response = put(api_client, customer_token, [add(catalog["puzzles"])])
        assert response.status_code == 200, response.json()
        measured.append(len(captured))
        with max_data_statements(8) as captured:
            response = put(api_client, customer_token, [add(catalog["upgrade"])])
        assert response.status_code == 200, response.json()
        # The upgrade, the add-on, the current offer's removal, and the removals of every
        # subscribed add-on the upgrade does not sell (the archive and the extras).
        assert len(response.json()["order"]["orderItems"]) == 4 + subscribed
        measured.append(len(captured))
        with max_data_statements(6) as captured:
            assert api_client.get(URL, **bearer(customer_token)).status_code == 200
        measured.append(len(captured))
        return measured

    small = counts(extra_add_ons=2, subscribed=0)
    big = counts(extra_add_ons=8, subscribed=4)
    assert big == small


# --- A scheduled downgrade taking effect ---------------------------------------------------------


def _schedule_downgrade(api_client, customer_token, subscription, catalog):
    """The downgrade ordered and completed on NOW: pending for the term end (2026-01-01)."""
    succeeded(initiate(api_client, customer_token, subscription))
    succeeded(put(api_client, customer_token, [add(catalog["downgrade"])]))
    _complete(subscription, Basket.objects.get())
    subscription.refresh_from_db()
    assert subscription.pending_offer_id == catalog["downgrade"].id


def test_initiating_after_the_change_date_applies_the_change_first(
    api_client, frozen, customer_token, subscription, catalog
):
    _schedule_downgrade(api_client, customer_token, subscription, catalog)
    customer_token.expires = datetime(2030, 1, 1, tzinfo=UTC)
    customer_token.save()
    frozen(datetime(2026, 1, 3, tzinfo=UTC))  # the job has not run yet

    response = initiate(api_client, customer_token, subscription)

    assert response.status_code == 200, response.json()
    assert response.json()["order"]["forSubscriptionOffer"]["id"] == catalog["downgrade"].id
    # The basket offers what the new plan may change into: Lite downgrades to nothing.
    assert response.json()["nextActions"]["downgrades"] == []
    subscription.refresh_from_db()
    assert subscription.offer_id == catalog["downgrade"].id
    assert (subscription.pending_offer_id, subscription.pending_change, subscription.pending_change_at) == (
        None, None, None,
    )  # fmt: skip
    # A new yearly term of the new offer from the effective date.
    assert (subscription.term_start, subscription.term_end) == (
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC),
    )  # fmt: skip


def test_a_basket_started_before_the_change_took_effect_is_refused_after(
    api_client, frozen, customer_token, subscription, catalog
):
    _schedule_downgrade(api_client, customer_token, subscription, catalog)
    # A second basket started while the change is pending is refused at once (423), so build the
    # stale one as the data would be had it been started before: an add-on basket on the old plan.
    frozen(datetime(2026, 1, 3, tzinfo=UTC))
    basket = BasketFactory(
        application=customer_token.application, order_type=OrderType.UPDATE_SUBSCRIPTION,
        for_subscription=subscription, customer=subscription.customer, created_by_customer_token=True,
        email=subscription.customer.email,  # as an update basket copies its customer's
    )  # fmt: skip
    OrderItemFactory(basket=basket, offer=catalog["puzzles"], type="add_on")

    with pytest.raises(Conflict) as refused:
        _complete(subscription, basket)

    assert refused.value.code == "subscription_changed"
    basket.refresh_from_db()
    subscription.refresh_from_db()
    assert basket.status == BasketStatus.ACTIVE
    assert subscription.offer_id == catalog["current"].id  # left for the job or the next new basket
    assert subscription.pending_offer_id == catalog["downgrade"].id


# --- Completing against the subscription as it is now --------------------------------------------


def order(api_client, token, basket):
    return api_client.post("/api/order", {"checkoutId": basket.public_id}, format="json", **bearer(token))


def renew(api_client, backoffice_token, subscription):
    """A staff renewal ordered and completed: the term runs on one year onto the same offer."""
    body = {"subscriptionId": subscription.public_id}
    initiated = api_client.post("/api/admin/checkout/initiate/renew", body, format="json", **bearer(backoffice_token))
    assert initiated.status_code == 200, initiated.json()
    completed = api_client.post(
        "/api/order", {"checkoutId": initiated.json()["id"]}, format="json", **bearer(backoffice_token)
    )
    assert completed.status_code == 200, completed.json()


def written_for(subscription, basket) -> dict:
    """What completing `basket` could change: the subscription, its add-ons, payments, the basket."""
    subscription.refresh_from_db()
    basket.refresh_from_db()
    return {
        "plan": (subscription.offer_id, subscription.quantity, subscription.term_start, subscription.term_end),
        "pending": (subscription.pending_offer_id, subscription.pending_change, subscription.pending_change_at),
        "add_ons": sorted(subscription.add_ons.values_list("offer_id", "quantity")),
        "payments": sorted(Payment.objects.values_list("basket_id", "amount")),
        "basket": (basket.status, basket.version, list(basket.events.values_list("kind", flat=True))),
    }


def assert_refused_as_changed(response, before: dict, subscription, basket) -> None:
    assert response.status_code == 409, response.json()
    assert response.json() == {
        "message": "The subscription changed since this basket was started; start a new one.",
        "code": "subscription_changed",
    }
    assert written_for(subscription, basket) == before
    assert basket.status == BasketStatus.ACTIVE


@pytest.fixture
def crosswords(catalog):
    """An add-on Standard sells and neither Premium nor Lite does."""
    crosswords = OfferFactory(name="Crosswords", path="/offers/crosswords", type="add_on", charges=monthly("2.50"))
    catalog["current"].cross_sell_add_ons.add(crosswords)
    return crosswords


def test_a_second_basket_adding_the_same_add_on_is_409_and_charges_nothing(
    api_client, frozen, customer_token, subscription, catalog
):
    first = change_basket(api_client, customer_token, subscription, [add(catalog["puzzles"])])
    second = change_basket(api_client, customer_token, subscription, [add(catalog["puzzles"])])
    assert order(api_client, customer_token, first).status_code == 200
    before = written_for(subscription, second)

    response = order(api_client, customer_token, second)

    assert_refused_as_changed(response, before, subscription, second)
    assert before["add_ons"] == sorted([(catalog["archive"].id, 1), (catalog["puzzles"].id, 1)])
    assert before["payments"] == [(first.id, Decimal("15.04"))]
    assert before["basket"] == (BasketStatus.ACTIVE, 2, ["created", "items_changed"])


def test_an_add_on_the_new_offer_does_not_sell_is_409_after_another_basket_upgraded(
    api_client, frozen, customer_token, subscription, catalog, crosswords
):
    add_on_basket = change_basket(api_client, customer_token, subscription, [add(crosswords)])
    upgrade_basket = change_basket(api_client, customer_token, subscription, [add(catalog["upgrade"])])
    assert order(api_client, customer_token, upgrade_basket).status_code == 200
    before = written_for(subscription, add_on_basket)

    response = order(api_client, customer_token, add_on_basket)

    assert_refused_as_changed(response, before, subscription, add_on_basket)
    assert before["plan"][0] == catalog["upgrade"].id
    assert before["add_ons"] == []  # Premium does not sell the archive: the upgrade removed it
    assert [basket_id for basket_id, _ in before["payments"]] == [upgrade_basket.id]


def test_an_upgrade_is_409_after_another_basket_added_an_add_on_the_new_offer_does_not_sell(
    api_client, frozen, customer_token, subscription, catalog, crosswords
):
    """The upgrade was quoted removing only the archive; completing it would leave the crosswords
    on Premium, which does not sell them, neither credited nor removed."""
    upgrade_basket = change_basket(api_client, customer_token, subscription, [add(catalog["upgrade"])])
    add_on_basket = change_basket(api_client, customer_token, subscription, [add(crosswords)])
    assert order(api_client, customer_token, add_on_basket).status_code == 200
    before = written_for(subscription, upgrade_basket)

    response = order(api_client, customer_token, upgrade_basket)

    assert_refused_as_changed(response, before, subscription, upgrade_basket)
    assert before["plan"][0] == catalog["current"].id
    assert before["add_ons"] == sorted([(catalog["archive"].id, 1), (crosswords.id, 1)])
    assert [basket_id for basket_id, _ in before["payments"]] == [add_on_basket.id]


def test_an_add_on_the_new_offer_does_not_sell_is_409_after_the_scheduled_change_took_effect(
    api_client, frozen, customer_token, subscription, catalog, crosswords
):
    """The basket was built on Standard the day before the term end; the job moved the subscription
    to Lite at the term end, before the basket completed."""
    customer_token.expires = datetime(2030, 1, 1, tzinfo=UTC)
    customer_token.save()
    frozen(datetime(2025, 12, 31, 12, tzinfo=UTC))
    add_on_basket = change_basket(api_client, customer_token, subscription, [add(crosswords)])
    succeeded(initiate(api_client, customer_token, subscription))
    succeeded(put(api_client, customer_token, [add(catalog["downgrade"])]))
    downgrade = _complete(subscription, Basket.objects.exclude(pk=add_on_basket.pk).get())
    frozen(datetime(2026, 1, 1, 1, tzinfo=UTC))
    assert subscriptions_apply_due_changes(now=timezone.now(), batch_size=10) == 1
    before = written_for(subscription, add_on_basket)

    response = order(api_client, customer_token, add_on_basket)

    assert_refused_as_changed(response, before, subscription, add_on_basket)
    assert before["plan"][0] == catalog["downgrade"].id
    assert before["payments"] == [(downgrade.basket.id, Decimal("0.00"))]  # the downgrade's: nothing due today


def test_a_downgrade_built_before_a_renewal_is_409_instead_of_taking_effect_now(
    api_client, frozen, customer_token, backoffice_token, subscription, catalog
):
    """Quoted for the term end 2026-01-01, which the renewal moved to 2027-01-01."""
    downgrade_basket = change_basket(api_client, customer_token, subscription, [add(catalog["downgrade"])])
    renew(api_client, backoffice_token, subscription)
    before = written_for(subscription, downgrade_basket)

    response = order(api_client, customer_token, downgrade_basket)

    assert_refused_as_changed(response, before, subscription, downgrade_basket)
    # The renewal started a new term at the old term end (issue 13).
    assert before["plan"] == (
        catalog["current"].id, 1, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    assert before["pending"] == (None, None, None)
    assert [basket.order_type for basket in Basket.objects.filter(payment__isnull=False)] == [OrderType.RENEW]

    # A downgrade ordered now is quoted for the renewed term's end, and waits for it.
    succeeded(initiate(api_client, customer_token, subscription))
    succeeded(put(api_client, customer_token, [add(catalog["downgrade"])]))
    fresh = Basket.objects.filter(status=BasketStatus.ACTIVE).exclude(pk=downgrade_basket.pk).get()
    assert order(api_client, customer_token, fresh).status_code == 200
    subscription.refresh_from_db()
    assert (subscription.offer_id, subscription.pending_offer_id, subscription.pending_change_at) == (
        catalog["current"].id, catalog["downgrade"].id, datetime(2027, 1, 1, tzinfo=UTC),
    )  # fmt: skip


def test_a_renewal_built_before_an_upgrade_is_409_instead_of_moving_back_to_the_old_plan(
    api_client, frozen, customer_token, backoffice_token, subscription, catalog
):
    body = {"subscriptionId": subscription.public_id}
    initiated = api_client.post("/api/admin/checkout/initiate/renew", body, format="json", **bearer(backoffice_token))
    assert initiated.status_code == 200, initiated.json()
    renewal = Basket.objects.get(order_type=OrderType.RENEW)
    succeeded(initiate(api_client, customer_token, subscription))
    succeeded(put(api_client, customer_token, [add(catalog["upgrade"])]))
    upgrade_basket = Basket.objects.get(order_type=OrderType.UPDATE_SUBSCRIPTION)
    assert order(api_client, customer_token, upgrade_basket).status_code == 200
    before = written_for(subscription, renewal)

    response = order(api_client, backoffice_token, renewal)

    assert_refused_as_changed(response, before, subscription, renewal)
    assert before["plan"][0] == catalog["upgrade"].id
    assert [basket_id for basket_id, _ in before["payments"]] == [upgrade_basket.id]


def test_an_invalid_update_basket_is_refused_as_invalid_before_its_subscription_is_checked(
    api_client, frozen, customer_token, subscription, catalog
):
    """Completion reads the subscription and the change's options first (their offers query is
    the validation's), but still answers in the order it always did: an invalid basket is 400
    even when the subscription has since been locked by a pending change; once the basket is
    valid again, the lock answers 423."""
    actions = [add(catalog["upgrade"]), add(catalog["podcasts"])]
    basket = change_basket(api_client, customer_token, subscription, actions)
    catalog["podcasts"].published = False
    catalog["podcasts"].save(update_fields=["published"])
    subscription.pending_offer = catalog["downgrade"]
    subscription.pending_change_at = subscription.term_end
    subscription.save(update_fields=["pending_offer", "pending_change_at"])
    before = written_for(subscription, basket)

    response = order(api_client, customer_token, basket)
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "basket_invalid"
    assert written_for(subscription, basket) == before

    catalog["podcasts"].published = True
    catalog["podcasts"].save(update_fields=["published"])
    response = order(api_client, customer_token, basket)
    assert response.status_code == 423, response.json()
    assert written_for(subscription, basket) == before
