"""Payment use cases: authorise, record, capture (with retries), void and refund.

No gateway call is ever made while a database transaction is open or a row is locked. A use case
that writes around a gateway call claims its row in a short transaction and commits, calls the
gateway, then records the result in another short transaction; the claim is a guarded UPDATE (or
a unique INSERT) whose row count says who won, so several workers or requests running the same
step at once call the gateway once.

`payment_transition` is the only writer of `Payment.status` (PAYMENT_TRANSITIONS); each change is
a basket event `payment_<status>` at the basket's current version (a payment's progress is no
change of the basket: its version stays).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.tasks import task_backends
from django.utils import timezone

from baskets.errors import BasketCodes, PaymentGatewayError, PaymentInProgress, RefundRefused
from baskets.models import PAYMENT_TRANSITIONS, Basket, Payment, PaymentHold, PaymentStatus
from baskets.payments.gateways import Authorisation, PaymentRequest, payment_gateway
from baskets.services.lifecycle import basket_record_event
from checkout_project.api.actor import Actor
from checkout_project.api.errors import ApplicationError
from subscriptions import pricing
from subscriptions import selectors as subscription_selectors
from subscriptions import services as subscription_services

if TYPE_CHECKING:
    from django.tasks import Task

    from subscriptions.models import Customer

logger = logging.getLogger(__name__)

ORDER_ID_PREFIX = "order-"
CAPTURABLE = (PaymentStatus.AUTHORISED, PaymentStatus.CAPTURE_FAILED)
# How long a worker may take over one capture (its claim); another may take it over after that.
CAPTURE_CLAIM = timedelta(minutes=5)
# Retries of a failed capture, after 1, 5, 30 minutes, 2, 6, 12 and 24 hours: within the seven
# days a card authorisation lasts. After the last, the payment stays `capture_failed` for staff.
CAPTURE_BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
)
CAPTURE_MAX_ATTEMPTS = len(CAPTURE_BACKOFF) + 1
VOID_BACKOFF = (timedelta(minutes=1), timedelta(minutes=10), timedelta(hours=1), timedelta(hours=6))
# A hold still `held` after this was left by a completion that never finished (its process died).
HOLD_ORPHANED_AFTER = timedelta(hours=1)
# The capture sweep leaves a just-authorised payment to its own request's capture for this long.
CAPTURE_SWEEP_GRACE = timedelta(minutes=2)

SYSTEM = Actor()


# --- Status ------------------------------------------------------------------------------------------


def lock_payment(payment_id: uuid.UUID) -> Payment:
    """The payment row locked for the caller's transaction, with its basket (for the event's version)."""
    return Payment.objects.select_related("basket").select_for_update(of=("self",)).get(pk=payment_id)


def lock_payment_by_reference(gateway: str, reference: str) -> Payment | None:
    """The payment the gateway knows as `reference`, locked like lock_payment; None when none is."""
    return next(
        iter(
            Payment.objects.select_related("basket")
            .select_for_update(of=("self",))
            .filter(gateway=gateway, gateway_reference=reference)
            .order_by()
        ),
        None,
    )


@transaction.atomic(savepoint=False)
def payment_transition(
    *,
    payment: Payment,
    to: str,
    actor: Actor = SYSTEM,
    data: Mapping[str, Any] | None = None,
    also_save: Sequence[str] = (),
) -> Payment:
    """The only writer of `Payment.status`. The caller holds the payment's row lock (lock_payment).

    Raises ApplicationError invalid_transition (400) for a change PAYMENT_TRANSITIONS does not
    allow. Records the basket event `payment_<to>` with `data`. `also_save`: other fields the
    caller changed, written by the same UPDATE.
    """
    if to not in PAYMENT_TRANSITIONS[payment.status]:
        raise ApplicationError(
            f"A payment cannot go from {payment.status} to {to}.", code=BasketCodes.INVALID_TRANSITION
        )
    previous = payment.status
    payment.status = to
    payment.updated = timezone.now()
    fields = ["status", "updated", *(name for name in also_save if name not in {"status", "updated"})]
    payment.save(update_fields=fields)
    payment_record_event(payment, f"payment_{to}", actor, {"from": previous, **(data or {})})
    return payment


def payment_record_event(payment: Payment, kind: str, actor: Actor, data: Mapping[str, Any]) -> None:
    """A basket event about the payment (no status change), at the basket's current version."""
    basket_record_event(
        basket=payment.basket,
        actor=actor,
        kind=kind,
        data={"payment": str(payment.id), "status": payment.status, **data},
    )


