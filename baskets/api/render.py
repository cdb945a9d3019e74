"""Baskets on the wire (API.md §4). Plain functions: the abandoned feed renders 1000 at a time."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from baskets import selectors
from baskets.links import recovery_link
from baskets.models import Basket, BasketStatus, OrderItem, OrderType, PromoCode
from baskets.services import CUSTOMER_DETAIL_FIELDS
from checkout_project.api.wire import iso_utc
from subscriptions import pricing
from subscriptions.pricing import order_totals


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


def customer_details_to_wire(basket: Basket) -> dict[str, str]:
    return {wire: getattr(basket, field) for wire, field in CUSTOMER_DETAIL_FIELDS.items()}


def order_to_wire(basket: Basket, items: list[OrderItem]) -> dict[str, Any]:
    # orderItemActionType and effectiveDate belong to subscription change baskets (API.md §4).
    update_basket = basket.order_type == OrderType.UPDATE_SUBSCRIPTION
    lines = selectors.order_lines(items)
    # One query for the code (none when the service loaded it), none per item.
    promo = basket.promo_code if basket.promo_code_id else None
    discount = selectors.promo_code_discount(promo) if promo is not None else None
    totals = order_totals(lines, basket.currency, discount=discount)
    return {
        "checkoutId": basket.public_id,
        "order_type": basket.order_type,
        "status": basket.status,
        "orderItems": [order_item_to_wire(item, update_basket=update_basket) for item in items],
        "customerDetails": customer_details_to_wire(basket),
        "tracking": basket.tracking,
        "country": basket.country or None,
        "source": basket.source or None,
        "external_id": basket.external_id or None,
        "customFields": basket.custom_fields,
        "promoCode": promo_code_to_wire(promo, discount, basket, items, totals) if promo is not None else None,
        "totals": totals.to_wire(),
        "version": basket.version,
        "created": iso_utc(basket.created),
        "updated": iso_utc(basket.updated),
        "expiresAt": iso_utc(basket.expires_at),
        "completed": basket.status == BasketStatus.COMPLETED,
    }


def promo_code_to_wire(
    promo: PromoCode, discount: pricing.Discount, basket: Basket, items: list[OrderItem], totals: pricing.Totals
) -> dict[str, Any]:
    """The applied code: its terms, the lines it discounts, until when, and what it takes off this order."""
    currency = basket.currency
    if promo.discount_type == PromoCode.DiscountType.PERCENTAGE:
        terms = {"type": "percentage", "percentage": f"{promo.percentage:.2f}"}
    else:
        terms = {"type": "amount", "amount": pricing.money(promo.amount, promo.currency), "currency": promo.currency}
    # The order is placed when it completes; until then, as if placed now.
    anchor = basket.completed_at or timezone.now()
    lines = selectors.order_lines(items)
    schedule = pricing.discount_schedule(lines, discount, anchor=anchor, currency=currency) if currency else []
    return {
        "code": promo.code,
        "description": promo.description,
        "discount": terms,
        "applicationLevel": promo.application_level,
        "discountedOrderItems": [
            str(item.id) for item in items if item.action_type != "remove" and discount.applies_to(item.offer_id)
        ],
        "durationLength": promo.duration_length,
        "durationType": promo.duration_type or None,
        "discountedUntil": iso_utc(discount.until(anchor)),
        "amount": totals.to_wire()["discount"],
        "currency": currency,
        "schedule": [bill.to_wire() for bill in schedule],
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
