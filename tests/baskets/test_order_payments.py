"""POST /api/order takes the money in two phases (API.md §10): authorised before the completion
transaction, recorded inside it, captured after the commit, voided when the transaction refuses.

With tests.payments.AssertingGateway (which fails when called inside a transaction) for new,
change and renewal orders, and end to end against localstripe (tests/stripe_server.py) through
the endpoint: declines, 3-D Secure, mismatched PaymentIntents, a completed basket, replays.
Everything commits for real (transactional_db).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from baskets.models import Basket, BasketEvent, BasketStatus, Payment, PaymentHold, PromoRedemption
from baskets.services import completion
from subscriptions.models import Customer, Subscription, SubscriptionAddOn
from tests.conftest import bearer
from tests.factories import BasketFactory, OfferFactory, OrderItemFactory, SubscriptionFactory
from tests.stripe_server import CARD_DECLINED_ON_CHARGE, CARD_NEEDS_3DS, CARD_OK
from tests.subscription_flows import change_basket

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/order"


@pytest.fixture
def basket(storefront_app, offer, add_on):
    """12.99 monthly and the 2.50 add-on twice = 17.99."""
    basket = BasketFactory(application=storefront_app, email="ada@example.com")
    main = OrderItemFactory(basket=basket, offer=offer, position=0)
    OrderItemFactory(basket=basket, offer=add_on, position=1, parent=main, quantity=2)
    return basket


def order(client, token, basket, payment=None, **headers):
    body: dict = {"checkoutId": basket.public_id}
    if payment is not None:
        body["payment"] = payment
    # json.dumps escapes lone surrogates (\ud800), as a client sending them would.
    return client.post(URL, json.dumps(body), content_type="application/json", **bearer(token), **headers)


def written() -> dict[str, int]:
    return {
        "customers": Customer.objects.count(),
        "subscriptions": Subscription.objects.count(),
        "payments": Payment.objects.count(),
        "holds": PaymentHold.objects.count(),
        "redemptions": PromoRedemption.objects.count(),
        "events": BasketEvent.objects.count(),
    }


def methods(script) -> list[str]:
    return [method for method, _ in script.calls]


def monthly(amount: str):
    return [{"name": "Monthly", "amount": amount, "repeat_interval": 1, "repeat_interval_type": "months"}]


# --- The asserting gateway: never inside a transaction ------------------------------------------


def test_a_new_order_is_authorised_then_captured_after_its_commit(
    api_client, storefront_token, basket, asserting_gateway
):
    response = order(api_client, storefront_token, basket, {"paymentMethodId": "pm_card_visa"})

    assert response.status_code == 200, response.json()
    assert methods(asserting_gateway) == ["authorise", "capture"]
    payment = Payment.objects.get()
    assert (payment.status, str(payment.amount), payment.gateway_reference) == ("captured", "17.99", "auth_1")
    # The response shows the payment as recorded in the transaction (captured just after it).
    wire = response.json()["payment"]
    assert (wire["gateway"], wire["status"], wire["amount"], wire["noPaymentTaken"]) == (
        "asserting", "authorised", "17.99", False,
    )  # fmt: skip
    assert (PaymentHold.objects.get().state, Basket.objects.get().status) == ("recorded", "completed")
    customer = Customer.objects.get()
    assert (customer.payment_customer_id, customer.default_payment_method_id) == ("cus_asserting", "pm_card_visa")


def test_a_subscription_change_is_paid_outside_the_transaction(api_client, customer, customer_token, asserting_gateway):
    current = OfferFactory(name="Standard", path="/offers/standard", charges=monthly("10.00"))
    upgrade = OfferFactory(name="Premium", path="/offers/premium", charges=monthly("20.00"))
    current.upgrade_offers.add(upgrade)
    now = datetime.now(UTC)
    subscription = SubscriptionFactory(
        customer=customer, offer=current, term_start=now - timedelta(days=10), term_end=now + timedelta(days=355)
    )
    basket = change_basket(api_client, customer_token, subscription, upgrade)

    response = order(api_client, customer_token, basket)

    assert response.status_code == 200, response.json()
    assert methods(asserting_gateway) == ["authorise", "capture"]
    assert Subscription.objects.get().offer_id == upgrade.id
    payment = Payment.objects.get()
    assert payment.status == "captured"
    assert str(payment.amount) == response.json()["order"]["totals"]["dueToday"]


def test_a_renewal_is_paid_outside_the_transaction(
    api_client, backoffice_token, customer, offer, add_on, asserting_gateway
):
    now = datetime.now(UTC)
    subscription = SubscriptionFactory(
        customer=customer, offer=offer, term_start=now - timedelta(days=335), term_end=now + timedelta(days=30)
    )
    SubscriptionAddOn.objects.create(subscription=subscription, offer=add_on, quantity=2)
    initiated = api_client.post(
        "/api/admin/checkout/initiate/renew", {"subscriptionId": subscription.public_id}, format="json",
        **bearer(backoffice_token),
    )  # fmt: skip
    assert initiated.status_code == 200, initiated.json()

    response = order(api_client, backoffice_token, Basket.objects.get())

    assert response.status_code == 200, response.json()
    assert methods(asserting_gateway) == ["authorise", "capture"]
    assert (Payment.objects.get().status, str(Payment.objects.get().amount)) == ("captured", "17.99")
    assert Subscription.objects.get().term_end > subscription.term_end


def test_a_declined_card_is_402_and_nothing_is_written(api_client, storefront_token, basket, asserting_gateway):
    asserting_gateway.decline = "insufficient_funds"
    before = written()

    response = order(api_client, storefront_token, basket, {"paymentMethodId": "pm_x"})

    assert response.status_code == 402
    assert (response.json()["code"], response.json()["details"]) == (
        "payment_declined",
        {"declineCode": "insufficient_funds"},
    )
    assert written() == before
    assert (Basket.objects.get().status, Basket.objects.get().version) == ("active", 1)


def test_a_completed_basket_is_409_without_touching_the_gateway(
    api_client, storefront_token, basket, asserting_gateway
):
    assert order(api_client, storefront_token, basket).status_code == 200
    asserting_gateway.calls.clear()
    before = written()

    again = order(api_client, storefront_token, basket)

    assert (again.status_code, again.json()["code"]) == (409, "basket_completed")
    assert asserting_gateway.calls == []
    assert written() == before


def test_a_basket_changed_while_authorising_is_409_basket_changed_and_voided(
    api_client, storefront_token, basket, asserting_gateway, monkeypatch, offer
):
    authorise = completion.payment_authorise

    def authorise_then_change(**kwargs):
        authorisation = authorise(**kwargs)
        # Another request changes the basket meanwhile (a new item, a new version).
        with transaction.atomic():
            OrderItemFactory(basket=basket, offer=offer, position=5)
            Basket.objects.filter(pk=basket.pk).update(version=2)
        return authorisation

    monkeypatch.setattr(completion, "payment_authorise", authorise_then_change)
    before = written()

    response = order(api_client, storefront_token, basket)

    assert (response.status_code, response.json()["code"]) == (409, "basket_changed")
    assert methods(asserting_gateway) == ["authorise", "void"]
    assert written() == {**before, "holds": 1}
    assert PaymentHold.objects.get().state == "released"
    assert Basket.objects.get().status == BasketStatus.ACTIVE


def test_a_gateway_failure_is_502_and_nothing_is_written(api_client, storefront_token, basket, asserting_gateway):
    asserting_gateway.fail = {"authorise"}
    before = written()

    response = order(api_client, storefront_token, basket)

    assert (response.status_code, response.json()["code"]) == (502, "upstream_unavailable")
    assert written() == before


def test_a_failed_capture_keeps_the_order_and_marks_the_payment(
    api_client, storefront_token, basket, asserting_gateway
):
    asserting_gateway.fail = {"capture"}

    response = order(api_client, storefront_token, basket)

    assert response.status_code == 200, response.json()
    assert (Basket.objects.get().status, Payment.objects.get().status) == ("completed", "capture_failed")


def test_an_idempotency_key_replays_the_first_answer_and_authorises_once(
    api_client, storefront_token, basket, asserting_gateway
):
    first = order(api_client, storefront_token, basket, HTTP_IDEMPOTENCY_KEY="order-1")
    replay = order(api_client, storefront_token, basket, HTTP_IDEMPOTENCY_KEY="order-1")

    assert (first.status_code, replay.status_code) == (200, 200)
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert methods(asserting_gateway) == ["authorise", "capture"]
    assert Payment.objects.count() == 1


def test_a_refused_order_gives_its_idempotency_key_back(api_client, storefront_token, basket, asserting_gateway):
    asserting_gateway.decline = "card_declined"
    assert order(api_client, storefront_token, basket, HTTP_IDEMPOTENCY_KEY="k").status_code == 402
    asserting_gateway.decline = ""

    retry = order(api_client, storefront_token, basket, HTTP_IDEMPOTENCY_KEY="k")

    assert retry.status_code == 200, retry.json()
    assert retry.get("Idempotent-Replayed") is None


@pytest.mark.parametrize(
    "payment",
    [
        {"paymentMethodId": "pm_\x00"},
        {"paymentMethodId": "pm_\ud800"},
        {"paymentIntentId": "pi_" + "x" * 300},
        {"paymentIntentId": "pi 1"},
        {"paymentMethodId": ["pm_1"]},
        {"paymentMethodId": "pm_1", "paymentIntentId": "pi_1"},
        {"reference": "\ud800"},
    ],
)
def test_a_malformed_payment_is_400_validation_error(api_client, storefront_token, basket, asserting_gateway, payment):
    response = order(api_client, storefront_token, basket, payment)

    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert asserting_gateway.calls == []
    assert Basket.objects.get().status == "active"


@pytest.mark.requires_postgres
def test_the_gateways_latency_does_not_lengthen_the_basket_lock(
    api_client, storefront_token, basket, asserting_gateway
):
    """While the gateway takes 200 ms to authorise, another request locking the basket's row does
    not wait for it: the authorisation happens before the completion's transaction locks anything."""
    asserting_gateway.sleep = 0.2
    responses: list = []

    def place() -> None:
        from django.db import connection
        from rest_framework.test import APIClient

        try:
            responses.append(order(APIClient(), storefront_token, basket))
        finally:
            connection.close()

    thread = threading.Thread(target=place)
    started = time.monotonic()
    thread.start()
    while not asserting_gateway.calls and time.monotonic() - started < 10:
        time.sleep(0.005)
    assert methods(asserting_gateway) == ["authorise"]  # the gateway is sleeping now
    waited_from = time.monotonic()
    with transaction.atomic():
        Basket.objects.select_for_update().get(pk=basket.pk)
        waited = time.monotonic() - waited_from
    thread.join(timeout=30)

    assert responses[0].status_code == 200, responses[0].json()
    assert time.monotonic() - started >= 0.2  # the gateway did sleep
    assert waited < 0.1, f"the basket's lock was waited on for {waited:.3f}s"


