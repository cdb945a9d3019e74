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

    @property
    def total(self) -> Decimal:
        """What the basket is worth: the totals' `total` as the wire shows it (a change: its
        settlement's total, or what is due today when nothing changes today). Kept on
        `Basket.total` by every service that changes what the basket holds."""
        totals = self.totals
        if isinstance(totals, pricing.Totals):
            return totals.total
        if totals.settlement is not None:
            return totals.settlement.total
        return totals.due_today


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
    """The change priced from what the subscription was actually paid (its PaidPeriod) and the
    customer's balance (pricing.quote_change, issue 13): an upgrade and add-ons today, a
    downgrade at the term end; the totals with the charges breakdown and the next renewal charge.

    The customer is read with the subscription (no query: subscription_lock and the basket reads
    join it)."""
    subscription, options = change.subscription, change.options
    current = subscription.offer
    currency = current.currency
    term_end = subscription.term_end
    added_offer = added_offer_item(items)
    deferred = added_offer is not None and is_deferred(added_offer, subscription)
    removed_ids = {i.offer_id for i in items if i.type == Offer.Type.ADD_ON and i.action_type == "remove"}
    added = [i for i in items if i.type == Offer.Type.ADD_ON and i.action_type == OrderItem.ActionType.ADD]
    removed = [
        i
        for i in items
        if i.type == Offer.Type.ADD_ON and i.action_type == "remove" and not is_deferred(i, subscription)
    ]
    kept = [
        pricing.Line.from_snapshot(options.offers[add_on].snapshot, quantity)
        for add_on, quantity in sorted(options.add_ons.items())
        if add_on not in removed_ids and add_on in options.offers
    ]
    new_offer = (
        pricing.Line.from_snapshot(added_offer.offer_snapshot, added_offer.quantity)
        if added_offer is not None and not deferred
        else None
    )
    quotes: dict[uuid.UUID, pricing.ChangeQuote] = {}
    settlement = None
    if new_offer is not None or added or removed:
        settlement = pricing.quote_change(
            paid=subscription.paid_period(),
            at=now,
            currency=currency,
            current_offer=pricing.Line.from_snapshot(current.snapshot, subscription.quantity),
            new_offer=new_offer,
            kept_add_ons=kept,
            added_add_ons=[pricing.Line.from_snapshot(i.offer_snapshot, i.quantity) for i in added],
            removed_add_ons=[pricing.Line.from_snapshot(i.offer_snapshot, i.quantity) for i in removed],
            balance=subscription.customer.balance,
        )
        # Each item's own part, for the item lines: its charge (in the settlement's `charged`
        # order: the new offer, the kept add-ons, the added ones) and its share of the credit: a
        # removed add-on its co-termed value (never more than the credit left), the new offer
        # the rest. The settlement's totals are what is charged.
        credit_left = settlement.credit
        period = subscription.paid_period()
        for item in removed:
            value = pricing.co_term_value(
                pricing.Line.from_snapshot(item.offer_snapshot, item.quantity),
                period_start=period.period_start, period_end=period.period_end, at=now,
            )  # fmt: skip
            credit = min(pricing.quantize_down(value, currency), credit_left)
            credit_left -= credit
            quotes[item.id] = pricing.ChangeQuote(
                effective_at=now, credit=credit, charge=pricing.ZERO, due_today=pricing.ZERO, next_charge_at=None,
                next_charge_amount=pricing.ZERO, currency=currency,
            )  # fmt: skip
        charged_items: list[OrderItem | None] = [*added]
        if new_offer is not None:
            charged_items = [added_offer, *([None] * len(kept)), *added]
        for charged_item, line in zip(charged_items, settlement.charges, strict=True):
            if charged_item is None:
                continue
            credit = credit_left if charged_item is added_offer else pricing.ZERO
            quotes[charged_item.id] = pricing.ChangeQuote(
                effective_at=now, credit=credit, charge=line.amount, due_today=max(line.amount - credit, pricing.ZERO),
                next_charge_at=settlement.next_charge_at, next_charge_amount=settlement.next_charge_amount,
                currency=currency,
            )  # fmt: skip
    if added_offer is not None and deferred:
        quotes[added_offer.id] = pricing.quote_downgrade(
            new_price=_price(added_offer), term_end=term_end, currency=currency, new_quantity=added_offer.quantity
        )

    # The next charge: after a new billing cycle, the settlement's (the new period's end);
    # otherwise everything the subscription has at its next renewal, from the period's end.
    renewal: list[tuple[list[dict[str, Any]], int]] = [
        (_price(added_offer), added_offer.quantity)
        if added_offer
        else (current.snapshot.get("price", []), subscription.quantity)
    ]
    renewal += [
        (options.offers[add_on].snapshot.get("price", []), quantity)
        for add_on, quantity in options.add_ons.items()
        if add_on not in removed_ids and add_on in options.offers
    ]
    renewal += [(_price(i), i.quantity) for i in added]
    renews_at = settlement.next_charge_at if settlement is not None and not deferred else term_end
    totals = pricing.change_totals(quotes.values(), renewal, renews_at=renews_at, currency=currency)
    if settlement is not None:
        totals = pricing.ChangeTotals(
            charge=settlement.subtotal, credit=settlement.credit, due_today=settlement.due_today,
            next_charge_at=totals.next_charge_at, next_charge_amount=totals.next_charge_amount,
            currency=currency, settlement=settlement,
        )  # fmt: skip
    return BasketQuote(totals=totals, change_quotes=quotes)
