"""What a basket costs: basket_quote is the one function that prices a basket, of any order type.

- A new or renewal basket: its order lines' totals (what is due at checkout), less its promo
  code's discount, with the lines the code discounts, until when, and its bills meanwhile.
- An update basket quoted against its subscription (`change`): what each change costs now
  (credit, charge, due today, next charge) and the change's totals with the next renewal charge.

Services return the quote with what they changed (BasketChange, SubscriptionCheckout,
CompletedOrder) and completion charges its `due_today`; renderers only format it. Pure: the
caller has loaded the promo code (and a selectedItems code's eligible offers) or the change's
options; the money maths is subscriptions.pricing's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from baskets.models import Basket, OrderItem, PromoCode
from subscriptions import pricing
from subscriptions.models import Offer, Subscription
from subscriptions.selectors import ChangeOptions


@dataclass(frozen=True)
class PromoCodeQuote:
    """What the basket's promo code takes off: the lines it applies to, until when, its bills."""

    promo_code: PromoCode
    discount: pricing.Discount
    amount: Decimal  # what it takes off this order (the totals' discount)
    discounted_item_ids: list[uuid.UUID]
    discounted_until: datetime | None  # None: forever
    schedule: list[pricing.DiscountedBill]  # empty when forever


@dataclass(frozen=True)
class SubscriptionChange:
    """What an update basket's change is quoted against: its subscription (with its offer) and
    what that may change into (subscriptions.selectors.subscription_change_options)."""

    subscription: Subscription
    options: ChangeOptions


@dataclass(frozen=True)
class BasketQuote:
    """What a basket costs as of a moment: `totals` (a ChangeTotals for an update basket quoted
    against its subscription), the promo code's part, and each change's own quote."""

    totals: pricing.Totals | pricing.ChangeTotals
    promo_code: PromoCodeQuote | None = None
    change_quotes: dict[uuid.UUID, pricing.ChangeQuote] = field(default_factory=dict)

    @property
    def due_today(self) -> Decimal:
        """What completing the basket charges."""
        return self.totals.due_today

    @property
    def currency(self) -> str:
        return self.totals.currency


def basket_quote(
    basket: Basket, items: Sequence[OrderItem], *, now: datetime, change: SubscriptionChange | None = None
) -> BasketQuote:
    """What `basket` with `items` costs as of `now` (a completed basket: as of its completion).

    An update basket is quoted as a change when its `change` is given; without it (a completed
    change, partner validate) it is priced as its order lines, as any other basket. No query when
    the basket's promo code is loaded (one otherwise, and one for a selectedItems code's eligible
    offers when they are not prefetched).
    """
    if change is not None:
        return _change_quote(items, change, now)
    lines = order_lines(items)
    promo = basket.promo_code if basket.promo_code_id is not None else None
    if promo is None:
        return BasketQuote(totals=pricing.order_totals(lines, basket.currency))
    discount = promo_code_discount(promo)
    totals = pricing.order_totals(lines, basket.currency, discount=discount)
    # The order is placed when it completes; until then, as if placed now.
    anchor = basket.completed_at or now
    currency = basket.currency
    return BasketQuote(
        totals=totals,
        promo_code=PromoCodeQuote(
            promo_code=promo,
            discount=discount,
            amount=totals.discount,
            discounted_item_ids=[
                item.id
                for item in items
                if item.action_type != OrderItem.ActionType.REMOVE and discount.applies_to(item.offer_id)
            ],
            discounted_until=discount.until(anchor),
            schedule=pricing.discount_schedule(lines, discount, anchor=anchor, currency=currency) if currency else [],
        ),
    )


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


# --- A subscription change ------------------------------------------------------------------------


def added_offer_item(items: Iterable[OrderItem]) -> OrderItem | None:
    """The offer an update basket moves its subscription onto, if any (at most one)."""
    return next((i for i in items if i.type == Offer.Type.OFFER and i.action_type == OrderItem.ActionType.ADD), None)


def is_deferred(item: OrderItem, subscription: Subscription) -> bool:
    """Whether the item takes effect at the end of the subscription's term (a downgrade), not now."""
    return item.effective_date is not None and item.effective_date >= subscription.term_end


def _price(item: OrderItem) -> list[dict[str, Any]]:
    return item.offer_snapshot.get("price", [])


def _change_quote(items: Sequence[OrderItem], change: SubscriptionChange, now: datetime) -> BasketQuote:
    """Each change priced against the subscription's term (pro rata from `now`, or at its end),
    and the totals: the charges less the credits, and the next renewal's first charge."""
    subscription, options = change.subscription, change.options
    current = subscription.offer
    currency = current.currency
    term_start, term_end = subscription.term_start, subscription.term_end
    quotes: dict[uuid.UUID, pricing.ChangeQuote] = {}
    for item in items:
        price = _price(item)
        if item.action_type == OrderItem.ActionType.ADD and item.type == Offer.Type.OFFER:
            if is_deferred(item, subscription):
                quotes[item.id] = pricing.quote_downgrade(
                    new_price=price, term_end=term_end, currency=currency, new_quantity=item.quantity
                )
            else:
                quotes[item.id] = pricing.quote_upgrade(
                    current_price=current.snapshot.get("price", []), new_price=price, term_start=term_start,
                    term_end=term_end, at=now, currency=currency, quantity=subscription.quantity,
                    new_quantity=item.quantity,
                )  # fmt: skip
        elif item.action_type == OrderItem.ActionType.ADD:
            quotes[item.id] = pricing.quote_add_on(
                price=price, term_start=term_start, term_end=term_end, at=now, currency=currency,
                quantity=item.quantity,
            )  # fmt: skip
        elif item.type == Offer.Type.ADD_ON and not is_deferred(item, subscription):
            quotes[item.id] = pricing.quote_removal(
                price=price, term_start=term_start, term_end=term_end, at=now, currency=currency,
                quantity=item.quantity,
            )  # fmt: skip

    # What the subscription has at its next renewal: the new offer (or the current one), the
    # add-ons it keeps and the add-ons the basket adds.
    added_offer = added_offer_item(items)
    removed_add_ons = {i.offer_id for i in items if i.type == Offer.Type.ADD_ON and i.action_type == "remove"}
    renewal: list[tuple[list[dict[str, Any]], int]] = [
        (_price(added_offer), added_offer.quantity)
        if added_offer
        else (current.snapshot.get("price", []), subscription.quantity)
    ]
    renewal += [
        (options.offers[add_on].snapshot.get("price", []), quantity)
        for add_on, quantity in options.add_ons.items()
        if add_on not in removed_add_ons and add_on in options.offers
    ]
    renewal += [(_price(i), i.quantity) for i in items if i.type == Offer.Type.ADD_ON and i.action_type == "add"]
    totals = pricing.change_totals(quotes.values(), renewal, renews_at=term_end, currency=currency)
    return BasketQuote(totals=totals, change_quotes=quotes)
