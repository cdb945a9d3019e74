"""Partner organisations (resellers): their OAuth clients, eligible offers, blocked products, subscriptions.

The catalog and subscriptions know nothing of partners; every link between them lives here and
points at the other apps (API.md §2, §8).
"""

from django.conf import settings
from django.db import models


class Partner(models.Model):
    name = models.CharField(max_length=255)
    slug = models.SlugField(unique=True)
    active = models.BooleanField(
        default=True, help_text="Off: every token of this partner's clients stops working at once (401)."
    )
    contact_name = models.CharField(max_length=255, blank=True)
    contact_email = models.EmailField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    # An offer that lists no eligible partner is sold to every partner (API.md §8).
    eligible_offers = models.ManyToManyField(
        "subscriptions.Offer",
        through="PartnerEligibleOffer",
        blank=True,
        related_name="eligible_partners",
    )
    blocked_products = models.ManyToManyField(
        "subscriptions.Product",
        blank=True,
        related_name="blocking_partners",
        help_text="Offers with any of these products cannot be sold by this partner.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PartnerEligibleOffer(models.Model):
    """The offer names this partner among its eligible partners."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="offer_eligibilities")
    offer = models.ForeignKey("subscriptions.Offer", on_delete=models.CASCADE, related_name="partner_eligibilities")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partner", "offer"], name="partner_eligible_offer_unique")]

    def __str__(self) -> str:
        return f"{self.offer_id} for {self.partner_id}"


class PartnerClient(models.Model):
    """An OAuth application of a partner organisation. A client belongs to at most one partner;
    its tokens can only ever carry the `partner` scope."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="clients")
    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="partner_client"
    )
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.application} ({self.partner})"


class PartnerSubscription(models.Model):
    """A subscription sold through (and changeable by) a partner organisation; at most one each."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="subscription_links")
    subscription = models.OneToOneField(
        "subscriptions.Subscription", on_delete=models.CASCADE, related_name="partner_link"
    )
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.subscription} ({self.partner})"
