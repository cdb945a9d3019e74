"""Catalog (products, offers and their price schedules, add-ons), customers and subscriptions."""

import secrets
import uuid
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from subscriptions.pricing import PaidPeriod


def new_offer_id() -> str:
    return secrets.token_hex(20)


def new_subscription_reference() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


class Product(models.Model):
    path = models.CharField(max_length=255, unique=True, help_text="Catalog path, e.g. /products/digital")
    product_code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=255)
    available = models.BooleanField(default=True)

    class Meta:
        ordering = ["path"]

    def __str__(self) -> str:
        return f"{self.name} ({self.product_code})"


class TermType(models.TextChoices):
    MONTHS = "months", "Months"
    YEARS = "years", "Years"


class IntervalType(models.TextChoices):
    DAYS = "days", "Days"
    WEEKS = "weeks", "Weeks"
    MONTHS = "months", "Months"
    YEARS = "years", "Years"


class Offer(models.Model):
    class Type(models.TextChoices):
        OFFER = "offer", "Offer"
        ADD_ON = "add_on", "Add-on"

    id = models.CharField(primary_key=True, max_length=40, default=new_offer_id, editable=False)
    type = models.CharField(max_length=10, choices=Type.choices, default=Type.OFFER)
    name = models.CharField(max_length=255)
    path = models.CharField(max_length=255, unique=True, help_text="Catalog path, e.g. /offers/digital-annual")
    products = models.ManyToManyField(Product, related_name="offers", blank=True)
    currency = models.CharField(max_length=3, default="GBP")
    term_length = models.PositiveIntegerField(default=12, validators=[MinValueValidator(1)])
    term_type = models.CharField(max_length=10, choices=TermType.choices, default=TermType.MONTHS)
    published = models.BooleanField(default=True)
    min_quantity = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    max_quantity = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    upgrade_offers = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="upgraded_from", limit_choices_to={"type": "offer"}
    )
    downgrade_offers = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="downgraded_from", limit_choices_to={"type": "offer"}
    )
    cross_sell_add_ons = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="cross_sold_with", limit_choices_to={"type": "add_on"}
    )
    renewal_offer = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="renews")
    segments = models.JSONField(default=list, blank=True)
    allowed_countries = models.JSONField(default=list, blank=True, help_text="ISO 3166 codes; empty = all")
    # Denormalised, priced content of the offer (name, path, products, charges, term) and its hash.
    # Written only by subscriptions.services.offer_refresh_version, read on every basket request.
    snapshot = models.JSONField(default=dict, editable=False)
    version = models.CharField(max_length=40, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["path"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_quantity__gte=models.F("min_quantity")), name="offer_quantity_range"
            ),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="offer_currency_iso"),
        ]

    def __str__(self) -> str:
        return f"{self.name} [{self.path}]"


class AddOnManager(models.Manager["AddOn"]):
    def get_queryset(self):
        return super().get_queryset().filter(type=Offer.Type.ADD_ON)


class AddOn(Offer):
    """The offers of type `add_on`, as their own list in the admin (same table, no fields of its own)."""

    objects: ClassVar[AddOnManager] = AddOnManager()

    class Meta:
        proxy = True
        verbose_name = "add-on"
        verbose_name_plural = "add-ons"


