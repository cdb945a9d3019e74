"""Stripe webhooks (POST /api/webhooks/stripe, API.md §10): verified, stored once, never backwards.

Each event is verified with the SDK (STRIPE_WEBHOOK_SECRET), then applied and stored in one short
transaction: the payment's row is locked, the change made (or found stale), and the event inserted
into PaymentEvent, whose (gateway, event id) is unique. A replay (Stripe resends until it gets a
2xx) or a concurrent second delivery fails that insert, rolls its changes back and answers as the
first did. Events arrive in any order; PAYMENT_TRANSITIONS only moves forwards, so a late event
naming an earlier state (a `payment_intent.succeeded` after `charge.refunded`) is stored as
`stale` and changes nothing. Unknown types are stored as `ignored`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from baskets.errors import BasketCodes
from baskets.models import Payment, PaymentEvent, PaymentStatus
from baskets.payments.services import (
    CAPTURABLE,
    SYSTEM,
    lock_payment_by_reference,
    payment_record_event,
    payment_transition,
)
from baskets.payments.stripe_gateway import from_minor_units
from checkout_project.api.errors import ApplicationError

GATEWAY = "stripe"
HANDLED = ("payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled", "charge.refunded")
# What is kept of an event's object: ids, states and amounts; never a client secret or card data.
SUMMARY_FIELDS = (
    "id", "object", "status", "amount", "amount_refunded", "amount_received", "currency", "payment_intent", "captured",
)  # fmt: skip


class WebhookRefused(ApplicationError):
    """400: a webhook whose signature or payload we cannot trust; nothing is stored."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code, status=400)


@dataclass(frozen=True)
class WebhookOutcome:
    event: PaymentEvent
    replayed: bool  # the event was stored before: nothing changed now


