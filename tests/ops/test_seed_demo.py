import hashlib
import json
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from baskets.models import Basket, BasketEvent, BasketStatus, PromoCode, RecoveryEmail, RecoveryStatus
from checkout_project.api.models import ClientProfile
from partners.models import Partner, PartnerClient, PartnerEligibleOffer, PartnerSubscription
from subscriptions.models import Charge, Customer, Offer, Product, Subscription, SubscriptionAddOn

pytestmark = pytest.mark.django_db

SEEDED_MODELS = [
    Product,
    Offer,
    Charge,
    Offer.upgrade_offers.through,
    Offer.downgrade_offers.through,
    Offer.cross_sell_add_ons.through,
    get_user_model(),
    Customer,
    Subscription,
    SubscriptionAddOn,
    Application,
    ClientProfile,
    AccessToken,
    PromoCode,
    PromoCode.eligible_offers.through,
    Partner,
    PartnerClient,
    PartnerEligibleOffer,
    Partner.blocked_products.through,
    PartnerSubscription,
    Basket,
    BasketEvent,
    RecoveryEmail,
]


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def seed_json() -> dict:
    return json.loads(seed("--json"))


def counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in SEEDED_MODELS}


def test_json_has_the_documented_keys():
    data = seed_json()

    assert set(data) == {"clients", "customer", "customerWithPendingChange", "offers", "promoCodes", "staff"}
    assert set(data["clients"]) == {"storefront", "backoffice", "resource_server", "partner", "partner_other"}
    for key in ("storefront", "backoffice", "resource_server"):
        assert set(data["clients"][key]) == {"client_id", "client_secret", "scope"}
    for key in ("partner", "partner_other"):
        assert set(data["clients"][key]) == {"client_id", "client_secret", "scope", "partner", "subscription"}
        assert data["clients"][key]["scope"] == "partner"
        assert set(data["clients"][key]["partner"]) == {"name", "slug"}
        assert set(data["clients"][key]["subscription"]) == {"id", "reference"}
    assert data["clients"]["storefront"]["scope"] == "checkout"
    assert data["clients"]["backoffice"]["scope"] == "checkout:admin baskets:read"
    assert data["clients"]["resource_server"]["scope"] == "introspection"
    assert set(data["customer"]) == {"email", "password", "access_token", "subscription"}
    assert set(data["customer"]["subscription"]) == {"id", "reference"}
    assert data["customer"]["subscription"]["id"].startswith("sub-")
    for offer in data["offers"]:
        assert set(offer) == {"id", "version", "path", "name", "type"}
        assert len(offer["id"]) == 40
        assert len(offer["version"]) == 40


def test_running_twice_creates_nothing_new_and_prints_the_same_credentials():
    first = seed_json()
    after_first = counts()

    second = seed_json()

    assert counts() == after_first
    assert second == first
    assert after_first["subscriptions.Offer"] == 5
    assert after_first["oauth2_provider.Application"] == 6
    assert after_first["partners.Partner"] == 2
    assert after_first["partners.PartnerSubscription"] == 2
    assert after_first["oauth2_provider.AccessToken"] == 2


def test_human_summary_prints_the_same_credentials():
    data = seed_json()

    summary = seed()

    for client in data["clients"].values():
        assert client["client_id"] in summary
        assert client["client_secret"] in summary
    assert data["customer"]["password"] in summary
    assert data["customer"]["access_token"] in summary
    assert data["customer"]["subscription"]["reference"] in summary


def test_catalog_has_upgrade_paths_multi_charge_schedule_and_cross_sold_add_ons():
    seed()

    monthly = Offer.objects.get(path="/offers/digital-monthly")
    annual = Offer.objects.get(path="/offers/digital-annual")
    premium = Offer.objects.get(path="/offers/premium")
    crossword = Offer.objects.get(path="/offers/crossword")
    archive = Offer.objects.get(path="/offers/archive")
    for offer in (monthly, annual, premium, crossword, archive):
        assert offer.published is True
        assert offer.currency == "GBP"
        assert offer.products.exists()
    assert set(Offer.objects.filter(type="add_on")) == {crossword, archive}
    assert set(monthly.upgrade_offers.all()) == {annual, premium}
    assert set(annual.upgrade_offers.all()) == {premium}
    assert set(annual.downgrade_offers.all()) == {monthly}
    assert set(premium.downgrade_offers.all()) == {monthly, annual}
    assert set(premium.cross_sell_add_ons.all()) == {crossword, archive}
    assert set(monthly.cross_sell_add_ons.all()) == {crossword}
    intro, recurring = annual.charges.order_by("position")
    assert (intro.amount, intro.type, intro.repeat_interval, intro.repeat_interval_type, intro.repeat_count) == (
        Decimal("75.00"), "recurring", 52, "weeks", 1,
    )  # fmt: skip
    assert (recurring.amount, recurring.repeat_interval, recurring.repeat_interval_type, recurring.repeat_count) == (
        Decimal("31.96"), 4, "weeks", None,
    )  # fmt: skip
    assert (recurring.delay_interval, recurring.delay_interval_type) == (52, "weeks")
    assert set(Product.objects.values_list("product_code", flat=True)) == {
        "DIGITAL", "PRINT-SAT", "CROSSWORD", "ARCHIVE",
    }  # fmt: skip


