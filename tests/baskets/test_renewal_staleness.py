"""A renewal basket completes only while the subscription is what it was built against (API.md §6).

Completing a renewal extends the term and replaces the subscription's add-ons with the basket's:
a basket built for a term another renewal has since renewed, or before an add-on was bought,
would renew twice or drop the add-on. Both are refused with 409 subscription_changed and write
nothing; staff build a new renewal basket from the subscription as it is.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from baskets.models import Basket, BasketStatus, OrderItem, OrderType, Payment
from subscriptions.models import Offer, SubscriptionAddOn
from tests.conftest import bearer
from tests.factories import OfferFactory
from tests.subscription_flows import change_basket, subscription_of_2025

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 1, 31, 12, tzinfo=UTC)
CHANGED = {
    "message": "The subscription changed since this basket was started; start a new one.",
    "code": "subscription_changed",
}


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


def monthly(amount: str):
    return [{"name": "Monthly", "amount": amount, "repeat_interval": 1, "repeat_interval_type": "months"}]


@pytest.fixture
def catalog():
    """Standard (12 months, 10.00) sells the archive and puzzles; the legacy add-on is sold by nothing."""
    current = OfferFactory(name="Standard", path="/offers/standard", charges=monthly("10.00"))
    archive = OfferFactory(name="Archive", path="/offers/archive", type="add_on", charges=monthly("2.50"))
    puzzles = OfferFactory(name="Puzzles", path="/offers/puzzles", type="add_on", charges=monthly("3.00"))
    legacy = OfferFactory(name="Legacy", path="/offers/legacy", type="add_on", charges=monthly("1.00"))
    current.cross_sell_add_ons.add(archive, puzzles)
    return {"current": current, "archive": archive, "puzzles": puzzles, "legacy": legacy}


@pytest.fixture
def subscription(customer, catalog):
    return subscription_of_2025(customer, catalog["current"], catalog["archive"])


def build_renewal(api_client, backoffice_token, subscription) -> Basket:
    body = {"subscriptionId": subscription.public_id}
    response = api_client.post("/api/admin/checkout/initiate/renew", body, format="json", **bearer(backoffice_token))
    assert response.status_code == 200, response.json()
    return Basket.objects.get(pk=response.json()["id"].removeprefix("basket-"))


def order(api_client, token, basket):
    return api_client.post("/api/order", {"checkoutId": basket.public_id}, format="json", **bearer(token))


def buy_add_on(api_client, customer_token, subscription, add_on) -> Basket:
    """A subscription change basket adding `add_on`, built and completed through the API."""
    basket = change_basket(api_client, customer_token, subscription, add_on)
    assert order(api_client, customer_token, basket).status_code == 200
    return basket


def written_for(subscription, basket) -> dict:
    """What completing `basket` could change: the subscription, its add-ons, payments, the basket."""
    subscription.refresh_from_db()
    basket.refresh_from_db()
    return {
        "plan": (subscription.offer_id, subscription.quantity, subscription.term_start, subscription.term_end),
        "add_ons": sorted(subscription.add_ons.values_list("offer_id", "quantity")),
        "payments": sorted(Payment.objects.values_list("basket_id", "amount")),
        "basket": (basket.status, basket.version, list(basket.events.values_list("kind", flat=True))),
    }


def assert_refused_as_changed(response, before: dict, subscription, basket) -> None:
    assert response.status_code == 409, response.json()
    assert response.json() == CHANGED
    assert written_for(subscription, basket) == before
    assert before["basket"] == (BasketStatus.ACTIVE, 1, ["created"])
    assert not Payment.objects.filter(basket=basket).exists()


# --- The term a renewal basket renews --------------------------------------------------------------


def test_the_renewal_basket_records_the_term_end_it_renews_as_its_items_effective_date(
    api_client, backoffice_token, subscription, catalog
):
    basket = build_renewal(api_client, backoffice_token, subscription)

    items = OrderItem.objects.filter(basket=basket).order_by("position")
    assert [(item.offer_id, item.effective_date) for item in items] == [
        (catalog["current"].id, datetime(2026, 1, 1, tzinfo=UTC)),
        (catalog["archive"].id, datetime(2026, 1, 1, tzinfo=UTC)),
    ]


def test_a_renewal_completes_and_extends_the_term_once(api_client, backoffice_token, subscription, catalog):
    basket = build_renewal(api_client, backoffice_token, subscription)

    response = order(api_client, backoffice_token, basket)

    assert response.status_code == 200, response.json()
    assert response.json()["payment"]["amount"] == "12.50"
    after = written_for(subscription, basket)
    # A renewal starts a new term: from the old term end (issue 13; the start used to stay put).
    assert after["plan"] == (
        catalog["current"].id, 1, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    )  # fmt: skip
    assert after["add_ons"] == [(catalog["archive"].id, 1)]
    assert after["basket"] == (BasketStatus.COMPLETED, 2, ["created", "completed"])


def second_renewal_refused(api_client, backoffice_token, subscription) -> tuple[Basket, dict]:
    """Two renewal baskets built for the same term; the first completes, the second is refused
    (409, nothing written). The first basket, and what the refused order found written."""
    first = build_renewal(api_client, backoffice_token, subscription)
    second = build_renewal(api_client, backoffice_token, subscription)
    assert order(api_client, backoffice_token, first).status_code == 200
    before = written_for(subscription, second)
    assert_refused_as_changed(order(api_client, backoffice_token, second), before, subscription, second)
    return first, before


def test_a_second_renewal_basket_built_for_the_same_term_is_409_and_renews_nothing(
    api_client, backoffice_token, subscription, catalog
):
    first, before = second_renewal_refused(api_client, backoffice_token, subscription)
    assert before["plan"][3] == datetime(2027, 1, 1, tzinfo=UTC)  # renewed once, not to 2028
    assert [basket_id for basket_id, _ in before["payments"]] == [first.id]


def test_a_second_renewal_basket_of_a_lapsed_subscription_is_409(api_client, backoffice_token, subscription):
    subscription.term_start, subscription.term_end = (
        datetime(2023, 12, 1, tzinfo=UTC),
        datetime(2024, 12, 1, tzinfo=UTC),
    )
    subscription.save()
    _, before = second_renewal_refused(api_client, backoffice_token, subscription)
    assert before["plan"][2:] == (NOW, datetime(2026, 1, 31, 12, tzinfo=UTC))  # a fresh term from now, once


def test_a_renewal_basket_built_after_the_previous_renewal_completed_renews_the_new_term(
    api_client, backoffice_token, subscription, catalog
):
    first = build_renewal(api_client, backoffice_token, subscription)
    stale = build_renewal(api_client, backoffice_token, subscription)
    assert order(api_client, backoffice_token, first).status_code == 200
    assert order(api_client, backoffice_token, stale).status_code == 409
    fresh = build_renewal(api_client, backoffice_token, subscription)

    response = order(api_client, backoffice_token, fresh)

    assert response.status_code == 200, response.json()
    after = written_for(subscription, fresh)
    assert after["plan"][3] == datetime(2028, 1, 1, tzinfo=UTC)
    assert after["add_ons"] == [(catalog["archive"].id, 1)]
    assert [basket_id for basket_id, _ in after["payments"]] == sorted([first.id, fresh.id])
    stale.refresh_from_db()
    assert (stale.status, stale.version) == (BasketStatus.ACTIVE, 1)


def test_a_renewal_basket_that_does_not_record_its_term_is_409(api_client, backoffice_token, subscription):
    """Built before renewal baskets recorded the term they renew: whether it still applies is
    unknown, so it is refused rather than risk renewing a term twice (staff build a new one)."""
    basket = build_renewal(api_client, backoffice_token, subscription)
    OrderItem.objects.filter(basket=basket).update(effective_date=None)
    before = written_for(subscription, basket)

    response = order(api_client, backoffice_token, basket)

    assert_refused_as_changed(response, before, subscription, basket)


# --- The add-ons a renewal basket renews -------------------------------------------------------------


def test_an_add_on_bought_after_the_renewal_basket_was_built_is_409_and_is_not_dropped(
    api_client, backoffice_token, customer_token, subscription, catalog
):
    renewal = build_renewal(api_client, backoffice_token, subscription)
    bought = buy_add_on(api_client, customer_token, subscription, catalog["puzzles"])
    before = written_for(subscription, renewal)

    response = order(api_client, backoffice_token, renewal)

    assert_refused_as_changed(response, before, subscription, renewal)
    assert before["add_ons"] == sorted([(catalog["archive"].id, 1), (catalog["puzzles"].id, 1)])
    assert before["plan"][3] == datetime(2026, 1, 1, tzinfo=UTC)
    assert [basket_id for basket_id, _ in before["payments"]] == [bought.id]

    # Rebuilt from the subscription as it is now, the renewal keeps the add-on.
    fresh = build_renewal(api_client, backoffice_token, subscription)
    assert order(api_client, backoffice_token, fresh).status_code == 200
    after = written_for(subscription, fresh)
    assert after["add_ons"] == sorted([(catalog["archive"].id, 1), (catalog["puzzles"].id, 1)])
    assert after["plan"][3] == datetime(2027, 1, 1, tzinfo=UTC)


def test_add_ons_the_renewal_offer_does_not_sell_are_dropped_without_a_refusal(
    api_client, backoffice_token, customer_token, subscription, catalog
):
    """The build leaves out add-ons the renewal offer does not sell, on purpose: the legacy add-on
    (sold by nothing), and the puzzles bought after the basket was built, which Standard sells but
    its successor does not. Neither makes the basket stale."""
    successor = OfferFactory(name="Standard 2026", path="/offers/standard-2026", charges=monthly("11.00"))
    successor.cross_sell_add_ons.add(catalog["archive"])
    Offer.objects.filter(pk=catalog["current"].pk).update(renewal_offer=successor)
    SubscriptionAddOn.objects.create(subscription=subscription, offer=catalog["legacy"], quantity=2)
    renewal = build_renewal(api_client, backoffice_token, subscription)
    assert list(renewal.items.order_by("position").values_list("offer_id", flat=True)) == [
        successor.id, catalog["archive"].id,
    ]  # fmt: skip
    buy_add_on(api_client, customer_token, subscription, catalog["puzzles"])

    response = order(api_client, backoffice_token, renewal)

    assert response.status_code == 200, response.json()
    after = written_for(subscription, renewal)
    # A renewal starts a new term: from the old term end (issue 13).
    assert after["plan"] == (successor.id, 1, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert after["add_ons"] == [(catalog["archive"].id, 1)]
    assert after["basket"] == (BasketStatus.COMPLETED, 2, ["created", "completed"])


def test_an_unpublished_add_on_left_out_of_the_basket_is_dropped_without_a_refusal(
    api_client, backoffice_token, subscription, catalog
):
    SubscriptionAddOn.objects.create(subscription=subscription, offer=catalog["puzzles"])
    Offer.objects.filter(pk=catalog["puzzles"].pk).update(published=False)
    renewal = build_renewal(api_client, backoffice_token, subscription)

    response = order(api_client, backoffice_token, renewal)

    assert response.status_code == 200, response.json()
    assert written_for(subscription, renewal)["add_ons"] == [(catalog["archive"].id, 1)]


@pytest.mark.parametrize("change", ["removed", "requantified"])
def test_an_add_on_the_subscription_no_longer_has_as_renewed_is_409(
    api_client, backoffice_token, subscription, catalog, change
):
    """The basket renews the archive once; the subscription lost it, or has it twice, since
    (staff in the Django admin): renewing it as built would re-add it or change its quantity."""
    renewal = build_renewal(api_client, backoffice_token, subscription)
    add_ons = SubscriptionAddOn.objects.filter(subscription=subscription, offer=catalog["archive"])
    add_ons.delete() if change == "removed" else add_ons.update(quantity=2)
    before = written_for(subscription, renewal)

    response = order(api_client, backoffice_token, renewal)

    assert_refused_as_changed(response, before, subscription, renewal)
    assert before["payments"] == []


def test_a_renewal_with_no_add_ons_completes(api_client, backoffice_token, subscription, catalog):
    SubscriptionAddOn.objects.filter(subscription=subscription).delete()
    renewal = build_renewal(api_client, backoffice_token, subscription)

    response = order(api_client, backoffice_token, renewal)

    assert response.status_code == 200, response.json()
    after = written_for(subscription, renewal)
    assert (after["plan"][3], after["add_ons"]) == (datetime(2027, 1, 1, tzinfo=UTC), [])
    assert Basket.objects.get(pk=renewal.pk).order_type == OrderType.RENEW