# --- Stripe, end to end through the endpoint (localstripe) --------------------------------------


def card(client, number: str = CARD_OK) -> str:
    method = client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
    )
    return method.id


def intents_of(client, basket) -> list:
    return [
        intent
        for intent in client.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter()
        if intent.metadata.to_dict().get("basket_id") == basket.public_id
    ]


def test_stripe_an_order_is_captured_after_its_commit(api_client, storefront_token, basket, stripe_client):
    response = order(api_client, storefront_token, basket, {"paymentMethodId": card(stripe_client)})

    assert response.status_code == 200, response.json()
    payment = Payment.objects.get()
    assert (payment.gateway, payment.status, str(payment.amount)) == ("stripe", "captured", "17.99")
    assert response.json()["payment"]["gatewayReference"] == payment.gateway_reference
    intent = stripe_client.v1.payment_intents.retrieve(payment.gateway_reference)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 1799, "gbp")
    assert Basket.objects.get().status == "completed"


def test_stripe_a_declined_card_is_402_and_nothing_is_written(api_client, storefront_token, basket, stripe_client):
    before = written()

    response = order(
        api_client, storefront_token, basket, {"paymentMethodId": card(stripe_client, CARD_DECLINED_ON_CHARGE)}
    )

    assert response.status_code == 402, response.json()
    assert response.json()["code"] == "payment_declined"
    assert response.json()["details"]["declineCode"]
    assert written() == before
    assert Basket.objects.get().status == "active"