def test_customer_has_an_active_subscription_with_one_add_on():
    data = seed_json()

    customer = Customer.objects.get(email=data["customer"]["email"])
    assert customer.user.check_password(data["customer"]["password"])
    subscription = Subscription.objects.get(customer=customer)
    assert subscription.public_id == data["customer"]["subscription"]["id"]
    assert subscription.reference == data["customer"]["subscription"]["reference"]
    assert subscription.status == "active"
    assert subscription.term_start < timezone.now() < subscription.term_end
    assert subscription.offer.path == "/offers/digital-annual"
    assert [add_on.offer.path for add_on in subscription.add_ons.all()] == ["/offers/crossword"]


def test_applications_and_their_allowed_scopes():
    seed()

    storefront = Application.objects.get(name="storefront")
    backoffice = Application.objects.get(name="backoffice")
    customer_web = Application.objects.get(name="customer-web")
    assert (storefront.client_type, storefront.authorization_grant_type) == ("confidential", "client-credentials")
    assert (backoffice.client_type, backoffice.authorization_grant_type) == ("confidential", "client-credentials")
    assert (customer_web.client_type, customer_web.authorization_grant_type) == ("public", "authorization-code")
    assert customer_web.redirect_uris == "http://127.0.0.1:8000/oauth/callback"
    assert storefront.profile.allowed_scopes == "checkout"
    assert backoffice.profile.allowed_scopes == "checkout:admin baskets:read"
    assert customer_web.profile.allowed_scopes == "checkout"