# --- Phase 1: authorise, before the completion transaction ------------------------------------------


def payment_authorise(
    *,
    basket: Basket,
    amount: Decimal,
    currency: str,
    email: str,
    payment: Mapping[str, Any] | None = None,
    save_payment_method: bool = True,
) -> Authorisation:
    """Authorise `amount` (the basket's dueToday) through settings.PAYMENT_GATEWAY, before the
    completion transaction (call it with no transaction open).

    The Stripe idempotency key comes from the basket's id and `basket.version` as read now: the
    completion must check under its lock that the basket is still at that version (and the
    amount the same), and void otherwise. When the gateway holds money, the authorisation is
    claimed for this request (a PaymentHold, committed at once): a second request holding the
    same PaymentIntent gets PaymentInProgress (409) and voids nothing.

    Raises PaymentDeclined (402; nothing written), PaymentRequiresAction (402), PaymentIntentMismatch
    (400), ApplicationError payment_method_required (400), PaymentInProgress (409),
    PaymentGatewayError (502).
    """
    gateway = payment_gateway()
    profile = None
    if getattr(gateway, "name", "") != "manual":
        profile = subscription_selectors.customer_payment_profile(email=email)
    request = PaymentRequest(
        order_id=f"{ORDER_ID_PREFIX}{basket.id}",
        amount=pricing.quantize(Decimal(amount), currency),
        currency=currency,
        customer_email=email,
        details={key: str(value) for key, value in (payment or {}).items()},
        basket_id=basket.public_id,
        basket_version=basket.version,
        payment_customer_id=profile.payment_customer_id if profile is not None else "",
        save_payment_method=save_payment_method,
    )
    authorisation = gateway.authorise(request)
    if authorisation.holds_money:
        _claim_hold(basket, authorisation)
    return authorisation


def _claim_hold(basket: Basket, authorisation: Authorisation) -> None:
    hold = PaymentHold(
        gateway=authorisation.gateway,
        reference=authorisation.reference,
        basket=basket,
        amount=authorisation.amount,
        currency=authorisation.currency,
        captured=authorisation.status == PaymentStatus.CAPTURED,
    )
    try:
        with transaction.atomic():
            hold.save(force_insert=True)
    except IntegrityError as exc:
        # Unique (gateway, reference): another request holds this very authorisation (or recorded it).
        raise PaymentInProgress() from exc


# --- Phase 2: record, inside the completion transaction ----------------------------------------------


@transaction.atomic(savepoint=False)
def payment_record(*, authorisation: Authorisation, basket: Basket, customer: Customer) -> Payment:
    """The order's Payment, in the completion transaction: status
    `authorised` (to capture after the commit), `captured` (taken already, or nothing due) or
    `manual`. Marks the authorisation's hold recorded, guarded: when the hold is no longer this
    request's (released by the orphan sweep meanwhile), it raises PaymentInProgress (409)
    and the completion rolls back. Saves the payment method on the customer for renewals.
    """
    payment = Payment(
        basket=basket,
        gateway=authorisation.gateway,
        status=authorisation.status,
        amount=pricing.quantize(authorisation.amount, authorisation.currency or "GBP"),
        currency=authorisation.currency,
        gateway_reference=authorisation.reference,
        method=authorisation.method,
    )
    if authorisation.holds_money:
        recorded = PaymentHold.objects.filter(
            gateway=authorisation.gateway, reference=authorisation.reference, state=PaymentHold.State.HELD
        ).update(state=PaymentHold.State.RECORDED, updated=timezone.now())
        if recorded != 1:  # guarded: the hold is no longer this request's
            raise PaymentInProgress()
    payment.save(force_insert=True)
    subscription_services.customer_save_payment_method(
        customer=customer,
        payment_customer_id=authorisation.payment_customer_id,
        payment_method_id=authorisation.payment_method_id,
    )
    return payment


# --- Phase 2 refused: void ------------------------------------------------------------------------------


def payment_void(*, authorisation: Authorisation) -> bool:
    """Give back an authorisation whose completion refused (after its transaction rolled back).

    Only this request's own hold is voided: it is released first (held → released, a guarded
    UPDATE), so an authorisation another request recorded or holds is never touched. A gateway
    failure schedules payment_void_retry. Returns whether the gateway was asked to void.
    """
    if not authorisation.holds_money:
        return False
    with transaction.atomic():
        released = PaymentHold.objects.filter(
            gateway=authorisation.gateway, reference=authorisation.reference, state=PaymentHold.State.HELD
        ).update(state=PaymentHold.State.RELEASED, updated=timezone.now())
    if not released:
        return False
    void_with_retries(authorisation, attempt=0)
    return True


