"""Baskets, their order items and the audit trail of every change."""

import secrets
import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper

BASKET_ID_PREFIX = "basket-"


def new_link_nonce() -> str:
    return secrets.token_urlsafe(12)


class BasketStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    EXPIRED = "expired", "Expired"


# The only status changes there are; baskets.services.basket_transition is the only writer.
BASKET_TRANSITIONS: dict[str, frozenset[str]] = {
    BasketStatus.ACTIVE: frozenset({BasketStatus.COMPLETED, BasketStatus.EXPIRED}),
    BasketStatus.COMPLETED: frozenset(),
    BasketStatus.EXPIRED: frozenset(),
}


class OrderType(models.TextChoices):
    NEW = "new", "New"
    UPDATE_SUBSCRIPTION = "update_subscription", "Update subscription"
    RENEW = "renew", "Renew"


class RecoveryStatus(models.TextChoices):
    NOT_CONTACTED = "not_contacted", "Not contacted"
    EMAILED = "emailed", "Emailed"
    OPENED = "opened", "Link opened"
    RECOVERED = "recovered", "Recovered"


class Basket(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=10, choices=BasketStatus.choices, default=BasketStatus.ACTIVE)
    order_type = models.CharField(max_length=20, choices=OrderType.choices, default=OrderType.NEW)
    version = models.PositiveIntegerField(default=1)
    created = models.DateTimeField()
    updated = models.DateTimeField()
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    # Ownership (API.md §2): the creating OAuth application, whether a customer token created it,
    # the customer when known and the partner organisation for partner baskets.
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="baskets",
    )
    created_by_customer_token = models.BooleanField(default=False)
    customer = models.ForeignKey(
        "subscriptions.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="baskets"
    )
    partner = models.ForeignKey(
        "partners.Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="baskets"
    )
    created_by_staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    for_subscription = models.ForeignKey(
        "subscriptions.Subscription", null=True, blank=True, on_delete=models.PROTECT, related_name="baskets"
    )
    # The one promo code applied to the basket (a new one replaces it); counted when it completes.
    promo_code = models.ForeignKey(
        "baskets.PromoCode", null=True, blank=True, on_delete=models.PROTECT, related_name="baskets"
    )

    # Customer details as given at checkout (may differ from the customer record).
    email = models.EmailField(blank=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    company_name = models.CharField(max_length=255, blank=True)
    phone = models.CharField(max_length=50, blank=True)

    currency = models.CharField(max_length=3, blank=True)
    country = models.CharField(max_length=2, blank=True)
    source = models.CharField(max_length=255, blank=True)
    external_id = models.CharField(max_length=255, blank=True, db_index=True)
    tracking = models.JSONField(default=dict, blank=True)
    custom_fields = models.JSONField(default=dict, blank=True)
    entry = models.JSONField(default=dict, blank=True, help_text="Where the customer came in (referer, source)")
    link_nonce = models.CharField(max_length=32, default=new_link_nonce)

    # What the basket is worth (its quoted total, in `currency`), kept by every service that changes
    # the basket, so staff can list, filter and sum abandoned baskets by value without pricing them.
    total = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    # Abandoned-basket recovery (issue 15): where the basket stands, kept by the recovery services.
    recovery_status = models.CharField(
        max_length=16, choices=RecoveryStatus.choices, default=RecoveryStatus.NOT_CONTACTED
    )
    recovery_emails_sent = models.PositiveIntegerField(default=0)
    recovery_last_emailed_at = models.DateTimeField(null=True, blank=True)
    recovery_opened_at = models.DateTimeField(null=True, blank=True)
    recovered_at = models.DateTimeField(null=True, blank=True)
    recovered_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            # The abandoned feed walks (created, id) over baskets that are not completed.
            models.Index(fields=["created", "id"], name="basket_abandoned_keyset", condition=~Q(status="completed")),
            models.Index(fields=["email"], name="basket_email"),
            # expire_baskets walks active baskets by expiry; without this it scans the table.
            models.Index(fields=["expires_at"], name="basket_active_expiry", condition=Q(status="active")),
            # Recovery: the scheduler walks active baskets by last activity; the dashboard counts by
            # recovery status and time. Both carry (INCLUDE, PostgreSQL; SQLite ignores it) the
            # columns the dashboard's aggregates read, so over a million baskets they are
            # index-only scans, not heap reads (docs/admin.md).
            models.Index(
                fields=["updated"],
                name="basket_active_activity_cov",
                condition=Q(status="active"),
                include=["expires_at", "currency", "total"],
            ),
            models.Index(
                fields=["recovery_status", "updated"],
                name="basket_recovery_status_cov",
                include=["currency", "recovered_amount"],
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(version__gte=1), name="basket_version_positive"),
            models.CheckConstraint(
                condition=Q(status__in=["active", "completed", "expired"]), name="basket_status_known"
            ),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def public_id(self) -> str:
        return f"{BASKET_ID_PREFIX}{self.id}"


class OrderItem(models.Model):
    class Type(models.TextChoices):
        OFFER = "offer", "Offer"
        ADD_ON = "add_on", "Add-on"

    class ActionType(models.TextChoices):
        ADD = "add", "Add"
        REMOVE = "remove", "Remove"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    basket = models.ForeignKey(Basket, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField(default=0)
    type = models.CharField(max_length=10, choices=Type.choices, default=Type.OFFER)
    offer = models.ForeignKey("subscriptions.Offer", on_delete=models.PROTECT, related_name="+")
    # The offer as it was priced when added: name, path, products, price schedule, term.
    offer_version = models.CharField(max_length=40)
    offer_snapshot = models.JSONField(default=dict)
    quantity = models.PositiveIntegerField(default=1)
    # Services delete an item together with its add-ons in one statement; DO_NOTHING keeps that
    # a single DELETE instead of a per-row cascade walk (the FK itself stays enforced).
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.DO_NOTHING, related_name="add_ons")
    action_type = models.CharField(max_length=10, choices=ActionType.choices, blank=True)
    effective_date = models.DateTimeField(null=True, blank=True)
    automatic = models.BooleanField(default=False, help_text="Added by the system, not by the caller")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["basket", "position"]
        constraints = [models.CheckConstraint(condition=Q(quantity__gte=1), name="order_item_quantity_positive")]

    def __str__(self) -> str:
        return f"{self.offer_snapshot.get('name', self.offer_id)} x{self.quantity}"


class BasketEvent(models.Model):
    """An audit row for every change of a basket: who, what, when."""

    basket = models.ForeignKey(Basket, on_delete=models.CASCADE, related_name="events")
    created = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=40)
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    customer = models.ForeignKey(
        "subscriptions.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    partner = models.ForeignKey("partners.Partner", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.PositiveIntegerField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["basket", "created", "id"]

    def __str__(self) -> str:
        return f"{self.kind} v{self.version}"


# --- Abandoned-basket recovery ---------------------------------------------------------------


class RecoveryEmail(models.Model):
    """One recovery email for one basket: queued, then sent, failed or skipped (with the reason).

    A scheduled email has a `step` (e.g. "1h", from RECOVERY_EMAIL_SCHEDULE) and the unique
    constraint makes a step happen at most once per basket, whichever host schedules it. An email
    sent by staff has no step.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    basket = models.ForeignKey(Basket, on_delete=models.CASCADE, related_name="recovery_emails")
    step = models.CharField(max_length=16, blank=True, help_text="Schedule step; empty when sent by staff")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    reason = models.CharField(max_length=200, blank=True, help_text="Why it was skipped or failed")
    to_email = models.EmailField(blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attempts = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True, help_text="First visit of its recovery link")
    # A queued email: when its next send attempt is due (a failed attempt's retry), or until when
    # the worker sending it holds it (its claim). None: not tried yet.
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["basket", "created"]
        indexes = [
            models.Index(fields=["status", "created"], name="recovery_email_status"),
            # The sweep (manage.py send_recovery_emails) walks the queued emails by when they are due.
            models.Index(fields=["next_attempt_at"], name="recovery_email_due", condition=Q(status="queued")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["basket", "step"], condition=~Q(step=""), name="recovery_email_once_per_step"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "sent", "failed", "skipped"]), name="recovery_email_status_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.step or 'manual'} {self.status}"


class EmailSuppression(models.Model):
    """An address that unsubscribed from recovery emails (stored lower-case)."""

    email = models.EmailField(unique=True)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.email


# --- Promo codes, their redemptions and payments ----------------------------------------------


class PromoCode(models.Model):
    """A discount code (Limio promo codes v2, API.md §7). Codes are stored upper-case.

    Writes go through baskets.services.promo_codes (apply, redeem) and the admin form (which normalises
    the code); `redeemed_count` only ever moves by the conditional UPDATE of promo_code_redeem.
    """

    class ApplicationLevel(models.TextChoices):
        WHOLE_BASKET = "wholeBasket", "Whole basket"
        SELECTED_ITEMS = "selectedItems", "Selected offers only"

    class DiscountType(models.TextChoices):
        PERCENTAGE = "percentage", "Percentage"
        AMOUNT = "amount", "Fixed amount"

    class DurationType(models.TextChoices):
        MONTHS = "months", "Months"

    code = models.CharField(max_length=64, help_text="Letters and digits; stored upper-case, unique in any case")
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=255, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True, help_text="Empty = valid from now")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty = never expires")
    application_level = models.CharField(
        max_length=16, choices=ApplicationLevel.choices, default=ApplicationLevel.WHOLE_BASKET
    )
    eligible_offers = models.ManyToManyField(
        "subscriptions.Offer", blank=True, related_name="+", help_text="For selectedItems: the discounted offers"
    )
    available_quantity = models.PositiveIntegerField(
        null=True, blank=True, help_text="How many orders may redeem it; empty = unlimited"
    )
    redeemed_count = models.PositiveIntegerField(default=0, editable=False)
    discount_type = models.CharField(max_length=10, choices=DiscountType.choices, default=DiscountType.PERCENTAGE)
    percentage = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True, help_text="0 to 100")
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, help_text="ISO 4217; required with an amount")
    duration_length = models.PositiveIntegerField(null=True, blank=True, help_text="Empty = forever")
    duration_type = models.CharField(max_length=10, choices=DurationType.choices, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(
                Upper("code"), name="promo_code_code_unique_ci", violation_error_message="This code exists already."
            ),
            models.CheckConstraint(
                condition=Q(code__regex=r"^[A-Z0-9]+$"),
                name="promo_code_code_format",
                violation_error_message="A code is letters and digits only.",
            ),
            models.CheckConstraint(
                condition=Q(application_level__in=["wholeBasket", "selectedItems"]), name="promo_code_level_known"
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        discount_type="percentage",
                        percentage__isnull=False,
                        percentage__gte=0,
                        percentage__lte=100,
                        amount__isnull=True,
                    )
                    | Q(
                        discount_type="amount",
                        amount__isnull=False,
                        amount__gte=0,
                        currency__regex=r"^[A-Z]{3}$",
                        percentage__isnull=True,
                    )
                ),
                name="promo_code_discount_shape",
                violation_error_message="A percentage code has a percentage from 0 to 100 and no amount; an amount "
                "code has an amount of 0 or more, a currency and no percentage.",
            ),
            models.CheckConstraint(
                condition=Q(duration_length__isnull=True, duration_type="")
                | Q(duration_length__isnull=False, duration_length__gte=1, duration_type="months"),
                name="promo_code_duration_shape",
                violation_error_message="A duration is a length of at least 1 with its type, or neither (forever).",
            ),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True) | Q(expires_at__isnull=True) | Q(expires_at__gt=F("starts_at")),
                name="promo_code_window",
                violation_error_message="The code must expire after it starts.",
            ),
            models.CheckConstraint(
                condition=Q(available_quantity__isnull=True) | Q(redeemed_count__lte=F("available_quantity")),
                name="promo_code_redemptions_within_quantity",
                violation_error_message="The available quantity cannot be below the redemptions already made.",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class PromoRedemption(models.Model):
    """One completed order that used a promo code, and the discount it got."""

    promo_code = models.ForeignKey(PromoCode, on_delete=models.PROTECT, related_name="redemptions")
    basket = models.OneToOneField(Basket, on_delete=models.PROTECT, related_name="promo_redemption")
    customer = models.ForeignKey(
        "subscriptions.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        constraints = [models.CheckConstraint(condition=Q(amount__gte=0), name="promo_redemption_amount_non_negative")]

    def __str__(self) -> str:
        return f"{self.promo_code_id} on {self.basket_id}"


class PaymentStatus(models.TextChoices):
    """A payment's status (API.md §10); baskets.payments.services.payment_transition moves it."""

    # The gateway holds the money for us (a PaymentIntent with capture_method=manual): not yet taken.
    AUTHORISED = "authorised", "Authorised (not yet captured)"
    CAPTURED = "captured", "Captured"
    # A capture failed; the order stands and a job retries it (next_capture_at).
    CAPTURE_FAILED = "capture_failed", "Capture failed (retrying)"
    # The authorisation was released: no money was taken.
    VOIDED = "voided", "Voided"
    # Refunded in full; a partial refund keeps `captured` and counts in `refunded_amount`.
    REFUNDED = "refunded", "Refunded"
    # Noted for collection outside this service (the manual gateway): no money was taken.
    MANUAL = "manual", "Manual (no payment taken)"


# The only status changes there are: baskets.payments.services.payment_transition is the only writer
# and records each as a basket event. Nothing moves backwards, so a late or replayed webhook that
# names an earlier status changes nothing (a `payment_intent.succeeded` after `charge.refunded`).
PAYMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    PaymentStatus.AUTHORISED: frozenset({PaymentStatus.CAPTURED, PaymentStatus.CAPTURE_FAILED, PaymentStatus.VOIDED}),
    PaymentStatus.CAPTURE_FAILED: frozenset({PaymentStatus.CAPTURED, PaymentStatus.VOIDED}),
    PaymentStatus.CAPTURED: frozenset({PaymentStatus.REFUNDED}),
    PaymentStatus.REFUNDED: frozenset(),
    PaymentStatus.VOIDED: frozenset(),
    PaymentStatus.MANUAL: frozenset(),
}

