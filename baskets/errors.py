"""Every error code baskets answers with (one registry, stable snake_case wire values) and the
exceptions that carry them.

The API plumbing's own codes (validation_error, not_found, precondition_failed, no_customer_account…)
are checkout_project.api.errors.ApiCodes; partners' are partners.errors.PartnerCodes. No value is
in two registries (tests/test_error_codes.py), and no code is written as a literal elsewhere.
"""

from __future__ import annotations

import enum
from datetime import datetime

from checkout_project.api.errors import (
    ApplicationError,
    Conflict,
    Gone,
    Locked,
    NotFound,
    PreconditionFailed,
    UpstreamUnavailable,
)
from checkout_project.api.wire import iso_utc

LANDING_STATE_NOT_FOUND = "Basket not found in landing state"
# The seeds' wording where the basket is named by id, and on the partner endpoints (seed 001).
BASKET_NOT_FOUND = "Basket not found."
SUBSCRIPTION_NOT_FOUND = "Subscription not found"


@enum.unique
class BasketCodes(enum.StrEnum):
    """The codes of baskets' errors and of the findings and per-item refusals in their details."""

    # The basket itself.
    BASKET_NOT_FOUND = "basket_not_found"
    BASKET_COMPLETED = "basket_completed"
    BASKET_EXPIRED = "basket_expired"
    ORDER_TYPE_MISMATCH = "order_type_mismatch"
    INVALID_TRANSITION = "invalid_transition"
    # Order items: what an initiate or an update refuses, per item or action.
    OFFER_NOT_FOUND = "offer_not_found"
    OFFER_VERSION_STALE = "offer_version_stale"
    OFFER_TYPE_MISMATCH = "offer_type_mismatch"
    OFFER_NOT_AVAILABLE_IN_COUNTRY = "offer_not_available_in_country"
    QUANTITY_OUT_OF_RANGE = "quantity_out_of_range"
    CURRENCY_MISMATCH = "currency_mismatch"
    ADD_ON_PARENT_REQUIRED = "add_on_parent_required"
    ADD_ON_NOT_COMPATIBLE = "add_on_not_compatible"
    ORDER_ITEM_NOT_FOUND = "order_item_not_found"
    # Limits (API.md §4): an offer's maxQuantity over the whole basket, BASKET_MAX_ITEMS.
    QUANTITY_LIMIT_EXCEEDED = "quantity_limit_exceeded"
    BASKET_TOO_LARGE = "basket_too_large"
    # Assisted sales: the basket's owner.
    CUSTOMER_NOT_FOUND = "customer_not_found"
    INVALID_CUSTOMER = "invalid_customer"
    # Promo codes.
    PROMO_CODE_UNKNOWN = "promo_code_unknown"
    PROMO_CODE_INACTIVE = "promo_code_inactive"
    PROMO_CODE_NOT_STARTED = "promo_code_not_started"
    PROMO_CODE_EXPIRED = "promo_code_expired"
    PROMO_CODE_EXHAUSTED = "promo_code_exhausted"
    PROMO_CODE_NOT_APPLICABLE = "promo_code_not_applicable"
    # Completing an order: the validation's findings, then the order's own refusals.
    BASKET_INVALID = "basket_invalid"
    BASKET_EMPTY = "basket_empty"
    PRICE_CHANGED = "price_changed"
    PRODUCT_UNAVAILABLE = "product_unavailable"
    RENEWAL_NEEDS_ONE_OFFER = "renewal_needs_one_offer"
    CUSTOMER_EMAIL_REQUIRED = "customer_email_required"
    # Subscription checkout (update baskets) and renewals.
    CUSTOMER_TOKEN_REQUIRED = "customer_token_required"
    SUBSCRIPTION_NOT_FOUND = "subscription_not_found"
    SUBSCRIPTION_AMBIGUOUS = "subscription_ambiguous"
    SUBSCRIPTION_NOT_ACTIVE = "subscription_not_active"
    SUBSCRIPTION_LOCKED = "subscription_locked"
    SUBSCRIPTION_CHANGED = "subscription_changed"
    MULTIPLE_OFFER_ADDS = "multiple_offer_adds"
    OFFER_NOT_ALLOWED_FOR_SUBSCRIPTION = "offer_not_allowed_for_subscription"
    ADD_ON_ALREADY_ON_SUBSCRIPTION = "add_on_already_on_subscription"
    ADD_ON_ALREADY_IN_BASKET = "add_on_already_in_basket"
    ORDER_ITEM_AUTOMATIC = "order_item_automatic"
    RENEWAL_OFFER_UNAVAILABLE = "renewal_offer_unavailable"
    # Recovery and assisted links (baskets.links.LinkRefusal names why a token is refused).
    LINK_INCOMPLETE = "link_incomplete"
    LINK_INVALID = "link_invalid"
    LINK_EXPIRED = "link_expired"
    LINK_REVOKED = "link_revoked"
    LINK_WRONG_KIND = "link_wrong_kind"
    LINK_WRONG_BASKET = "link_wrong_basket"

    # Payments (API.md §10).
    PAYMENT_DECLINED = "payment_declined"
    PAYMENT_REQUIRES_ACTION = "payment_requires_action"
    PAYMENT_METHOD_REQUIRED = "payment_method_required"
    PAYMENT_INTENT_NOT_FOUND = "payment_intent_not_found"
    PAYMENT_INTENT_AMOUNT_MISMATCH = "payment_intent_amount_mismatch"
    PAYMENT_INTENT_CURRENCY_MISMATCH = "payment_intent_currency_mismatch"
    PAYMENT_INTENT_BASKET_MISMATCH = "payment_intent_basket_mismatch"
    PAYMENT_INTENT_STATUS_INVALID = "payment_intent_status_invalid"
    PAYMENT_IN_PROGRESS = "payment_in_progress"
    BASKET_CHANGED = "basket_changed"
    PAYMENT_NOT_REFUNDABLE = "payment_not_refundable"
    REFUND_AMOUNT_INVALID = "refund_amount_invalid"
    WEBHOOK_SIGNATURE_INVALID = "webhook_signature_invalid"
    WEBHOOK_PAYLOAD_INVALID = "webhook_payload_invalid"