class Charge(models.Model):
    """One charge of an offer's price schedule, e.g. "75.00 for 52 weeks" then "31.96 every 4 weeks"."""

    class Type(models.TextChoices):
        RECURRING = "recurring", "Recurring"
        ONE_TIME = "one_time", "One-time"

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="charges")
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=255, blank=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2, validators=[MinValueValidator(0)])
    type = models.CharField(max_length=10, choices=Type.choices, default=Type.RECURRING)
    repeat_interval = models.PositiveIntegerField(default=1)
    repeat_interval_type = models.CharField(max_length=10, choices=IntervalType.choices, default="months")
    repeat_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="How many times the charge repeats; empty = until cancelled"
    )
    delay_interval = models.PositiveIntegerField(default=0)
    delay_interval_type = models.CharField(max_length=10, choices=IntervalType.choices, default="months")

    class Meta:
        ordering = ["offer", "position", "id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gte=0), name="charge_amount_non_negative")]

    def __str__(self) -> str:
        return f"{self.amount} ({self.type})"


class Customer(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="customer"
    )
    email = models.EmailField(unique=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    company_name = models.CharField(max_length=255, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    segments = models.JSONField(default=list, blank=True)
    # The payment gateway's customer and the payment method saved for charges made without the
    # customer present (renewals): written together by services.customer_save_payment_method, so
    # they always belong to each other. Ids only, never card data.
    payment_customer_id = models.CharField(max_length=255, blank=True)
    default_payment_method_id = models.CharField(max_length=255, blank=True)
    # Credit left over from subscription changes (API.md §6), used first by later charges; never
    # paid out, never negative. Written only under the customer's row lock (subscription changes
    # and renewals lock it with the subscription).
    balance = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal(0))
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["email"]
        constraints = [models.CheckConstraint(condition=Q(balance__gte=0), name="customer_balance_non_negative")]

    def __str__(self) -> str:
        return self.email

    @property
    def public_id(self) -> str:
        return f"cus-{self.id}"


class Subscription(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CANCELLED = "cancelled", "Cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(
        max_length=12,
        unique=True,
        default=new_subscription_reference,
        validators=[RegexValidator(r"^[A-Z0-9]{12}$")],
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="subscriptions")
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="subscriptions")
    quantity = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    term_start = models.DateTimeField()
    term_end = models.DateTimeField()
    pending_offer = models.ForeignKey(
        Offer, null=True, blank=True, on_delete=models.PROTECT, related_name="pending_subscriptions"
    )
    pending_change = models.JSONField(null=True, blank=True, help_text="The scheduled change, as ordered")
    pending_change_at = models.DateTimeField(null=True, blank=True)
    # What the subscription was actually charged for its current billing period (pricing.PaidPeriod,
    # issue 13): credits are computed from these, never from the price schedule. The billing period
    # [period_start, period_end) is what one bill covers (a month for a monthly-billed offer) and
    # may be shorter than the term [term_start, term_end) (the commitment renewals extend);
    # paid_amount is the value held for [paid_from, period_end). Written with every money event:
    # purchase, change, renewal (subscriptions.services).
    paid_amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal(0))
    paid_from = models.DateTimeField()
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.CheckConstraint(condition=Q(term_end__gt=models.F("term_start")), name="subscription_term"),
            models.CheckConstraint(condition=Q(paid_amount__gte=0), name="subscription_paid_non_negative"),
        ]
        indexes = [
            # apply_pending_changes finds the due changes without scanning every subscription.
            models.Index(
                fields=["pending_change_at"],
                condition=Q(pending_change_at__isnull=False),
                name="subscription_pending_at",
            )
        ]

    def __str__(self) -> str:
        return self.reference

    def save(self, *args, **kwargs) -> None:
        # A subscription created without a paid record (staff, demo data) holds nothing paid:
        # 0.00 for its term, so no credit can ever come from it.
        paid_from: datetime | None = self.paid_from
        period_start: datetime | None = self.period_start
        period_end: datetime | None = self.period_end
        self.paid_from = paid_from if paid_from is not None else self.term_start
        self.period_start = period_start if period_start is not None else self.term_start
        self.period_end = period_end if period_end is not None else self.term_end
        super().save(*args, **kwargs)

    @property
    def public_id(self) -> str:
        return f"sub-{self.id}"

    def paid_period(self) -> PaidPeriod:
        """The stored record of what was paid for the current billing period."""
        return PaidPeriod(self.paid_amount, self.paid_from, self.period_start, self.period_end)

    def set_paid_period(self, paid: PaidPeriod) -> list[str]:
        """Store `paid` on the instance; the fields to save."""
        self.paid_amount, self.paid_from = paid.amount, paid.paid_from
        self.period_start, self.period_end = paid.period_start, paid.period_end
        return ["paid_amount", "paid_from", "period_start", "period_end"]


class SubscriptionAddOn(models.Model):
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="add_ons")
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="+", limit_choices_to={"type": "add_on"})
    quantity = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subscription", "offer"], name="subscription_add_on_unique")]

    def __str__(self) -> str:
        return f"{self.offer_id} x{self.quantity}"