@pytest.mark.parametrize("client_name", ["storefront", "backoffice", "resource_server", "partner", "partner_other"])
def test_printed_client_credentials_obtain_a_token_with_the_printed_scope(client_name):
    client = seed_json()["clients"][client_name]

    response = Client().post(
        "/oauth2/token",
        {
            "grant_type": "client_credentials",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
            "scope": client["scope"],
        },
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["scope"] == client["scope"]
    assert body["expires_in"] == 3600
    # Tokens issued by the token endpoint are stored as their checksum only (RFC 9700 storage).
    issued = AccessToken.objects.get(token_checksum=hashlib.sha256(body["access_token"].encode()).hexdigest())
    assert issued.token == ""
    assert issued.application.client_id == client["client_id"]


def test_customer_access_token_is_issued_for_customer_web_and_works_on_initiate():
    data = seed_json()
    token = AccessToken.objects.get(token=data["customer"]["access_token"])
    assert token.application.name == "customer-web"
    assert token.user.customer.email == data["customer"]["email"]
    assert token.scope == "checkout"
    offer = next(offer for offer in data["offers"] if offer["path"] == "/offers/digital-annual")

    response = Client().post(
        "/api/checkout/initiate",
        {"order": {"orderItems": [{"offer": {"id": offer["id"], "version": offer["version"]}}]}},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {data['customer']['access_token']}",
    )

    assert response.status_code == 200, response.content
    basket = Basket.objects.exclude(source="demo").get()
    assert response.json()["id"] == basket.public_id
    assert basket.customer.email == data["customer"]["email"]
    assert basket.created_by_customer_token is True
    assert response.json()["order"]["totals"]["total"] == "75.00"


def test_a_token_about_to_expire_is_replaced():
    first = seed_json()["customer"]["access_token"]
    AccessToken.objects.filter(token=first).update(expires=timezone.now() + timedelta(minutes=5))

    second = seed_json()["customer"]["access_token"]

    assert second != first
    token = AccessToken.objects.get(token=second)
    assert timedelta(minutes=59) < token.expires - timezone.now() <= timedelta(hours=1)
    assert seed_json()["customer"]["access_token"] == second


def test_a_changed_client_secret_is_set_back():
    data = seed_json()
    storefront = Application.objects.get(client_id=data["clients"]["storefront"]["client_id"])
    storefront.client_secret = "something else"
    storefront.save()

    assert seed_json() == data

    storefront.refresh_from_db()
    assert storefront.client_secret != data["clients"]["storefront"]["client_secret"]  # stored hashed
    response = Client().post(
        "/oauth2/token",
        {
            "grant_type": "client_credentials",
            "client_id": data["clients"]["storefront"]["client_id"],
            "client_secret": data["clients"]["storefront"]["client_secret"],
            "scope": "checkout",
        },
    )
    assert response.status_code == 200, response.content


def test_promo_codes_cover_the_documented_cases():
    data = seed_json()

    codes = {promo["code"]: promo for promo in data["promoCodes"]}
    assert list(codes) == ["SPRING20", "FIVEOFF", "CROSSWORDFREE", "ONETIME", "EXPIRED2024"]
    for promo in data["promoCodes"]:
        assert set(promo) == {
            "code", "description", "active", "discount", "applicationLevel", "eligibleOffers", "availableQuantity",
            "durationLength", "durationType", "startsAt", "expiresAt",
        }  # fmt: skip
        assert promo["description"]
    assert codes["SPRING20"]["discount"] == {"type": "percentage", "percentage": "20.00"}
    assert (codes["SPRING20"]["applicationLevel"], codes["SPRING20"]["durationLength"]) == ("wholeBasket", None)
    assert codes["FIVEOFF"]["discount"] == {"type": "amount", "amount": "5.00", "currency": "GBP"}
    assert (codes["FIVEOFF"]["durationLength"], codes["FIVEOFF"]["durationType"]) == (3, "months")
    crossword = Offer.objects.get(path="/offers/crossword")
    assert codes["CROSSWORDFREE"]["applicationLevel"] == "selectedItems"
    assert codes["CROSSWORDFREE"]["eligibleOffers"] == [crossword.pk]
    assert codes["ONETIME"]["availableQuantity"] == 1
    assert codes["EXPIRED2024"]["expiresAt"] == "2025-01-01T00:00:00.000Z"


def test_demo_promo_codes_work_on_a_demo_basket():
    data = seed_json()
    backoffice = data["clients"]["backoffice"]
    token = Client().post(
        "/oauth2/token",
        {"grant_type": "client_credentials", "client_id": backoffice["client_id"],
         "client_secret": backoffice["client_secret"], "scope": "checkout:admin"},
    ).json()["access_token"]  # fmt: skip
    customer = {"HTTP_AUTHORIZATION": f"Bearer {data['customer']['access_token']}"}
    monthly = next(offer for offer in data["offers"] if offer["path"] == "/offers/digital-monthly")
    basket_id = (
        Client()
        .post(
            "/api/checkout/initiate",
            {"order": {"orderItems": [{"offer": {"id": monthly["id"]}}]}},
            content_type="application/json",
            **customer,
        )
        .json()["id"]
    )

    def apply(code):
        return Client().post(
            "/api/admin/v2/promo_code",
            {"code": code, "basketId": basket_id},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )

    expired = apply("expired2024")
    applied = apply("spring20")

    assert (expired.status_code, expired.json()["code"]) == (400, "promo_code_expired")
    assert applied.status_code == 200, applied.json()
    assert applied.json()["order"]["totals"]["total"] == "10.39"  # 12.99 - 2.60
    assert PromoCode.objects.get(code="ONETIME").available_quantity == 1


def test_two_partner_organisations_each_with_a_client_and_a_subscription():
    data = seed_json()

    partner, other = (data["clients"][key] for key in ("partner", "partner_other"))
    assert partner["partner"]["slug"] != other["partner"]["slug"]
    for client in (partner, other):
        organisation = Partner.objects.get(slug=client["partner"]["slug"])
        assert organisation.active is True
        link = PartnerClient.objects.get(application__client_id=client["client_id"])
        assert link.partner == organisation
        subscription = Subscription.objects.get(partner_link__partner=organisation)
        assert subscription.public_id == client["subscription"]["id"]
        assert subscription.reference == client["subscription"]["reference"]
        assert subscription.status == "active"
        assert subscription.term_start < timezone.now() < subscription.term_end
    premium = Offer.objects.get(path="/offers/premium")
    assert [p.slug for p in premium.eligible_partners.all()] == [partner["partner"]["slug"]]
    globex = Partner.objects.get(slug=other["partner"]["slug"])
    assert [p.product_code for p in globex.blocked_products.all()] == ["ARCHIVE"]


def test_partner_client_token_works_on_partner_subscription_checkout_only_for_its_own_subscription():
    data = seed_json()
    partner, other = data["clients"]["partner"], data["clients"]["partner_other"]
    token = Client().post(
        "/oauth2/token",
        {"grant_type": "client_credentials", "client_id": partner["client_id"],
         "client_secret": partner["client_secret"], "scope": "partner"},
    ).json()["access_token"]  # fmt: skip

    def initiate(subscription_id):
        return Client().post(
            "/api/partner/checkout/subscription",
            {"order": {"order_type": "update_subscription", "forSubscription": {"id": subscription_id}}},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
            HTTP_X_LIMIO_RECAPTCHA="pass-token",
        )

    assert initiate(other["subscription"]["id"]).status_code == 404
    response = initiate(partner["subscription"]["id"])
    assert response.status_code == 200, response.content
    assert response.json()["order"]["forSubscription"]["id"] == partner["subscription"]["id"]
    assert Basket.objects.exclude(source="demo").get().partner.slug == partner["partner"]["slug"]


def test_second_customer_has_a_pending_change_that_locks_subscription_checkout():
    data = seed_json()
    pending = data["customerWithPendingChange"]
    subscription = Subscription.objects.get(reference=pending["subscription"]["reference"])
    offers = {offer["path"]: offer["id"] for offer in data["offers"]}

    assert set(pending) == {"email", "password", "access_token", "subscription"}
    assert subscription.customer.email == pending["email"] != data["customer"]["email"]
    assert subscription.offer_id == offers["/offers/premium"]
    assert subscription.pending_offer_id == offers["/offers/digital-annual"]
    assert subscription.pending_change_at == subscription.term_end > timezone.now()
    assert pending["subscription"]["pendingChange"] == {
        "offer": offers["/offers/digital-annual"],
        "effectiveAt": subscription.term_end.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }

    response = Client().post(
        "/api/checkout/subscription",
        {"order": {"order_type": "update_subscription", "forSubscription": {"name": subscription.reference}}},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {pending['access_token']}",
        HTTP_X_LIMIO_RECAPTCHA="pass-demo",
    )

    assert response.status_code == 423
    assert response.json()["details"]["lockedUntil"] == pending["subscription"]["pendingChange"]["effectiveAt"]
    assert Client().login(username=pending["email"], password=pending["password"])


# --- Issue 15: the staff user and the demo baskets ----------------------------------------------------


def test_the_staff_user_logs_in_to_the_admin_with_the_printed_password():
    data = seed_json()
    staff = data["staff"]

    assert staff["admin"] == "/admin/"
    assert f"  username:     {staff['username']}" in seed()
    client = Client()
    page = client.post("/admin/login/?next=/admin/", {"username": staff["username"], "password": staff["password"]})
    assert page.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert seed_json()["staff"] == staff


def test_demo_baskets_in_every_state_over_the_last_30_days():
    from baskets.selectors import abandoned_for_recovery
    from baskets.selectors.recovery_report import recovery_dashboard

    seed()
    demo = Basket.objects.filter(source="demo")
    now = timezone.now()

    assert {basket.status for basket in demo} == {BasketStatus.ACTIVE, BasketStatus.COMPLETED, BasketStatus.EXPIRED}
    assert set(demo.values_list("recovery_status", flat=True)) == set(RecoveryStatus.values)
    assert min(b.updated for b in demo) > now - timedelta(days=30)
    assert max(b.updated for b in demo) - min(b.updated for b in demo) > timedelta(days=20)
    abandoned = abandoned_for_recovery().filter(source="demo")
    assert abandoned.filter(email="").exists() and abandoned.exclude(email="").exists()
    assert abandoned.filter(recovery_status=RecoveryStatus.NOT_CONTACTED).exclude(email="").exists()
    assert demo.filter(status=BasketStatus.ACTIVE, updated__gt=now - timedelta(minutes=30)).exists()  # not yet
    assert RecoveryEmail.objects.filter(status=RecoveryEmail.Status.SKIPPED).exists()
    assert all(basket.total is not None and basket.total > 0 for basket in demo)
    recovered = demo.filter(recovery_status=RecoveryStatus.RECOVERED)
    assert all(b.status == BasketStatus.COMPLETED and b.recovered_amount == b.total for b in recovered)
    month = recovery_dashboard().windows[-1]
    assert month.abandoned > 0 and month.emails_sent > 0 and month.opened > 0 and month.recovered > 0
