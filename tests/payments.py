"""A test gateway that proves it is never called inside a database transaction.

`AssertingGateway` (settings.PAYMENT_GATEWAY = "tests.payments.AssertingGateway") asserts on every
call that no transaction is open on the default connection (`connection.in_atomic_block` is
False), so the tests using it run with `transactional_db` / `django_db(transaction=True)`; every
other test wraps itself in a transaction. It takes no money; `GatewayScript` (reset by the
`asserting_gateway` fixture) makes it sleep, decline or fail on demand, and records every call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection

from baskets.errors import PaymentDeclined, PaymentGatewayError
from baskets.models import Payment, PaymentStatus
from baskets.payments.gateways import Authorisation, CaptureResult, PaymentRequest, RefundResult


@dataclass
class GatewayScript:
    """What the next calls do. `fail` names the methods that raise PaymentGatewayError
    (`fail_times` times each, then they work); `decline` makes authorise decline."""

    sleep: float = 0.0
    decline: str = ""  # a decline code
    fail: set[str] = field(default_factory=set)
    fail_times: int = 1_000_000
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, reference or basket id)
    failures: dict[str, int] = field(default_factory=dict)
    authorisations: int = 0

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


SCRIPT = GatewayScript()


class TransactionOpen(AssertionError):
    pass


class AssertingGateway:
    name = "asserting"

    def _enter(self, method: str, subject: str) -> None:
        if connection.in_atomic_block:
            raise TransactionOpen(f"{method} called inside a database transaction")
        SCRIPT.calls.append((method, subject))
        if SCRIPT.sleep:
            time.sleep(SCRIPT.sleep)
        if method in SCRIPT.fail and SCRIPT.failures.get(method, 0) < SCRIPT.fail_times:
            SCRIPT.failures[method] = SCRIPT.failures.get(method, 0) + 1
            raise PaymentGatewayError(reason="scripted")

    def authorise(self, request: PaymentRequest) -> Authorisation:
        self._enter("authorise", request.basket_id)
        if SCRIPT.decline:
            raise PaymentDeclined(SCRIPT.decline)
        SCRIPT.authorisations += 1
        return Authorisation(
            gateway=self.name,
            status=PaymentStatus.AUTHORISED if request.amount > 0 else PaymentStatus.CAPTURED,
            amount=request.amount,
            currency=request.currency,
            reference=f"auth_{SCRIPT.authorisations}" if request.amount > 0 else "",
            method="card",
            payment_customer_id="cus_asserting",
            payment_method_id=request.details.get("paymentMethodId", ""),
            basket_id=request.basket_id,
            basket_version=request.basket_version,
        )

    def capture(self, authorisation: Authorisation) -> CaptureResult:
        self._enter("capture", authorisation.reference)
        return CaptureResult(status=PaymentStatus.CAPTURED)

    def void(self, authorisation: Authorisation) -> None:
        self._enter("void", authorisation.reference)

    def refund(self, payment: Payment, amount: Decimal) -> RefundResult:
        self._enter("refund", payment.gateway_reference)
        return RefundResult(reference=f"re_{len(SCRIPT.calls)}", amount=amount)


# --- The completion sequence baskets.payments documents, for the payment tests ------------------


def place_order(basket, payment=None, *, amount: Decimal | None = None, refuse: Exception | None = None):
    """Complete `basket` the way the completion wiring does (baskets/payments/__init__.py):
    authorise with no transaction open; in one transaction lock the basket, re-check it, record
    the payment and complete it; capture after the commit; void when the transaction refuses.
    `refuse`: raised inside the transaction (a refusal found under the lock). Returns the Payment.
    """
    from functools import partial

    from django.db import transaction

    from baskets.errors import BasketCompleted
    from baskets.models import Basket, BasketStatus
    from baskets.payments.services import payment_authorise, payment_capture, payment_record, payment_void
    from baskets.services import basket_transition
    from checkout_project.api.actor import Actor
    from subscriptions import services as subscription_services

    amount = Decimal("17.99") if amount is None else amount
    authorisation = payment_authorise(
        basket=basket, amount=amount, currency=basket.currency, email=basket.email, payment=payment
    )
    committed = False
    try:
        with transaction.atomic():
            locked = Basket.objects.select_for_update().get(pk=basket.pk)
            if locked.status != BasketStatus.ACTIVE:
                raise BasketCompleted()
            if locked.version != authorisation.basket_version:
                raise BasketCompleted()
            if refuse is not None:
                raise refuse
            customer = subscription_services.customer_get_or_create(email=locked.email)
            recorded = payment_record(authorisation=authorisation, basket=locked, customer=customer)
            basket_transition(
                basket=locked, to=BasketStatus.COMPLETED, actor=Actor(), data={"payment": str(recorded.id)}
            )
            if authorisation.needs_capture:
                transaction.on_commit(partial(payment_capture, payment_id=recorded.id), robust=True)
        committed = True
    finally:
        if not committed:
            payment_void(authorisation=authorisation)
    return Payment.objects.get(pk=recorded.pk)
