"""Payment gateways: how a completed order is paid. settings.PAYMENT_GATEWAY names the class.

The default, ManualPaymentGateway, takes no money: it records the payment for collection
outside this service (invoice, phone, a till). A real gateway implements the same Protocol;
it must bound every outbound call with a timeout and raise PaymentGatewayError when the
provider fails or answers nonsense, so the order is refused (502) and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from baskets.models import Payment


@dataclass(frozen=True)
class PaymentRequest:
    order_id: str  # stable per basket: a gateway may use it as its idempotency key
    amount: Decimal
    currency: str
    customer_email: str
    details: dict[str, str] = field(default_factory=dict)  # what the caller sent as `payment`


@dataclass(frozen=True)
class PaymentResult:
    gateway: str
    status: str  # a Payment.Status value
    reference: str = ""


class PaymentGatewayError(Exception):
    """The gateway failed, timed out or answered something we cannot trust."""


class PaymentGateway(Protocol):
    name: str

    def pay(self, request: PaymentRequest) -> PaymentResult:
        """Take or record the payment; raise PaymentGatewayError on any failure."""
        ...


class ManualPaymentGateway:
    """Records the payment as `manual`; takes no money."""

    name = "manual"

    def pay(self, request: PaymentRequest) -> PaymentResult:
        return PaymentResult(
            gateway=self.name, status=Payment.Status.RECORDED, reference=request.details.get("reference", "")
        )


def payment_gateway() -> PaymentGateway:
    return import_string(settings.PAYMENT_GATEWAY)()
