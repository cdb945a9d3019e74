"""Every non-trivial read of the catalog, customers and subscriptions."""

from __future__ import annotations

from collections.abc import Iterable

from subscriptions.models import Offer

OFFER_FIELDS = (
    "id", "type", "name", "path", "currency", "published", "version", "snapshot",
    "min_quantity", "max_quantity", "allowed_countries",
)  # fmt: skip


def offers_by_id(offer_ids: Iterable[str]) -> dict[str, Offer]:
    """The offers with these ids (one query), keyed by id; unknown ids are simply absent."""
    ids = {offer_id for offer_id in offer_ids if isinstance(offer_id, str)}
    if not ids:
        return {}
    return {offer.pk: offer for offer in Offer.objects.filter(pk__in=ids).only(*OFFER_FIELDS)}


def cross_sell_pairs(parent_offer_ids: Iterable[str], add_on_ids: Iterable[str]) -> set[tuple[str, str]]:
    """(parent offer id, add-on id) pairs where the parent offers the add-on as a cross-sell."""
    parents, add_ons = set(parent_offer_ids), set(add_on_ids)
    if not parents or not add_ons:
        return set()
    through = Offer.cross_sell_add_ons.through
    return set(
        through.objects.filter(from_offer_id__in=parents, to_offer_id__in=add_ons).values_list(
            "from_offer_id", "to_offer_id"
        )
    )
