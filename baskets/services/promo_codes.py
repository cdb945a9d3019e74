"""Promo codes (API.md §7): applying a code to a basket, taking it off, counting its redemptions.

The rules (is the code valid for this basket now, what does it discount) are reads and live in
baskets.selectors; prices are worked out in subscriptions.pricing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from baskets import selectors
from baskets.errors import BASKET_NOT_FOUND, BasketCodes, BasketNotFound, PromoCodeRefused
from baskets.locks import lock_basket
from baskets.models import Basket, PromoCode, PromoRedemption
from baskets.services.acquisition import BasketChange
from baskets.services.lifecycle import basket_check_version, basket_ensure_mutable, basket_record_event
from checkout_project.api.actor import Actor
from subscriptions.models import Customer, Offer


@transaction.atomic
def promo_code_apply(
    *,
    actor: Actor,
    basket_id: uuid.UUID | None,
    code: str,
    if_match: int | None = None,
    now: datetime | None = None,
) -> BasketChange:
    """Apply `code` to any basket (staff callers); it replaces the basket's previous code.

    Locks the basket row, bumps its version and records a `promo_code_applied` event. Raises
    BasketNotFound (404), BasketCompleted (409), BasketExpired (410), VersionMismatch (412, when
    `if_match` is not the basket's version) and PromoCodeRefused (400: promo_code_unknown,
    _inactive, _not_started, _expired, _exhausted, _not_applicable). Writes nothing when it raises.
    """
    now = now or timezone.now()
    basket = lock_basket(Basket.objects.all(), basket_id)
    if basket is None:
        raise BasketNotFound(BASKET_NOT_FOUND)
    basket_ensure_mutable(basket)
    basket_check_version(basket, if_match)
    promo = selectors.promo_code_by_code(code, all_eligible_offers=False)
    if promo is None:
        raise PromoCodeRefused(BasketCodes.PROMO_CODE_UNKNOWN, "There is no such promo code.")
    items = selectors.basket_items(basket)
    problem = selectors.promo_code_problem(promo, basket=basket, items=items, now=now)
    if problem is not None:
        raise PromoCodeRefused(*problem)
    replaced = basket.promo_code_id
    basket.promo_code = promo
    basket.version += 1
    basket.updated = now
    quote = selectors.basket_quote(basket, items, now=now)
    basket.total = quote.total
    basket.save(update_fields=["promo_code", "version", "updated", "total"])
    basket_record_event(
        basket=basket,
        actor=actor,
        kind="promo_code_applied",
        data={"code": promo.code, "replaced": replaced if replaced != promo.pk else None},
    )
    return BasketChange(basket=basket, items=items, quote=quote)


@transaction.atomic
def promo_code_remove(*, actor: Actor, basket_id: uuid.UUID | None, now: datetime | None = None) -> BasketChange:
    """Take the promo code off a basket (the hosted checkout page's "Remove").

    Locks the basket row; when it has a code, clears it, bumps the version and records a
    `promo_code_removed` event; a basket without a code is left as it is. Raises
    BasketNotFound (404), BasketCompleted (409) and BasketExpired (410). Writes nothing when
    it raises.
    """
    now = now or timezone.now()
    basket = lock_basket(Basket.objects.all(), basket_id)
    if basket is None:
        raise BasketNotFound(BASKET_NOT_FOUND)
    basket_ensure_mutable(basket)
    items = selectors.basket_items(basket)
    if basket.promo_code is None:
        return BasketChange(basket=basket, items=items, quote=selectors.basket_quote(basket, items, now=now))
    removed = basket.promo_code.code
    basket.promo_code = None
    basket.version += 1
    basket.updated = now
    quote = selectors.basket_quote(basket, items, now=now)
    basket.total = quote.total
    basket.save(update_fields=["promo_code", "version", "updated", "total"])
    basket_record_event(basket=basket, actor=actor, kind="promo_code_removed", data={"code": removed})
    return BasketChange(basket=basket, items=items, quote=quote)


def _exhausted() -> PromoCodeRefused:
    return PromoCodeRefused(
        BasketCodes.PROMO_CODE_EXHAUSTED, "This promo code has been used as many times as it may be."
    )


def promo_code_ensure_available(promo_code: PromoCode) -> None:
    """PromoCodeRefused promo_code_exhausted (400) when the code as read (no query, no lock) is used
    up already: an early refusal, before a payment is authorised. promo_code_redeem's guarded count
    still decides under concurrency."""
    if promo_code.available_quantity is not None and promo_code.redeemed_count >= promo_code.available_quantity:
        raise _exhausted()


def promo_code_redeem(
    *,
    promo_code: PromoCode,
    basket: Basket,
    customer: Customer | None,
    amount: Decimal,
    currency: str,
) -> PromoRedemption:
    """Count one redemption and record it. Runs inside the completing order's transaction, whose
    caller must call it before anything irrevocable (the payment).

    One conditional UPDATE: it takes the code's row lock, so concurrent completions queue on it
    and each sees the count the previous one committed; when it matches no row, the code is
    exhausted: raises PromoCodeRefused promo_code_exhausted (400), and the caller's transaction
    rolls back. `available_quantity` can never be exceeded (the check constraint backs it).
    Then the redemption's INSERT.
    """
    counted = (
        PromoCode.objects.filter(pk=promo_code.pk)
        .filter(Q(available_quantity__isnull=True) | Q(redeemed_count__lt=F("available_quantity")))
        .update(redeemed_count=F("redeemed_count") + 1)
    )
    if counted == 0:
        raise _exhausted()
    redemption = PromoRedemption(
        promo_code=promo_code, basket=basket, customer=customer, amount=amount, currency=currency
    )
    redemption.save(force_insert=True)
    return redemption


@transaction.atomic
def promo_code_get_or_create(
    *, code: str, eligible_offers: Sequence[Offer] = (), **fields: Any
) -> tuple[PromoCode, bool]:
    """The code (in any case) as it is, or a new one with `fields` and `eligible_offers` (seed data).

    An existing code is left untouched, so running a seed twice changes nothing. A concurrent
    creation of the same code loses on the case-insensitive unique constraint and reads the winner.
    """
    existing = selectors.promo_code_by_code(code)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            promo = PromoCode.objects.create(code=selectors.normalise_promo_code(code), **fields)
    except IntegrityError:
        winner = selectors.promo_code_by_code(code)
        assert winner is not None  # the constraint refused this one: the other committed
        return winner, False
    if eligible_offers:
        promo.eligible_offers.set(eligible_offers)
    return promo, True