def void_with_retries(authorisation: Authorisation, *, attempt: int) -> None:
    try:
        payment_gateway(authorisation.gateway).void(authorisation)
    except PaymentGatewayError as exc:
        gateway, reference = authorisation.gateway, authorisation.reference
        if attempt >= len(VOID_BACKOFF):
            logger.error("void of %s %s abandoned after %d attempts (%s)", gateway, reference, attempt + 1, exc.reason)
            return
        logger.warning("void of %s %s failed (%s); retrying", gateway, reference, exc.reason)
        from baskets.payments.tasks import payment_void_retry

        enqueue(
            payment_void_retry,
            timezone.now() + VOID_BACKOFF[attempt],
            authorisation.gateway,
            authorisation.reference,
            authorisation.status,
            attempt + 1,
        )


# --- Phase 3: capture, after the commit ---------------------------------------------------------------


def payment_capture(*, payment_id: uuid.UUID, now: datetime | None = None) -> Payment:
    """Capture an `authorised` (or `capture_failed`, once its retry is due) payment.

    Meant for `transaction.on_commit` after completion, the retry task and the sweep; safe on
    several hosts at once: the claim (a guarded UPDATE setting `next_capture_at` to the end of
    the claim) lets one caller through and the others return the payment as it is. On a gateway
    failure: `capture_failed`, `last_error`, and a retry scheduled with backoff (payment_capture_retry)
    until CAPTURE_MAX_ATTEMPTS. An authorisation found cancelled or expired: `voided`. Never raises
    for a gateway failure (the order stands); returns the payment as recorded.
    """
    now = now or timezone.now()
    with transaction.atomic():
        claimed = (
            Payment.objects.filter(pk=payment_id, status__in=CAPTURABLE, capture_attempts__lt=CAPTURE_MAX_ATTEMPTS)
            .filter(Q(next_capture_at__isnull=True) | Q(next_capture_at__lte=now))
            .update(capture_attempts=F("capture_attempts") + 1, next_capture_at=now + CAPTURE_CLAIM, updated=now)
        )
    payment = Payment.objects.get(pk=payment_id)
    if not claimed:
        return payment
    try:
        result = payment_gateway(payment.gateway).capture(Authorisation.of_payment(payment))
    except PaymentGatewayError as exc:
        return _capture_failed(payment_id, exc.reason, now)
    with transaction.atomic():
        payment = lock_payment(payment_id)
        if payment.status in CAPTURABLE:
            payment.next_capture_at = None
            payment.last_error = "" if result.status == PaymentStatus.CAPTURED else "authorisation_gone"
            payment_transition(
                payment=payment,
                to=result.status,
                data={"attempt": payment.capture_attempts},
                also_save=["next_capture_at", "last_error"],
            )
    return payment


def _capture_failed(payment_id: uuid.UUID, reason: str, now: datetime) -> Payment:
    with transaction.atomic():
        payment = lock_payment(payment_id)
        if payment.status not in CAPTURABLE:
            return payment  # settled meanwhile (a webhook)
        attempts = payment.capture_attempts
        retry_at = now + CAPTURE_BACKOFF[attempts - 1] if attempts < CAPTURE_MAX_ATTEMPTS else None
        payment.next_capture_at = retry_at
        payment.last_error = reason[:100]
        data = {"attempt": attempts, "error": payment.last_error, "retryAt": retry_at.isoformat() if retry_at else None}
        if payment.status == PaymentStatus.AUTHORISED:
            payment_transition(
                payment=payment, to=PaymentStatus.CAPTURE_FAILED, data=data, also_save=["next_capture_at", "last_error"]
            )
        else:
            payment.updated = now
            payment.save(update_fields=["next_capture_at", "last_error", "updated"])
            payment_record_event(payment, "payment_capture_retry_failed", SYSTEM, data)
        if retry_at is not None:
            from baskets.payments.tasks import payment_capture_retry

            enqueue(payment_capture_retry, retry_at, str(payment_id))
        else:
            logger.error("capture of payment %s abandoned after %d attempts (%s)", payment_id, attempts, reason)
    return payment


def enqueue(task: Task, run_after: datetime, *args: Any) -> None:
    """Enqueue `task(*args)` to run at `run_after`, once the current transaction (if any) commits.
    A backend that cannot defer (the immediate one) runs it at once; the task finds it is not
    due yet and does nothing, and the sweep (manage.py capture_payments) picks it up later."""

    def send() -> None:
        backend = task_backends[task.backend]
        (task.using(run_after=run_after) if backend.supports_defer else task).enqueue(*args)

    transaction.on_commit(send)


