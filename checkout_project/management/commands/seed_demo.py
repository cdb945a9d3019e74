"""`python manage.py seed_demo [--json]`: an idempotent demo catalog, customer, OAuth clients, staff user
and baskets in every state (checkout_project/management/demo_baskets.py).

Running it again creates nothing new and prints the same credentials: catalog rows are found by
their path, applications by their client id, and every secret is derived from SECRET_KEY, so the
command can set it again on each run (DOT keeps only a hash of a client secret).
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application
from oauthlib.common import generate_token

from baskets import services as basket_services
from checkout_project.api.models import ClientProfile
from checkout_project.api.wire import iso_utc
from checkout_project.management.demo_baskets import seed_demo_baskets
from partners import services as partner_services
from partners.models import Partner, PartnerEligibleOffer
from subscriptions import services as catalog_services
from subscriptions.models import Customer, Offer, Product, Subscription, SubscriptionAddOn

CUSTOMER_EMAIL = "demo.customer@example.com"
# The admin's demo staff user (a superuser): logs in at /admin/ with the password printed.
STAFF_EMAIL = "demo.staff@example.com"
PENDING_CUSTOMER_EMAIL = "demo.pending@example.com"
CUSTOMER_WEB_REDIRECT_URI = "http://127.0.0.1:8000/oauth/callback"
ACCESS_TOKEN_LIFETIME = timedelta(seconds=3600)
# A token closer than this to its expiry is replaced rather than printed again.
ACCESS_TOKEN_MIN_REMAINING = timedelta(minutes=10)

PRODUCTS = [
    {"path": "/products/digital", "product_code": "DIGITAL", "name": "Digital access"},
    {"path": "/products/print", "product_code": "PRINT-SAT", "name": "Saturday print edition"},
    {"path": "/products/crossword", "product_code": "CROSSWORD", "name": "Crossword"},
    {"path": "/products/archive", "product_code": "ARCHIVE", "name": "Archive access"},
]


def _monthly(name: str, amount: str) -> list[dict[str, Any]]:
    return [{"name": name, "amount": amount, "repeat_interval": 1, "repeat_interval_type": "months"}]


# Base offers in upgrade order (each upgrades to the ones after it), then the add-ons.
OFFERS: list[dict[str, Any]] = [
    {
        "name": "Digital monthly",
        "path": "/offers/digital-monthly",
        "type": Offer.Type.OFFER,
        "products": ["DIGITAL"],
        "charges": _monthly("Monthly", "12.99"),
        "term_length": 1,
        "term_type": "months",
        "cross_sells": ["/offers/crossword"],
    },
    {
        "name": "Digital annual",
        "path": "/offers/digital-annual",
        "type": Offer.Type.OFFER,
        "products": ["DIGITAL"],
        "charges": [
            {
                "name": "Introductory year",
                "amount": "75.00",
                "type": "recurring",
                "repeat_interval": 52,
                "repeat_interval_type": "weeks",
                "repeat_count": 1,
            },
            {
                "name": "Every 4 weeks",
                "amount": "31.96",
                "type": "recurring",
                "repeat_interval": 4,
                "repeat_interval_type": "weeks",
                "delay_interval": 52,
                "delay_interval_type": "weeks",
            },
        ],
        "term_length": 12,
        "term_type": "months",
        "cross_sells": ["/offers/crossword", "/offers/archive"],
    },
    {
        "name": "Premium: digital and Saturday print",
        "path": "/offers/premium",
        "type": Offer.Type.OFFER,
        "products": ["DIGITAL", "PRINT-SAT"],
        "charges": _monthly("Monthly", "29.99"),
        "term_length": 12,
        "term_type": "months",
        "cross_sells": ["/offers/crossword", "/offers/archive"],
    },
    {
        "name": "Crossword",
        "path": "/offers/crossword",
        "type": Offer.Type.ADD_ON,
        "products": ["CROSSWORD"],
        "charges": _monthly("Monthly", "2.50"),
        "term_length": 12,
        "term_type": "months",
        "max_quantity": 1,
    },
    {
        "name": "Archive access",
        "path": "/offers/archive",
        "type": Offer.Type.ADD_ON,
        "products": ["ARCHIVE"],
        "charges": _monthly("Monthly", "4.99"),
        "term_length": 12,
        "term_type": "months",
        "max_quantity": 1,
    },
]
SUBSCRIPTION_OFFER = "/offers/digital-annual"
SUBSCRIPTION_ADD_ON = "/offers/crossword"


# Promo codes (API.md §7). Found by code on later runs and left as they are.
PROMO_CODES: list[dict[str, Any]] = [
    {
        "code": "SPRING20",
        "description": "20% off the whole basket",
        "discount_type": "percentage",
        "percentage": Decimal("20"),
    },
    {
        "code": "FIVEOFF",
        "description": "£5.00 off each bill for 3 months",
        "discount_type": "amount",
        "amount": Decimal("5.00"),
        "currency": "GBP",
        "duration_length": 3,
        "duration_type": "months",
    },
    {
        "code": "CROSSWORDFREE",
        "description": "The crossword free for 6 months",
        "discount_type": "percentage",
        "percentage": Decimal("100"),
        "application_level": "selectedItems",
        "eligible_offers": ["/offers/crossword"],
        "duration_length": 6,
        "duration_type": "months",
    },
    {
        "code": "ONETIME",
        "description": "50% off, for the first order only",
        "discount_type": "percentage",
        "percentage": Decimal("50"),
        "available_quantity": 1,
    },
    {
        "code": "EXPIRED2024",
        "description": "30% off (ended 31 December 2024)",
        "discount_type": "percentage",
        "percentage": Decimal("30"),
        "expires_at": datetime(2025, 1, 1, tzinfo=UTC),
    },
]


def seed_promo_codes(offers: list[Offer]) -> list[dict[str, Any]]:
    """The demo promo codes, as the `promoCodes` of `--json` (Limio promo code field names)."""
    by_path = {offer.path: offer for offer in offers}
    seeded = []
    for spec in PROMO_CODES:
        fields = {key: value for key, value in spec.items() if key not in {"code", "eligible_offers"}}
        eligible = [by_path[path] for path in spec.get("eligible_offers", [])]
        promo, _ = basket_services.promo_code_get_or_create(code=spec["code"], eligible_offers=eligible, **fields)
        if promo.discount_type == "percentage":
            discount = {"type": "percentage", "percentage": f"{promo.percentage:.2f}"}
        else:
            discount = {"type": "amount", "amount": f"{promo.amount:.2f}", "currency": promo.currency}
        seeded.append(
            {
                "code": promo.code,
                "description": promo.description,
                "active": promo.active,
                "discount": discount,
                "applicationLevel": promo.application_level,
                "eligibleOffers": sorted(offer.pk for offer in promo.eligible_offers.all()),
                "availableQuantity": promo.available_quantity,
                "durationLength": promo.duration_length,
                "durationType": promo.duration_type or None,
                "startsAt": iso_utc(promo.starts_at),
                "expiresAt": iso_utc(promo.expires_at),
            }
        )
    return seeded


@dataclass(frozen=True)
class DemoClient:
    key: str
    name: str
    client_id: str
    client_type: str
    grant_type: str
    allowed_scopes: str
    redirect_uris: str = ""
    skip_authorization: bool = False


CONFIDENTIAL_CLIENTS = [
    DemoClient(
        key="storefront",
        name="storefront",
        client_id="demo-storefront",
        client_type=Application.CLIENT_CONFIDENTIAL,
        grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        allowed_scopes="checkout",
    ),
    DemoClient(
        key="backoffice",
        name="backoffice",
        client_id="demo-backoffice",
        client_type=Application.CLIENT_CONFIDENTIAL,
        grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        allowed_scopes="checkout:admin baskets:read",
    ),
    # A resource server of the demo: the one client that may introspect other clients' tokens.
    DemoClient(
        key="resource_server",
        name="resource server",
        client_id="demo-resource-server",
        client_type=Application.CLIENT_CONFIDENTIAL,
        grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        allowed_scopes="introspection",
    ),
]
CUSTOMER_WEB = DemoClient(
    key="customer-web",
    name="customer-web",
    client_id="demo-customer-web",
    client_type=Application.CLIENT_PUBLIC,
    grant_type=Application.GRANT_AUTHORIZATION_CODE,
    allowed_scopes="checkout",
    redirect_uris=CUSTOMER_WEB_REDIRECT_URI,
    # Our own first-party web app: the customer logs in and is sent straight back, no consent page.
    skip_authorization=True,
)


# Two partner organisations (API.md §8), each with one client and one subscription. Premium is
# sold through the first only; the second may not sell the archive.
PARTNERS: list[dict[str, Any]] = [
    {
        "client": DemoClient(
            key="partner", name="partner: Acme Reseller", client_id="demo-partner",
            client_type=Application.CLIENT_CONFIDENTIAL, grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            allowed_scopes="partner",
        ),
        "name": "Acme Reseller", "slug": "acme-reseller", "contact_email": "partners@acme-reseller.example",
        "subscriber": "reader@acme-reseller.example", "eligible_offers": ["/offers/premium"], "blocked_products": [],
    },
    {
        "client": DemoClient(
            key="partner_other", name="partner: Globex Subscriptions", client_id="demo-partner-other",
            client_type=Application.CLIENT_CONFIDENTIAL, grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            allowed_scopes="partner",
        ),
        "name": "Globex Subscriptions", "slug": "globex", "contact_email": "partners@globex.example",
        "subscriber": "reader@globex.example", "eligible_offers": [], "blocked_products": ["ARCHIVE"],
    },
]  # fmt: skip
PARTNER_SUBSCRIPTION_OFFER = "/offers/digital-monthly"


def demo_secret(purpose: str) -> str:
    """A secret that is the same on every run with the same SECRET_KEY and unguessable without it."""
    message = f"seed_demo:{purpose}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def term_end(start: datetime, offer: Offer) -> datetime:
    months = offer.term_length * (12 if offer.term_type == "years" else 1)
    return add_months(start, months)


def seed_catalog() -> list[Offer]:
    products = {}
    for product_spec in PRODUCTS:
        product, _ = Product.objects.get_or_create(
            path=product_spec["path"],
            defaults={"product_code": product_spec["product_code"], "name": product_spec["name"]},
        )
        products[product_spec["product_code"]] = product

    offers: dict[str, Offer] = {}
    for spec in OFFERS:
        offer = Offer.objects.filter(path=spec["path"]).first()
        if offer is None:
            offer = catalog_services.offer_create(
                # A stable id across machines and databases, so examples can name the demo offers.
                offer_id=hashlib.sha1(f"seed_demo:{spec['path']}".encode(), usedforsecurity=False).hexdigest(),
                name=spec["name"],
                path=spec["path"],
                type=spec["type"],
                products=[products[code] for code in spec["products"]],
                charges=spec["charges"],
                currency="GBP",
                term_length=spec["term_length"],
                term_type=spec["term_type"],
                max_quantity=spec.get("max_quantity", 5),
            )
        elif not offer.version:
            catalog_services.offer_refresh_version(offer=offer)
        offers[spec["path"]] = offer

    base = [offers[spec["path"]] for spec in OFFERS if spec["type"] == Offer.Type.OFFER]
    for position, offer in enumerate(base):
        # M2M add() skips pairs that exist already, so these are no-ops on a second run.
        offer.upgrade_offers.add(*base[position + 1 :])
        offer.downgrade_offers.add(*base[:position])
    for spec in OFFERS:
        if spec.get("cross_sells"):
            offers[spec["path"]].cross_sell_add_ons.add(*(offers[path] for path in spec["cross_sells"]))
    return list(offers.values())


def seed_application(client: DemoClient) -> tuple[Application, str]:
    """The application with its allowed scopes; returns it with its plain-text client secret."""
    secret = demo_secret(client.key) if client.client_type == Application.CLIENT_CONFIDENTIAL else ""
    application = Application.objects.filter(client_id=client.client_id).first()
    if application is None:
        application = Application(client_id=client.client_id)
    application.name = client.name
    application.client_type = client.client_type
    application.authorization_grant_type = client.grant_type
    application.redirect_uris = client.redirect_uris
    application.skip_authorization = client.skip_authorization
    application.hash_client_secret = True
    if application.pk is None or not check_password(secret, application.client_secret):
        application.client_secret = secret  # hashed by DOT's ClientSecretField on save
    application.save()
    ClientProfile.objects.update_or_create(application=application, defaults={"allowed_scopes": client.allowed_scopes})
    return application, secret


@dataclass(frozen=True)
class DemoCustomer:
    key: str  # names the demo password, so it is stable across runs
    email: str
    first_name: str
    last_name: str
    offer: str
    add_on: str | None = None
    # A scheduled downgrade to this offer at the end of the term (what makes checkout answer 423).
    pending_offer: str | None = None


CUSTOMERS = (
    DemoCustomer("customer-password", CUSTOMER_EMAIL, "Grace", "Hopper", SUBSCRIPTION_OFFER, SUBSCRIPTION_ADD_ON),
    DemoCustomer(
        "pending-customer-password",
        PENDING_CUSTOMER_EMAIL,
        "Katherine",
        "Johnson",
        "/offers/premium",
        pending_offer=SUBSCRIPTION_OFFER,
    ),
)


def seed_customer(offers: list[Offer], spec: DemoCustomer = CUSTOMERS[0]) -> tuple[Customer, str, Subscription]:
    password = demo_secret(spec.key)[:20]
    user_model = get_user_model()
    names = {"first_name": spec.first_name, "last_name": spec.last_name}
    user, _ = user_model.objects.get_or_create(username=spec.email, defaults={"email": spec.email, **names})
    if not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    customer, _ = Customer.objects.get_or_create(email=spec.email, defaults={"user": user, **names})
    if customer.user_id != user.pk:
        customer.user = user
        customer.save(update_fields=["user"])

    by_path = {offer.path: offer for offer in offers}
    now = timezone.now()
    subscription = (
        Subscription.objects.filter(customer=customer, status=Subscription.Status.ACTIVE).order_by("created").first()
    )
    if subscription is None:
        offer = by_path[spec.offer]
        start = now - timedelta(days=30)
        subscription = Subscription.objects.create(
            customer=customer, offer=offer, term_start=start, term_end=term_end(start, offer)
        )
        if spec.add_on:
            SubscriptionAddOn.objects.create(subscription=subscription, offer=by_path[spec.add_on])
    elif subscription.term_end <= now:
        # Demo data seeded long ago: start a fresh term so the subscription is current again.
        subscription.term_start = now - timedelta(days=30)
        subscription.term_end = term_end(subscription.term_start, subscription.offer)
        subscription.save(update_fields=["term_start", "term_end", "updated"])
    if spec.pending_offer and subscription.pending_change_at != subscription.term_end:
        pending = by_path[spec.pending_offer]
        catalog_services.subscription_schedule_change(
            subscription=subscription,
            offer_id=pending.pk,
            effective_at=subscription.term_end,
            change={"offer": {"id": pending.pk, "version": pending.version}, "quantity": 1, "source": "seed_demo"},
        )
    return customer, password, subscription


def seed_partner(spec: dict[str, Any], offers: list[Offer]) -> tuple[Partner, Subscription]:
    """A partner organisation with its eligible offers and blocked products, and one subscription."""
    by_path = {offer.path: offer for offer in offers}
    partner, _ = Partner.objects.get_or_create(
        slug=spec["slug"], defaults={"name": spec["name"], "contact_email": spec["contact_email"]}
    )
    for path in spec["eligible_offers"]:
        PartnerEligibleOffer.objects.get_or_create(partner=partner, offer=by_path[path])
    partner.blocked_products.add(*Product.objects.filter(product_code__in=spec["blocked_products"]))
    now = timezone.now()
    subscription = (
        Subscription.objects.filter(partner_link__partner=partner, status=Subscription.Status.ACTIVE)
        .order_by("created")
        .first()
    )
    if subscription is None:
        customer, _ = Customer.objects.get_or_create(email=spec["subscriber"], defaults={"first_name": spec["name"]})
        offer = by_path[PARTNER_SUBSCRIPTION_OFFER]
        start = now - timedelta(days=10)
        subscription = Subscription.objects.create(
            customer=customer, offer=offer, term_start=start, term_end=term_end(start, offer)
        )
        partner_services.partner_subscription_link(partner=partner, subscription=subscription)
    elif subscription.term_end <= now:
        subscription.term_start = now - timedelta(days=10)
        subscription.term_end = term_end(subscription.term_start, subscription.offer)
        subscription.save(update_fields=["term_start", "term_end", "updated"])
    return partner, subscription


def customer_access_token(*, user, application: Application) -> AccessToken:
    """The customer's demo token: the existing one while it has 10 minutes left, else a new one."""
    now = timezone.now()
    token = (
        AccessToken.objects.filter(
            user=user, application=application, scope="checkout", expires__gt=now + ACCESS_TOKEN_MIN_REMAINING
        )
        .exclude(token="")
        .order_by("-expires")
        .first()
    )
    if token is None:
        token = AccessToken.objects.create(
            user=user,
            application=application,
            token=generate_token(),
            scope="checkout",
            expires=now + ACCESS_TOKEN_LIFETIME,
        )
    return token


