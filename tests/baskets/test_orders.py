"""POST /api/order: one completion service for new, update and renewal orders (API.md §9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import yaml
from django.utils import timezone

from baskets.models import Basket, BasketEvent, BasketStatus, Payment, PromoCode, PromoRedemption
from baskets.payments import NO_PAYMENT_TAKEN, ManualPaymentGateway, PaymentGatewayError
from subscriptions import services as catalog_services
from subscriptions.models import Charge, Customer, Offer, Product, Subscription, SubscriptionAddOn
from tests.conftest import bearer
from tests.factories import (
    AccessTokenFactory,
    ApplicationFactory,
    BasketFactory,
    CustomerFactory,
    OfferFactory,
    OrderItemFactory,
    PromoCodeFactory,
    SubscriptionFactory,
)
from tests.statements import CEILING, assert_flat, max_data_statements

pytestmark = pytest.mark.django_db

URL = "/api/order"
NOW = datetime(2025, 1, 31, 12, tzinfo=UTC)
PASS = {"HTTP_X_LIMIO_RECAPTCHA": "pass-token"}


class FailingGateway(ManualPaymentGateway):
    """Fails to authorise (a gateway that calls nothing outside, so a test transaction may wrap it)."""

    name = "failing"

    def authorise(self, request):
        raise PaymentGatewayError(reason="timeout")


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


@pytest.fixture
def basket(storefront_app, offer, add_on):
    """A `new` basket of the storefront (client token): 12.99 monthly and the 2.50 add-on twice = 17.99."""
    basket = BasketFactory(application=storefront_app, created=NOW, email="ada@example.com", first_name="Ada")
    main = OrderItemFactory(basket=basket, offer=offer, position=0)
    OrderItemFactory(basket=basket, offer=add_on, position=1, parent=main, quantity=2)
    return basket


def submit(api_client, token, basket_or_id, **extra):
    checkout_id = basket_or_id if isinstance(basket_or_id, str) else basket_or_id.public_id
    headers = {key: value for key, value in extra.items() if key.startswith("HTTP_")}
    body = {"checkoutId": checkout_id, **{k: v for k, v in extra.items() if not k.startswith("HTTP_")}}
    return api_client.post(URL, body, format="json", **(bearer(token) if token else {}), **headers)


def written() -> dict[str, int]:
    """Row counts of everything completing an order writes."""
    return {
        "customers": Customer.objects.count(),
        "subscriptions": Subscription.objects.count(),
        "add_ons": SubscriptionAddOn.objects.count(),
        "payments": Payment.objects.count(),
        "redemptions": PromoRedemption.objects.count(),
        "events": BasketEvent.objects.count(),
        "completed": Basket.objects.filter(status=BasketStatus.COMPLETED).count(),
        "redeemed": sum(PromoCode.objects.values_list("redeemed_count", flat=True)),
    }


# --- New orders ---------------------------------------------------------------------------------


def test_new_order_creates_the_customer_subscription_and_manual_payment(
    api_client, storefront_token, basket, offer, add_on
):
    response = submit(api_client, storefront_token, basket, payment={"method": "invoice", "reference": "PO-42"})

    assert response.status_code == 200, response.json()
    body = response.json()
    customer = Customer.objects.get()
    subscription = Subscription.objects.get()
    assert (customer.email, customer.first_name) == ("ada@example.com", "Ada")
    assert (subscription.customer, subscription.offer, subscription.quantity) == (customer, offer, 1)
    # The offer's term: 12 months from now.
    assert (subscription.term_start, subscription.term_end) == (NOW, datetime(2026, 1, 31, 12, tzinfo=UTC))
    assert list(subscription.add_ons.values_list("offer_id", "quantity")) == [(add_on.id, 2)]
    assert set(body) == {"id", "checkoutId", "status", "order", "subscriptions", "payment"}
    assert body["id"] == f"order-{basket.id}"
    assert (body["checkoutId"], body["status"]) == (basket.public_id, "completed")
    assert body["subscriptions"] == [{"id": subscription.public_id, "reference": subscription.reference}]
    payment = Payment.objects.get()
    assert body["payment"] == {
        "id": f"pay-{payment.id}", "gateway": "manual", "status": "manual", "amount": "17.99", "currency": "GBP",
        "gatewayReference": "PO-42", "refundedAmount": "0.00", "created": "2025-01-31T12:00:00.000Z",
        "updated": "2025-01-31T12:00:00.000Z", "noPaymentTaken": True, "message": NO_PAYMENT_TAKEN,
    }  # fmt: skip
    assert body["order"]["completed"] is True
    assert body["order"]["status"] == "completed"
    assert body["order"]["totals"]["dueToday"] == "17.99"
    assert response["ETag"] == '"2"'
    assert (payment.basket_id, payment.gateway, payment.status) == (basket.id, "manual", "manual")
    assert (payment.amount, payment.currency, payment.method, payment.gateway_reference) == (
        Decimal("17.99"), "GBP", "invoice", "PO-42",
    )  # fmt: skip
    basket.refresh_from_db()
    assert (basket.status, basket.version, basket.completed_at, basket.customer) == ("completed", 2, NOW, customer)
    event = BasketEvent.objects.get(basket=basket)
    assert (event.kind, event.version, event.application) == ("completed", 2, storefront_token.application)
    assert event.data["subscriptions"] == [subscription.public_id]
    assert event.data["payment"] == {"gateway": "manual", "status": "manual", "id": str(payment.id)}


def test_every_offer_item_becomes_a_subscription(api_client, storefront_token, storefront_app, add_on):
    yearly = OfferFactory(name="Yearly", path="/offers/yearly", term_length=1, term_type="years")
    monthly = OfferFactory(name="Monthly", path="/offers/monthly", term_length=1, term_type="months")
    yearly.cross_sell_add_ons.add(add_on)
    basket = BasketFactory(application=storefront_app, email="ada@example.com")
    first = OrderItemFactory(basket=basket, offer=yearly, position=0, quantity=3)
    OrderItemFactory(basket=basket, offer=add_on, position=1, parent=first)
    OrderItemFactory(basket=basket, offer=monthly, position=2)

    response = submit(api_client, storefront_token, basket)

    assert response.status_code == 200, response.json()
    by_offer = {s.offer_id: s for s in Subscription.objects.all()}
    assert (by_offer[yearly.id].quantity, by_offer[yearly.id].term_end) == (3, datetime(2026, 1, 31, 12, tzinfo=UTC))
    assert by_offer[monthly.id].term_end == datetime(2025, 2, 28, 12, tzinfo=UTC)
    assert list(by_offer[yearly.id].add_ons.values_list("offer_id", flat=True)) == [add_on.id]
    assert not by_offer[monthly.id].add_ons.exists()
    assert [s["id"] for s in response.json()["subscriptions"]] == [
        by_offer[yearly.id].public_id, by_offer[monthly.id].public_id,
    ]  # fmt: skip


def test_request_customer_details_fill_in_and_override_the_basket(api_client, storefront_token, basket):
    Basket.objects.filter(pk=basket.pk).update(email="")
    details = {"email": "grace@example.com", "lastName": "Hopper"}

    response = submit(api_client, storefront_token, basket, customerDetails=details)

    assert response.status_code == 200, response.json()
    assert response.json()["order"]["customerDetails"] == {
        "email": "grace@example.com", "firstName": "Ada", "lastName": "Hopper", "companyName": "", "phone": "",
    }  # fmt: skip
    basket.refresh_from_db()
    assert (basket.email, basket.last_name) == ("grace@example.com", "Hopper")
    assert Customer.objects.get().email == "grace@example.com"


def test_an_existing_customer_is_found_by_email_in_any_case(api_client, storefront_token, basket):
    existing = CustomerFactory(email="Ada@Example.com")

    response = submit(api_client, storefront_token, basket)

    assert response.status_code == 200, response.json()
    assert Customer.objects.count() == 1
    assert Subscription.objects.get().customer == existing


def test_an_existing_customer_is_found_by_the_requests_email_in_any_case(api_client, storefront_token, basket):
    existing = CustomerFactory(email="Grace@Example.com")
    CustomerFactory(email=basket.email)  # the basket's own e-mail is not the order's

    response = submit(api_client, storefront_token, basket, customerDetails={"email": "grace@example.COM"})

    assert response.status_code == 200, response.json()
    assert Customer.objects.count() == 2
    assert Subscription.objects.get().customer == existing


def test_a_customer_tokens_basket_orders_for_that_customer(api_client, customer, customer_token, offer):
    basket = BasketFactory(
        application=customer_token.application, created_by_customer_token=True, customer=customer, email=""
    )
    OrderItemFactory(basket=basket, offer=offer)

    response = submit(api_client, customer_token, basket, customerDetails={"email": "other@example.com"})

    assert response.status_code == 200, response.json()
    assert Subscription.objects.get().customer == customer
    assert Customer.objects.count() == 1


def test_email_is_required(api_client, storefront_token, basket):
    Basket.objects.filter(pk=basket.pk).update(email="")
    before = written()

    response = submit(api_client, storefront_token, basket, customerDetails={"firstName": "Ada"})

    assert response.status_code == 400
    assert response.json()["code"] == "customer_email_required"
    assert written() == before
    basket.refresh_from_db()
    assert (basket.status, basket.version, basket.first_name) == ("active", 1, "Ada")


# --- Promo codes at completion --------------------------------------------------------------------


def test_promo_code_is_redeemed_with_its_discount(api_client, storefront_token, basket):
    promo = PromoCodeFactory(code="SPRING20", available_quantity=5, duration_length=3, duration_type="months")
    Basket.objects.filter(pk=basket.pk).update(promo_code=promo)

    response = submit(api_client, storefront_token, basket)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["payment"]["amount"] == "14.39"  # 17.99 - 3.60
    assert body["order"]["totals"] == {
        "subtotal": "17.99", "discount": "3.60", "total": "14.39", "currency": "GBP", "dueToday": "14.39",
    }  # fmt: skip
    assert body["order"]["promoCode"]["discountedUntil"] == "2025-04-30T12:00:00.000Z"
    promo.refresh_from_db()
    assert promo.redeemed_count == 1
    redemption = PromoRedemption.objects.get()
    assert (redemption.promo_code, redemption.basket_id, redemption.amount, redemption.currency) == (
        promo, basket.id, Decimal("3.60"), "GBP",
    )  # fmt: skip
    assert redemption.customer == Customer.objects.get()


@pytest.mark.django_db(transaction=True)
def test_an_exhausted_code_refuses_the_order_and_leaves_the_basket_active(
    api_client, storefront_token, basket, asserting_gateway
):
    promo = PromoCodeFactory(code="ONCE", available_quantity=1)
    Basket.objects.filter(pk=basket.pk).update(promo_code=promo)
    PromoCode.objects.filter(pk=promo.pk).update(redeemed_count=1)  # someone else's order took it
    before = written()

    response = submit(api_client, storefront_token, basket)

    assert response.status_code == 400
    assert response.json()["code"] == "promo_code_exhausted"
    assert asserting_gateway.calls == []  # refused before the payment
    assert written() == before
    basket.refresh_from_db()
    assert (basket.status, basket.version) == ("active", 1)


@pytest.mark.django_db(transaction=True)
def test_a_code_used_up_while_the_payment_is_authorised_voids_it(
    api_client, storefront_token, basket, asserting_gateway, monkeypatch
):
    """The guarded count under the lock decides: a code used up between the authorisation and the
    order's transaction refuses the order, and the authorisation is voided (nothing captured)."""
    from baskets.services import completion

    promo = PromoCodeFactory(code="ONCE", available_quantity=1)
    Basket.objects.filter(pk=basket.pk).update(promo_code=promo)
    authorise = completion.payment_authorise

    def authorise_then_lose_the_code(**kwargs):
        authorisation = authorise(**kwargs)
        PromoCode.objects.filter(pk=promo.pk).update(redeemed_count=1)  # another order took it meanwhile
        return authorisation

    monkeypatch.setattr(completion, "payment_authorise", authorise_then_lose_the_code)
    before = written()

    response = submit(api_client, storefront_token, basket)

    assert response.status_code == 400
    assert response.json()["code"] == "promo_code_exhausted"
    assert [method for method, _ in asserting_gateway.calls] == ["authorise", "void"]
    assert written() == {**before, "redeemed": 1}  # only the other order's redemption
    basket.refresh_from_db()
    assert (basket.status, basket.version) == ("active", 1)


