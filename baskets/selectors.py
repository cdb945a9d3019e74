"""Every non-trivial read of baskets: visibility, the abandoned feed and its keyset cursor."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet, prefetch_related_objects
from django.db.models.functions import Upper
from django.utils import timezone

from baskets import hooks
from baskets.actors import Actor
from baskets.errors import Codes, OrderCodes, PromoCodeCodes
from baskets.links import recovery_link
from baskets.models import Basket, BasketStatus, OrderItem, OrderType, PromoCode
from checkout_project.api.auth import ADMIN_SCOPE
from checkout_project.api.errors import ApplicationError
from checkout_project.api.wire import parse_aware_datetime
from subscriptions import pricing
from subscriptions.models import Offer
from subscriptions.selectors import (
    available_product_codes_annotation,
    offer_available_product_codes,
    offers_by_id,
)


def visible_baskets(actor: Actor, baskets: QuerySet[Basket] | None = None) -> QuerySet[Basket]:
    """The baskets this caller may see on the non-admin endpoints (API.md §2), among `baskets`
    (default: all of them, on the default database)."""
    baskets = Basket.objects.all() if baskets is None else baskets
    # One filter() call each: every call clones the query (this runs on every basket request).
    if actor.partner is not None:
        return baskets.filter(partner_id=actor.partner.pk)
    if actor.is_customer_token:
        if actor.customer is None:
            return baskets.none()
        return baskets.filter(partner__isnull=True, customer_id=actor.customer.pk)
    if actor.application is None:
        return baskets.none()
    return baskets.filter(partner__isnull=True, application_id=actor.application.pk, created_by_customer_token=False)


def basket_items(basket: Basket) -> list[OrderItem]:
    """The basket's items in order (position, then creation). A basket holds few rows: sorting
    them here is cheaper than having Django compile an ORDER BY on every write."""
    return sorted(basket.items.order_by(), key=lambda item: (item.position, item.created))


def basket_get_visible(*, actor: Actor, basket_id: uuid.UUID | None) -> Basket | None:
    if basket_id is None:
        return None
    return (
        visible_baskets(actor)
        .filter(pk=basket_id)
        .prefetch_related(Prefetch("items", queryset=OrderItem.objects.order_by("position", "created")))
        .first()
    )


def basket_for_checkout_page(basket_id: uuid.UUID | None) -> Basket | None:
    """Any basket with its items in order: the hosted page's caller proved it with a signed cookie."""
    if basket_id is None:
        return None
    return (
        Basket.objects.filter(pk=basket_id)
        .select_related("promo_code")  # the page shows the applied code: joined, not a third query
        .prefetch_related(Prefetch("items", queryset=OrderItem.objects.order_by("position", "created")))
        .first()
    )


# --- The abandoned feed ------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    created: datetime
    basket_id: uuid.UUID

    def encode(self) -> str:
        payload = {"v": "1", "c": str(self.basket_id), "r": self.created.isoformat().replace("+00:00", "Z")}
        return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()

    @classmethod
    def decode(cls, value: str) -> Cursor:
        invalid = ApplicationError("queryMore is not a cursor this API issued.", code=Codes.INVALID_CURSOR)
        try:
            payload = json.loads(base64.b64decode(value.encode("ascii"), validate=True))
        except (ValueError, UnicodeError, binascii.Error):
            raise invalid from None
        if not isinstance(payload, dict) or payload.get("v") != "1":
            raise invalid
        created = parse_aware_datetime(payload.get("r"))
        try:
            basket_id = uuid.UUID(str(payload.get("c")))
        except ValueError:
            raise invalid from None
        if created is None:
            raise invalid
        return cls(created=created, basket_id=basket_id)


@dataclass(frozen=True)
class AbandonedPage:
    baskets: list[Basket]
    next_cursor: Cursor | None


