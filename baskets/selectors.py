"""Every non-trivial read of baskets: visibility, the abandoned feed and its keyset cursor."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet

from baskets.actors import Actor
from baskets.errors import Codes
from baskets.models import Basket, BasketStatus, OrderItem
from checkout_project.api.errors import ApplicationError
from checkout_project.api.wire import parse_aware_datetime


def visible_baskets(actor: Actor) -> QuerySet[Basket]:
    """The baskets this caller may see on the non-admin endpoints (API.md §2); admins see all."""
    baskets = Basket.objects.all()
    if actor.partner is not None:
        return baskets.filter(partner=actor.partner)
    baskets = baskets.filter(partner__isnull=True)
    if actor.is_customer_token:
        if actor.customer is None:
            return baskets.none()
        return baskets.filter(customer=actor.customer)
    if actor.application is None:
        return baskets.none()
    return baskets.filter(application=actor.application, created_by_customer_token=False)


def basket_items(basket: Basket) -> list[OrderItem]:
    return list(basket.items.order_by("position", "created"))


def basket_get_visible(*, actor: Actor, basket_id: uuid.UUID | None) -> Basket | None:
    if basket_id is None:
        return None
    return (
        visible_baskets(actor)
        .filter(pk=basket_id)
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

    A customer token sees its own baskets; a client token with `baskets:read` sees every basket
    of this deployment (the feed is a back-office export).
    """
    baskets = Basket.objects.exclude(status=BasketStatus.COMPLETED)
    if actor.is_customer_token:
        baskets = baskets.filter(customer=actor.customer) if actor.customer else baskets.none()
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