def payments_capture_due(*, now: datetime, batch_size: int) -> int:
    """One batch of the sweep (manage.py capture_payments): captures the payments whose retry is
    due, and those authorised a while ago whose capture never ran (the process died after the
    commit). Returns how many it tried; each claims its payment, so hosts may sweep at once."""
    due = list(
        Payment.objects.filter(status__in=CAPTURABLE, capture_attempts__lt=CAPTURE_MAX_ATTEMPTS)
        .filter(Q(next_capture_at__lte=now) | Q(next_capture_at__isnull=True, created__lte=now - CAPTURE_SWEEP_GRACE))
        .order_by("created")
        .values_list("id", flat=True)[:batch_size]
    )
    for payment_id in due:
        payment_capture(payment_id=payment_id, now=now)
    return len(due)


def payment_holds_release_orphans(*, now: datetime, batch_size: int) -> int:
    """One batch of the sweep: voids the holds whose completion never finished (still `held` after
    HOLD_ORPHANED_AFTER: the process died between authorising and recording). Returns how many."""
    orphans = list(
        PaymentHold.objects.filter(state=PaymentHold.State.HELD, created__lte=now - HOLD_ORPHANED_AFTER).order_by(
            "created"
        )[:batch_size]
    )
    for hold in orphans:
        payment_void(
            authorisation=Authorisation(
                gateway=hold.gateway,
                status=PaymentStatus.CAPTURED if hold.captured else PaymentStatus.AUTHORISED,
                amount=hold.amount,
                currency=hold.currency,
                reference=hold.reference,
            )
        )
    return len(orphans)


# --- Refunds ----------------------------------------------------------------------------------------


def payment_refund(*, payment_id: uuid.UUID, amount: Decimal | None, actor: Actor) -> Payment:
    """Refund `amount` (None: all that is left) of a captured payment through its gateway.

    The amount is reserved first (a guarded UPDATE: refunded + amount ≤ captured, so two refunds
    at once can never give back more than was taken), committed, then the gateway refunds; the
    refund is recorded (basket event `payment_refund`, status `refunded` once all is given back),
    or the reservation is released when the gateway fails. Raises RefundRefused
    payment_not_refundable / refund_amount_invalid (400), PaymentGatewayError (502).
    """
    with transaction.atomic():
        payment = lock_payment(payment_id)
        if payment.status != PaymentStatus.CAPTURED or payment.refundable_amount <= 0:
            raise RefundRefused(
                BasketCodes.PAYMENT_NOT_REFUNDABLE, f"A {payment.status} payment has nothing to refund."
            )
        currency = payment.currency or "GBP"
        amount = payment.refundable_amount if amount is None else Decimal(amount)
        if amount <= 0 or amount != pricing.quantize(amount, currency) or amount > payment.refundable_amount:
            raise RefundRefused(
                BasketCodes.REFUND_AMOUNT_INVALID,
                f"A refund is more than 0 and at most {pricing.money(payment.refundable_amount, currency)} {currency}, "
                "in the currency's minor units.",
            )
        refunded_before = payment.refunded_amount
        # Decimal arithmetic here, not F() + amount: SQLite would add them as floats (17.990000000000002).
        reserved = Payment.objects.filter(
            pk=payment_id, status=PaymentStatus.CAPTURED, refunded_amount=refunded_before
        ).update(refunded_amount=refunded_before + amount, updated=timezone.now())
        if not reserved:  # cannot happen under the lock; kept so a change of locking cannot double-refund
            raise RefundRefused(BasketCodes.PAYMENT_NOT_REFUNDABLE, "The payment changed; try again.")
    try:
        result = payment_gateway(payment.gateway).refund(payment, amount)
    except PaymentGatewayError:
        with transaction.atomic():
            reserved_payment = lock_payment(payment_id)
            Payment.objects.filter(pk=payment_id).update(
                refunded_amount=reserved_payment.refunded_amount - amount, updated=timezone.now()
            )
        raise
    with transaction.atomic():
        payment = lock_payment(payment_id)
        data = {"amount": str(amount), "currency": currency, "refund": result.reference}
        if payment.refunded_amount >= payment.amount and payment.status == PaymentStatus.CAPTURED:
            payment_transition(payment=payment, to=PaymentStatus.REFUNDED, actor=actor, data=data)
        else:
            payment_record_event(payment, "payment_refund", actor, data)
    return payment
