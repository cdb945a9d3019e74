"""The order object on the wire: which item fields each order type carries (API.md §4)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from baskets.api.render import order_to_wire
from baskets.models import OrderType
from baskets.selectors import basket_quote
from tests.factories import BasketFactory, OrderItemFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "order_type, carries_change_fields",
    [(OrderType.NEW, False), (OrderType.RENEW, False), (OrderType.UPDATE_SUBSCRIPTION, True)],
)
def test_only_subscription_change_items_carry_their_action_and_effective_date(offer, order_type, carries_change_fields):
    # "orderItemActionType (add | remove, update baskets only) … effectiveDate (update baskets)".
    basket = BasketFactory(order_type=order_type)
    item = OrderItemFactory(basket=basket, offer=offer)

    (wire,) = order_to_wire(basket, [item], basket_quote(basket, [item], now=timezone.now()))["orderItems"]

    assert ("orderItemActionType" in wire) is carries_change_fields
    assert ("effectiveDate" in wire) is carries_change_fields
