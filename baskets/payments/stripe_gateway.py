"""The Stripe gateway (settings.PAYMENT_GATEWAY = "stripe"), with the official SDK only.

One StripeClient per configuration (STRIPE_SECRET_KEY; STRIPE_API_BASE points it at a local fake
server such as localstripe), with a timeout on every request (STRIPE_TIMEOUT_SECONDS) and the SDK's
own network retries, which resend a POST with the same idempotency key.

- authorise, `paymentMethodId`: a Stripe Customer is reused (the one saved on our customer) or
  created (idempotency key from the e-mail); then one PaymentIntent is created and confirmed
  (`capture_method=manual`, the amount in minor units, the basket in its metadata, the Stripe
  idempotency key from the basket id and version) with
  `payment_method_options.card.setup_future_usage=off_session`, which saves the card on the
  customer for renewals (the per-method form of `setup_future_usage`, which localstripe accepts;
  it refuses the top-level parameter). Nothing due today: a SetupIntent saves the card instead.
- authorise, `paymentIntentId` (confirmed by the client): retrieved and checked against the basket:
  metadata basket id, currency, amount, status `requires_capture` or `succeeded`.
- capture, void and refund are idempotent at Stripe (keys from the PaymentIntent and our payment),
  and read the PaymentIntent back when Stripe refuses a second capture or cancel, so a retry after
  a lost answer settles on what happened.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NoReturn

import stripe
from django.conf import settings

from baskets.errors import (
    BasketCodes,
    PaymentDeclined,
    PaymentGatewayError,
    PaymentIntentMismatch,
    PaymentRequiresAction,
)
from baskets.models import PaymentStatus
from baskets.payments.gateways import (
    Authorisation,
    CaptureResult,
    PaymentRequest,
    RefundResult,
    idempotency_digest,
)
from checkout_project.api.errors import ApplicationError
from subscriptions.pricing import minor_units, quantize

if TYPE_CHECKING:
    from baskets.models import Payment

logger = logging.getLogger(__name__)

# A PaymentIntent in one of these holds or took the money for us.
USABLE_INTENT_STATUSES = {"requires_capture": PaymentStatus.AUTHORISED, "succeeded": PaymentStatus.CAPTURED}


def to_minor_units(amount: Decimal, currency: str) -> int:
    """`amount` in the currency's minor units (pence, cents; yen as they are), as Stripe wants it."""
    return int(quantize(amount, currency).scaleb(minor_units(currency)))


def from_minor_units(amount: int, currency: str) -> Decimal:
    return quantize(Decimal(amount).scaleb(-minor_units(currency)), currency)


@lru_cache(maxsize=8)
def _client(api_key: str, api_base: str, timeout: float, retries: int) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        http_client=stripe.RequestsClient(timeout=timeout),
        max_network_retries=retries,
    )


def stripe_client() -> stripe.StripeClient:
    """The StripeClient of the current settings (one per configuration, shared by threads)."""
    if not settings.STRIPE_SECRET_KEY:
        raise PaymentGatewayError("Stripe is not configured (STRIPE_SECRET_KEY).", reason="not_configured")
    return _client(
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_API_BASE,
        settings.STRIPE_TIMEOUT_SECONDS,
        settings.STRIPE_MAX_NETWORK_RETRIES,
    )


def gateway_error(exc: stripe.StripeError, doing: str) -> NoReturn:
    """Raise PaymentGatewayError for an SDK error that is not the customer's doing."""
    reason = {
        stripe.APIConnectionError: "unreachable",
        stripe.RateLimitError: "rate_limited",
        stripe.AuthenticationError: "authentication",
        stripe.PermissionError: "permission",
        stripe.IdempotencyError: "idempotency",
        stripe.InvalidRequestError: "invalid_request",
    }.get(type(exc), "api_error")
    level = logging.ERROR if reason in {"authentication", "permission", "invalid_request"} else logging.WARNING
    logger.log(level, "stripe %s failed: %s (%s, request %s)", doing, reason, exc.code, exc.request_id)
    raise PaymentGatewayError(reason=reason) from exc


