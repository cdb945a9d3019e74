"""Every write to the catalog, customers and subscriptions."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

from django.db import transaction

from subscriptions.models import Charge, Offer, Product
from subscriptions.pricing import charge_to_wire


def offer_priced_content(offer: Offer) -> dict[str, Any]:
    products = sorted(offer.products.all(), key=lambda product: product.path)
    charges = sorted(offer.charges.all(), key=lambda charge: (charge.position, charge.pk))
    return {
        "currency": offer.currency,
        "term": {"length": offer.term_length, "type": offer.term_type},
        "products": [{"path": p.path, "productCode": p.product_code, "name": p.name} for p in products],
        "price": [charge_to_wire(charge, offer.currency) for charge in charges],
    }


@transaction.atomic
def offer_refresh_version(*, offer: Offer) -> Offer:
    """Recompute the offer's snapshot and version (the hash of its priced content).

    Call after any change of the offer, its products or its charges. The version changes exactly
    when the price schedule, products, currency or term change.
    """
    priced = offer_priced_content(offer)
    version = hashlib.sha1(json.dumps(priced, sort_keys=True).encode(), usedforsecurity=False).hexdigest()
    snapshot = {"id": offer.pk, "version": version, "name": offer.name, "path": offer.path, **priced}
    Offer.objects.filter(pk=offer.pk).update(snapshot=snapshot, version=version)
    offer.snapshot, offer.version = snapshot, version
    return offer


@transaction.atomic
def offer_create(
    *,
    name: str,
    path: str,
    products: list[Product],
    charges: list[dict[str, Any]],
    type: str = Offer.Type.OFFER,
    currency: str = "GBP",
    term_length: int = 12,
    term_type: str = "months",
    published: bool = True,
    min_quantity: int = 1,
    max_quantity: int = 1,
    segments: list[str] | None = None,
    allowed_countries: list[str] | None = None,
    offer_id: str | None = None,
) -> Offer:
    """Create an offer with its price schedule; `charges` are Charge field dicts in schedule order."""
    fields: dict[str, Any] = {}
    if offer_id:
        fields["id"] = offer_id
    offer = Offer.objects.create(
        name=name,
        path=path,
        type=type,
        currency=currency,
        term_length=term_length,
        term_type=term_type,
        published=published,
        min_quantity=min_quantity,
        max_quantity=max_quantity,
        segments=segments or [],
        allowed_countries=allowed_countries or [],
        **fields,
    )
    offer.products.set(products)
    Charge.objects.bulk_create(
        Charge(offer=offer, position=position, **{**charge, "amount": Decimal(str(charge["amount"]))})
        for position, charge in enumerate(charges)
    )
    return offer_refresh_version(offer=offer)