def test_stripe_3d_secure_is_402_with_the_client_secret(api_client, storefront_token, basket, stripe_client):
    response = order(api_client, storefront_token, basket, {"paymentMethodId": card(stripe_client, CARD_NEEDS_3DS)})

    assert response.status_code == 402, response.json()
    assert response.json()["code"] == "payment_requires_action"
    assert response.json()["details"]["clientSecret"]
    assert (Payment.objects.count(), Basket.objects.get().status) == (0, "active")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount": 1800}, "payment_intent_amount_mismatch"),
        ({"currency": "eur"}, "payment_intent_currency_mismatch"),
        ({"other_basket": True}, "payment_intent_basket_mismatch"),
    ],
)
def test_stripe_a_mismatched_payment_intent_is_400_and_nothing_is_written(
    api_client, storefront_token, basket, stripe_client, change, code
):
    target = BasketFactory() if change.get("other_basket") else basket
    intent = stripe_client.v1.payment_intents.create(
        params={
            "amount": change.get("amount", 1799), "currency": change.get("currency", "gbp"),
            "payment_method": card(stripe_client), "capture_method": "manual", "confirm": True,
            "metadata": {"basket_id": target.public_id},
        }
    )  # fmt: skip
    before = written()

    response = order(api_client, storefront_token, basket, {"paymentIntentId": intent.id})

    assert (response.status_code, response.json()["code"]) == (400, code)
    assert written() == before
    assert stripe_client.v1.payment_intents.retrieve(intent.id).status == "requires_capture"  # not ours to cancel


