"""The abandoned feed (keyset-paged, API.md §4) and the staff CSV export of abandoned baskets."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet

from baskets.links import recovery_link
from baskets.models import Basket, BasketStatus, OrderItem
from baskets.selectors.visibility import visible_baskets
from checkout_project.api.actor import Actor
from checkout_project.api.auth import ADMIN_SCOPE
from checkout_project.api.wire import cursor_decode, cursor_encode, invalid_cursor, parse_aware_datetime

# --- The abandoned feed ------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    created: datetime
    basket_id: uuid.UUID

    def encode(self) -> str:
        return cursor_encode({"c": str(self.basket_id), "r": self.created.isoformat().replace("+00:00", "Z")})

    @classmethod
    def decode(cls, value: str) -> Cursor:
        payload = cursor_decode(value)
        created = parse_aware_datetime(payload.get("r"))
        try:
            basket_id = uuid.UUID(str(payload.get("c")))
        except ValueError:
            raise invalid_cursor() from None
        if created is None:
            raise invalid_cursor()
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


# --- Staff exports (the admin's "Export abandoned baskets as CSV") --------------------------------

ABANDONED_EXPORT_COLUMNS = (
    "id", "status", "order_type", "created", "updated", "expires_at", "email", "first_name", "last_name",
    "company_name", "phone", "country", "source", "external_id", "partner", "customer", "order_items", "currency",
    "recovery_link", "total", "recovery_status", "recovery_emails_sent", "recovered_amount",
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
            "" if basket.total is None else str(basket.total), basket.recovery_status, str(basket.recovery_emails_sent),
            "" if basket.recovered_amount is None else str(basket.recovered_amount),
        ]  # fmt: skip
