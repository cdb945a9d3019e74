"""Promo code reads: lookup by code, eligible offers, and why a code cannot discount a basket."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db.models import Prefetch, prefetch_related_objects
from django.db.models.functions import Upper

from baskets.errors import BasketCodes
from baskets.models import Basket, OrderItem, OrderType, PromoCode
from baskets.selectors.quotes import order_lines, promo_code_discount
from subscriptions.selectors import offers_with_ids_only

# --- Promo codes ---------------------------------------------------------------------------------


def normalise_promo_code(code: str) -> str:
    """How codes are stored and looked up: trimmed, upper-case."""
    return code.strip().upper()


def promo_code_by_code(code: str, *, all_eligible_offers: bool = True) -> PromoCode | None:
    """The promo code with this code in any case, with its eligible offer ids (two queries).

    `all_eligible_offers=False`: the eligible offers only for a selectedItems code, the only kind
    whose rules read them (promo_code_load_eligible_offers); a wholeBasket code costs one query.
    """
    codes = PromoCode.objects.annotate(code_upper=Upper("code")).filter(code_upper=normalise_promo_code(code))
    if all_eligible_offers:
        return codes.prefetch_related(Prefetch("eligible_offers", queryset=offers_with_ids_only())).first()
    promo = codes.first()
    return promo_code_load_eligible_offers(promo) if promo is not None else None


def promo_code_with_offers(promo_code_id: int) -> PromoCode:
    return PromoCode.objects.prefetch_related(Prefetch("eligible_offers", queryset=offers_with_ids_only())).get(
        pk=promo_code_id
    )


def promo_code_load_eligible_offers(promo: PromoCode) -> PromoCode:
    """Prefetch a selectedItems code's eligible offer ids (one query); a wholeBasket code needs none."""
    if promo.application_level == PromoCode.ApplicationLevel.SELECTED_ITEMS:
        prefetch_related_objects([promo], Prefetch("eligible_offers", queryset=offers_with_ids_only()))
    return promo


def promo_code_problem(
    promo: PromoCode,
    *,
    basket: Basket,
    items: Sequence[OrderItem],
    now: datetime,
    check_redemption_limit: bool = True,
) -> tuple[str, str] | None:
    """Why this code cannot discount this basket now, as (code, message), or None when it can.

    `check_redemption_limit=False` leaves exhaustion to the atomic count at completion (a read
    here would race with concurrent completions).
    """
    if not promo.active:
        return BasketCodes.PROMO_CODE_INACTIVE, "This promo code is not active."
    if promo.starts_at is not None and promo.starts_at > now:
        return BasketCodes.PROMO_CODE_NOT_STARTED, "This promo code is not valid yet."
    if promo.expires_at is not None and promo.expires_at <= now:
        return BasketCodes.PROMO_CODE_EXPIRED, "This promo code has expired."
    if (
        check_redemption_limit
        and promo.available_quantity is not None
        and promo.redeemed_count >= promo.available_quantity
    ):
        return BasketCodes.PROMO_CODE_EXHAUSTED, "This promo code has been used as many times as it may be."
    if basket.order_type == OrderType.UPDATE_SUBSCRIPTION:
        return BasketCodes.PROMO_CODE_NOT_APPLICABLE, "Promo codes apply to new and renewal orders only."
    if promo.discount_type == PromoCode.DiscountType.AMOUNT and promo.currency != basket.currency:
        return BasketCodes.PROMO_CODE_NOT_APPLICABLE, f"This promo code is in {promo.currency}; the basket is not."
    discount = promo_code_discount(promo)
    if discount.offer_ids is not None and not any(discount.applies_to(line[2]) for line in order_lines(items)):
        return BasketCodes.PROMO_CODE_NOT_APPLICABLE, "This promo code applies to none of the offers in the basket."
    return None