def decline_code(exc: stripe.CardError) -> str:
    error = exc.error
    return (getattr(error, "decline_code", None) if error is not None else None) or exc.code or "card_declined"


def _id(value: Any) -> str:
    """An expandable field's id, whether Stripe sent the id or the object."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value.id)


class StripePaymentGateway:
    name = "stripe"

    def __init__(self, client: stripe.StripeClient | None = None) -> None:
        self.client = client or stripe_client()

    # --- Authorise ---------------------------------------------------------------------------------

    def authorise(self, request: PaymentRequest) -> Authorisation:
        if intent_id := request.details.get("paymentIntentId", ""):
            return self._check_confirmed_intent(request, intent_id)
        method_id = request.details.get("paymentMethodId", "")
        if request.amount == 0:
            return self._save_method_only(request, method_id)
        if not method_id:
            raise ApplicationError(
                "payment.paymentMethodId or payment.paymentIntentId is required to pay for this order.",
                code=BasketCodes.PAYMENT_METHOD_REQUIRED,
                details={"payment": "paymentMethodId or paymentIntentId is required."},
            )
        customer_id = self._customer(request)
        params: dict[str, Any] = {
            "amount": to_minor_units(request.amount, request.currency),
            "currency": request.currency.lower(),
            "customer": customer_id,
            "payment_method": method_id,
            "payment_method_types": ["card"],
            "capture_method": "manual",
            "confirm": True,
            "metadata": self._metadata(request),
        }
        if request.save_payment_method:
            params["payment_method_options"] = {"card": {"setup_future_usage": "off_session"}}
        try:
            intent = self.client.v1.payment_intents.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": f"authorise:{request.idempotency_key}"},
            )
        except stripe.CardError as exc:
            raise PaymentDeclined(decline_code(exc)) from exc
        except stripe.InvalidRequestError as exc:
            self._refuse_bad_method(exc)
            gateway_error(exc, "authorise")
        except stripe.StripeError as exc:
            gateway_error(exc, "authorise")
        return self._authorisation(request, intent, customer_id=customer_id, saved=request.save_payment_method)

    def _metadata(self, request: PaymentRequest) -> dict[str, str]:
        return {
            "basket_id": request.basket_id,
            "basket_version": str(request.basket_version),
            "order_id": request.order_id,
        }

    def _refuse_bad_method(self, exc: stripe.InvalidRequestError) -> None:
        """A payment method id Stripe does not know is the caller's mistake: 400, not 502."""
        if exc.http_status == 404 or exc.code == "resource_missing" or exc.param == "payment_method":
            raise ApplicationError(
                "payment.paymentMethodId names no usable payment method.",
                code=BasketCodes.PAYMENT_METHOD_REQUIRED,
                details={"payment.paymentMethodId": "Unknown or unusable payment method."},
            ) from exc

    def _customer(self, request: PaymentRequest) -> str:
        """The Stripe Customer of this e-mail: the one saved on our customer, else a new one (its
        idempotency key from the e-mail, so concurrent first orders make one at Stripe)."""
        if request.payment_customer_id:
            return request.payment_customer_id
        try:
            customer = self.client.v1.customers.create(
                params={"email": request.customer_email},
                options={"idempotency_key": f"customer:{idempotency_digest(request.customer_email)}"},
            )
        except stripe.StripeError as exc:
            gateway_error(exc, "customer create")
        return customer.id

    def _authorisation(
        self, request: PaymentRequest, intent: stripe.PaymentIntent, *, customer_id: str, saved: bool
    ) -> Authorisation:
        status = intent.status
        if status == "requires_action":
            raise PaymentRequiresAction(client_secret=intent.client_secret or "", intent_id=intent.id)
        if status == "requires_payment_method":
            error = intent.last_payment_error
            raise PaymentDeclined(getattr(error, "decline_code", None) or getattr(error, "code", None) or "declined")
        if status not in USABLE_INTENT_STATUSES:
            logger.warning("stripe authorise: PaymentIntent %s is %s", intent.id, status)
            raise PaymentGatewayError(reason=f"intent_{status}")
        method_id = _id(intent.payment_method)
        return Authorisation(
            gateway=self.name,
            status=USABLE_INTENT_STATUSES[status],
            amount=request.amount,
            currency=request.currency,
            reference=intent.id,
            method="card",
            payment_customer_id=customer_id if saved else "",
            payment_method_id=method_id if saved and customer_id else "",
            basket_id=request.basket_id,
            basket_version=request.basket_version,
        )

    def _check_confirmed_intent(self, request: PaymentRequest, intent_id: str) -> Authorisation:
        """A PaymentIntent the client confirmed: it must pay for this basket, in full, now."""
        try:
            intent = self.client.v1.payment_intents.retrieve(intent_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404 or exc.code == "resource_missing":
                raise PaymentIntentMismatch(
                    BasketCodes.PAYMENT_INTENT_NOT_FOUND, "payment.paymentIntentId names no PaymentIntent."
                ) from exc
            gateway_error(exc, "retrieve")
        except stripe.StripeError as exc:
            gateway_error(exc, "retrieve")
        metadata = intent.metadata.to_dict()
        if metadata.get("basket_id") != request.basket_id:
            raise PaymentIntentMismatch(
                BasketCodes.PAYMENT_INTENT_BASKET_MISMATCH, "This PaymentIntent was not made for this basket."
            )
        if intent.currency != request.currency.lower():
            raise PaymentIntentMismatch(
                BasketCodes.PAYMENT_INTENT_CURRENCY_MISMATCH,
                f"This PaymentIntent is in {intent.currency.upper()}; the order is in {request.currency}.",
                details={"expected": request.currency, "actual": intent.currency.upper()},
            )
        expected = to_minor_units(request.amount, request.currency)
        if intent.amount != expected:
            raise PaymentIntentMismatch(
                BasketCodes.PAYMENT_INTENT_AMOUNT_MISMATCH,
                "This PaymentIntent is not for the amount due today.",
                details={
                    "expected": str(from_minor_units(expected, request.currency)),
                    "actual": str(from_minor_units(intent.amount, request.currency)),
                },
            )
        if intent.status not in USABLE_INTENT_STATUSES:
            raise PaymentIntentMismatch(
                BasketCodes.PAYMENT_INTENT_STATUS_INVALID,
                f"This PaymentIntent is {intent.status}: it must be confirmed (requires_capture or succeeded).",
                details={"status": intent.status},
            )
        customer_id = _id(intent.customer)
        return self._authorisation(request, intent, customer_id=customer_id, saved=bool(customer_id))

    def _save_method_only(self, request: PaymentRequest, method_id: str) -> Authorisation:
        """Nothing due today: no PaymentIntent; a card sent along is saved for the renewals (a
        SetupIntent for off-session use), declined or needing authentication as a payment would."""
        nothing = Authorisation(
            gateway=self.name,
            status=PaymentStatus.CAPTURED,
            amount=request.amount,
            currency=request.currency,
            basket_id=request.basket_id,
            basket_version=request.basket_version,
        )
        if not (method_id and request.save_payment_method):
            return nothing
        customer_id = self._customer(request)
        key = f"setup:{request.idempotency_key}"
        try:
            setup = self.client.v1.setup_intents.create(
                params={"customer": customer_id, "usage": "off_session", "metadata": self._metadata(request)},
                options={"idempotency_key": key},
            )
            setup = self.client.v1.setup_intents.confirm(
                setup.id, params={"payment_method": method_id}, options={"idempotency_key": f"{key}:confirm"}
            )
        except stripe.CardError as exc:
            raise PaymentDeclined(decline_code(exc)) from exc
        except stripe.InvalidRequestError as exc:
            self._refuse_bad_method(exc)
            gateway_error(exc, "setup")
        except stripe.StripeError as exc:
            gateway_error(exc, "setup")
        if setup.status == "requires_action":
            raise PaymentRequiresAction(client_secret=setup.client_secret or "", intent_id=setup.id)
        if setup.status != "succeeded":
            raise PaymentGatewayError(reason=f"setup_{setup.status}")
        return Authorisation(
            gateway=self.name,
            status=PaymentStatus.CAPTURED,
            amount=request.amount,
            currency=request.currency,
            method="card",
            payment_customer_id=customer_id,
            payment_method_id=_id(setup.payment_method) or method_id,
            basket_id=request.basket_id,
            basket_version=request.basket_version,
        )

    # --- Capture, void, refund ------------------------------------------------------------------

    def _retrieve(self, reference: str, doing: str) -> stripe.PaymentIntent:
        try:
            return self.client.v1.payment_intents.retrieve(reference)
        except stripe.StripeError as exc:
            gateway_error(exc, doing)

    def capture(self, authorisation: Authorisation) -> CaptureResult:
        reference = authorisation.reference
        try:
            intent = self.client.v1.payment_intents.capture(
                reference, options={"idempotency_key": f"capture:{reference}"}
            )
        except stripe.InvalidRequestError as exc:
            # Captured already (an earlier attempt whose answer was lost), or no longer capturable.
            intent = self._retrieve(reference, "capture")
            if intent.status not in {"succeeded", "canceled"}:
                gateway_error(exc, "capture")
        except stripe.StripeError as exc:
            gateway_error(exc, "capture")
        if intent.status == "succeeded":
            return CaptureResult(status=PaymentStatus.CAPTURED)
        if intent.status == "canceled":
            return CaptureResult(status=PaymentStatus.VOIDED)
        logger.warning("stripe capture: PaymentIntent %s is %s", reference, intent.status)
        raise PaymentGatewayError(reason=f"intent_{intent.status}")

    def void(self, authorisation: Authorisation) -> None:
        reference = authorisation.reference
        if not reference:
            return
        if authorisation.status == PaymentStatus.CAPTURED:
            self._refund_in_full(reference)
            return
        try:
            self.client.v1.payment_intents.cancel(reference, options={"idempotency_key": f"void:{reference}"})
            return
        except stripe.InvalidRequestError as exc:
            intent = self._retrieve(reference, "void")
            if intent.status == "canceled":
                return
            if intent.status != "succeeded":
                gateway_error(exc, "void")
        except stripe.StripeError as exc:
            gateway_error(exc, "void")
        # Captured meanwhile (by whom, since nobody recorded it?): the money goes back.
        self._refund_in_full(reference)

    def _refund_in_full(self, reference: str) -> None:
        try:
            self.client.v1.refunds.create(
                params={"payment_intent": reference, "metadata": {"reason": "order_refused"}},
                options={"idempotency_key": f"void-refund:{reference}"},
            )
        except stripe.StripeError as exc:
            gateway_error(exc, "void refund")

    def refund(self, payment: Payment, amount: Decimal) -> RefundResult:
        # One key per (payment, amount already refunded, amount): sending the same refund again
        # after a lost answer is a replay at Stripe, a second refund of the same amount is not.
        key = f"refund:{payment.id}:{payment.refunded_amount}:{amount}"
        try:
            refund = self.client.v1.refunds.create(
                params={
                    "payment_intent": payment.gateway_reference,
                    "amount": to_minor_units(amount, payment.currency),
                    "metadata": {"payment_id": str(payment.id)},
                },
                options={"idempotency_key": key},
            )
        except stripe.StripeError as exc:
            gateway_error(exc, "refund")
        return RefundResult(reference=refund.id, amount=amount)
