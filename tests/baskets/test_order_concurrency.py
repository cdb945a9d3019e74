"""Real concurrency on PostgreSQL: a promo code's availableQuantity holds, a basket completes once,
a subscription's change baskets completing at once change it once, its renewal baskets renew a term once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from baskets.models import Basket, BasketEvent, Payment, PromoCode, PromoRedemption
from subscriptions.models import Subscription, SubscriptionAddOn
from subscriptions.pricing import add_interval
from tests.conftest import bearer
from tests.factories import BasketFactory, OfferFactory, OrderItemFactory, PromoCodeFactory, SubscriptionFactory
from tests.subscription_flows import change_basket
from tests.threads import run_at_once

pytestmark = [pytest.mark.requires_postgres, pytest.mark.django_db(transaction=True)]


def test_thirty_completions_share_ten_redemptions(storefront_token, offer):
    promo = PromoCodeFactory(code="TENONLY", available_quantity=10)
    baskets = []
    for n in range(30):
        basket = BasketFactory(
            application=storefront_token.application, email=f"buyer{n}@example.com", promo_code=promo
        )
        OrderItemFactory(basket=basket, offer=offer)
        baskets.append(basket)

    def send(index, client):
        return client.post(
            "/api/order", {"checkoutId": baskets[index].public_id}, format="json", **bearer(storefront_token)
        )

    responses = run_at_once(30, send)

    statuses = [response.status_code for response in responses]
    assert sorted(statuses) == [200] * 10 + [400] * 20, [r.json() for r in responses]
    won = [baskets[i] for i, response in enumerate(responses) if response.status_code == 200]
    lost = [baskets[i] for i, response in enumerate(responses) if response.status_code == 400]
    for response in responses:
        if response.status_code == 200:
            # 12.99 with 20% off: 2.598 -> 2.60 off, 10.39 paid.
            assert response.json()["order"]["totals"]["discount"] == "2.60"
            assert response.json()["payment"]["amount"] == "10.39"
        else:
            assert response.json()["code"] == "promo_code_exhausted"
    promo.refresh_from_db()
    assert promo.redeemed_count == 10
    assert set(PromoRedemption.objects.values_list("basket_id", flat=True)) == {b.id for b in won}
    assert set(PromoRedemption.objects.values_list("amount", flat=True)) == {Decimal("2.60")}
    assert set(Payment.objects.values_list("basket_id", flat=True)) == {b.id for b in won}
    assert Subscription.objects.count() == 10
    assert set(Basket.objects.filter(pk__in=[b.id for b in lost]).values_list("status", "version")) == {("active", 1)}
    assert not BasketEvent.objects.filter(basket__in=lost).exists()


def test_one_basket_completes_once_whatever_the_concurrency(storefront_token, offer):
    promo = PromoCodeFactory(code="OPEN")
    basket = BasketFactory(application=storefront_token.application, email="ada@example.com", promo_code=promo)
    OrderItemFactory(basket=basket, offer=offer)

    def send(index, client):
        return client.post("/api/order", {"checkoutId": basket.public_id}, format="json", **bearer(storefront_token))

    responses = run_at_once(8, send)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [409] * 7, [r.json() for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"basket_completed"}
    assert Subscription.objects.count() == 1
    assert Payment.objects.count() == 1
    assert PromoRedemption.objects.count() == 1
    assert PromoCode.objects.get().redeemed_count == 1
    basket.refresh_from_db()
    assert (basket.status, basket.version) == ("completed", 2)
    assert list(BasketEvent.objects.filter(basket=basket).values_list("kind", flat=True)) == ["completed"]


def complete_at_once(token, baskets) -> list:
    def send(index, client):
        return client.post("/api/order", {"checkoutId": baskets[index].public_id}, format="json", **bearer(token))

    return run_at_once(len(baskets), send)


def assert_losers_unchanged(baskets, responses, *, version: int = 2) -> None:
    """Every basket refused with 409 subscription_changed is still active at `version`, unpaid."""
    lost = [basket for basket, response in zip(baskets, responses, strict=True) if response.status_code == 409]
    assert {response.json()["code"] for response in responses if response.status_code == 409} == {
        "subscription_changed"
    }
    assert set(Basket.objects.filter(pk__in=[b.pk for b in lost]).values_list("status", "version")) == {
        ("active", version)
    }
    assert not BasketEvent.objects.filter(basket__in=lost, kind="completed").exists()
    assert not Payment.objects.filter(basket__in=lost).exists()


def test_baskets_adding_the_same_add_on_at_once_add_and_charge_it_once(
    api_client, customer, customer_token, offer, add_on
):
    subscription = SubscriptionFactory(customer=customer, offer=offer)
    baskets = []
    for _ in range(4):
        api_client.cookies.clear()
        baskets.append(change_basket(api_client, customer_token, subscription, add_on))

    responses = complete_at_once(customer_token, baskets)

    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409], [r.json() for r in responses]
    assert_losers_unchanged(baskets, responses)
    assert list(SubscriptionAddOn.objects.filter(subscription=subscription).values_list("offer_id", "quantity")) == [
        (add_on.id, 1)
    ]
    assert Payment.objects.count() == 1


def test_an_add_on_and_an_upgrade_that_does_not_sell_it_completing_at_once_apply_one(
    api_client, customer, customer_token, offer, add_on
):
    """Whichever completes first, the other was quoted against a subscription that is gone: the
    subscription never ends on Premium with an add-on Premium does not sell."""
    premium = OfferFactory(name="Premium", path="/offers/race-premium-plain")
    offer.upgrade_offers.add(premium)
    subscription = SubscriptionFactory(customer=customer, offer=offer)
    baskets = []
    for change in (add_on, premium):
        api_client.cookies.clear()
        baskets.append(change_basket(api_client, customer_token, subscription, change))

    responses = complete_at_once(customer_token, baskets)

    assert sorted(r.status_code for r in responses) == [200, 409], [r.json() for r in responses]
    assert_losers_unchanged(baskets, responses)
    subscription.refresh_from_db()
    add_ons = list(subscription.add_ons.values_list("offer_id", flat=True))
    if responses[0].status_code == 200:
        assert (subscription.offer_id, add_ons) == (offer.id, [add_on.id])
    else:
        assert (subscription.offer_id, add_ons) == (premium.id, [])
    assert Payment.objects.count() == 1


def renewal_basket(client, token, subscription) -> Basket:
    """A staff renewal basket for `subscription`, built through the API."""
    body = {"subscriptionId": subscription.public_id}
    initiated = client.post("/api/admin/checkout/initiate/renew", body, format="json", **bearer(token))
    assert initiated.status_code == 200, initiated.json()
    return Basket.objects.get(pk=initiated.json()["id"].removeprefix("basket-"))


def test_renewal_baskets_of_one_term_completing_at_once_renew_it_once(api_client, backoffice_token, customer, offer):
    subscription = SubscriptionFactory(customer=customer, offer=offer)
    term_end = subscription.term_end
    baskets = [renewal_basket(api_client, backoffice_token, subscription) for _ in range(4)]

    responses = complete_at_once(backoffice_token, baskets)

    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409], [r.json() for r in responses]
    assert_losers_unchanged(baskets, responses, version=1)  # renewal baskets are built at version 1
    subscription.refresh_from_db()
    assert subscription.term_end == add_interval(term_end, 12, "months")  # one 12-month term, not four
    assert Payment.objects.count() == 1


def test_a_renewal_and_an_add_on_bought_at_once_never_drop_the_paid_add_on(
    api_client, backoffice_token, customer, customer_token, offer, add_on
):
    """Whichever locks the subscription first: the add-on bought first makes the renewal (built
    without it) 409; the renewal first leaves the add-on purchase to add it to the renewed term."""
    subscription = SubscriptionFactory(customer=customer, offer=offer)
    term_end = subscription.term_end
    renewal = renewal_basket(api_client, backoffice_token, subscription)
    purchase = change_basket(api_client, customer_token, subscription, add_on)

    def send(index, client):
        basket, token = [(renewal, backoffice_token), (purchase, customer_token)][index]
        return client.post("/api/order", {"checkoutId": basket.public_id}, format="json", **bearer(token))

    renewed, bought = run_at_once(2, send)

    assert bought.status_code == 200, bought.json()
    assert renewed.status_code in {200, 409}, renewed.json()
    subscription.refresh_from_db()
    assert list(subscription.add_ons.values_list("offer_id", "quantity")) == [(add_on.id, 1)]
    if renewed.status_code == 200:
        assert subscription.term_end == add_interval(term_end, 12, "months")
        assert Payment.objects.count() == 2
    else:
        assert renewed.json()["code"] == "subscription_changed"
        assert subscription.term_end == term_end
        renewal.refresh_from_db()
        assert (renewal.status, renewal.version) == ("active", 1)
        assert list(Payment.objects.values_list("basket_id", flat=True)) == [purchase.id]
