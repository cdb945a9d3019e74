"""What a basket may hold (API.md §4 Limits): an offer's `maxQuantity` over the whole basket, and
at most BASKET_MAX_ITEMS order items. Every basket write checks its result with basket_limits_exceeded,
and completion re-checks it (validation's check_limits)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from baskets.errors import BasketCodes
from baskets.models import OrderItem
from subscriptions.models import Offer


@dataclass(frozen=True)
class LimitExceeded:
    """One limit a set of order items goes over: the code, a message naming the offer and its
    limit (or the basket's), the same in `details` for the wire, and the offer (None for the
    basket's item count)."""

    code: str
    message: str
    details: dict[str, Any]
    offer_id: str | None = None
    order_item_id: uuid.UUID | None = None


def _counted(items: Iterable[OrderItem]) -> list[OrderItem]:
    # An update basket's `remove` items order nothing: they count towards no limit.
    return [item for item in items if item.action_type != OrderItem.ActionType.REMOVE]


def _quantities(items: Iterable[OrderItem]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for item in items:
        totals[item.offer_id] = totals.get(item.offer_id, 0) + item.quantity
    return totals


def basket_limits_exceeded(
    items: Iterable[OrderItem], offers: Mapping[str, Offer], *, before: Iterable[OrderItem] = ()
) -> list[LimitExceeded]:
    """The limits `items` (a basket's order items; removals not counted) go over, in item order:
    each offer whose quantities summed across the items exceed its `max_quantity`, then the
    number of items over settings.BASKET_MAX_ITEMS. No query: `offers` are the items' offers as
    read by the caller; an item whose offer is not among them is not checked for its offer's limit.

    `before`: the basket's items before a write. A limit the basket already went over (the offer's
    limit or the setting lowered since it was built) is reported only when the write goes further
    over it (more of that offer, more items), so a write that removes or leaves things is never
    refused for a limit it did not touch; completion re-checks everything (before empty).
    """
    counted = _counted(items)
    previous = _counted(before)
    totals, previous_totals = _quantities(counted), _quantities(previous)
    exceeded: list[LimitExceeded] = []
    for offer_id, total in totals.items():
        offer = offers.get(offer_id)
        if offer is None or total <= offer.max_quantity or total <= previous_totals.get(offer_id, 0):
            continue
        last = next(item for item in reversed(counted) if item.offer_id == offer_id)
        exceeded.append(
            LimitExceeded(
                BasketCodes.QUANTITY_LIMIT_EXCEEDED,
                f"A basket holds at most {offer.max_quantity} of offer {offer.name!r} ({offer.pk}); "
                f"this one comes to {total}.",
                {"offer": {"id": offer.pk, "name": offer.name}, "maxQuantity": offer.max_quantity, "quantity": total},
                offer_id=offer.pk,
                order_item_id=last.id,
            )
        )
    limit = settings.BASKET_MAX_ITEMS
    if len(counted) > limit and len(counted) > len(previous):
        exceeded.append(
            LimitExceeded(
                BasketCodes.BASKET_TOO_LARGE,
                f"A basket holds at most {limit} order items; this one comes to {len(counted)}.",
                {"maxItems": limit, "items": len(counted)},
            )
        )
    return exceeded