def test_stripe_a_second_order_on_a_completed_basket_is_409_and_charges_nothing(
    api_client, storefront_token, basket, stripe_client
):
    assert order(api_client, storefront_token, basket, {"paymentMethodId": card(stripe_client)}).status_code == 200
    intents = len(intents_of(stripe_client, basket))

    again = order(api_client, storefront_token, basket, {"paymentMethodId": card(stripe_client)})

    assert (again.status_code, again.json()["code"]) == (409, "basket_completed")
    assert len(intents_of(stripe_client, basket)) == intents == 1
    assert Payment.objects.count() == 1


def test_stripe_every_step_replayed_captures_once(api_client, storefront_token, basket, stripe_client):
    from baskets.payments.gateways import Authorisation
    from baskets.payments.services import payment_capture, payment_void

    method = card(stripe_client)
    first = order(api_client, storefront_token, basket, {"paymentMethodId": method}, HTTP_IDEMPOTENCY_KEY="k1")
    replay = order(api_client, storefront_token, basket, {"paymentMethodId": method}, HTTP_IDEMPOTENCY_KEY="k1")
    assert (first.status_code, replay.status_code, replay["Idempotent-Replayed"]) == (200, 200, "true")
    assert replay.json() == first.json()
    payment = Payment.objects.get()

    # The same PaymentIntent sent again in another order: the basket is completed, nothing moves.
    again = order(api_client, storefront_token, basket, {"paymentIntentId": payment.gateway_reference})
    assert (again.status_code, again.json()["code"]) == (409, "basket_completed")
    # Capture run twice, then a void after the capture: nothing captured twice, nothing given back.
    assert payment_capture(payment_id=payment.id).status == "captured"
    assert payment_capture(payment_id=payment.id).status == "captured"
    assert payment_void(authorisation=Authorisation.of_payment(payment)) is False

    intents = intents_of(stripe_client, basket)
    assert [(intent.status, intent.amount) for intent in intents] == [("succeeded", 1799)]
    assert (
        sum(refund.amount for refund in stripe_client.v1.refunds.list(params={"payment_intent": intents[0].id}).data)
        == 0
    )
    assert Payment.objects.get().status == "captured"


def test_stripe_a_payment_intent_sent_twice_to_an_active_basket_is_held_once(
    api_client, storefront_token, basket, stripe_client, monkeypatch
):
    """Two orders with the same client-confirmed PaymentIntent: the second is refused (409
    payment_in_progress) while the first holds it, and never voids it."""
    intent = stripe_client.v1.payment_intents.create(
        params={
            "amount": 1799, "currency": "gbp", "payment_method": card(stripe_client), "capture_method": "manual",
            "confirm": True, "metadata": {"basket_id": basket.public_id},
        }
    )  # fmt: skip
    authorise = completion.payment_authorise
    seconds: list = []

    def authorise_then_a_second_request(**kwargs):
        authorisation = authorise(**kwargs)
        if not seconds:
            seconds.append(order(api_client, storefront_token, basket, {"paymentIntentId": intent.id}))
        return authorisation

    monkeypatch.setattr(completion, "payment_authorise", authorise_then_a_second_request)
    response = order(api_client, storefront_token, basket, {"paymentIntentId": intent.id})

    assert response.status_code == 200, response.json()
    assert (seconds[0].status_code, seconds[0].json()["code"]) == (409, "payment_in_progress")
    assert stripe_client.v1.payment_intents.retrieve(intent.id).status == "succeeded"
    assert Payment.objects.count() == 1
