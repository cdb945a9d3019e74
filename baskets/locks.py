"""Row locks for basket writes. Every basket mutation locks the basket row first."""

import uuid

from django.db.models import QuerySet

from baskets.models import Basket
from checkout_project.locks import lock_skipping_locked


def lock_baskets(queryset: QuerySet[Basket]) -> QuerySet[Basket]:
    # `of=("self",)` keeps the lock on the basket row even when related rows are joined in.
    return queryset.select_for_update(of=("self",))


def lock_basket(queryset: QuerySet[Basket], basket_id: uuid.UUID | None) -> Basket | None:
    """The basket with this id among `queryset`, locked for the transaction; None when absent.

    A primary-key match is at most one row, so no ORDER BY and LIMIT: `.first()` would add
    both (and the model's default ordering would add its own), and Django compiling an ordering
    costs more than PostgreSQL finding the row.
    """
    if basket_id is None:
        return None
    return next(iter(lock_baskets(queryset.filter(pk=basket_id).order_by())), None)


def lock_baskets_skipping_locked(queryset: QuerySet[Basket]) -> QuerySet[Basket]:
    """The batch of a background job (lock_skipping_locked)."""
    return lock_skipping_locked(queryset)
