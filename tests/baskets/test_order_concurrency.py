"""Real concurrency on PostgreSQL: a promo code's availableQuantity holds, a basket completes once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from baskets.models import Basket, BasketEvent, Payment, PromoCode, PromoRedemption
from subscriptions.models import Subscription
from tests.conftest import bearer
from tests.factories import BasketFactory, OrderItemFactory, PromoCodeFactory
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
