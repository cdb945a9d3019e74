"""Row locks for basket writes. Every basket mutation locks the basket row first."""

from django.db.models import QuerySet

from baskets.models import Basket
from checkout_project.locks import lock_skipping_locked


def lock_baskets(queryset: QuerySet[Basket]) -> QuerySet[Basket]:
    # `of=("self",)` keeps the lock on the basket row even when related rows are joined in.
    return queryset.select_for_update(of=("self",))


def lock_baskets_skipping_locked(queryset: QuerySet[Basket]) -> QuerySet[Basket]:
    """The batch of a background job (lock_skipping_locked)."""
    return lock_skipping_locked(queryset)
