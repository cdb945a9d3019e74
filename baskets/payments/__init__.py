"""Payments (API.md §10): a gateway in two phases, never called inside a database transaction.

Gateways (baskets.payments.gateways): settings.PAYMENT_GATEWAY is `manual` (the embedded default:
no money moves, the payment is recorded as `manual` and says "no payment taken"), `stripe`
(baskets.payments.stripe_gateway, the official SDK) or a dotted path (tests).

How order completion takes the money (baskets.payments.services):

    authorisation = payment_authorise(            # 1. no transaction open; may raise 402/400/409/502
        basket=basket, amount=due_today, currency=currency, email=email,
        payment=request_payment,                  # {"paymentMethodId": ...} | {"paymentIntentId": ...}
        save_payment_method=offer_recurs,
    )
    committed = False
    try:
        with transaction.atomic():                # 2. lock, re-validate, write the order
            basket = lock_basket(...)
            if basket.version != authorisation.basket_version or due_today != authorisation.amount:
                raise ...                         #    the basket changed since it was authorised
            ...
            payment = payment_record(authorisation=authorisation, basket=basket, customer=customer)
            if authorisation.needs_capture:       # 3. capture after the commit (robust: the order
                transaction.on_commit(            #    stands whatever the capture does)
                    partial(payment_capture, payment_id=payment.id), robust=True
                )
        committed = True
    finally:
        if not committed:
            payment_void(authorisation=authorisation)   # the transaction refused: give the hold back

- `payment_authorise` claims the authorisation for this request (PaymentHold, its own short
  transaction): a second request holding the same PaymentIntent (a replayed Stripe idempotency
  key, a PaymentIntent sent twice) gets 409 payment_in_progress and never voids it.
- `payment_void` voids only this request's own unrecorded hold; a failed void is retried by a task.
- `payment_capture` never raises for a gateway failure: the payment becomes `capture_failed`, the
  order stands, and `payment_capture_retry` (Django tasks, run by `manage.py db_worker`) captures it
  later with backoff. `manage.py capture_payments` (cron) sweeps what a lost task or a dead
  process left: captures due or never started, orphaned holds.
- `payment_refund` (the admin) refunds in full or in part, never more than captured less refunded.
- Webhooks (`POST /api/webhooks/stripe`, baskets.payments.webhooks) update payments; each event
  is processed once and nothing moves backwards.
"""

from baskets.errors import (
    PaymentDeclined,
    PaymentGatewayError,
    PaymentInProgress,
    PaymentIntentMismatch,
    PaymentRequiresAction,
    RefundRefused,
)
from baskets.models import NO_PAYMENT_TAKEN
from baskets.payments.gateways import (
    Authorisation,
    CaptureResult,
    ManualPaymentGateway,
    PaymentGateway,
    PaymentRequest,
    RefundResult,
    payment_gateway,
)
from baskets.payments.services import (
    payment_authorise,
    payment_capture,
    payment_holds_release_orphans,
    payment_record,
    payment_refund,
    payment_transition,
    payment_void,
    payments_capture_due,
)
from baskets.payments.wire import payment_to_wire

__all__ = [
    "NO_PAYMENT_TAKEN",
    "Authorisation",
    "CaptureResult",
    "ManualPaymentGateway",
    "PaymentDeclined",
    "PaymentGateway",
    "PaymentGatewayError",
    "PaymentInProgress",
    "PaymentIntentMismatch",
    "PaymentRequest",
    "PaymentRequiresAction",
    "RefundRefused",
    "RefundResult",
    "payment_authorise",
    "payment_capture",
    "payment_gateway",
    "payment_holds_release_orphans",
    "payment_record",
    "payment_refund",
    "payment_to_wire",
    "payment_transition",
    "payment_void",
    "payments_capture_due",
]
