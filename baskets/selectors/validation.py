"""Re-validation before completion (order submission, partner validate): every finding that stops a basket."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from baskets import hooks
from baskets.errors import BasketCodes
from baskets.models import Basket, OrderItem, OrderType
from baskets.selectors.limits import basket_limits_exceeded
from baskets.selectors.promo_codes import promo_code_problem
from subscriptions.models import Offer
from subscriptions.selectors import (
    available_product_codes_annotation,
    offer_available_product_codes,
    offers_by_id,
)

# --- Re-validation before completion (order submission, partner validate) ------------------------


@dataclass(frozen=True)
class Finding:
    """One reason a basket cannot be completed as it stands."""

    code: str
    message: str
    order_item_id: uuid.UUID | None = None
    # The product a product finding is about (partner validate lists them as blockedProducts).
    product_code: str | None = None

    def to_wire(self) -> dict[str, str]:
        wire = {"code": self.code, "message": self.message}
        if self.order_item_id is not None:
            wire["orderItemId"] = str(self.order_item_id)
        return wire


@dataclass(frozen=True)
class BasketValidation:
    """What every check reads, loaded once: the basket, the items it would order, their offers."""

    basket: Basket
    items: list[OrderItem]  # the items the order acts on (an update basket's removals excluded)
    offers: dict[str, Offer]
    unavailable_product_codes: set[str]
    now: datetime
    check_redemption_limit: bool


# A check may also carry `offer_annotations(basket) -> {name: expression}`: what it needs to know
# per offer, added to the offers query validation makes anyway (no query of its own).
BasketCheck = Callable[[BasketValidation], Iterable[Finding]]


def check_not_empty(validation: BasketValidation) -> Iterable[Finding]:
    if not validation.items:
        yield Finding(BasketCodes.BASKET_EMPTY, "The basket has no order items.")


def check_offers(validation: BasketValidation) -> Iterable[Finding]:
    """Every offer still published, at the version the item was priced at, quantity within limits."""
    for item in validation.items:
        offer = validation.offers.get(item.offer_id)
        if offer is None or not offer.published:
            yield Finding(BasketCodes.OFFER_NOT_FOUND, "This offer is no longer sold.", item.id)
        elif offer.version != item.offer_version and offer.snapshot.get("price") != item.offer_snapshot.get("price"):
            yield Finding(BasketCodes.PRICE_CHANGED, "This offer's price changed since it was added.", item.id)
        elif offer.version != item.offer_version:
            changed = "This offer's products or term changed since it was added."
            yield Finding(BasketCodes.OFFER_VERSION_STALE, changed, item.id)
        elif not offer.min_quantity <= item.quantity <= offer.max_quantity:
            yield Finding(
                BasketCodes.QUANTITY_OUT_OF_RANGE,
                f"Quantity must be between {offer.min_quantity} and {offer.max_quantity} for this offer.",
                item.id,
            )


def check_limits(validation: BasketValidation) -> Iterable[Finding]:
    """The basket's limits (API.md §4): an offer's maxQuantity summed across the basket, and
    BASKET_MAX_ITEMS; either may have been lowered since the basket was built."""
    offers = validation.offers
    for exceeded in basket_limits_exceeded(validation.items, offers):
        offer_id = exceeded.offer_id
        if offer_id is not None and any(
            item.offer_id == offer_id and item.quantity > offers[offer_id].max_quantity for item in validation.items
        ):
            continue  # an item alone over it: check_offers' finding (quantity_out_of_range) says so
        yield Finding(exceeded.code, exceeded.message, exceeded.order_item_id)


def check_products(validation: BasketValidation) -> Iterable[Finding]:
    for item in validation.items:
        for product in item.offer_snapshot.get("products", []):
            if product.get("productCode") in validation.unavailable_product_codes:
                yield Finding(
                    BasketCodes.PRODUCT_UNAVAILABLE,
                    f"Product {product.get('productCode')} is not available.",
                    item.id,
                    product_code=product.get("productCode"),
                )


def check_renewal(validation: BasketValidation) -> Iterable[Finding]:
    if validation.basket.order_type == OrderType.RENEW:
        offers = [item for item in validation.items if item.type == OrderItem.Type.OFFER]
        if len(offers) != 1:
            yield Finding(BasketCodes.RENEWAL_NEEDS_ONE_OFFER, "A renewal renews onto exactly one offer.")


def check_promo_code(validation: BasketValidation) -> Iterable[Finding]:
    basket = validation.basket
    promo = basket.promo_code
    if promo is None:
        return
    problem = promo_code_problem(
        promo,
        basket=basket,
        items=validation.items,
        now=validation.now,
        check_redemption_limit=validation.check_redemption_limit,
    )
    if problem is not None:
        yield Finding(*problem)


# More checks (partner eligibility, blocked products) are functions of this shape, registered in
# baskets.hooks: baskets runs them without importing the apps they live in.
BASKET_CHECKS: tuple[BasketCheck, ...] = (
    check_not_empty, check_offers, check_limits, check_products, check_renewal, check_promo_code,
)  # fmt: skip


def configured_basket_checks() -> tuple[BasketCheck, ...]:
    """The checks other apps registered (baskets.hooks, from their AppConfig.ready()), run on every validation."""
    return hooks.validation_checks()


_AVAILABLE_CODES = "validation_available_product_codes"


def _unavailable_product_codes(items: Sequence[OrderItem], offers: dict[str, Offer]) -> set[str]:
    """The codes of the items' products (as priced) that their live offer no longer has available:
    the product is unavailable, gone, or no longer part of the offer. An item whose offer is gone
    is check_offers' finding, not a product's."""
    unavailable: set[str] = set()
    for item in items:
        offer = offers.get(item.offer_id)
        if offer is None:
            continue
        available = offer_available_product_codes(offer, _AVAILABLE_CODES)
        codes = {product.get("productCode") for product in item.offer_snapshot.get("products", [])}
        unavailable |= {code for code in codes if isinstance(code, str)} - available
    return unavailable


def _validation_checks(extra_checks: Sequence[BasketCheck] = ()) -> list[BasketCheck]:
    return list(dict.fromkeys((*BASKET_CHECKS, *configured_basket_checks(), *extra_checks)))


def basket_validation_offer_annotations(basket: Basket, extra_checks: Sequence[BasketCheck] = ()) -> dict[str, Any]:
    """What basket_validation_findings needs on each offer it reads (the live products'
    availability, the checks' own facts): for a caller that reads the offers in a query of its own."""
    annotations: dict[str, Any] = {}
    for check in _validation_checks(extra_checks):
        if hasattr(check, "offer_annotations"):
            annotations.update(check.offer_annotations(basket))
    # The live products' availability rides on the offers query: no query of its own.
    annotations[_AVAILABLE_CODES] = available_product_codes_annotation()
    return annotations


def basket_validation_findings(
    basket: Basket,
    items: Sequence[OrderItem],
    *,
    now: datetime | None = None,
    check_redemption_limit: bool = True,
    extra_checks: Sequence[BasketCheck] = (),
    offers: Mapping[str, Offer] | None = None,
) -> list[Finding]:
    """Everything that stops this basket from completing now; empty when it can complete.

    One query (the offers, with their products' availability) whatever the number of items,
    plus the promo code's when it is not loaded yet, plus what the configured checks read. Runs BASKET_CHECKS, then the
    checks registered in baskets.hooks, then `extra_checks`, in order, each once.
    `offers`: the items' offers (at least), read by the caller with
    basket_validation_offer_annotations: no query of its own then.
    """
    checks = _validation_checks(extra_checks)
    ordered = [item for item in items if item.action_type != OrderItem.ActionType.REMOVE]
    if offers is None:
        offers = offers_by_id(
            (item.offer_id for item in ordered), annotations=basket_validation_offer_annotations(basket, extra_checks)
        )
    else:
        offers = {item.offer_id: offers[item.offer_id] for item in ordered if item.offer_id in offers}
    validation = BasketValidation(
        basket=basket,
        items=ordered,
        offers=offers,
        unavailable_product_codes=_unavailable_product_codes(ordered, offers),
        now=now or timezone.now(),
        check_redemption_limit=check_redemption_limit,
    )
    return [finding for check in checks for finding in check(validation)]