def seed_staff() -> tuple[Any, str]:
    """The demo staff user (superuser), its password set again on each run; with the password."""
    password = demo_secret("staff-password")[:20]
    user, _ = get_user_model().objects.get_or_create(
        username=STAFF_EMAIL, defaults={"email": STAFF_EMAIL, "first_name": "Demo", "last_name": "Staff"}
    )
    fields = []
    if not (user.is_staff and user.is_superuser and user.is_active):
        user.is_staff = user.is_superuser = user.is_active = True
        fields += ["is_staff", "is_superuser", "is_active"]
    if not user.check_password(password):
        user.set_password(password)
        fields.append("password")
    if fields:
        user.save(update_fields=fields)
    return user, password


@transaction.atomic
def seed_demo() -> tuple[dict[str, Any], dict[str, Any]]:
    """Create what is missing; return the `--json` document and extra facts for the summary."""
    offers = seed_catalog()
    clients = {}
    applications = {}
    for client in CONFIDENTIAL_CLIENTS:
        application, secret = seed_application(client)
        applications[client.key] = application
        clients[client.key] = {
            "client_id": application.client_id,
            "client_secret": secret,
            "scope": client.allowed_scopes,
        }
    for spec in PARTNERS:
        application, secret = seed_application(spec["client"])
        partner, partner_subscription = seed_partner(spec, offers)
        partner_services.partner_client_link(partner=partner, application=application)
        clients[spec["client"].key] = {
            "client_id": application.client_id,
            "client_secret": secret,
            "scope": spec["client"].allowed_scopes,
            "partner": {"name": partner.name, "slug": partner.slug},
            "subscription": {"id": partner_subscription.public_id, "reference": partner_subscription.reference},
        }
    customer_web, _ = seed_application(CUSTOMER_WEB)
    customer, password, subscription = seed_customer(offers)
    token = customer_access_token(user=customer.user, application=customer_web)
    pending_customer, pending_password, pending_subscription = seed_customer(offers, CUSTOMERS[1])
    pending_token = customer_access_token(user=pending_customer.user, application=customer_web)
    staff, staff_password = seed_staff()
    promo_codes = seed_promo_codes(offers)  # before the demo baskets: one of them has a code
    demo_baskets = seed_demo_baskets(offers=offers, storefront=applications["storefront"], staff=staff)
    document = {
        "clients": clients,
        "customer": {
            "email": customer.email,
            "password": password,
            "access_token": token.token,
            "subscription": {"id": subscription.public_id, "reference": subscription.reference},
        },
        "customerWithPendingChange": {
            "email": pending_customer.email,
            "password": pending_password,
            "access_token": pending_token.token,
            "subscription": {
                "id": pending_subscription.public_id,
                "reference": pending_subscription.reference,
                "pendingChange": {
                    "offer": pending_subscription.pending_offer_id,
                    "effectiveAt": iso_utc(pending_subscription.pending_change_at),
                },
            },
        },
        "offers": [
            {"id": offer.pk, "version": offer.version, "path": offer.path, "name": offer.name, "type": str(offer.type)}
            for offer in offers
        ],
        "promoCodes": promo_codes,
        "staff": {"username": staff.get_username(), "password": staff_password, "admin": "/admin/"},
    }
    extra = {
        "demo_baskets": demo_baskets,
        "access_token_expires": token.expires,
        "customer_web_client_id": customer_web.client_id,
        "redirect_uri": CUSTOMER_WEB_REDIRECT_URI,
    }
    return document, extra


