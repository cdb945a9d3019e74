"""Acquisition baskets (`new` orders, API.md §4): initiate, replace, change their items.

Also the offer checks every basket write makes when it adds an offer (offer_problem), which the
subscription change baskets share.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from baskets.errors import (
    BasketCodes,
    BasketLimitExceeded,
    BasketNotFound,
    InvalidOrderItems,
    NotAnAcquisitionBasket,
)
from baskets.links import basket_lifetime_with_links
from baskets.locks import lock_basket
from baskets.models import Basket, BasketStatus, OrderItem, OrderType
from baskets.selectors import BasketQuote, basket_items, basket_limits_exceeded, basket_quote, visible_baskets
from baskets.services.lifecycle import basket_check_version, basket_ensure_mutable, basket_record_event
from checkout_project.api.actor import Actor
from checkout_project.api.errors import ApplicationError
from subscriptions import pricing
from subscriptions import services as subscription_services
from subscriptions.models import Customer, Offer, Subscription
from subscriptions.selectors import customer_by_id_or_email, offers_by_id, offers_with_cross_sells

# The customer details of an order: wire name -> Basket field.
CUSTOMER_DETAIL_FIELDS = {
    "email": "email",
    "firstName": "first_name",
    "lastName": "last_name",
    "companyName": "company_name",
    "phone": "phone",
}

# Why an item or action is refused: (code, message).
Problem = tuple[str, str]


@dataclass(frozen=True)
class OfferPolicy:
    """Another say on which offers may be added (a partner's eligible offers and blocked products).

    `annotations` are added to the offers query the service makes anyway, so the policy costs no
    query; `refusal` reads them from an offer and says why it cannot be added, or None. The
    partner endpoints pass theirs: baskets never imports partners.
    """

    annotations: Mapping[str, Any]
    refusal: Callable[[Offer], Problem | None]


@dataclass
class BasketChange:
    """A basket after a write: its items in order, what it costs, what each requested action did."""

    basket: Basket
    items: list[OrderItem]
    quote: BasketQuote
    action_results: list[dict[str, Any]] = field(default_factory=list)


# --- Shared checks ------------------------------------------------------------------------


def offer_problem(
    offer: Offer | None,
    requested: Mapping[str, Any],
    *,
    quantity: int,
    country: str,
    currency: str | None,
    offer_policy: OfferPolicy | None = None,
) -> Problem | None:
    """Why this offer cannot be added as `requested` (an item or add action: its `offer` reference
    and `type`), or None when it can: unknown or unpublished, a stale version, the quantity out of
    the offer's limits, not sold in the basket's country or currency, another type, or refused by
    `offer_policy`. A missing offer always has a problem."""
    reference = requested["offer"]
    if offer is None or not offer.published:
        return BasketCodes.OFFER_NOT_FOUND, f"Offer {reference.get('id')!r} does not exist or is not published."
    version = reference.get("version")
    if version and version != offer.version:
        return BasketCodes.OFFER_VERSION_STALE, f"Offer version {version!r} is not current (current: {offer.version})."
    if not offer.min_quantity <= quantity <= offer.max_quantity:
        return (
            BasketCodes.QUANTITY_OUT_OF_RANGE,
            f"Quantity must be between {offer.min_quantity} and {offer.max_quantity} for this offer.",
        )
    if country and offer.allowed_countries and country not in offer.allowed_countries:
        return BasketCodes.OFFER_NOT_AVAILABLE_IN_COUNTRY, f"This offer is not sold in {country}."
    if currency and offer.currency != currency:
        return (
            BasketCodes.CURRENCY_MISMATCH,
            f"The basket is priced in {currency}; this offer is in {offer.currency}.",
        )
    if requested.get("type") and requested["type"] != offer.type:
        return BasketCodes.OFFER_TYPE_MISMATCH, f"This offer is of type {offer.type!r}."
    if offer_policy is not None:
        return offer_policy.refusal(offer)
    return None


def basket_ensure_within_limits(
    items: Iterable[OrderItem], offers: Mapping[str, Offer], *, before: Iterable[OrderItem] = ()
) -> None:
    """Raise BasketLimitExceeded (400 quantity_limit_exceeded or basket_too_large, the first limit
    gone over) when a write would leave the basket with `items` over a limit (API.md §4;
    baskets.selectors.basket_limits_exceeded, `before` as there). No query: `offers` were read by
    the write. Called before the write writes anything."""
    exceeded = basket_limits_exceeded(items, offers, before=before)
    if exceeded:
        first = exceeded[0]
        raise BasketLimitExceeded(first.code, first.message, first.details)


def new_item(
    basket: Basket, offer: Offer, *, quantity: int, position: int, parent_id: uuid.UUID | None = None
) -> OrderItem:
    """An order item for `offer`, priced as the offer is now (its snapshot)."""
    return OrderItem(
        id=uuid.uuid4(),
        basket=basket,
        position=position,
        type=offer.type,
        offer_id=offer.pk,
        offer_version=offer.version,
        offer_snapshot=offer.snapshot,
        quantity=quantity,
        parent_id=parent_id,
    )


# --- Initiate ----------------------------------------------------------------------------


def _plan_items(
    basket: Basket,
    requested_items: Sequence[dict[str, Any]],
    *,
    country: str,
    offer_policy: OfferPolicy | None = None,
) -> list[OrderItem]:
    """Validate the requested items as a whole and build them; raises InvalidOrderItems, then
    BasketLimitExceeded when the items together go over a limit."""
    catalog = offers_with_cross_sells(
        (item["offer"]["id"] for item in requested_items),
        annotations=offer_policy.annotations if offer_policy is not None else None,
    )
    offers, compatible = catalog.offers, catalog.cross_sells

    problems: dict[int, Problem] = {}
    items: list[OrderItem] = []
    currency: str | None = None
    for index, requested in enumerate(requested_items):
        offer = offers.get(requested["offer"]["id"])
        quantity = requested.get("quantity", 1)
        problem = offer_problem(
            offer, requested, quantity=quantity, country=country, currency=currency, offer_policy=offer_policy
        )
        parent = None
        if problem is None and offer is not None and offer.type == Offer.Type.ADD_ON:
            # An add-on belongs to the nearest preceding offer item that sells it.
            parent = next(
                (it for it in reversed(items) if it.type == "offer" and (it.offer_id, offer.pk) in compatible),
                None,
            )
            if parent is None:
                problem = (
                    BasketCodes.ADD_ON_PARENT_REQUIRED,
                    "An add-on must follow an offer in this order that offers it as an add-on.",
                )
        if problem is not None:
            problems[index] = problem
            continue
        assert offer is not None  # offer_problem refuses a missing offer
        currency = currency or offer.currency
        items.append(
            new_item(basket, offer, quantity=quantity, position=index, parent_id=parent.id if parent else None)
        )
    if problems:
        raise InvalidOrderItems("orderItems", problems)
    basket_ensure_within_limits(items, offers)
    return items


@transaction.atomic
def basket_initiate(
    *,
    actor: Actor,
    order: dict[str, Any],
    landing_basket_id: uuid.UUID | None = None,
    if_match: int | None = None,
    entry: dict[str, Any] | None = None,
    assisted: bool = False,
    owner: Customer | None = None,
    offer_policy: OfferPolicy | None = None,
) -> BasketChange:
    """Create a basket, or replace the items and details of the caller's active landing basket.

    `assisted` (basket_initiate_for_customer): staff or a back office create the basket for
    `owner` (or for nobody yet), so the caller's own customer is not the basket's.
    Locks the landing basket when there is one. Raises InvalidOrderItems (400) with every
    refused item, BasketLimitExceeded (400 quantity_limit_exceeded: an offer's maxQuantity summed
    across the items; basket_too_large: more than BASKET_MAX_ITEMS items), VersionMismatch (412).
    Writes nothing when it raises. `offer_policy` may refuse offers on top of the catalog's rules
    (partner callers).
    """
    now = timezone.now()
    basket = None
    if landing_basket_id is not None:
        # Only an acquisition basket is replaced: a subscription change or renewal basket in the
        # cookie is left as it is and a new basket created.
        basket = lock_basket(
            visible_baskets(actor).filter(status=BasketStatus.ACTIVE, expires_at__gt=now, order_type=OrderType.NEW),
            landing_basket_id,
        )
    if basket is not None:
        basket_check_version(basket, if_match)
        basket.version += 1
        kind = "items_replaced"
    else:
        basket = Basket(
            id=uuid.uuid4(),
            created=now,
            # An assisted basket is handed over by its links: it lives as long as they do.
            expires_at=basket_lifetime_with_links(now) if assisted else now + settings.BASKET_LIFETIME,
            order_type=OrderType.NEW,
            application=actor.application,
            created_by_customer_token=actor.is_customer_token and not assisted,
            customer=owner if assisted else actor.customer,
            partner=actor.partner,
            created_by_staff=actor.user if actor.is_staff else None,
            entry=entry or {},
        )
        kind = "created"

    country = order.get("country") or ""
    items = _plan_items(basket, order.get("orderItems", []), country=country, offer_policy=offer_policy)
    details = order.get("customerDetails") or {}
    for wire_name, field_name in CUSTOMER_DETAIL_FIELDS.items():
        setattr(basket, field_name, details.get(wire_name) or "")
    basket.tracking = order.get("tracking") or {}
    basket.custom_fields = order.get("customFields") or {}
    basket.country = country
    basket.source = order.get("source") or ""
    basket.external_id = order.get("external_id") or ""
    basket.currency = items[0].offer_snapshot.get("currency", "") if items else ""
    basket.updated = now
    # Priced before the write so the basket's value goes in with the same INSERT or UPDATE.
    quote = basket_quote(basket, items, now=now)
    basket.total = quote.total

    if kind == "created":
        basket.save(force_insert=True)
    else:
        basket.save(update_fields=[f.name for f in Basket._meta.concrete_fields if not f.primary_key])
        OrderItem.objects.filter(basket=basket).delete()
    OrderItem.objects.bulk_create(items)
    event_data: dict[str, Any] = {"orderItems": [{"offer": it.offer_id, "quantity": it.quantity} for it in items]}
    if assisted:
        event_data["assisted"] = True
        event_data["owner"] = owner.public_id if owner is not None else None
    basket_record_event(basket=basket, actor=actor, kind=kind, data=event_data)
    return BasketChange(basket=basket, items=items, quote=quote)


# No transaction of its own: it only reads before basket_initiate, whose transaction writes everything.
def basket_initiate_for_customer(
    *,
    actor: Actor,
    order: dict[str, Any],
    customer_id: uuid.UUID | None = None,
    customer_email: str | None = None,
) -> BasketChange:
    """Create a basket on a customer's behalf (assisted sales, POST /admin/checkout/initiate).

    The basket records the calling application (and the staff user on the admin pages) as its
    agent, and the customer named by id or e-mail as its owner; the owner's details fill the
    customer details the order leaves out. Always a new basket: no landing state. Raises 400
    customer_not_found for an unknown customer, and what basket_initiate raises. Writes
    nothing when it raises.
    """
    owner = None
    if customer_id is not None or customer_email:
        owner = customer_by_id_or_email(customer_id=customer_id, email=customer_email)
        if owner is None:
            raise ApplicationError("No customer has this id or e-mail.", code=BasketCodes.CUSTOMER_NOT_FOUND)
        given = {name: value for name, value in (order.get("customerDetails") or {}).items() if value}
        known = {wire: getattr(owner, field) for wire, field in CUSTOMER_DETAIL_FIELDS.items()}
        order = {**order, "customerDetails": {**known, **given}}
    return basket_initiate(actor=actor, order=order, assisted=True, owner=owner)


# --- Update ------------------------------------------------------------------------------


@transaction.atomic
def basket_apply_actions(
    *,
    actor: Actor,
    basket_id: uuid.UUID | None,
    actions: Sequence[dict[str, Any]],
    if_match: int | None = None,
    offer_policy: OfferPolicy | None = None,
) -> BasketChange:
    """Apply add / remove / update actions all-or-nothing, in order, under the basket's row lock.

    `offer_policy` may refuse the offers added on top of the catalog's rules (partner callers).

    Raises BasketNotFound (404) for a basket the caller cannot see, BasketCompleted (409),
    BasketExpired (410), NotAnAcquisitionBasket (409 order_type_mismatch: a subscription change
    or renewal basket), VersionMismatch (412) and InvalidOrderItems (400, every refused action
    under `details.actions[index]`), then BasketLimitExceeded (400 quantity_limit_exceeded,
    basket_too_large) when the basket after the actions goes further over a limit (API.md §4).
    Writes nothing when it raises.
    """
    basket = lock_basket(visible_baskets(actor), basket_id)
    if basket is None:
        raise BasketNotFound()
    basket_ensure_mutable(basket)
    if basket.order_type != OrderType.NEW:
        raise NotAnAcquisitionBasket(basket.order_type)
    basket_check_version(basket, if_match)

    items = basket_items(basket)
    current: dict[uuid.UUID, OrderItem] = {item.id: item for item in items}
    original_quantity = {item.id: item.quantity for item in items}
    # The items as they were (the actions change `current`'s in place): what the limits compare with.
    before = [OrderItem(offer_id=item.offer_id, quantity=item.quantity) for item in items]
    adds = [action for action in actions if action["orderItemActionType"] == "add"]
    annotations = offer_policy.annotations if offer_policy is not None else None
    # The offers only the actions read: an update's limits, an add's offer; the cross-sells only
    # for an add with a parentId (an add-on). A list of removals reads no offer at all.
    wanted = [action["offer"]["id"] for action in adds]
    if any(action["orderItemActionType"] == "update" for action in actions) or any(a.get("parentId") for a in adds):
        wanted += [item.offer_id for item in items]
    compatible: set[tuple[str, str]]
    if any(action.get("parentId") for action in adds):
        catalog = offers_with_cross_sells(wanted, annotations=annotations)
        offers, compatible = catalog.offers, catalog.cross_sells
    else:
        offers, compatible = offers_by_id(wanted, annotations=annotations), set()
    next_position = max((item.position for item in items), default=-1) + 1
    problems: dict[int, Problem] = {}
    results: list[dict[str, Any]] = []
    added: list[OrderItem] = []

    for index, action in enumerate(actions):
        kind = action["orderItemActionType"]
        problem: Problem | None = None
        item_id = action.get("id")
        target = current.get(item_id) if item_id else None
        if kind in {"remove", "update"}:
            if target is None:
                problem = BasketCodes.ORDER_ITEM_NOT_FOUND, f"No order item {item_id} in this basket."
            elif kind == "remove":
                for removed_id in [target.id] + [i.id for i in current.values() if i.parent_id == target.id]:
                    del current[removed_id]
            else:
                offer = offers.get(target.offer_id)
                quantity = action["quantity"]
                low, high = (offer.min_quantity, offer.max_quantity) if offer else (1, quantity)
                if not low <= quantity <= high:
                    problem = (
                        BasketCodes.QUANTITY_OUT_OF_RANGE,
                        f"Quantity must be between {low} and {high} for this offer.",
                    )
                else:
                    target.quantity = quantity
        else:  # add
            problem, target = _add(basket, current, action, offers, compatible, next_position, offer_policy)
            if target is not None:
                next_position += 1
                current[target.id] = target
                added.append(target)
        if problem is not None:
            problems[index] = problem
            continue
        assert target is not None  # an action without a problem has its item
        results.append(
            {"index": index, "orderItemActionType": kind, "status": "applied", "orderItemId": str(target.id)}
        )
    if problems:
        raise InvalidOrderItems("actions", problems)
    basket_ensure_within_limits(current.values(), offers, before=before)

    # An add-on added by this list and then removed with its parent is never written.
    added = [item for item in added if item.id in current]
    added_ids = {item.id for item in added}
    removed_ids = [item_id for item_id in original_quantity if item_id not in current]
    changed = [
        item for item in current.values() if item.id not in added_ids and item.quantity != original_quantity[item.id]
    ]
    if removed_ids:
        OrderItem.objects.filter(basket=basket, id__in=removed_ids).delete()
    if added or changed:
        # Whatever the mix, one statement: new items are inserted, existing ones (still locked with
        # their basket) conflict on the primary key and only take their new quantity.
        OrderItem.objects.bulk_create(
            added + changed, update_conflicts=True, unique_fields=["id"], update_fields=["quantity"]
        )
    if basket.currency == "" or not items:
        basket.currency = next((i.offer_snapshot.get("currency", "") for i in current.values()), "")
    basket.version += 1
    basket.updated = now = timezone.now()
    ordered = sorted(current.values(), key=lambda item: item.position)
    quote = basket_quote(basket, ordered, now=now)
    basket.total = quote.total
    basket.save(update_fields=["version", "updated", "currency", "total"])
    basket_record_event(
        basket=basket,
        actor=actor,
        kind="items_changed",
        data={
            "actions": [
                {"index": r["index"], "type": r["orderItemActionType"], "item": r["orderItemId"]} for r in results
            ]
        },
    )
    return BasketChange(basket=basket, items=ordered, quote=quote, action_results=results)


def _add(
    basket: Basket,
    current: Mapping[uuid.UUID, OrderItem],
    action: Mapping[str, Any],
    offers: Mapping[str, Offer],
    compatible: set[tuple[str, str]],
    position: int,
    offer_policy: OfferPolicy | None,
) -> tuple[Problem | None, OrderItem | None]:
    """An add action: the item it adds at `position`, or why it is refused."""
    offer = offers.get(action["offer"]["id"])
    quantity = action.get("quantity", 1)
    currency = next((i.offer_snapshot.get("currency") for i in current.values()), None)
    problem = offer_problem(
        offer, action, quantity=quantity, country=basket.country, currency=currency, offer_policy=offer_policy
    )
    if problem is not None:
        return problem, None
    assert offer is not None  # offer_problem refuses a missing offer
    parent_id = action.get("parentId")
    if offer.type == Offer.Type.ADD_ON:
        parent = current.get(parent_id) if parent_id else None
        if parent is None or parent.type != "offer":
            return (BasketCodes.ADD_ON_PARENT_REQUIRED, "An add-on needs parentId: an offer item of this basket."), None
        if (parent.offer_id, offer.pk) not in compatible:
            return (BasketCodes.ADD_ON_NOT_COMPATIBLE, "This add-on is not sold with that offer."), None
    elif parent_id:
        return (BasketCodes.OFFER_TYPE_MISMATCH, "Only add-ons have a parentId."), None
    return None, new_item(basket, offer, quantity=quantity, position=position, parent_id=parent_id)


# --- Completing a new order (baskets.services.completion) ------------------------------------------


def order_subscriptions_create(
    *, customer: Customer, items: Sequence[OrderItem], now: datetime, quote: BasketQuote | None = None
) -> list[Subscription]:
    """A `new` order's subscriptions: one per offer item, starting `now`, with the add-on items
    under it as its add-ons (quantities of the same add-on summed), each with the paid record of
    what `quote` charged for it: its lines' first period less its share of the promo code's
    discount (split among the subscriptions in proportion to their discounted lines, in minor
    units that add up to the discount), for its offer's billing interval (issue 13)."""
    add_ons: dict[uuid.UUID, dict[str, int]] = {}
    for item in items:
        if item.parent_id is not None:
            parent_add_ons = add_ons.setdefault(item.parent_id, {})
            parent_add_ons[item.offer_id] = parent_add_ons.get(item.offer_id, 0) + item.quantity
    offers = [item for item in items if item.type == OrderItem.Type.OFFER]
    paid: list[pricing.PaidPeriod | None] = [None] * len(offers)
    if quote is not None and isinstance(quote.totals, pricing.Totals):
        totals = quote.totals
        currency = quote.currency or "GBP"
        discount = quote.promo_code.discount if quote.promo_code is not None else None
        subtotals, eligible = [], []
        for offer_item in offers:
            lines = [i for i in items if i.id == offer_item.id or i.parent_id == offer_item.id]
            amounts = [(pricing.first_period_amount(i.offer_snapshot.get("price", [])) * i.quantity, i) for i in lines]
            subtotals.append(sum((amount for amount, _ in amounts), pricing.ZERO))
            eligible.append(
                sum((a for a, i in amounts if discount is not None and discount.applies_to(i.offer_id)), pricing.ZERO)
            )
        off = totals.subtotal - totals.total if discount is not None else pricing.ZERO
        shares = pricing.split_amount(max(off, pricing.ZERO), eligible, currency) if offers else []
        paid = [
            pricing.purchase_paid_period(
                charged=max(pricing.quantize(subtotal, currency) - share, pricing.ZERO),
                start=now,
                interval=pricing.Line.from_snapshot(offer_item.offer_snapshot).interval,
                currency=currency,
            )
            for offer_item, subtotal, share in zip(offers, subtotals, shares, strict=True)
        ]
    orders = [
        subscription_services.NewSubscription(
            offer_id=item.offer_id,
            quantity=item.quantity,
            term_length=item.offer_snapshot["term"]["length"],
            term_type=item.offer_snapshot["term"]["type"],
            add_ons=add_ons.get(item.id, {}),
            paid=item_paid,
        )
        for item, item_paid in zip(offers, paid, strict=True)
    ]
    return subscription_services.subscriptions_create(customer=customer, orders=orders, start=now)