# --- The basket -------------------------------------------------------------------------------


class BasketNotFound(NotFound):
    code = BasketCodes.BASKET_NOT_FOUND

    def __init__(self, message: str = LANDING_STATE_NOT_FOUND) -> None:
        super().__init__(message)


class BasketCompleted(Conflict):
    code = BasketCodes.BASKET_COMPLETED

    def __init__(self) -> None:
        super().__init__("This basket has already been completed and can no longer change.")


class BasketExpired(Gone):
    code = BasketCodes.BASKET_EXPIRED

    def __init__(self) -> None:
        super().__init__("This basket has expired.")


class NotAnAcquisitionBasket(Conflict):
    """The acquisition endpoints change `new` baskets only; a subscription change or renewal
    basket is changed through its own endpoint (or not at all)."""

    code = BasketCodes.ORDER_TYPE_MISMATCH

    def __init__(self, order_type: str) -> None:
        where = {
            "update_subscription": "change it with PUT /api/checkout/subscription",
            "renew": "its items are those of the renewal and cannot be changed",
        }.get(order_type, "it cannot be changed here")
        super().__init__(
            f"This is a {order_type} basket: {where}. PUT /api/checkout/update changes new (acquisition) baskets.",
            details={"order_type": order_type},
        )


class VersionMismatch(PreconditionFailed):
    def __init__(self, current: int) -> None:
        super().__init__(
            "The basket changed since you read it (If-Match does not match its version).",
            details={"currentVersion": current},
        )


class InvalidOrderItems(ApplicationError):
    """Several per-item problems; `code` is the first one's, `details[field][index]` has each."""

    def __init__(self, field: str, problems: dict[int, tuple[str, str]]) -> None:
        first_index = min(problems)
        code, message = problems[first_index]
        super().__init__(
            f"{field}[{first_index}]: {message}",
            code=code,
            details={field: {str(index): {"code": c, "message": m} for index, (c, m) in problems.items()}},
        )


class BasketLimitExceeded(ApplicationError):
    """A write would take the basket over a limit (400 quantity_limit_exceeded or
    basket_too_large; `details` name the offer and its limit, or the basket's limit)."""

    def __init__(self, code: str, message: str, details: dict) -> None:
        super().__init__(message, code=code, status=400, details=details)


# --- Promo codes and orders -------------------------------------------------------------------