def abandoned_baskets(
    *,
    actor: Actor,
    limit: int,
    created_after: datetime | None = None,
    updated_after: datetime | None = None,
    has_email: bool | None = None,
    cursor: Cursor | None = None,
) -> AbandonedPage:
    """Baskets not completed, oldest first by (created, id); two queries per page at any depth.

    Who sees what is API.md §2's rule for non-admin endpoints (visible_baskets): a customer token
    its customer's baskets, a client token those its application's client tokens created. A
    token that also carries `checkout:admin` (a back office, which reaches every basket through
    the admin endpoints anyway) sees every basket of the deployment, partner baskets included.
    Reads settings.ABANDONED_FEED_DATABASE.
    """
    # settings.ABANDONED_FEED_DATABASE: the read replica when one is configured.
    baskets = Basket.objects.using(settings.ABANDONED_FEED_DATABASE).exclude(status=BasketStatus.COMPLETED)
    if ADMIN_SCOPE not in actor.scopes:
        baskets = visible_baskets(actor, baskets)
    if created_after is not None:
        baskets = baskets.filter(created__gt=created_after)
    if updated_after is not None:
        baskets = baskets.filter(updated__gt=updated_after)
    if has_email is True:
        baskets = baskets.exclude(email="")
    elif has_email is False:
        baskets = baskets.filter(email="")
    if cursor is not None:
        # `created >= r` bounds the index range; the OR only filters rows sharing that timestamp.
        baskets = baskets.filter(created__gte=cursor.created).filter(
            Q(created__gt=cursor.created) | Q(id__gt=cursor.basket_id)
        )
    rows = list(
        baskets.order_by("created", "id")
        .select_related("customer", "partner")
        .prefetch_related(
            Prefetch(
                "items",
                queryset=OrderItem.objects.only("id", "basket_id", "position", "offer_snapshot").order_by(
                    "position", "created"
                ),
            )
        )[: limit + 1]
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = Cursor(created=rows[-1].created, basket_id=rows[-1].id)
    return AbandonedPage(baskets=rows, next_cursor=next_cursor)


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
        return codes.prefetch_related(Prefetch("eligible_offers", queryset=Offer.objects.only("id"))).first()
    promo = codes.first()
    return promo_code_load_eligible_offers(promo) if promo is not None else None


def promo_code_with_offers(promo_code_id: int) -> PromoCode:
    return PromoCode.objects.prefetch_related(Prefetch("eligible_offers", queryset=Offer.objects.only("id"))).get(
        pk=promo_code_id
    )


def promo_code_load_eligible_offers(promo: PromoCode) -> PromoCode:
    """Prefetch a selectedItems code's eligible offer ids (one query); a wholeBasket code needs none."""
    if promo.application_level == PromoCode.ApplicationLevel.SELECTED_ITEMS:
        prefetch_related_objects([promo], Prefetch("eligible_offers", queryset=Offer.objects.only("id")))
    return promo


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
        return PromoCodeCodes.INACTIVE, "This promo code is not active."
    if promo.starts_at is not None and promo.starts_at > now:
        return PromoCodeCodes.NOT_STARTED, "This promo code is not valid yet."
    if promo.expires_at is not None and promo.expires_at <= now:
        return PromoCodeCodes.EXPIRED, "This promo code has expired."
    if (
        check_redemption_limit
        and promo.available_quantity is not None
        and promo.redeemed_count >= promo.available_quantity
    ):
        return PromoCodeCodes.EXHAUSTED, "This promo code has been used as many times as it may be."
    if basket.order_type == OrderType.UPDATE_SUBSCRIPTION:
        return PromoCodeCodes.NOT_APPLICABLE, "Promo codes apply to new and renewal orders only."
    if promo.discount_type == PromoCode.DiscountType.AMOUNT and promo.currency != basket.currency:
        return PromoCodeCodes.NOT_APPLICABLE, f"This promo code is in {promo.currency}; the basket is not."
    discount = promo_code_discount(promo)
    if discount.offer_ids is not None and not any(discount.applies_to(line[2]) for line in order_lines(items)):
        return PromoCodeCodes.NOT_APPLICABLE, "This promo code applies to none of the offers in the basket."
    return None


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
        yield Finding(OrderCodes.BASKET_EMPTY, "The basket has no order items.")


def check_offers(validation: BasketValidation) -> Iterable[Finding]:
    """Every offer still published, at the version the item was priced at, quantity within limits."""
    for item in validation.items:
        offer = validation.offers.get(item.offer_id)
        if offer is None or not offer.published:
            yield Finding(OrderCodes.OFFER_NOT_FOUND, "This offer is no longer sold.", item.id)
        elif offer.version != item.offer_version and offer.snapshot.get("price") != item.offer_snapshot.get("price"):
            yield Finding(OrderCodes.PRICE_CHANGED, "This offer's price changed since it was added.", item.id)
        elif offer.version != item.offer_version:
            changed = "This offer's products or term changed since it was added."
            yield Finding(OrderCodes.OFFER_VERSION_STALE, changed, item.id)
        elif not offer.min_quantity <= item.quantity <= offer.max_quantity:
            yield Finding(
                OrderCodes.QUANTITY_OUT_OF_RANGE,
                f"Quantity must be between {offer.min_quantity} and {offer.max_quantity} for this offer.",
                item.id,
            )


def check_products(validation: BasketValidation) -> Iterable[Finding]:
    for item in validation.items:
        for product in item.offer_snapshot.get("products", []):
            if product.get("productCode") in validation.unavailable_product_codes:
                yield Finding(
                    OrderCodes.PRODUCT_UNAVAILABLE,
                    f"Product {product.get('productCode')} is not available.",
                    item.id,
                    product_code=product.get("productCode"),
                )


def check_renewal(validation: BasketValidation) -> Iterable[Finding]:
    if validation.basket.order_type == OrderType.RENEW:
        offers = [item for item in validation.items if item.type == OrderItem.Type.OFFER]
        if len(offers) != 1:
            yield Finding(OrderCodes.RENEWAL_NEEDS_ONE_OFFER, "A renewal renews onto exactly one offer.")


def check_promo_code(validation: BasketValidation) -> Iterable[Finding]:
    basket = validation.basket
    if basket.promo_code_id is None:
        return
    problem = promo_code_problem(
        basket.promo_code,
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
    check_not_empty, check_offers, check_products, check_renewal, check_promo_code,
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
    checks of settings.BASKET_VALIDATION_CHECKS, then `extra_checks`, in order, each once.
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


# --- Staff exports (the admin's "Export abandoned baskets as CSV") --------------------------------

ABANDONED_EXPORT_COLUMNS = (
    "id", "status", "order_type", "created", "updated", "expires_at", "email", "first_name", "last_name",
    "company_name", "phone", "country", "source", "external_id", "partner", "customer", "order_items", "currency",
    "recovery_link",
)  # fmt: skip


def abandoned_basket_export_rows(
    baskets: QuerySet[Basket], *, absolute_url: Callable[[str], str], chunk_size: int = 500
) -> Iterable[list[str]]:
    """The header, then one row per basket of `baskets` that is not completed, oldest first.

    Streams: reads `chunk_size` baskets at a time, with their partner, customer and items in
    three queries per chunk, however many rows there are. `absolute_url` turns the recovery
    link's path into the address staff send to the customer.
    """
    yield list(ABANDONED_EXPORT_COLUMNS)
    rows = (
        baskets.exclude(status=BasketStatus.COMPLETED)
        .order_by("created", "id")
        .select_related("partner", "customer")
        .prefetch_related(Prefetch("items", queryset=OrderItem.objects.order_by("position", "created")))
    )
    for basket in rows.iterator(chunk_size=chunk_size):
        items = "; ".join(
            f"{item.offer_snapshot.get('name', item.offer_id)} x{item.quantity}" for item in basket.items.all()
        )
        yield [
            basket.public_id, basket.status, basket.order_type, basket.created.isoformat(), basket.updated.isoformat(),
            basket.expires_at.isoformat(), basket.email, basket.first_name, basket.last_name, basket.company_name,
            basket.phone, basket.country, basket.source, basket.external_id,
            basket.partner.slug if basket.partner is not None else "",
            basket.customer.public_id if basket.customer is not None else "",
            items, basket.currency, absolute_url(recovery_link(basket)),
        ]  # fmt: skip
