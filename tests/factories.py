"""factory_boy factories for every model the tests build."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from decimal import Decimal

import factory
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from baskets.models import Basket, OrderItem, PromoCode
from checkout_project.api.models import ClientProfile
from subscriptions import pricing
from subscriptions import services as catalog_services
from subscriptions.models import Customer, Offer, Product, Subscription, SubscriptionAddOn


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    user = factory.SubFactory(UserFactory)
    email = factory.LazyAttribute(lambda o: o.user.email if o.user else f"{uuid.uuid4().hex[:8]}@example.com")
    first_name = "Ada"
    last_name = "Lovelace"


class ApplicationFactory(factory.django.DjangoModelFactory):
    """A confidential client-credentials application allowed `scopes`."""

    class Meta:
        model = Application
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"client {n}")
    client_type = Application.CLIENT_CONFIDENTIAL
    authorization_grant_type = Application.GRANT_CLIENT_CREDENTIALS
    client_secret = "s3cret-for-tests"
    hash_client_secret = True

    @factory.post_generation
    def scopes(self, create, extracted, **kwargs):
        if create:
            ClientProfile.objects.create(application=self, allowed_scopes=extracted or "checkout")


class AccessTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccessToken

    # By default an application allowed the token's scopes (a token's scopes are narrowed to its
    # application's on every request).
    application = factory.LazyAttribute(lambda token: ApplicationFactory(scopes=token.scope))
    user = None
    token = factory.LazyFunction(lambda: secrets.token_urlsafe(30))
    scope = "checkout"
    expires = factory.LazyFunction(lambda: timezone.now() + timedelta(seconds=3600))


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    path = factory.Sequence(lambda n: f"/products/product-{n}")
    product_code = factory.Sequence(lambda n: f"PRD-{n:04d}")
    name = factory.Sequence(lambda n: f"Product {n}")


MONTHLY_1299 = [{"name": "Monthly", "amount": "12.99", "repeat_interval": 1, "repeat_interval_type": "months"}]
INTRO_THEN_RECURRING = [
    {
        "name": "Introductory year",
        "amount": "75.00",
        "repeat_interval": 52,
        "repeat_interval_type": "weeks",
        "repeat_count": 1,
    },
    {
        "name": "Every 4 weeks",
        "amount": "31.96",
        "repeat_interval": 4,
        "repeat_interval_type": "weeks",
        "delay_interval": 52,
        "delay_interval_type": "weeks",
    },
]


class OfferFactory(factory.django.DjangoModelFactory):
    """An offer created through the catalog service, so its snapshot and version are real."""

    class Meta:
        model = Offer

    name = factory.Sequence(lambda n: f"Offer {n}")
    path = factory.Sequence(lambda n: f"/offers/offer-{n}")
    type = Offer.Type.OFFER
    currency = "GBP"
    max_quantity = 5

    @classmethod
    def _create(cls, model_class, *args, products=None, charges=None, **kwargs):
        return catalog_services.offer_create(
            products=products if products is not None else [ProductFactory()],
            charges=charges if charges is not None else MONTHLY_1299,
            **kwargs,
        )


def paid_for_term(offer: Offer, quantity: int, start, end) -> Decimal:
    line = pricing.Line.from_snapshot(offer.snapshot, quantity)
    periods, per = pricing.periods_in(start, end, line.interval)
    return pricing.quantize(line.period_price() * periods / per, offer.currency)


def subscription_add_on(subscription: Subscription, offer: Offer, quantity: int = 1) -> SubscriptionAddOn:
    """Give `subscription` an add-on bought with it: the add-on's price for the term joins its paid
    amount (add-ons are folded into the one paid record, pricing.quote_change)."""
    add_on = SubscriptionAddOn.objects.create(subscription=subscription, offer=offer, quantity=quantity)
    subscription.paid_amount += paid_for_term(offer, quantity, subscription.period_start, subscription.period_end)
    Subscription.objects.filter(pk=subscription.pk).update(paid_amount=subscription.paid_amount)
    return add_on


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    customer = factory.SubFactory(CustomerFactory)
    offer = factory.SubFactory(OfferFactory)
    quantity = 1
    term_start = factory.LazyFunction(lambda: timezone.now() - timedelta(days=30))
    term_end = factory.LazyAttribute(lambda o: o.term_start + timedelta(days=365))
    # Bought at term start and paid for the whole term: its first period's price for every billing
    # interval of the term (pricing.PaidPeriod; issue 13's credits come from this).
    paid_amount = factory.LazyAttribute(lambda o: paid_for_term(o.offer, o.quantity, o.term_start, o.term_end))
    paid_from = factory.SelfAttribute("term_start")
    period_start = factory.SelfAttribute("term_start")
    period_end = factory.SelfAttribute("term_end")


class BasketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Basket

    created = factory.LazyFunction(timezone.now)
    updated = factory.LazyAttribute(lambda o: o.created)
    expires_at = factory.LazyAttribute(lambda o: o.created + settings.BASKET_LIFETIME)
    application = factory.SubFactory(ApplicationFactory)
    currency = "GBP"


class OrderItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderItem

    basket = factory.SubFactory(BasketFactory)
    offer = factory.SubFactory(OfferFactory)
    offer_version = factory.LazyAttribute(lambda o: o.offer.version)
    offer_snapshot = factory.LazyAttribute(lambda o: o.offer.snapshot)
    type = factory.LazyAttribute(lambda o: o.offer.type)
    quantity = 1


class PromoCodeFactory(factory.django.DjangoModelFactory):
    """A 20%-off whole-basket code, forever, unlimited; override any field."""

    class Meta:
        model = PromoCode
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"PROMO{n}")
    description = "20% off"
    discount_type = "percentage"
    percentage = Decimal("20")

    @factory.post_generation
    def eligible_offers(self, create, extracted, **kwargs):
        if create and extracted:
            self.eligible_offers.set(extracted)


# --- Partners ----------------------------------------------------------------------------------


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "partners.Partner"

    name = factory.Sequence(lambda n: f"Partner {n}")
    slug = factory.Sequence(lambda n: f"partner-{n}")
    contact_email = factory.LazyAttribute(lambda o: f"sales@{o.slug}.example")


class PartnerClientFactory(factory.django.DjangoModelFactory):
    """A partner's OAuth client (its application's profile allows `partner`, informational)."""

    class Meta:
        model = "partners.PartnerClient"

    partner = factory.SubFactory(PartnerFactory)
    application = factory.SubFactory(ApplicationFactory, scopes="partner")


def partner_token(partner=None, **kwargs):
    """An access token with the `partner` scope of a (new) client of `partner`."""
    client = PartnerClientFactory(**({"partner": partner} if partner is not None else {}))
    return AccessTokenFactory(application=client.application, scope="partner", **kwargs)