def parse_stripe_event(payload: bytes, signature: str) -> dict[str, Any]:
    """The event, once its signature is verified with the SDK. Raises WebhookRefused."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise WebhookRefused(
            BasketCodes.WEBHOOK_SIGNATURE_INVALID, "Webhooks are not configured here (STRIPE_WEBHOOK_SECRET)."
        )
    try:
        body = json.loads(payload)
    except ValueError:  # not UTF-8, not JSON
        body = None
    if not isinstance(body, dict):
        raise WebhookRefused(BasketCodes.WEBHOOK_PAYLOAD_INVALID, "The payload is not a JSON event.")
    try:
        stripe.Webhook.construct_event(payload, signature or None, secret)
    except stripe.SignatureVerificationError as exc:
        raise WebhookRefused(
            BasketCodes.WEBHOOK_SIGNATURE_INVALID, "The Stripe-Signature header does not match the payload."
        ) from exc
    data = body.get("data")
    event_object = data.get("object") if isinstance(data, dict) else None
    if not (
        isinstance(body.get("id"), str) and body["id"] and isinstance(body.get("type"), str)
        and isinstance(event_object, dict)
    ):  # fmt: skip
        raise WebhookRefused(BasketCodes.WEBHOOK_PAYLOAD_INVALID, "The event has no id, type or data.object.")
    return body


def payment_webhook_receive(*, payload: bytes, signature: str) -> WebhookOutcome:
    """Verify, apply and store one Stripe event; see the module docstring. Raises WebhookRefused (400)."""
    event = parse_stripe_event(payload, signature)
    event_id, kind = event["id"][:255], event["type"][:100]
    try:
        with transaction.atomic():
            return WebhookOutcome(event=_apply(event, event_id, kind), replayed=False)
    except IntegrityError:
        stored = PaymentEvent.objects.filter(gateway=GATEWAY, event_id=event_id).first()
        if stored is None:
            raise
        return WebhookOutcome(event=stored, replayed=True)


def _reference(kind: str, event_object: dict[str, Any]) -> str:
    value = event_object.get("payment_intent") if kind.startswith("charge.") else event_object.get("id")
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def _apply(event: dict[str, Any], event_id: str, kind: str) -> PaymentEvent:
    event_object = event["data"]["object"]
    summary = {key: event_object[key] for key in SUMMARY_FIELDS if key in event_object}
    created = event.get("created")
    stored = PaymentEvent(
        gateway=GATEWAY,
        event_id=event_id,
        type=kind,
        summary=summary,
        occurred_at=datetime.fromtimestamp(created, tz=UTC) if isinstance(created, int) and created > 0 else None,
        outcome=PaymentEvent.Outcome.IGNORED,
    )
    reference = _reference(kind, event_object) if kind in HANDLED else ""
    payment = lock_payment_by_reference(GATEWAY, reference) if reference else None
    if kind in HANDLED:
        stored.outcome = PaymentEvent.Outcome.NO_PAYMENT
    if payment is not None:
        stored.payment = payment
        data = {"event": event_id, "eventType": kind}
        applied = HANDLERS[kind](payment, event_object, data)
        stored.outcome = PaymentEvent.Outcome.APPLIED if applied else PaymentEvent.Outcome.STALE
    stored.save(force_insert=True)  # the unique (gateway, event_id): a replay fails here and rolls back
    return stored


def _succeeded(payment: Payment, event_object: dict[str, Any], data: dict[str, Any]) -> bool:
    if payment.status not in CAPTURABLE:
        return False
    payment.next_capture_at, payment.last_error = None, ""
    payment_transition(
        payment=payment, to=PaymentStatus.CAPTURED, data=data, also_save=["next_capture_at", "last_error"]
    )
    return True


def _canceled(payment: Payment, event_object: dict[str, Any], data: dict[str, Any]) -> bool:
    if payment.status not in CAPTURABLE:
        return False
    payment.next_capture_at = None
    payment.last_error = "authorisation_canceled"
    payment_transition(payment=payment, to=PaymentStatus.VOIDED, data=data, also_save=["next_capture_at", "last_error"])
    return True


def _payment_failed(payment: Payment, event_object: dict[str, Any], data: dict[str, Any]) -> bool:
    """A failed confirmation of this PaymentIntent: noted (the gateway's code) while the payment is
    still to capture; after that it is an earlier attempt's news."""
    if payment.status not in CAPTURABLE:
        return False
    error = event_object.get("last_payment_error")
    code = ""
    if isinstance(error, dict):
        code = str(error.get("decline_code") or error.get("code") or "")
    payment.last_error = (code or "payment_failed")[:100]
    payment.updated = timezone.now()
    payment.save(update_fields=["last_error", "updated"])
    payment_record_event(payment, "payment_failed", SYSTEM, {**data, "error": payment.last_error})
    return True


def _refunded(payment: Payment, event_object: dict[str, Any], data: dict[str, Any]) -> bool:
    """Stripe's cumulative `amount_refunded` of the charge: refunds made here (already counted) or
    in Stripe's dashboard. Only ever raises our `refunded_amount`."""
    refunded_minor = event_object.get("amount_refunded")
    if not isinstance(refunded_minor, int) or isinstance(refunded_minor, bool) or refunded_minor < 0:
        return False
    refunded = min(from_minor_units(refunded_minor, payment.currency or "GBP"), payment.amount)
    moved = False
    if payment.status in CAPTURABLE:
        # A refund means the charge was captured: our capture's answer has not arrived yet.
        payment.next_capture_at, payment.last_error = None, ""
        payment_transition(
            payment=payment, to=PaymentStatus.CAPTURED, data=data, also_save=["next_capture_at", "last_error"]
        )
        moved = True
    if payment.status != PaymentStatus.CAPTURED or refunded <= payment.refunded_amount:
        return moved
    payment.refunded_amount = refunded
    data = {**data, "refundedAmount": str(refunded)}
    if refunded >= payment.amount:
        payment_transition(payment=payment, to=PaymentStatus.REFUNDED, data=data, also_save=["refunded_amount"])
    else:
        payment.updated = timezone.now()
        payment.save(update_fields=["refunded_amount", "updated"])
        payment_record_event(payment, "payment_refund", SYSTEM, data)
    return True


HANDLERS = {
    "payment_intent.succeeded": _succeeded,
    "payment_intent.canceled": _canceled,
    "payment_intent.payment_failed": _payment_failed,
    "charge.refunded": _refunded,
}
