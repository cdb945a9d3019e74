"""Which baskets a caller may see, and a basket with its items."""

from __future__ import annotations

import uuid

from django.db.models import Prefetch, QuerySet

from baskets.models import Basket, OrderItem
from checkout_project.api.actor import Actor


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
