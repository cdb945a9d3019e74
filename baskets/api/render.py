"""Baskets on the wire (API.md §4). Plain functions: the abandoned feed renders 1000 at a time."""

from __future__ import annotations

from typing import Any

from baskets.links import recovery_link
from baskets.models import Basket, BasketStatus, OrderItem, OrderType, PromoCode
from baskets.selectors import BasketQuote, PromoCodeQuote
from baskets.services import CUSTOMER_DETAIL_FIELDS
from checkout_project.api.wire import iso_utc
from subscriptions import pricing
from subscriptions.models import Offer, Subscription


def order_item_to_wire(item: OrderItem, *, update_basket: bool) -> dict[str, Any]:
    snapshot = item.offer_snapshot
    wire = {
        "id": str(item.id),
        "type": item.type,
        "offer": {
            "id": item.offer_id,
            "version": item.offer_version,
            "name": snapshot.get("name", ""),
            "path": snapshot.get("path", ""),
            "products": snapshot.get("products", []),
        },
        "quantity": item.quantity,
        "parentId": str(item.parent_id) if item.parent_id else None,
        "price": snapshot.get("price", []),
    }
    if update_basket:
        wire["orderItemActionType"] = item.action_type or None
        wire["effectiveDate"] = iso_utc(item.effective_date)
    return wire


def change_item_to_wire(item: OrderItem, quote: pricing.ChangeQuote | None) -> dict[str, Any]:
    """An update basket's item with what the change costs (its proration) and whether the system
    added it; an added item takes effect when its quote says."""
    wire = order_item_to_wire(item, update_basket=True)
    wire["automatic"] = item.automatic
    wire["proration"] = quote.to_wire() if quote else None
    if quote is not None and item.action_type == OrderItem.ActionType.ADD:
        wire["effectiveDate"] = quote.to_wire()["effectiveDate"]
    return wire


def customer_details_to_wire(basket: Basket) -> dict[str, str]:
    return {wire: getattr(basket, field) for wire, field in CUSTOMER_DETAIL_FIELDS.items()}


def offer_to_wire(offer: Offer) -> dict[str, Any]:
    snapshot = offer.snapshot
    return {
        "id": offer.pk,
        "version": offer.version,
        "type": offer.type,
        "name": snapshot.get("name", offer.name),
        "path": snapshot.get("path", offer.path),
        "currency": snapshot.get("currency", offer.currency),
        "term": snapshot.get("term", {}),
        "products": snapshot.get("products", []),
        "price": snapshot.get("price", []),
    }


def order_to_wire(
    basket: Basket, items: list[OrderItem], quote: BasketQuote, *, subscription: Subscription | None = None
) -> dict[str, Any]:
    """The basket's order as its `quote` prices it. With `subscription` (an update basket quoted as
    its change): each item's proration, and the subscription with its offer."""
    # orderItemActionType and effectiveDate belong to subscription change baskets (API.md §4).
    update_basket = basket.order_type == OrderType.UPDATE_SUBSCRIPTION
    if subscription is not None:
        order_items = [change_item_to_wire(item, quote.change_quotes.get(item.id)) for item in items]
    else:
        order_items = [order_item_to_wire(item, update_basket=update_basket) for item in items]
    order = {
        "checkoutId": basket.public_id,
        "order_type": basket.order_type,
        "status": basket.status,
        "orderItems": order_items,
        "customerDetails": customer_details_to_wire(basket),
        "tracking": basket.tracking,
        "country": basket.country or None,
        "source": basket.source or None,
        "external_id": basket.external_id or None,
        "customFields": basket.custom_fields,
        "promoCode": promo_code_to_wire(quote.promo_code, basket, quote) if quote.promo_code is not None else None,
        "totals": quote.totals.to_wire(),
        "version": basket.version,
        "created": iso_utc(basket.created),
        "updated": iso_utc(basket.updated),
        "expiresAt": iso_utc(basket.expires_at),
        "completed": basket.status == BasketStatus.COMPLETED,
    }
    if subscription is not None:
        order["forSubscription"] = {"id": subscription.public_id, "reference": subscription.reference}
        order["forSubscriptionOffer"] = offer_to_wire(subscription.offer)
    return order


def promo_code_to_wire(promo_quote: PromoCodeQuote, basket: Basket, quote: BasketQuote) -> dict[str, Any]:
    """The applied code: its terms, the lines it discounts, until when, and what it takes off this order."""
    promo = promo_quote.promo_code
    if promo.discount_type == PromoCode.DiscountType.PERCENTAGE:
        terms = {"type": "percentage", "percentage": f"{promo.percentage:.2f}"}
    else:
        assert promo.amount is not None  # an amount code has an amount (promo_code_discount_shape)
        terms = {"type": "amount", "amount": pricing.money(promo.amount, promo.currency), "currency": promo.currency}
    return {
        "code": promo.code,
        "description": promo.description,
        "discount": terms,
        "applicationLevel": promo.application_level,
        "discountedOrderItems": [str(item_id) for item_id in promo_quote.discounted_item_ids],
        "durationLength": promo.duration_length,
        "durationType": promo.duration_type or None,
        "discountedUntil": iso_utc(promo_quote.discounted_until),
        "amount": quote.totals.to_wire()["discount"],
        "currency": basket.currency,
        "schedule": [bill.to_wire() for bill in promo_quote.schedule],
    }


def abandoned_item_to_wire(basket: Basket) -> dict[str, Any]:
    customer = basket.customer
    identities = []
    if customer is not None:
        identities.append({"type": "customer", "id": customer.public_id, "email": customer.email})
    if basket.email:
        identities.append({"type": "email", "email": basket.email})
    return {
        "id": basket.public_id,
        "created": iso_utc(basket.created),
        "updated": iso_utc(basket.updated),
        "status": basket.status,
        "customerDetails": customer_details_to_wire(basket),
        "orderItems": [
            {
                "name": item.offer_snapshot.get("name", ""),
                "path": item.offer_snapshot.get("path", ""),
                "products": [
                    {"path": p.get("path"), "productCode": p.get("productCode")}
                    for p in item.offer_snapshot.get("products", [])
                ],
            }
            for item in basket.items.all()
        ],
        "tracking": basket.tracking,
        "customFields": basket.custom_fields,
        "identities": identities,
        "entry": basket.entry,
        "partner": basket.partner.slug if basket.partner else None,
        "completed": False,
        # Signed from the row already loaded: no query per item.
        "recoveryLink": recovery_link(basket),
    }