# --- Re-validation ------------------------------------------------------------------------------


def _unpublish(ctx):
    Offer.objects.filter(pk=ctx["offer"].pk).update(published=False)
    return [{"code": "offer_not_found", "message": "This offer is no longer sold.", "orderItemId": ctx["main"]}]


def _reprice(ctx):
    Charge.objects.filter(offer=ctx["offer"]).update(amount=Decimal("13.99"))
    catalog_services.offer_refresh_version(offer=ctx["offer"])
    message = "This offer's price changed since it was added."
    return [{"code": "price_changed", "message": message, "orderItemId": ctx["main"]}]


def _reterm(ctx):
    Offer.objects.filter(pk=ctx["offer"].pk).update(term_length=24)
    catalog_services.offer_refresh_version(offer=Offer.objects.get(pk=ctx["offer"].pk))
    message = "This offer's products or term changed since it was added."
    return [{"code": "offer_version_stale", "message": message, "orderItemId": ctx["main"]}]


def _product_gone(ctx):
    product = ctx["offer"].products.get()
    Product.objects.filter(pk=product.pk).update(available=False)
    message = f"Product {product.product_code} is not available."
    return [{"code": "product_unavailable", "message": message, "orderItemId": ctx["main"]}]


def _quantity(ctx):
    Offer.objects.filter(pk=ctx["add_on"].pk).update(max_quantity=1)
    message = "Quantity must be between 1 and 1 for this offer."
    return [{"code": "quantity_out_of_range", "message": message, "orderItemId": ctx["child"]}]


