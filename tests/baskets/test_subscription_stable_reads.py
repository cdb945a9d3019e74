"""Reads of a subscription change basket are stable (API.md §6): two reads that return the same
ETag return the same body, byte for byte, however far apart. An upgrade's `effectiveDate` and its
quote are fixed when the action is applied; only completion moves them (to its own moment).

The term is 2025-01-01 → 2026-01-01 and the upgrade is applied on 2025-07-02 12:00 UTC (183 days
left): reading three days later must not re-quote it with 180 days left.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from baskets.models import Basket, OrderItem
from tests.conftest import bearer
from tests.factories import OfferFactory
from tests.subscription_flows import subscription_of_2025

pytestmark = pytest.mark.django_db

APPLIED = datetime(2025, 7, 2, 12, tzinfo=UTC)
URL = "/api/checkout/subscription"
PASS = {"HTTP_X_LIMIO_RECAPTCHA": "pass-token"}


def monthly(amount: str):
    return [{"name": "Monthly", "amount": amount, "repeat_interval": 1, "repeat_interval_type": "months"}]


@pytest.fixture
def clock(monkeypatch, customer_token):
    """Django's clock, from the upgrade's moment on (the token is made first: it stays valid)."""

    def set_to(moment: datetime):
        monkeypatch.setattr(timezone, "now", lambda: moment)

    set_to(APPLIED)
    return set_to


@pytest.fixture
def catalog():
    current = OfferFactory(name="Standard", path="/offers/standard", charges=monthly("10.00"))
    upgrade = OfferFactory(name="Premium", path="/offers/premium", charges=monthly("20.00"))
    downgrade = OfferFactory(name="Lite", path="/offers/lite", charges=monthly("5.00"))
    puzzles = OfferFactory(name="Puzzles", path="/offers/puzzles", type="add_on", charges=monthly("2.50"))
    archive = OfferFactory(name="Archive", path="/offers/archive", type="add_on", charges=monthly("2.50"))
    current.upgrade_offers.add(upgrade)
    current.downgrade_offers.add(downgrade)
    current.cross_sell_add_ons.add(puzzles, archive)
    upgrade.cross_sell_add_ons.add(puzzles)
    return {"current": current, "upgrade": upgrade, "downgrade": downgrade, "puzzles": puzzles, "archive": archive}


@pytest.fixture
def subscription(customer, catalog):
    return subscription_of_2025(customer, catalog["current"], catalog["archive"])


def start(api_client, token, subscription):
    body = {"order": {"order_type": "update_subscription", "forSubscription": {"id": subscription.public_id}}}
    response = api_client.post(URL, body, format="json", **bearer(token), **PASS)
    assert response.status_code == 200, response.json()
    return response


def apply(api_client, token, *offers):
    actions = [{"orderItemActionType": "add", "offer": {"id": offer.id}} for offer in offers]
    response = api_client.put(URL, {"order": {"orderItems": actions}}, format="json", **bearer(token), **PASS)
    assert response.status_code == 200, response.json()
    return response


def read(api_client, token):
    response = api_client.get(URL, **bearer(token))
    assert response.status_code == 200, response.json()
    return response


def added_item(response, offer) -> dict:
    return next(
        i
        for i in response.json()["order"]["orderItems"]
        if i["offer"]["id"] == offer.id and i["orderItemActionType"] == "add"
    )


@pytest.mark.parametrize("later", [timedelta(minutes=5), timedelta(days=3), timedelta(days=40)])
def test_two_reads_with_the_same_etag_return_the_same_body(
    api_client, clock, customer_token, subscription, catalog, later
):
    start(api_client, customer_token, subscription)
    applied = apply(api_client, customer_token, catalog["upgrade"])

    clock(APPLIED + timedelta(seconds=1))
    first = read(api_client, customer_token)
    clock(APPLIED + later)
    second = read(api_client, customer_token)

    assert first["ETag"] == second["ETag"] == applied["ETag"] == '"2"'
    assert first.content == second.content
    # The order the PUT answered is the one read back.
    assert first.json()["order"] == applied.json()["order"]
    upgrade = added_item(second, catalog["upgrade"])
    assert upgrade["effectiveDate"] == "2025-07-02T12:00:00.000Z"
    # Quoted with the 183 days left when the upgrade was applied: 120.33 charged, 60.16 credited.
    assert (upgrade["proration"]["charge"], upgrade["proration"]["credit"]) == ("120.33", "60.16")


def test_an_add_on_read_later_keeps_its_date_and_price(api_client, clock, customer_token, subscription, catalog):
    start(api_client, customer_token, subscription)
    applied = apply(api_client, customer_token, catalog["puzzles"])

    clock(APPLIED + timedelta(days=10))
    later = read(api_client, customer_token)

    assert later.content == read(api_client, customer_token).content
    puzzles = added_item(later, catalog["puzzles"])
    assert puzzles == added_item(applied, catalog["puzzles"])
    assert (puzzles["effectiveDate"], puzzles["proration"]["charge"]) == ("2025-07-02T12:00:00.000Z", "15.04")


def test_the_effective_date_is_stored_when_the_action_is_applied(
    api_client, clock, customer_token, subscription, catalog
):
    start(api_client, customer_token, subscription)
    apply(api_client, customer_token, catalog["upgrade"])

    stored = {i.offer_id: i.effective_date for i in OrderItem.objects.filter(action_type="add")}
    assert stored == {catalog["upgrade"].id: APPLIED}


def test_a_later_change_quotes_the_whole_change_at_its_own_moment(
    api_client, clock, customer_token, subscription, catalog
):
    """The change is quoted as one settlement at one moment: a later action moves it, with a new ETag."""
    start(api_client, customer_token, subscription)
    apply(api_client, customer_token, catalog["upgrade"])
    clock(APPLIED + timedelta(days=3))
    changed = apply(api_client, customer_token, catalog["puzzles"])

    clock(APPLIED + timedelta(days=5))
    later = read(api_client, customer_token)

    assert later["ETag"] == changed["ETag"] == '"3"'
    assert later.json()["order"] == changed.json()["order"]
    dates = {i["effectiveDate"] for i in later.json()["order"]["orderItems"]}
    assert dates == {"2025-07-05T12:00:00.000Z"}


def test_a_downgrade_keeps_the_term_end(api_client, clock, customer_token, subscription, catalog):
    start(api_client, customer_token, subscription)
    apply(api_client, customer_token, catalog["downgrade"])

    clock(APPLIED + timedelta(days=3))
    body = read(api_client, customer_token).json()

    assert {i["effectiveDate"] for i in body["order"]["orderItems"]} == {"2026-01-01T00:00:00.000Z"}


def test_completion_moves_the_effective_date_to_its_own_moment(
    api_client, clock, customer_token, subscription, catalog
):
    started = start(api_client, customer_token, subscription)
    apply(api_client, customer_token, catalog["upgrade"])

    completed_at = APPLIED + timedelta(days=3)
    clock(completed_at)
    response = api_client.post(
        "/api/order", {"checkoutId": started.json()["id"]}, format="json", **bearer(customer_token)
    )

    assert response.status_code == 200, response.json()
    upgrade = added_item(response, catalog["upgrade"])
    assert upgrade["effectiveDate"] == "2025-07-05T12:00:00.000Z"
    stored = OrderItem.objects.get(basket=Basket.objects.get(), offer_id=catalog["upgrade"].id, action_type="add")
    assert stored.effective_date == completed_at
