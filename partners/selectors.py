"""Every non-trivial read of partners: what a partner may sell, its subscriptions, basket checks.

`check_partner_catalog` is registered in baskets.hooks (partners.apps), so baskets runs it on
every validation (partner validate and order completion) without importing partners.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import CharField, Exists, OuterRef, QuerySet, StringAgg, Subquery, Value
from django.utils import timezone

from baskets import selectors as baskets_selectors
from baskets.errors import BASKET_NOT_FOUND, BasketCodes, BasketCompleted, BasketExpired, BasketNotFound
from baskets.models import Basket, BasketStatus, OrderItem
from baskets.selectors import BasketQuote, BasketValidation, Finding
from baskets.services import OfferPolicy
from checkout_project.api.actor import Actor
from partners.errors import PartnerCodes
from partners.models import Partner, PartnerEligibleOffer, PartnerSubscription
from subscriptions import selectors as subscription_selectors
from subscriptions.models import Offer, Subscription

NOT_ELIGIBLE_MESSAGE = "This offer is not sold through this partner."
# Product codes are free text; this separator (ASCII unit separator) is not typed into them.
_SEPARATOR = "\x1f"


def partner_offer_annotations(partner_id: int) -> dict[str, Any]:
    """What one partner may sell, per offer, as annotations for the offers query baskets makes
    anyway: whether the offer lists any eligible partner, whether it lists this one, and the codes
    of its products this partner may not sell."""
    listed = PartnerEligibleOffer.objects.filter(offer_id=OuterRef("pk"))
    blocked = (
        # django-stubs keeps no annotations on an auto-created through model's queryset, so it reads
        # `codes` in .values() as an unknown field (a false positive).
        Partner.blocked_products.through.objects.filter(  # type: ignore[misc]
            partner_id=partner_id, product__offers=OuterRef("pk")
        )
        .values("partner_id")
        .annotate(codes=StringAgg("product__product_code", Value(_SEPARATOR)))
        .values("codes")
    )
    return {
        "partner_listed": Exists(listed),
        "partner_eligible": Exists(listed.filter(partner_id=partner_id)),
        "partner_blocked_codes": Subquery(blocked, output_field=CharField()),
    }


# The two readers of partner_offer_annotations' names, set on the offers by the query they were
# given to; the Offer model does not declare them, hence the type: ignores.


def _blocked_codes(offer: Offer) -> list[str]:
    codes = offer.partner_blocked_codes  # type: ignore[attr-defined]
    return sorted(code for code in (codes or "").split(_SEPARATOR) if code)


def _eligible(offer: Offer) -> bool:
    return not offer.partner_listed or offer.partner_eligible  # type: ignore[attr-defined]


def partner_offer_refusal(offer: Offer) -> tuple[str, str] | None:
    """Why the partner (of the annotations) may not sell this offer, or None when it may."""
    if not _eligible(offer):
        return PartnerCodes.OFFER_NOT_ELIGIBLE, NOT_ELIGIBLE_MESSAGE
    blocked = _blocked_codes(offer)
    if blocked:
        return PartnerCodes.PRODUCT_BLOCKED, f"Product {blocked[0]} cannot be sold through this partner."
    return None


def partner_catalog_restriction(actor: Actor) -> Any:
    """The offers a partner token reads in the catalog (subscriptions.hooks): those its organisation
    may sell, i.e. the offers partner_offer_refusal would not refuse. Other callers: no restriction.
    An expression evaluated inside the catalog's own query: no query of its own."""
    if actor.partner is None:
        return None
    partner_id = actor.partner.pk
    listed = PartnerEligibleOffer.objects.filter(offer_id=OuterRef("pk"))
    blocked = Partner.blocked_products.through.objects.filter(partner_id=partner_id, product__offers=OuterRef("pk"))
    return (~Exists(listed) | Exists(listed.filter(partner_id=partner_id))) & ~Exists(blocked)


def partner_offer_policy(partner: Partner) -> OfferPolicy:
    """The baskets services' offer policy for this partner: ineligible offers and offers with a
    blocked product are refused, at no query of its own."""
    return OfferPolicy(annotations=partner_offer_annotations(partner.pk), refusal=partner_offer_refusal)