def _promo(**fields):
    def mutate(ctx):
        promo = PromoCodeFactory(code="APPLIED")
        Basket.objects.filter(pk=ctx["basket"].pk).update(promo_code=promo)
        PromoCode.objects.filter(pk=promo.pk).update(**fields)
        return None

    return mutate


def _promo_not_applicable(ctx):
    promo = PromoCodeFactory(code="APPLIED", application_level="selectedItems", eligible_offers=[ctx["offer"]])
    Basket.objects.filter(pk=ctx["basket"].pk).update(promo_code=promo)
    promo.eligible_offers.set([OfferFactory(path="/offers/unrelated")])


def _empty(ctx):
    ctx["basket"].items.all().delete()
    return [{"code": "basket_empty", "message": "The basket has no order items."}]


REVALIDATION = {
    "offer_not_found": _unpublish,
    "price_changed": _reprice,
    "offer_version_stale": _reterm,
    "product_unavailable": _product_gone,
    "quantity_out_of_range": _quantity,
    "promo_code_inactive": _promo(active=False),
    "promo_code_expired": _promo(expires_at=NOW - timedelta(seconds=1)),
    "promo_code_not_started": _promo(starts_at=NOW + timedelta(days=1)),
    "promo_code_not_applicable": _promo_not_applicable,
    "basket_empty": _empty,
}


