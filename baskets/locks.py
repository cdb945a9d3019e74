"""Row locks for basket writes. Every basket mutation locks the basket row first."""

import uuid

from django.db.models import ForeignObject, QuerySet

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
    basket = next(iter(lock_baskets(queryset.filter(pk=basket_id).order_by())), None)
    if basket is not None:
        drop_stale_relations(basket)
    return basket


def drop_stale_relations(basket: Basket) -> None:
    """Forget the rows joined to a just-locked basket that it no longer points to.

    A lock that had to wait for another transaction gets the basket row as that transaction left
    it, but PostgreSQL (READ COMMITTED re-check) keeps the rows joined to it (`select_related`)
    as they were when the statement started: a promo code applied meanwhile would leave
    `promo_code_id` set and `promo_code` None. Such a relation is read afresh when used (one
    query, only after that race).
    """
    for field in basket._meta.concrete_fields:
        if isinstance(field, ForeignObject) and field.many_to_one and field.is_cached(basket):
            related = field.get_cached_value(basket)
            if (related.pk if related is not None else None) != getattr(basket, field.attname):
                field.delete_cached_value(basket)


def lock_baskets_skipping_locked(queryset: QuerySet[Basket]) -> QuerySet[Basket]:
    """The batch of a background job (lock_skipping_locked)."""
    return lock_skipping_locked(queryset)
