"""The payment record on the wire (API.md §10), as the order response and the admin show it."""

from __future__ import annotations

from typing import Any

from baskets.models import NO_PAYMENT_TAKEN, Payment
from checkout_project.api.wire import iso_utc
from subscriptions.pricing import money


def payment_to_wire(payment: Payment) -> dict[str, Any]:
    """`{id, gateway, status, amount, currency, gatewayReference, refundedAmount, created, updated,
    noPaymentTaken}`, and a `message` saying so when no payment was taken (the manual gateway)."""
    currency = payment.currency or "GBP"
    wire: dict[str, Any] = {
        "id": f"pay-{payment.id}",
        "gateway": payment.gateway,
        "status": payment.status,
        "amount": money(payment.amount, currency),
        "currency": payment.currency,
        "gatewayReference": payment.gateway_reference,
        "refundedAmount": money(payment.refunded_amount, currency),
        "created": iso_utc(payment.created),
        "updated": iso_utc(payment.updated),
        "noPaymentTaken": payment.no_payment_taken,
    }
    if payment.no_payment_taken:
        wire["message"] = NO_PAYMENT_TAKEN
    return wire