def partner_subscriptions(partner: Partner) -> QuerySet[Subscription]:
    """The subscriptions of this partner organisation."""
    links = PartnerSubscription.objects.filter(partner=partner).values("subscription_id")
    return subscription_selectors.subscriptions_with_ids(links)


# --- Basket checks (baskets.selectors.BasketCheck) ---------------------------------------------


class PartnerCatalogCheck:
    """A partner basket's offers are still eligible for its partner and none of their products is
    blocked for it. Reads what `offer_annotations` adds to the offers validation loads: no query
    of its own, and nothing at all for baskets of no partner."""

    def offer_annotations(self, basket: Basket) -> dict[str, Any]:
        return partner_offer_annotations(basket.partner_id) if basket.partner_id is not None else {}

    def __call__(self, validation: BasketValidation) -> Iterable[Finding]:
        if validation.basket.partner_id is None:
            return
        for item in validation.items:
            offer = validation.offers.get(item.offer_id)
            if offer is None or not hasattr(offer, "partner_listed"):
                continue  # an unknown offer: check_offers reports it
            if not _eligible(offer):
                message = "This offer is no longer sold through this partner."
                yield Finding(PartnerCodes.OFFER_NOT_ELIGIBLE, message, item.id)
            for code in _blocked_codes(offer):
                message = f"Product {code} cannot be sold through this partner."
                yield Finding(PartnerCodes.PRODUCT_BLOCKED, message, item.id, product_code=code)


check_partner_catalog = PartnerCatalogCheck()


def check_basket_open(validation: BasketValidation) -> Iterable[Finding]:
    """The basket can still be completed: not completed, not expired (completion raises 409/410
    for these before validating; partner validate reports them)."""
    basket = validation.basket
    if basket.status == BasketStatus.COMPLETED:
        yield Finding(BasketCompleted.code, "This basket has already been completed.")
    elif basket.status == BasketStatus.EXPIRED or basket.expires_at <= validation.now:
        yield Finding(BasketExpired.code, "This basket has expired.")


# --- Partner validate -------------------------------------------------------------------------

BLOCKING_PRODUCT_CODES = (BasketCodes.PRODUCT_UNAVAILABLE, PartnerCodes.PRODUCT_BLOCKED)


@dataclass(frozen=True)
class PartnerBasketValidation:
    """A partner basket as it stands and everything that stops it from completing now."""

    basket: Basket
    items: list[OrderItem]
    findings: list[Finding]
    quote: BasketQuote

    @property
    def valid(self) -> bool:
        return not self.findings

    def blocked_products(self) -> list[dict[str, str | None]]:
        """The product findings, each with the product's catalog path (from the item as added)."""
        items: dict[uuid.UUID | None, OrderItem] = {item.id: item for item in self.items}
        blocked = []
        for finding in self.findings:
            if finding.code not in BLOCKING_PRODUCT_CODES or finding.product_code is None:
                continue
            item = items.get(finding.order_item_id)
            products = item.offer_snapshot.get("products", []) if item is not None else []
            path = next((p.get("path") for p in products if p.get("productCode") == finding.product_code), None)
            blocked.append(
                {
                    "orderItemId": str(finding.order_item_id),
                    "path": path,
                    "productCode": finding.product_code,
                    "reason": finding.code,
                }
            )
        return blocked


def partner_basket_validate(*, actor: Actor, basket_id: uuid.UUID | None) -> PartnerBasketValidation:
    """Re-validate one of the partner's baskets as completing it would, plus whether it is still
    open. Reads only; a fixed number of queries whatever the number of items. Raises
    BasketNotFound (404) for a basket that is not this partner's."""
    if actor.partner is None:
        raise BasketNotFound(BASKET_NOT_FOUND)
    basket = baskets_selectors.basket_get_visible(actor=actor, basket_id=basket_id)
    if basket is None:
        raise BasketNotFound(BASKET_NOT_FOUND)
    items = list(basket.items.all())
    if basket.promo_code_id is not None:
        basket.promo_code = baskets_selectors.promo_code_with_offers(basket.promo_code_id)
    now = timezone.now()
    findings = baskets_selectors.basket_validation_findings(
        basket, items, now=now, extra_checks=(check_basket_open, check_partner_catalog)
    )
    quote = baskets_selectors.basket_quote(basket, items, now=now)
    return PartnerBasketValidation(basket=basket, items=items, findings=findings, quote=quote)
