"""What a basket costs: the order lines it charges for and the discount of its promo code."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from baskets.models import OrderItem, PromoCode
from subscriptions import pricing


def promo_code_discount(promo: PromoCode) -> pricing.Discount:
    """The code's terms for subscriptions.pricing; reads eligible offers once (prefetched: no query)."""
    selected = promo.application_level == PromoCode.ApplicationLevel.SELECTED_ITEMS
    percentage = promo.discount_type == PromoCode.DiscountType.PERCENTAGE
    return pricing.Discount(
        type=promo.discount_type,
        value=(promo.percentage if percentage else promo.amount) or Decimal(0),
        offer_ids=frozenset(offer.pk for offer in promo.eligible_offers.all()) if selected else None,
        duration_months=promo.duration_length if promo.duration_type else None,
    )


def order_lines(items: Iterable[OrderItem]) -> list[tuple[list[dict[str, Any]], int, str]]:
    """The (price schedule, quantity, offer id) lines an order charges for (removals excluded)."""
    return [
        (item.offer_snapshot.get("price", []), item.quantity, item.offer_id)
        for item in items
        if item.action_type != OrderItem.ActionType.REMOVE
    ]