NO_PAYMENT_TAKEN = "No payment taken: this order is to be paid outside this service."


class Payment(models.Model):
    """What the payment gateway recorded for a completed order (baskets.payments).

    Never holds a secret: no card data, no PaymentIntent client secret; `gateway_reference` is the
    gateway's id of the payment (a PaymentIntent id), or the caller's own reference for `manual`.
    """

    Status = PaymentStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    basket = models.OneToOneField(Basket, on_delete=models.PROTECT, related_name="payment")
    gateway = models.CharField(max_length=40)
    status = models.CharField(max_length=16, choices=PaymentStatus.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, blank=True)
    refunded_amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    gateway_reference = models.CharField(
        max_length=255, blank=True, help_text="The gateway's id of the payment, or the caller's reference (manual)"
    )
    method = models.CharField(max_length=40, blank=True)
    # Captures: how many were tried, and when the next may run (a retry's time, or the end of the
    # claim a worker holds while it calls the gateway). Empty: capturable now.
    capture_attempts = models.PositiveIntegerField(default=0)
    next_capture_at = models.DateTimeField(null=True, blank=True)
    # The gateway's code for the last failure (a decline code, `timeout`...); never its message.
    last_error = models.CharField(max_length=100, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            # The capture sweep (manage.py capture_payments) walks the payments still to capture.
            models.Index(
                fields=["next_capture_at"],
                name="payment_to_capture",
                condition=Q(status__in=["authorised", "capture_failed"]),
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_non_negative"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=F("amount")),
                name="payment_refunds_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["authorised", "captured", "capture_failed", "voided", "refunded", "manual"]),
                name="payment_status_known",
            ),
            # One gateway payment pays one order: the same PaymentIntent can never be recorded twice.
            models.UniqueConstraint(
                fields=["gateway", "gateway_reference"],
                name="payment_gateway_reference_unique",
                condition=~Q(gateway="manual") & ~Q(gateway_reference=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.gateway} {self.amount} {self.currency} ({self.status})"

    @property
    def reference(self) -> str:
        """The former name of `gateway_reference` (the completion code still writes it)."""
        return self.gateway_reference

    @reference.setter
    def reference(self, value: str) -> None:
        self.gateway_reference = value

    @property
    def no_payment_taken(self) -> bool:
        """Whether this order was placed without taking money (the manual gateway)."""
        return self.status == PaymentStatus.MANUAL

    @property
    def refundable_amount(self) -> Decimal:
        """What a refund may still give back: the captured amount less the refunds made."""
        if self.status != PaymentStatus.CAPTURED:
            return Decimal("0")
        return self.amount - self.refunded_amount


class PaymentHold(models.Model):
    """An authorisation this service obtained from the gateway, claimed by one completion attempt.

    Written in its own short transaction after the gateway authorised and before the completion
    transaction: the unique (gateway, reference) says which request owns the authorisation, so two
    requests that got the same PaymentIntent (a replay of the same Stripe idempotency key, a
    client-confirmed PaymentIntent sent twice) never both use it, and the one that refuses never
    voids an authorisation another one recorded. `recorded` when the order's Payment was written
    (in the completion transaction), `released` when it was voided; an `held` row older than the
    completion could take is an orphan (the process died), voided by manage.py capture_payments.
    """

    class State(models.TextChoices):
        HELD = "held", "Held by a completion attempt"
        RECORDED = "recorded", "Recorded as the order's payment"
        RELEASED = "released", "Released (voided)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    gateway = models.CharField(max_length=40)
    reference = models.CharField(max_length=255)
    basket = models.ForeignKey(Basket, on_delete=models.CASCADE, related_name="payment_holds")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    # Captured already (a client-confirmed PaymentIntent with automatic capture): voiding refunds it.
    captured = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.HELD)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["created"], name="payment_hold_open", condition=Q(state="held"))]
        constraints = [
            models.UniqueConstraint(fields=["gateway", "reference"], name="payment_hold_reference_unique"),
            models.CheckConstraint(condition=Q(state__in=["held", "recorded", "released"]), name="payment_hold_state"),
        ]

    def __str__(self) -> str:
        return f"{self.gateway} {self.reference} ({self.state})"


class PaymentEvent(models.Model):
    """A webhook event from a payment gateway, stored once: its id is unique, so a replay (the
    gateway retries until it gets a 2xx) finds it and changes nothing. Only a summary of the
    event's object is kept (ids, status, amounts), never its secrets (a PaymentIntent's
    client_secret)."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", "Applied to the payment"
        STALE = "stale", "Out of order: the payment was already past it"
        NO_PAYMENT = "no_payment", "Names no payment of ours"
        IGNORED = "ignored", "A type we do not handle"

    gateway = models.CharField(max_length=40)
    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.SET_NULL, related_name="gateway_events"
    )
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    summary = models.JSONField(default=dict, blank=True)
    # When the gateway created the event (its `created`), and when we received it.
    occurred_at = models.DateTimeField(null=True, blank=True)
    received = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received"]
        constraints = [models.UniqueConstraint(fields=["gateway", "event_id"], name="payment_event_once")]

    def __str__(self) -> str:
        return f"{self.gateway} {self.type} {self.event_id}"
