"""Baskets, their order items and the audit trail of every change."""

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

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

    class Meta:
        ordering = ["-created"]
        indexes = [
            # The abandoned feed walks (created, id) over baskets that are not completed.
            models.Index(fields=["created", "id"], name="basket_abandoned_keyset", condition=~Q(status="completed")),
            models.Index(fields=["email"], name="basket_email"),
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