class Command(BaseCommand):
    help = (
        "Create (once) a demo catalog, customer with a subscription, OAuth clients, a staff user and demo "
        "baskets; print their credentials."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of a summary.")

    def handle(self, *args, **options):
        data, extra = seed_demo()
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2))
            return
        self.stdout.write(self.summary(data, extra))

    @staticmethod
    def summary(data: dict[str, Any], extra: dict[str, Any]) -> str:
        customer = data["customer"]
        staff = data["staff"]
        lines = [
            "Demo data is ready.",
            "",
            "Staff (the admin at /admin/: abandoned baskets, recovery dashboard):",
            f"  username:     {staff['username']}",
            f"  password:     {staff['password']}",
            f"  demo baskets: {extra['demo_baskets']} (abandoned, emailed, opened, recovered, completed, expired)",
            "",
            "OAuth clients (POST /oauth2/token, grant_type=client_credentials):",
        ]
        for key, client in data["clients"].items():
            lines += [
                f"  {key}",
                f"    client_id:     {client['client_id']}",
                f"    client_secret: {client['client_secret']}",
                f"    scope:         {client['scope']}",
            ]
            if "partner" in client:
                partner, subscription = client["partner"], client["subscription"]
                lines += [
                    f"    partner:       {partner['name']} ({partner['slug']})",
                    f"    subscription:  {subscription['id']} (reference {subscription['reference']})",
                ]
        lines += [
            "",
            "Customer (logs in at /accounts/login/ during the authorization code + PKCE flow):",
            f"  email:        {customer['email']}",
            f"  password:     {customer['password']}",
            f"  access_token: {customer['access_token']}",
            f"                (scope checkout, expires {extra['access_token_expires'].isoformat(timespec='seconds')})",
            f"  subscription: {customer['subscription']['id']} (reference {customer['subscription']['reference']})",
            f"  oauth client: {extra['customer_web_client_id']} (public, redirect URI {extra['redirect_uri']})",
            "",
            "Customer whose subscription has a pending change (subscription checkout answers 423):",
            f"  email:        {data['customerWithPendingChange']['email']}",
            f"  password:     {data['customerWithPendingChange']['password']}",
            f"  access_token: {data['customerWithPendingChange']['access_token']}",
            f"  subscription: {data['customerWithPendingChange']['subscription']['reference']}, locked until "
            f"{data['customerWithPendingChange']['subscription']['pendingChange']['effectiveAt']}",
            "",
            "Offers:",
        ]
        lines += [
            f"  {offer['id']}  {offer['type']:<6}  {offer['path']:<24}  {offer['name']}" for offer in data["offers"]
        ]
        lines += ["", "Promo codes (POST /api/admin/v2/promo_code with the backoffice client):"]
        lines += [f"  {promo['code']:<14}  {promo['description']}" for promo in data.get("promoCodes", [])]
        return "\n".join(lines)
