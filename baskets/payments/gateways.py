"""The payment gateway interface (API.md §10): two phases, authorise then capture (or void).

A gateway is a class named by settings.PAYMENT_GATEWAY (`manual`, `stripe`, or a dotted path, which
the tests use); `payment_gateway()` makes one. Every method is called with no database transaction
open (baskets.payments.services makes sure of it) and bounds its outbound calls with a timeout.
Failures are the errors of baskets.errors: PaymentDeclined (402), PaymentRequiresAction (402),
PaymentIntentMismatch (400), PaymentGatewayError (502).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from baskets.errors import PaymentGatewayError
from baskets.models import PaymentStatus

if TYPE_CHECKING:
    from baskets.models import Payment


def idempotency_digest(value: str) -> str:
    """A short stable digest of `value` for idempotency keys (ids may be long; e-mails are personal)."""
    return hashlib.sha256(value.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class PaymentRequest:
    """What to authorise: the amount due today for one basket at one version.

    `details` is what the caller sent as `payment` (API.md §10): `paymentMethodId` (collected with
    Stripe.js) or `paymentIntentId` (confirmed by the client), or, for the manual gateway, a
    `method` and `reference` of the caller's own.
    """

    order_id: str  # order-<uuid>: stable per basket
    amount: Decimal
    currency: str
    customer_email: str
    details: Mapping[str, str] = field(default_factory=dict)
    basket_id: str = ""  # basket-<uuid>: the PaymentIntent's metadata, checked on `paymentIntentId`
    basket_version: int = 0  # the version the amount was computed at (part of the idempotency key)
    # The gateway's customer already saved for this e-mail (subscriptions.Customer); "" = none yet.
    payment_customer_id: str = ""
    # Keep the payment method for later charges without the customer (the offer recurs).
    save_payment_method: bool = True

    @property
    def idempotency_key(self) -> str:
        """Derived from the basket id and version (and the payment method, so that another card
        after a decline is a new request rather than a replay of the declined one): the same
        order sent again for the same basket version is the same request to the gateway."""
        key = f"{self.basket_id or self.order_id}:v{self.basket_version}"
        if method := self.details.get("paymentMethodId", ""):
            key += f":{idempotency_digest(method)}"
        return key


@dataclass(frozen=True)
class Authorisation:
    """What the gateway agreed to: money held (`authorised`), already taken (`captured`: a
    client-confirmed PaymentIntent with automatic capture, or nothing due), or none at all
    (`manual`). Holds no secret."""

    gateway: str
    status: str  # a PaymentStatus: authorised, captured or manual
    amount: Decimal
    currency: str
    reference: str = ""  # the gateway's payment id (a PaymentIntent id); the caller's for manual
    method: str = ""  # "card", or the caller's word for manual ("invoice")
    payment_customer_id: str = ""  # the gateway's customer the payment method is saved on
    payment_method_id: str = ""  # the payment method saved for later charges; "" = none saved
    basket_id: str = ""
    basket_version: int = 0

    @property
    def holds_money(self) -> bool:
        """Whether the gateway holds or took money under `reference` (what void() gives back)."""
        return bool(self.reference) and self.status in {PaymentStatus.AUTHORISED, PaymentStatus.CAPTURED}

    @property
    def needs_capture(self) -> bool:
        return self.status == PaymentStatus.AUTHORISED

    @property
    def no_payment_taken(self) -> bool:
        return self.status == PaymentStatus.MANUAL

    @classmethod
    def of_payment(cls, payment: Payment) -> Authorisation:
        """The authorisation a recorded payment holds (what capture and refunds act on)."""
        return cls(
            gateway=payment.gateway,
            status=payment.status,
            amount=payment.amount,
            currency=payment.currency,
            reference=payment.gateway_reference,
            method=payment.method,
        )


@dataclass(frozen=True)
class CaptureResult:
    status: str  # PaymentStatus.CAPTURED, or VOIDED when the authorisation is gone (cancelled, expired)


@dataclass(frozen=True)
class RefundResult:
    reference: str  # the gateway's refund id
    amount: Decimal


class PaymentGateway(Protocol):
    name: str

    def authorise(self, request: PaymentRequest) -> Authorisation:
        """Hold `request.amount` (or check the client-confirmed PaymentIntent). Raises
        PaymentDeclined, PaymentRequiresAction, PaymentIntentMismatch, ApplicationError
        payment_method_required, PaymentGatewayError."""
        ...

    def capture(self, authorisation: Authorisation) -> CaptureResult:
        """Take the money held; idempotent (capturing a captured payment succeeds). Raises
        PaymentGatewayError when it could not tell."""
        ...

    def void(self, authorisation: Authorisation) -> None:
        """Give the hold back (cancel), or the money when it was taken already (refund); idempotent.
        Raises PaymentGatewayError."""
        ...

    def refund(self, payment: Payment, amount: Decimal) -> RefundResult:
        """Give `amount` of a captured payment back. Raises PaymentGatewayError."""
        ...


# --- The embedded default --------------------------------------------------------------------------


class ManualPaymentGateway:
    """Takes no money: records the payment as `manual` (to be collected outside this service:
    an invoice, a phone call, a till). Pages and order responses say "no payment taken"."""

    name = "manual"
    calls_out = False  # records only: basket_complete asks it inside the completion transaction

    def authorise(self, request: PaymentRequest) -> Authorisation:
        return Authorisation(
            gateway=self.name,
            status=PaymentStatus.MANUAL,
            amount=request.amount,
            currency=request.currency,
            reference=request.details.get("reference", ""),
            method=request.details.get("method", ""),
            basket_id=request.basket_id,
            basket_version=request.basket_version,
        )

    def capture(self, authorisation: Authorisation) -> CaptureResult:
        raise PaymentGatewayError("The manual gateway takes no money: there is nothing to capture.", reason="manual")

    def void(self, authorisation: Authorisation) -> None:
        return None  # nothing was held

    def refund(self, payment: Payment, amount: Decimal) -> RefundResult:
        raise PaymentGatewayError("The manual gateway took no money: there is nothing to refund.", reason="manual")


def payment_gateway(name: str | None = None) -> PaymentGateway:
    """A gateway: settings.PAYMENT_GATEWAY's, or the one called `name` (`manual`, `stripe`, or
    the configured gateway's own name: a payment is captured and refunded by the gateway that
    authorised it, whichever is configured now)."""
    named = settings.PAYMENT_GATEWAYS  # {"manual": dotted path, "stripe": dotted path}
    configured = named.get(settings.PAYMENT_GATEWAY, settings.PAYMENT_GATEWAY)
    if name is None:
        return import_string(configured)()
    if name in named:
        return import_string(named[name])()
    gateway = import_string(configured)()
    if getattr(gateway, "name", None) != name:
        raise PaymentGatewayError(f"No payment gateway called {name!r} is configured.", reason="unknown_gateway")
    return gateway
