"""Filling in `Basket.total` for baskets written before it was kept (`manage.py backfill_basket_totals`).

Every service that changes what a basket holds writes its total with the same UPDATE; this only
prices the rows that predate that, in short batches, so it can run while the site serves.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

from baskets.locks import lock_baskets_skipping_locked
from baskets.models import Basket, BasketStatus, OrderItem, OrderType, PromoCode
from baskets.selectors import BasketQuote, basket_quote
from baskets.services.subscription_change import subscription_checkout_quote
from checkout_project.api.errors import ApplicationError


def basket_current_quote(basket: Basket, items: list[OrderItem]) -> BasketQuote:
    """The basket's quote as its services would have written it: an open update basket as a
    change against its subscription (its order lines when that can no longer be quoted, e.g. a
    cancelled subscription); any other basket as its order lines, as of its completion if any."""
    now = timezone.now()
    if basket.order_type == OrderType.UPDATE_SUBSCRIPTION and basket.status == BasketStatus.ACTIVE:
        try:
            return subscription_checkout_quote(basket=basket, items=items, now=now).quote
        except ApplicationError:
            pass
    return basket_quote(basket, items, now=now)


@transaction.atomic
def basket_totals_backfill(*, batch_size: int) -> int:
    """Price up to `batch_size` baskets whose `total` is unset and write it; how many it wrote.

    Locks the batch skipping rows another transaction holds (a customer's request, another copy
    of the job): those keep their NULL for the next batch, and the service holding them writes
    their total anyway. Only `total` is written: no version bump, no event (nothing the
    customer did changed).
    """
    batch = list(
        lock_baskets_skipping_locked(Basket.objects.filter(total__isnull=True).order_by("created", "id"))[:batch_size]
    )
    if not batch:
        return 0
    items: dict[object, list[OrderItem]] = {basket.pk: [] for basket in batch}
    for item in OrderItem.objects.filter(basket__in=batch).order_by("position", "created"):
        items[item.basket_id].append(item)
    # The batch's promo codes (and a selectedItems code's eligible offers) once, not per basket.
    promo_ids = {basket.promo_code_id for basket in batch if basket.promo_code_id is not None}
    if promo_ids:
        promo_codes = {promo.pk: promo for promo in PromoCode.objects.filter(pk__in=promo_ids)}
        prefetch_related_objects(list(promo_codes.values()), "eligible_offers")
        for basket in batch:
            if basket.promo_code_id is not None:
                basket.promo_code = promo_codes[basket.promo_code_id]
    for basket in batch:
        basket.total = basket_current_quote(basket, items[basket.pk]).total
    Basket.objects.bulk_update(batch, ["total"])
    return len(batch)