class PromoCodeRefused(ApplicationError):
    """A promo code that cannot be applied or redeemed (400); `code` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code, status=400)


class BasketInvalid(ApplicationError):
    """Completion re-validated the basket and found problems; each is in `details.findings`."""

    code = BasketCodes.BASKET_INVALID

    def __init__(self, findings: list[dict]) -> None:
        first = findings[0]["message"] if findings else "The basket cannot be completed."
        super().__init__(f"The basket cannot be completed: {first}", details={"findings": findings})


# --- Subscriptions (subscription checkout, renewals) ------------------------------------------


class SubscriptionNotFound(NotFound):
    code = BasketCodes.SUBSCRIPTION_NOT_FOUND

    def __init__(self) -> None:
        super().__init__(SUBSCRIPTION_NOT_FOUND)


class SubscriptionAmbiguous(ApplicationError):
    """No subscription named and the caller has several active ones (400): `details.subscriptions`
    lists them (id and reference), so the client can ask again naming one."""

    code = BasketCodes.SUBSCRIPTION_AMBIGUOUS

    def __init__(self, subscriptions: list[dict[str, str]]) -> None:
        super().__init__(
            "You have several active subscriptions: name one with order.forSubscription (its id or reference).",
            details={"subscriptions": subscriptions},
        )


class SubscriptionNotActive(Conflict):
    """A cancelled subscription is neither changed nor renewed (409)."""

    code = BasketCodes.SUBSCRIPTION_NOT_ACTIVE

    def __init__(self) -> None:
        super().__init__("This subscription is not active.")


class SubscriptionLocked(Locked):
    code = BasketCodes.SUBSCRIPTION_LOCKED

    def __init__(self, locked_until: datetime) -> None:
        super().__init__(
            "Subscription has pending change, checkout locked",  # the seeds' wording
            details={"lockedUntil": iso_utc(locked_until)},
        )


class SubscriptionChanged(Conflict):
    """The subscription is no longer what the basket was built against (its offer, its term, its
    add-ons, or its scheduled change took effect): the basket's quotes no longer hold, so it
    completes nothing (a new basket starts from the subscription as it is now)."""

    code = BasketCodes.SUBSCRIPTION_CHANGED

    def __init__(
        self, message: str = "The subscription changed since this basket was started; start a new one."
    ) -> None:
        super().__init__(message)


# --- Payments (API.md §10) ------------------------------------------------------------------------


class PaymentGatewayError(UpstreamUnavailable):
    """The gateway failed, timed out or answered something we cannot trust (502
    upstream_unavailable, as any upstream's failure). Nothing is known to have been taken; the
    caller refuses the order, or retries later (captures)."""

    def __init__(self, message: str = "The payment gateway failed; no order was placed.", *, reason: str = "") -> None:
        super().__init__(message)
        # A short machine word for the records (Payment.last_error): `timeout`, `api_error`...
        self.reason = reason or "gateway_error"


class PaymentDeclined(ApplicationError):
    """The customer's card was declined (402); `details.declineCode` is the gateway's code."""

    status_code = 402
    code = BasketCodes.PAYMENT_DECLINED

    def __init__(self, decline_code: str, message: str = "") -> None:
        super().__init__(
            message or "The card was declined; no order was placed. Try another card.",
            details={"declineCode": decline_code},
        )
        self.decline_code = decline_code


class PaymentRequiresAction(ApplicationError):
    """The customer must authenticate (3-D Secure) before the payment can go on (402).

    `details.clientSecret` is the PaymentIntent's (or SetupIntent's) client secret, for Stripe.js
    to finish the authentication in the customer's browser; the client then sends the order again
    with `payment.paymentIntentId`. Given to this customer only, never stored.
    """

    status_code = 402
    code = BasketCodes.PAYMENT_REQUIRES_ACTION

    def __init__(self, *, client_secret: str, intent_id: str) -> None:
        key = "setupIntentId" if intent_id.startswith("seti_") else "paymentIntentId"
        super().__init__(
            "The card needs the customer's authentication (3-D Secure) before the order can be placed.",
            details={"clientSecret": client_secret, key: intent_id},
        )


class PaymentIntentMismatch(ApplicationError):
    """A client-confirmed PaymentIntent that does not pay for this basket (400; `code` says why)."""

    def __init__(self, code: str, message: str, details: dict | None = None) -> None:
        super().__init__(message, code=code, status=400, details=details)


class PaymentInProgress(Conflict):
    """Another request for this basket holds the same authorisation (409): it decides."""

    code = BasketCodes.PAYMENT_IN_PROGRESS

    def __init__(self) -> None:
        super().__init__(
            "Another request is placing this order with the same payment; it decides. Read the basket for its outcome."
        )


class BasketChanged(Conflict):
    """The basket (its version, or what it costs today) changed between the payment's
    authorisation and the order's lock (409): nothing is charged other than what was authorised,
    so the authorisation is voided and nothing is written. Send the order again."""

    code = BasketCodes.BASKET_CHANGED

    def __init__(self) -> None:
        super().__init__(
            "The basket changed while its payment was being authorised; no order was placed and the "
            "authorisation was released. Read the basket and send the order again."
        )


class RefundRefused(ApplicationError):
    """A refund that cannot be made (400; `code` says why)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code, status=400)
