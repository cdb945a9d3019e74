"""baskets.services.completion's strategies: one per order type, and what each quotes before the
transaction (from unlocked reads) is what basket_complete charges under its locks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from baskets import selectors
from baskets.models import Basket, OrderType, Payment
from baskets.selectors import BasketQuote
from baskets.services import completion
from subscriptions.models import SubscriptionAddOn
from tests.conftest import bearer
from tests.factories import BasketFactory, OfferFactory, OrderItemFactory, PromoCodeFactory, SubscriptionFactory
from tests.subscription_flows import change_basket

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 1, 31, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


def quoted_before_completing(basket: Basket) -> BasketQuote:
    """The order type's unlocked read and quote, as a gateway authorising before the order would."""
    basket = Basket.objects.get(pk=basket.pk)
    items = selectors.basket_items(basket)
    order = completion.ORDER_COMPLETIONS[basket.order_type]
    return order.quote(basket, items, order.read(basket, items, lock=False), now=timezone.now())


def complete(api_client, token, basket: Basket) -> dict:
    response = api_client.post("/api/order", {"checkoutId": basket.public_id}, format="json", **bearer(token))
    assert response.status_code == 200, response.json()
    return response.json()


def monthly(amount: str):
    return [{"name": "Monthly", "amount": amount, "repeat_interval": 1, "repeat_interval_type": "months"}]


def test_every_order_type_has_a_completion():
    assert set(completion.ORDER_COMPLETIONS) == set(OrderType.values)


def test_a_new_order_charges_what_it_was_quoted_with_its_promo_code(
    api_client, storefront_app, storefront_token, offer, add_on
):
    # 12.99 and the 2.50 add-on twice = 17.99; 20% off (3.60) = 14.39.
    basket = BasketFactory(application=storefront_app, email="ada@example.com", promo_code=PromoCodeFactory())
    main = OrderItemFactory(basket=basket, offer=offer, position=0)
    OrderItemFactory(basket=basket, offer=add_on, position=1, parent=main, quantity=2)

    quote = quoted_before_completing(basket)
    body = complete(api_client, storefront_token, basket)

    assert quote.due_today == Decimal("14.39") == Payment.objects.get().amount
    assert quote.totals.to_wire() == body["order"]["totals"]


def test_a_subscription_change_charges_what_it_was_quoted(api_client, customer, customer_token):
    current = OfferFactory(name="Standard", path="/offers/standard", charges=monthly("10.00"))
    upgrade = OfferFactory(name="Premium", path="/offers/premium", charges=monthly("20.00"))
    current.upgrade_offers.add(upgrade)
    subscription = SubscriptionFactory(
        customer=customer, offer=current, term_start=datetime(2025, 1, 1, tzinfo=UTC),
        term_end=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    basket = change_basket(api_client, customer_token, subscription, upgrade)

    quote = quoted_before_completing(basket)
    body = complete(api_client, customer_token, basket)

    # 335 of 365 days left: charge 220.27, credit 110.13 (rounded down; test_orders' upgrade).
    assert quote.due_today == Decimal("110.14") == Payment.objects.get().amount
    assert quote.totals.to_wire() == body["order"]["totals"]
    assert {str(item_id): q.to_wire() for item_id, q in quote.change_quotes.items()} == {
        item["id"]: item["proration"] for item in body["order"]["orderItems"] if item["proration"] is not None
    }


def test_a_renewal_charges_what_it_was_quoted(api_client, backoffice_token, customer, offer, add_on):
    subscription = SubscriptionFactory(
        customer=customer, offer=offer, term_start=NOW - timedelta(days=335), term_end=NOW + timedelta(days=30)
    )
    SubscriptionAddOn.objects.create(subscription=subscription, offer=add_on, quantity=2)
    initiated = api_client.post(
        "/api/admin/checkout/initiate/renew", {"subscriptionId": subscription.public_id}, format="json",
        **bearer(backoffice_token),
    )  # fmt: skip
    assert initiated.status_code == 200, initiated.json()
    basket = Basket.objects.get()

    quote = quoted_before_completing(basket)
    body = complete(api_client, backoffice_token, basket)

    assert quote.due_today == Decimal("17.99") == Payment.objects.get().amount  # 12.99 + 2 x 2.50
    assert quote.totals.to_wire() == body["order"]["totals"]
