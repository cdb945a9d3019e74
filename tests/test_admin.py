"""The admin: every registered model opens, offers re-version on save, baskets stay read-only and cheap to list."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from oauth2_provider.models import Application

from baskets.models import Basket, BasketEvent, BasketStatus, OrderItem, Payment
from checkout_project.api.models import ClientProfile, IdempotencyRecord
from partners.models import Partner
from subscriptions.models import Charge, Customer, Offer, Product, Subscription, SubscriptionAddOn
from tests.factories import (
    ApplicationFactory,
    BasketFactory,
    CustomerFactory,
    OrderItemFactory,
    ProductFactory,
    SubscriptionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

OUR_MODELS = {
    Product, Offer, Customer, Subscription, Basket, Partner, ClientProfile, IdempotencyRecord, Application,
}  # fmt: skip


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def one_of_each(offer, add_on):
    """A saved row of every model the admin shows, linked the way the API links them."""
    partner = Partner.objects.create(name="Acme Resellers", slug="acme")
    customer = CustomerFactory()
    subscription = SubscriptionFactory(customer=customer, offer=offer)
    SubscriptionAddOn.objects.create(subscription=subscription, offer=add_on)
    subscription.pending_offer = offer
    subscription.pending_change = {"orderItems": []}
    subscription.save()
    basket = BasketFactory(customer=customer, partner=partner, email="ada@example.com")
    parent = OrderItemFactory(basket=basket, offer=offer)
    OrderItemFactory(basket=basket, offer=add_on, parent=parent, position=1)
    BasketEvent.objects.create(basket=basket, kind="created", version=1, application=basket.application)
    IdempotencyRecord.objects.create(client_key="1:-", key="k-1", request_hash="0" * 64, status_code=200, body={})
    return {
        Product: offer.products.get(),
        Offer: offer,
        Customer: customer,
        Subscription: subscription,
        Basket: basket,
        Partner: partner,
        ClientProfile: ClientProfile.objects.get(application=basket.application),
        IdempotencyRecord: IdempotencyRecord.objects.get(),
        Application: basket.application,
    }


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_model_of_the_brief_is_registered():
    assert set(admin.site._registry) >= OUR_MODELS


@pytest.mark.parametrize("model", sorted(OUR_MODELS, key=lambda m: m._meta.label), ids=lambda m: m._meta.label)
def test_changelist_and_change_form_open(staff_client, one_of_each, model):
    obj = one_of_each[model]

    changelist = staff_client.get(admin_url(model, "changelist"))
    change_form = staff_client.get(admin_url(model, "change", obj.pk))

    assert changelist.status_code == 200
    assert change_form.status_code == 200
    # The object is a row of the list, and the row links to its change form.
    assert obj.pk in [row.pk for row in changelist.context["cl"].result_list]
    assert f'href="{admin_url(model, "change", quote(obj.pk))}"' in changelist.content.decode()


@pytest.mark.parametrize(
    "model", [Product, Offer, Customer, Subscription, Partner, ClientProfile, Application], ids=lambda m: m._meta.label
)
def test_add_form_opens(staff_client, model):
    assert staff_client.get(admin_url(model, "add")).status_code == 200


def test_changelist_search_finds_a_basket_by_public_id(staff_client, one_of_each):
    basket = one_of_each[Basket]
    BasketFactory(email="someone-else@example.com")

    response = staff_client.get(admin_url(Basket, "changelist"), {"q": basket.public_id})

    assert [row.pk for row in response.context["cl"].result_list] == [basket.pk]


# --- Offers ----------------------------------------------------------------------------------


def form_data(response) -> dict:
    """The POST body a browser would send back for the admin change form in `response`, unchanged."""
    data: dict = {}

    def add_form(form):
        for name in form.fields:
            value = form[name].value()
            if value is None:
                continue
            if isinstance(value, bool):
                if value:
                    data[form.add_prefix(name)] = "on"
                continue
            data[form.add_prefix(name)] = [str(v) for v in value] if isinstance(value, list) else str(value)

    add_form(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        add_form(formset.management_form)
        for form in formset.forms:
            add_form(form)
    return data


def test_saving_an_offer_with_a_changed_charge_changes_its_version(staff_client, offer):
    before_version = offer.version
    charge = offer.charges.get()
    url = admin_url(Offer, "change", offer.pk)
    data = form_data(staff_client.get(url))
    assert data["charges-0-amount"] == "12.99"

    data["charges-0-amount"] = "14.99"
    response = staff_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    offer.refresh_from_db()
    assert Charge.objects.get(pk=charge.pk).amount == Decimal("14.99")
    assert offer.version != before_version
    assert len(offer.version) == 40
    assert offer.snapshot["version"] == offer.version
    assert [c["amount"] for c in offer.snapshot["price"]] == ["14.99"]


def test_saving_an_offer_unchanged_keeps_its_version(staff_client, offer):
    before = (offer.version, offer.snapshot)
    url = admin_url(Offer, "change", offer.pk)

    response = staff_client.post(url, form_data(staff_client.get(url)))

    assert response.status_code == 302, response.context["adminform"].form.errors
    offer.refresh_from_db()
    assert (offer.version, offer.snapshot) == before


def test_adding_a_product_in_the_admin_changes_the_version(staff_client, offer):
    before = offer.version
    extra = ProductFactory(path="/products/print", product_code="PRINT")
    url = admin_url(Offer, "change", offer.pk)
    data = form_data(staff_client.get(url))
    data["products"] = [*data["products"], str(extra.pk)]

    response = staff_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    offer.refresh_from_db()
    assert offer.version != before
    assert sorted(p["productCode"] for p in offer.snapshot["products"]) == sorted(
        [offer.products.exclude(pk=extra.pk).get().product_code, "PRINT"]
    )


def test_offer_version_and_snapshot_are_read_only(staff_client, offer):
    before = (offer.version, offer.snapshot)
    url = admin_url(Offer, "change", offer.pk)
    page = staff_client.get(url)
    assert page.status_code == 200
    assert {"version", "snapshot"}.isdisjoint(page.context["adminform"].form.fields)
    data = form_data(page)
    data.update({"version": "f" * 40, "snapshot": '{"name": "Tampered"}'})

    response = staff_client.post(url, data)

    # Saved (the form is otherwise unchanged), the posted version and snapshot ignored.
    assert response.status_code == 302, response.content.decode()[:2000]
    offer.refresh_from_db()
    assert (offer.version, offer.snapshot) == before


def test_creating_an_offer_in_the_admin_gives_it_a_version(staff_client):
    product = ProductFactory()
    url = admin_url(Offer, "add")
    data = form_data(staff_client.get(url))
    data.update({
        "name": "Weekend", "path": "/offers/weekend", "products": [str(product.pk)],
        "charges-TOTAL_FORMS": "1", "charges-0-amount": "9.99", "charges-0-position": "0",
        "charges-0-type": "recurring", "charges-0-repeat_interval": "1", "charges-0-repeat_interval_type": "months",
        "charges-0-delay_interval": "0", "charges-0-delay_interval_type": "months",
    })  # fmt: skip

    response = staff_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    offer = Offer.objects.get(path="/offers/weekend")
    assert len(offer.version) == 40
    assert offer.snapshot["price"][0]["amount"] == "9.99"


# --- Baskets ---------------------------------------------------------------------------------


def test_basket_admin_is_read_only(staff_client, one_of_each):
    basket = one_of_each[Basket]
    before = Basket.objects.values().get(pk=basket.pk)
    items_before = list(OrderItem.objects.filter(basket=basket).values())

    response = staff_client.post(
        admin_url(Basket, "change", basket.pk), {"status": BasketStatus.COMPLETED, "email": "evil@example.com"}
    )

    assert response.status_code == 403
    assert staff_client.get(admin_url(Basket, "add")).status_code == 403
    assert staff_client.post(admin_url(Basket, "delete", basket.pk), {"post": "yes"}).status_code == 403
    assert Basket.objects.values().get(pk=basket.pk) == before
    assert list(OrderItem.objects.filter(basket=basket).values()) == items_before


def test_basket_change_form_shows_items_and_events(staff_client, one_of_each):
    basket = one_of_each[Basket]

    response = staff_client.get(admin_url(Basket, "change", basket.pk))

    assert len(response.context["basket_lines"]) == 2
    assert len(response.context["basket_timeline"]) == 1
    assert [inline.formset.model for inline in response.context["inline_admin_formsets"]] == [Payment]


# --- Every changelist: no query per row ------------------------------------------------------------


def _rows(model):
    """A builder of one more row of `model`, each with relations of its own (so a per-row read shows)."""
    import secrets
    import uuid
    from datetime import timedelta

    from django.contrib.auth.models import Group
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult
    from oauth2_provider.models import AccessToken, Grant, IDToken, RefreshToken

    from baskets.models import PromoCode
    from baskets.payments.tasks import payment_capture_retry
    from subscriptions.models import AddOn
    from tests.factories import AccessTokenFactory, OfferFactory, PromoCodeFactory

    later = timezone.now() + timedelta(hours=1)

    def partner():
        return Partner.objects.create(name=f"Partner {uuid.uuid4().hex[:6]}", slug=uuid.uuid4().hex[:12])

    def add_on():
        created = OfferFactory(type="add_on")
        OfferFactory().cross_sell_add_ons.add(created)
        return created

    return {
        Group: lambda: Group.objects.create(name=uuid.uuid4().hex),
        get_user_model(): UserFactory,
        AccessToken: lambda: AccessTokenFactory(user=UserFactory()),
        Grant: lambda: Grant.objects.create(
            user=UserFactory(),
            application=ApplicationFactory(),
            code=secrets.token_hex(8),
            expires=later,
            redirect_uri="https://client.example/callback",
        ),
        IDToken: lambda: IDToken.objects.create(
            user=UserFactory(), application=ApplicationFactory(), jti=uuid.uuid4(), expires=later
        ),
        RefreshToken: lambda: RefreshToken.objects.create(
            user=UserFactory(),
            application=ApplicationFactory(),
            token=secrets.token_hex(8),
        ),
        ClientProfile: lambda: ApplicationFactory(user=UserFactory()),
        Application: lambda: ApplicationFactory(user=UserFactory()),
        IdempotencyRecord: lambda: IdempotencyRecord.objects.create(
            client_key=uuid.uuid4().hex, key="k", request_hash="0" * 64, status_code=200, body={}
        ),
        Product: ProductFactory,
        Offer: OfferFactory,
        AddOn: add_on,
        Customer: CustomerFactory,
        Subscription: lambda: SubscriptionFactory(pending_offer=OfferFactory(), pending_change_at=later),
        Basket: lambda: BasketFactory(partner=partner(), customer=CustomerFactory(), email="b@example.com"),
        PromoCode: PromoCodeFactory,
        Partner: partner,
        Payment: lambda: Payment.objects.create(
            basket=BasketFactory(),
            gateway="stripe",
            status="captured",
            amount=Decimal("9.99"),
            currency="GBP",
            gateway_reference=f"pi_{uuid.uuid4().hex}",
        ),
        DBTaskResult: lambda: payment_capture_retry.enqueue(str(uuid.uuid4())).db_result,
    }.get(model)


def changelist_queries(client, model) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(admin_url(model, "changelist"))
    assert response.status_code == 200
    return len(captured.captured_queries), len(response.context["cl"].result_list)


def test_every_changelist_has_a_row_builder_here():
    """A newly registered model must join the query-count test below."""
    assert [m._meta.label for m in admin.site._registry if _rows(m) is None] == []


@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda m: m._meta.label)
def test_no_changelist_reads_a_query_per_row(client, model):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    build = _rows(model)
    if build is None:
        pytest.fail(f"no row builder for {model._meta.label}")

    for _ in range(2):
        build()
    small, shown = changelist_queries(client, model)
    assert shown >= 2
    for _ in range(18):
        build()
    big, shown_big = changelist_queries(client, model)

    assert shown_big >= 20
    assert big == small, f"{model._meta.label}: {small} queries for {shown} rows, {big} for {shown_big}"


def basket_changelist_queries(staff_client) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        response = staff_client.get(admin_url(Basket, "changelist"))
    assert response.status_code == 200
    return len(captured.captured_queries), len(response.context["cl"].result_list)


def test_basket_changelist_query_count_does_not_grow_with_baskets(staff_client):
    partners = [Partner.objects.create(name=f"Partner {n}", slug=f"p-{n}") for n in range(3)]

    def make_baskets(count):
        for n in range(count):
            BasketFactory(partner=partners[n % 3], customer=CustomerFactory(), email=f"b{n}@example.com")

    make_baskets(2)
    small, shown = basket_changelist_queries(staff_client)
    assert shown == 2
    make_baskets(18)
    big, shown = basket_changelist_queries(staff_client)
    assert shown == 20

    assert big == small


def test_application_admin_edits_the_client_profile_inline(staff_client):
    app = ApplicationFactory(name="storefront", scopes="checkout")
    url = admin_url(Application, "change", app.pk)
    data = form_data(staff_client.get(url))
    assert data["profile-0-allowed_scopes"] == "checkout"

    data["profile-0-allowed_scopes"] = "checkout baskets:read"
    response = staff_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert ClientProfile.objects.get(application=app).scopes == ["checkout", "baskets:read"]


def test_client_profile_refuses_unknown_scopes(staff_client):
    app = ApplicationFactory(name="storefront", scopes="checkout")
    url = admin_url(Application, "change", app.pk)
    data = form_data(staff_client.get(url))
    data["profile-0-allowed_scopes"] = "checkout everything"

    response = staff_client.post(url, data)

    assert response.status_code == 200
    assert "everything" in str(response.context["inline_admin_formsets"][-1].formset.errors)
    assert ClientProfile.objects.get(application=app).scopes == ["checkout"]