@pytest.mark.parametrize("case", list(REVALIDATION))
def test_revalidation_refuses_with_every_finding_and_writes_nothing(
    api_client, storefront_token, basket, offer, add_on, case
):
    main, child = (str(item.id) for item in basket.items.order_by("position"))
    ctx = {"basket": basket, "offer": offer, "add_on": add_on, "main": main, "child": child}
    expected = REVALIDATION[case](ctx)
    before = written()

    response = submit(api_client, storefront_token, basket)

    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "basket_invalid"
    findings = body["details"]["findings"]
    assert [finding["code"] for finding in findings] == [case]
    if expected is not None:
        assert findings == expected
    assert body["message"] == f"The basket cannot be completed: {findings[0]['message']}"
    assert written() == before
    basket.refresh_from_db()
    assert (basket.status, basket.version) == ("active", 1)


# --- Update and renewal orders ------------------------------------------------------------------


def monthly(amount: str):
    return [{"name": "Monthly", "amount": amount, "repeat_interval": 1, "repeat_interval_type": "months"}]


def test_update_subscription_order_applies_the_upgrade(api_client, customer, customer_token):
    current = OfferFactory(name="Standard", path="/offers/standard", charges=monthly("10.00"))
    upgrade = OfferFactory(name="Premium", path="/offers/premium", charges=monthly("20.00"))
    current.upgrade_offers.add(upgrade)
    subscription = SubscriptionFactory(
        customer=customer, offer=current, term_start=datetime(2025, 1, 1, tzinfo=UTC),
        term_end=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    initiated = api_client.post(
        "/api/checkout/subscription",
        {"order": {"order_type": "update_subscription", "forSubscription": {"id": subscription.public_id}}},
        format="json", **bearer(customer_token), **PASS,
    )  # fmt: skip
    assert initiated.status_code == 200, initiated.json()
    changed = api_client.put(
        "/api/checkout/subscription",
        {"order": {"orderItems": [{"orderItemActionType": "add", "offer": {"id": upgrade.id}}]}},
        format="json", **bearer(customer_token), **PASS,
    )  # fmt: skip
    assert changed.status_code == 200, changed.json()
    basket = Basket.objects.get()

    response = submit(api_client, customer_token, basket)

    assert response.status_code == 200, response.json()
    body = response.json()
    # Jan 31 12:00 in a 2025 term: 335 of 365 days left. Charge 240 * 335/365 = 220.27; credit for
    # the 120.00 paid, 120 * 335/365 = 110.136… → 110.13 (credits round down, issue 13; was 110.14).
    assert body["order"]["totals"]["dueToday"] == "110.14"
    payment = body["payment"]
    assert {key: payment[key] for key in ("gateway", "status", "amount", "currency", "noPaymentTaken")} == {
        "gateway": "manual", "status": "manual", "amount": "110.14", "currency": "GBP", "noPaymentTaken": True,
    }  # fmt: skip
    assert body["subscriptions"] == [{"id": subscription.public_id, "reference": subscription.reference}]
    assert body["order"]["forSubscription"]["id"] == subscription.public_id
    assert body["order"]["completed"] is True
    subscription.refresh_from_db()
    assert subscription.offer == upgrade
    basket.refresh_from_db()
    assert basket.status == "completed"
    assert basket.events.last().data["deferred"] is False
    assert Customer.objects.count() == 1


def test_renewal_order_extends_the_term_onto_the_renewal_offer(api_client, backoffice_token, customer, offer, add_on):
    successor = OfferFactory(name="Monthly 2026", path="/offers/monthly-2026", term_length=6)
    successor.cross_sell_add_ons.add(add_on)
    Offer.objects.filter(pk=offer.pk).update(renewal_offer=successor)
    subscription = SubscriptionFactory(
        customer=customer, offer=offer, term_start=NOW - timedelta(days=335), term_end=NOW + timedelta(days=30)
    )
    SubscriptionAddOn.objects.create(subscription=subscription, offer=add_on, quantity=2)
    initiated = api_client.post(
        "/api/admin/checkout/initiate/renew", {"subscriptionId": subscription.public_id}, format="json",
        **bearer(backoffice_token),
    )  # fmt: skip
    assert initiated.status_code == 200, initiated.json()
    basket = Basket.objects.get()
    old_end = subscription.term_end

    response = submit(api_client, backoffice_token, basket)

    assert response.status_code == 200, response.json()
    subscription.refresh_from_db()
    assert subscription.offer == successor
    assert subscription.term_end == old_end.replace(month=9)  # + the successor's 6 months
    assert list(subscription.add_ons.values_list("offer_id", "quantity")) == [(add_on.id, 2)]
    body = response.json()
    assert body["subscriptions"] == [{"id": subscription.public_id, "reference": subscription.reference}]
    assert body["payment"]["amount"] == "17.99"  # 12.99 + 2 x 2.50
    assert Subscription.objects.count() == 1


def test_a_lapsed_subscription_renews_from_now(api_client, backoffice_token, customer, offer):
    subscription = SubscriptionFactory(
        customer=customer, offer=offer, term_start=NOW - timedelta(days=400), term_end=NOW - timedelta(days=35)
    )
    initiated = api_client.post(
        "/api/admin/checkout/initiate/renew", {"subscriptionId": subscription.public_id}, format="json",
        **bearer(backoffice_token),
    )  # fmt: skip
    assert initiated.status_code == 200, initiated.json()

    response = submit(api_client, backoffice_token, Basket.objects.get())

    assert response.status_code == 200, response.json()
    subscription.refresh_from_db()
    assert (subscription.term_start, subscription.term_end) == (NOW, datetime(2026, 1, 31, 12, tzinfo=UTC))


# --- Completing once -----------------------------------------------------------------------------


def test_second_completion_is_409(api_client, storefront_token, basket):
    assert submit(api_client, storefront_token, basket).status_code == 200
    after_first = written()

    response = submit(api_client, storefront_token, basket)

    assert response.status_code == 409
    assert response.json()["code"] == "basket_completed"
    assert written() == after_first


def test_idempotency_key_replays_the_first_answer(api_client, storefront_token, basket):
    first = submit(api_client, storefront_token, basket, HTTP_IDEMPOTENCY_KEY="order-1")
    replay = submit(api_client, storefront_token, basket, HTTP_IDEMPOTENCY_KEY="order-1")

    assert (first.status_code, replay.status_code) == (200, 200)
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert first.get("Idempotent-Replayed") is None
    assert Subscription.objects.count() == 1
    assert Payment.objects.count() == 1
    reused = api_client.post(
        URL, {"checkoutId": basket.public_id, "payment": {"method": "card"}}, format="json",
        HTTP_IDEMPOTENCY_KEY="order-1", **bearer(storefront_token),
    )  # fmt: skip
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")


def test_expired_basket_is_410(api_client, storefront_token, basket):
    Basket.objects.filter(pk=basket.pk).update(expires_at=NOW)
    before = written()
    response = submit(api_client, storefront_token, basket)
    assert (response.status_code, response.json()["code"]) == (410, "basket_expired")
    assert written() == before


def test_completed_baskets_leave_the_abandoned_feed_and_refuse_updates(
    api_client, storefront_token, backoffice_token, basket, offer
):
    other = BasketFactory(application=storefront_token.application, created=NOW)
    feed = api_client.get("/api/checkout/abandoned", **bearer(backoffice_token))
    assert {item["id"] for item in feed.json()["items"]} == {basket.public_id, other.public_id}
    assert submit(api_client, storefront_token, basket).status_code == 200

    feed = api_client.get("/api/checkout/abandoned", **bearer(backoffice_token))
    api_client.cookies["limio_state"] = basket.public_id
    update = api_client.put(
        "/api/checkout/update",
        {"order": {"orderItems": [{"orderItemActionType": "add", "offer": {"id": offer.id}}]}},
        format="json",
        **bearer(storefront_token),
    )
    PromoCodeFactory(code="LATE")
    promo = api_client.post(
        "/api/admin/v2/promo_code", {"code": "LATE", "basketId": basket.public_id}, format="json",
        **bearer(backoffice_token),
    )  # fmt: skip

    assert [item["id"] for item in feed.json()["items"]] == [other.public_id]
    assert (update.status_code, update.json()["code"]) == (409, "basket_completed")
    assert (promo.status_code, promo.json()["code"]) == (409, "basket_completed")
    basket.refresh_from_db()
    assert (basket.version, basket.items.count(), basket.promo_code) == (2, 2, None)


# --- If-Match ------------------------------------------------------------------------------------


def test_if_match_with_a_stale_version_is_412_and_writes_nothing(api_client, storefront_token, basket):
    promo = PromoCodeFactory(code="SPRING20", available_quantity=5)
    Basket.objects.filter(pk=basket.pk).update(promo_code=promo, version=3)
    before = written()

    response = submit(api_client, storefront_token, basket, HTTP_IF_MATCH='"2"')

    assert response.status_code == 412
    assert response.json() == {
        "message": "The basket changed since you read it (If-Match does not match its version).",
        "code": "precondition_failed",
        "details": {"currentVersion": 3},
    }
    assert written() == before
    basket.refresh_from_db()
    assert (basket.status, basket.version, basket.customer) == ("active", 3, None)


@pytest.mark.parametrize("if_match", ['"3"', 'W/"3"', "3", "*"])
def test_if_match_with_the_current_version_completes_the_order(api_client, storefront_token, basket, if_match):
    Basket.objects.filter(pk=basket.pk).update(version=3)

    response = submit(api_client, storefront_token, basket, HTTP_IF_MATCH=if_match)

    assert response.status_code == 200, response.json()
    assert response["ETag"] == '"4"'
    assert (response.json()["status"], response.json()["order"]["version"]) == ("completed", 4)
    assert (Subscription.objects.count(), Payment.objects.count()) == (1, 1)


def test_staff_if_match_with_a_stale_version_is_412(api_client, backoffice_token, basket):
    before = written()

    response = submit(api_client, backoffice_token, basket, HTTP_IF_MATCH='"7"')

    assert (response.status_code, response.json()["details"]) == (412, {"currentVersion": 1})
    assert written() == before


@pytest.mark.parametrize("if_match", ["abc", '"1.0"', "²", "-1", "9" * 5000])
def test_a_malformed_if_match_is_400_and_writes_nothing(api_client, storefront_token, basket, if_match):
    before = written()

    response = submit(api_client, storefront_token, basket, HTTP_IF_MATCH=if_match)

    assert response.status_code == 400
    assert response.json() == {"message": 'If-Match must be a basket version, e.g. "3".', "code": "invalid_if_match"}
    assert written() == before
    basket.refresh_from_db()
    assert (basket.status, basket.version) == ("active", 1)


def test_a_stale_if_match_keeps_no_idempotency_key_and_a_retry_replays(api_client, storefront_token, basket):
    stale = submit(api_client, storefront_token, basket, HTTP_IF_MATCH='"0"', HTTP_IDEMPOTENCY_KEY="order-1")
    first = submit(api_client, storefront_token, basket, HTTP_IF_MATCH='"1"', HTTP_IDEMPOTENCY_KEY="order-1")
    # The retry of the placed order replays it, though its If-Match names the version it replaced.
    retry = submit(api_client, storefront_token, basket, HTTP_IF_MATCH='"1"', HTTP_IDEMPOTENCY_KEY="order-1")

    assert (stale.status_code, first.status_code, retry.status_code) == (412, 200, 200)
    assert first.get("Idempotent-Replayed") is None
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert retry["ETag"] == first["ETag"] == '"2"'
    assert (Subscription.objects.count(), Payment.objects.count()) == (1, 1)


# --- Payment gateway ------------------------------------------------------------------------------


def test_gateway_failure_is_502_and_nothing_is_written(api_client, storefront_token, basket, settings):
    settings.PAYMENT_GATEWAY = "tests.baskets.test_orders.FailingGateway"
    promo = PromoCodeFactory(code="SPRING20", available_quantity=1)
    Basket.objects.filter(pk=basket.pk).update(promo_code=promo)
    before = written()

    response = submit(api_client, storefront_token, basket, HTTP_IDEMPOTENCY_KEY="try-1")

    assert response.status_code == 502
    assert response.json() == {
        "message": "The payment gateway failed; no order was placed.", "code": "upstream_unavailable",
    }  # fmt: skip
    assert written() == before
    basket.refresh_from_db()
    assert (basket.status, basket.version, basket.customer) == ("active", 1, None)
    # The refused attempt kept neither the redemption nor the key: a retry can succeed.
    settings.PAYMENT_GATEWAY = "baskets.payments.ManualPaymentGateway"
    assert submit(api_client, storefront_token, basket, HTTP_IDEMPOTENCY_KEY="try-1").status_code == 200


# --- Ownership and auth -------------------------------------------------------------------------


@pytest.fixture
def tokens(storefront_app, storefront_token, other_storefront_token, backoffice_token):
    return {
        "none": None,
        "expired": AccessTokenFactory(application=storefront_app, scope="checkout", expires=NOW - timedelta(seconds=1)),
        "wrong_scope": AccessTokenFactory(application=ApplicationFactory(scopes="baskets:read"), scope="baskets:read"),
        "other_application": other_storefront_token,
        "other_customer": AccessTokenFactory(application=storefront_app, user=CustomerFactory().user, scope="checkout"),
        "owner": storefront_token,
        "admin": backoffice_token,
    }


AUTH_MATRIX = [
    ("none", 401, "unauthorized"),
    ("expired", 401, "unauthorized"),
    ("wrong_scope", 403, "insufficient_scope"),
    ("other_application", 404, "basket_not_found"),
    ("other_customer", 404, "basket_not_found"),
    ("owner", 200, None),
    ("admin", 200, None),
]


@pytest.mark.parametrize(("who", "status", "code"), AUTH_MATRIX)
def test_auth_matrix(api_client, tokens, basket, who, status, code):
    before = written()

    response = submit(api_client, tokens[who], basket)

    assert response.status_code == status, response.json()
    if code:
        assert response.json()["code"] == code
        assert written() == before
        basket.refresh_from_db()
        assert (basket.status, basket.version) == ("active", 1)
    else:
        assert Basket.objects.get().status == "completed"


def test_insufficient_scope_names_both_scopes(api_client, tokens, basket):
    response = submit(api_client, tokens["wrong_scope"], basket)
    assert response.json()["message"] == "This endpoint needs the 'checkout' or 'checkout:admin' scope."


@pytest.mark.parametrize("checkout_id", ["basket-00000000-0000-4000-8000-000000000000", "basket-nope", "order-123", ""])
def test_unknown_or_malformed_checkout_id(api_client, storefront_token, checkout_id):
    response = submit(api_client, storefront_token, checkout_id)
    assert response.status_code == (400 if checkout_id == "" else 404)
    assert response.json()["code"] == ("validation_error" if checkout_id == "" else "basket_not_found")


@pytest.mark.parametrize(
    "body",
    [{}, {"checkoutId": ["basket-x"]}, {"checkoutId": "basket-x", "customerDetails": {"email": "not an email"}},
     {"checkoutId": "basket-x", "payment": "cash"}],
)  # fmt: skip
def test_malformed_bodies_are_400(api_client, storefront_token, body):
    response = api_client.post(URL, body, format="json", **bearer(storefront_token))
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


# --- Query count ----------------------------------------------------------------------------------


def _basket_of(pairs: int, application, add_on, promo):
    basket = BasketFactory(application=application, email=f"buyer{pairs}@example.com", promo_code=promo)
    for n in range(pairs):
        offer = OfferFactory(name=f"Offer {pairs}-{n}", path=f"/offers/q-{pairs}-{n}")
        offer.cross_sell_add_ons.add(add_on)
        main = OrderItemFactory(basket=basket, offer=offer, position=2 * n)
        OrderItemFactory(basket=basket, offer=add_on, position=2 * n + 1, parent=main)
    return basket


@pytest.mark.usefixtures("token_cache_off")
@pytest.mark.django_db(transaction=True)
def test_query_count_does_not_grow_with_the_basket(api_client, storefront_token, add_on):
    promo = PromoCodeFactory(code="SPRING20", available_quantity=100)
    Offer.objects.filter(pk=add_on.pk).update(max_quantity=100)  # once per offer, summed across the basket
    small = _basket_of(1, storefront_token.application, add_on, promo)
    big = _basket_of(15, storefront_token.application, add_on, promo)

    # The token; the basket's lock; its items; their offers; the customer's INSERT; the promo
    # code's count and redemption; subscriptions; add-ons; payment; the basket; its event.
    with max_data_statements(CEILING) as small_queries:
        assert submit(api_client, storefront_token, small).status_code == 200
    with max_data_statements(CEILING) as big_queries:
        response = submit(api_client, storefront_token, big)

    assert response.status_code == 200, response.json()
    assert len(response.json()["subscriptions"]) == 15
    assert SubscriptionAddOn.objects.count() == 16
    assert_flat(small_queries, big_queries)


def test_schema_documents_both_scopes(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    order = schema["paths"]["/api/order"]["post"]
    promo = schema["paths"]["/api/admin/v2/promo_code"]["post"]
    assert order["security"] == [{"oauth2": ["checkout"]}, {"oauth2": ["checkout:admin"]}]
    assert promo["security"] == [{"oauth2": ["checkout:admin"]}]
    assert {"200", "400", "401", "403", "404", "409", "410", "502"} <= set(order["responses"])
