"""Basket.total (what a basket is worth, issue 15) equals its quote's total after every kind of change.

Each service that changes a basket's items, promo code or currency writes the total with the
same statement that bumps the version; `backfill_basket_totals` prices rows written before.
"""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from baskets import selectors, services
from baskets.models import Basket, OrderType
from baskets.services.subscription_change import subscription_change_read
from checkout_project.api.actor import Actor
from tests.factories import (
    BasketFactory,
    OfferFactory,
    OrderItemFactory,
    PromoCodeFactory,
    SubscriptionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def quoted_total(basket: Basket) -> Decimal:
    """The basket's quote's total, priced afresh from the database."""
    basket = Basket.objects.get(pk=basket.pk)
    items = selectors.basket_items(basket)
    if basket.order_type == OrderType.UPDATE_SUBSCRIPTION:
        change = subscription_change_read(basket, items, lock=False)
        return selectors.basket_quote(basket, items, now=basket.updated, change=change).total
    return selectors.basket_quote(basket, items, now=basket.updated).total


def stored_total(basket: Basket) -> Decimal | None:
    return Basket.objects.values_list("total", flat=True).get(pk=basket.pk)


@pytest.fixture
def actor(storefront_app):
    return Actor(application=storefront_app)


def order(*lines):
    return {"orderItems": [{"offer": {"id": offer.id}, "quantity": quantity} for offer, quantity in lines]}


def test_initiate_writes_the_total(actor, offer, add_on):
    change = services.basket_initiate(actor=actor, order=order((offer, 2)))
    assert stored_total(change.basket) == Decimal("25.98") == quoted_total(change.basket)


def test_replacing_the_landing_basket_writes_the_new_total(actor, offer):
    first = services.basket_initiate(actor=actor, order=order((offer, 1)))
    again = services.basket_initiate(actor=actor, order=order((offer, 3)), landing_basket_id=first.basket.id)
    assert again.basket.id == first.basket.id
    assert stored_total(first.basket) == Decimal("38.97") == quoted_total(first.basket)


def test_item_actions_write_the_total(actor, offer, add_on):
    basket = services.basket_initiate(actor=actor, order=order((offer, 1))).basket
    main = selectors.basket_items(basket)[0]
    added = services.basket_apply_actions(
        actor=actor,
        basket_id=basket.id,
        actions=[{"orderItemActionType": "add", "offer": {"id": add_on.id}, "quantity": 2, "parentId": main.id}],
    )
    assert stored_total(basket) == Decimal("17.99") == quoted_total(basket) == added.quote.total
    services.basket_apply_actions(
        actor=actor, basket_id=basket.id, actions=[{"orderItemActionType": "update", "id": main.id, "quantity": 2}]
    )
    assert stored_total(basket) == Decimal("30.98") == quoted_total(basket)
    services.basket_apply_actions(
        actor=actor, basket_id=basket.id, actions=[{"orderItemActionType": "remove", "id": main.id}]
    )
    assert stored_total(basket) == Decimal("0.00") == quoted_total(basket)


def test_promo_code_apply_and_remove_write_the_total(actor, offer):
    basket = services.basket_initiate(actor=actor, order=order((offer, 1))).basket
    PromoCodeFactory(code="HALF", percentage=Decimal("50"))
    staff = Actor(user=UserFactory(is_staff=True), is_staff=True)
    services.promo_code_apply(actor=staff, basket_id=basket.id, code="HALF")
    assert stored_total(basket) == Decimal("6.49") == quoted_total(basket)  # 12.99 less 6.50 (half up)
    services.promo_code_remove(actor=staff, basket_id=basket.id)
    assert stored_total(basket) == Decimal("12.99") == quoted_total(basket)


def test_renewal_basket_is_created_with_its_total(customer, offer, add_on):
    subscription = SubscriptionFactory(customer=customer, offer=offer, quantity=2)
    renewal = services.basket_initiate_renewal(
        actor=Actor(user=UserFactory(is_staff=True), is_staff=True), subscription_id=subscription.id
    )
    assert stored_total(renewal.basket) == Decimal("25.98") == quoted_total(renewal.basket)


def test_subscription_change_baskets_write_the_total(customer, storefront_app, offer):
    premium = OfferFactory(
        name="Premium",
        path="/offers/premium",
        charges=[{"name": "Monthly", "amount": "20.00", "repeat_interval": 1, "repeat_interval_type": "months"}],
    )
    offer.upgrade_offers.add(premium)
    subscription = SubscriptionFactory(customer=customer, offer=offer)
    actor = Actor(application=storefront_app, customer=customer, user=customer.user, is_customer_token=True)
    checkout = services.subscription_checkout_initiate(actor=actor, subscription_id=subscription.id)
    assert stored_total(checkout.basket) == Decimal("0.00") == checkout.quote.total
    changed = services.subscription_checkout_apply_actions(
        actor=actor,
        basket_id=checkout.basket.id,
        actions=[{"orderItemActionType": "add", "offer": {"id": premium.id}, "quantity": 1}],
    )
    assert changed.quote.total > 0
    assert stored_total(checkout.basket) == changed.quote.total


def test_backfill_prices_baskets_without_a_total(offer):
    promo = PromoCodeFactory(code="TENOFF", percentage=Decimal("10"))
    plain = BasketFactory()
    OrderItemFactory(basket=plain, offer=offer, quantity=2)
    discounted = BasketFactory(promo_code=promo)
    OrderItemFactory(basket=discounted, offer=offer)
    empty = BasketFactory()
    priced = BasketFactory(total=Decimal("1.00"))  # already has one: left alone

    out = StringIO()
    call_command("backfill_basket_totals", "--batch-size", "2", "--json", stdout=out)

    assert json.loads(out.getvalue()) == {"priced_baskets": 3}
    assert stored_total(plain) == Decimal("25.98")
    assert stored_total(discounted) == Decimal("11.69")  # 12.99 - 1.30
    assert stored_total(empty) == Decimal("0.00")
    assert stored_total(priced) == Decimal("1.00")
    out = StringIO()
    call_command("backfill_basket_totals", stdout=out)
    assert out.getvalue().strip() == "Wrote the total of 0 basket(s)."
