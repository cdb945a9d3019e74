"""The Stripe gateway against a real Stripe-compatible server (localstripe, tests/stripe_server.py):
no mock of the SDK. Authorise, capture, void and refund; declines and 3-D Secure; client-confirmed
PaymentIntents checked server-side; every step replayed, and nobody charged twice.

These tests complete baskets with tests.payments.place_order, the completion sequence
baskets/payments/__init__.py documents, so they commit for real (transactional_db).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection

from baskets.errors import (
    BasketCompleted,
    PaymentDeclined,
    PaymentGatewayError,
    PaymentInProgress,
    PaymentIntentMismatch,
    PaymentRequiresAction,
    RefundRefused,
)
from baskets.models import BasketEvent, Payment, PaymentHold
from baskets.payments.services import payment_authorise, payment_capture, payment_refund, payment_void
from baskets.payments.stripe_gateway import StripePaymentGateway, to_minor_units
from checkout_project.api.errors import ApplicationError, exception_handler
from subscriptions.models import Customer
from tests.factories import BasketFactory, CustomerFactory
from tests.payments import place_order
from tests.stripe_server import CARD_DECLINED_ON_ATTACH, CARD_DECLINED_ON_CHARGE, CARD_NEEDS_3DS, CARD_OK

pytestmark = pytest.mark.django_db(transaction=True)

STAFF = None  # refunds by the system in these tests; the admin's are in test_payment_admin.py


def card(client, number: str = CARD_OK) -> str:
    """A payment method for a test card, as Stripe.js would create it in the customer's browser."""
    method = client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
    )
    return method.id


def intents_of(client, basket) -> list:
    """Every PaymentIntent localstripe holds for this basket (its metadata)."""
    return [
        intent
        for intent in client.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter()
        if intent.metadata.to_dict().get("basket_id") == basket.public_id
    ]


def refunded_at_stripe(client, intent_id: str) -> int:
    return sum(refund.amount for refund in client.v1.refunds.list(params={"payment_intent": intent_id}).data)


def rendered(exc: ApplicationError) -> tuple[int, dict]:
    response = exception_handler(exc, {})
    return response.status_code, response.data


@pytest.fixture
def basket(stripe_settings):
    return BasketFactory(email="ada@example.com")


def test_an_order_is_authorised_before_and_captured_after_its_transaction(stripe_client, basket):
    method = card(stripe_client)

    payment = place_order(basket, {"paymentMethodId": method})

    assert (payment.gateway, payment.status, payment.amount, payment.currency) == (
        "stripe", "captured", Decimal("17.99"), "GBP",
    )  # fmt: skip
    assert (payment.capture_attempts, payment.next_capture_at, payment.last_error) == (1, None, "")
    (intent,) = intents_of(stripe_client, basket)
    assert intent.id == payment.gateway_reference
    assert (intent.status, intent.amount, intent.currency, intent.capture_method) == (
        "succeeded",
        1799,
        "gbp",
        "manual",
    )
    assert intent.metadata.to_dict() == {
        "basket_id": basket.public_id,
        "basket_version": "1",
        "order_id": f"order-{basket.id}",
    }
    # The card is kept on our customer for renewals: the Stripe customer it was paid with, and itself.
    customer = Customer.objects.get(email="ada@example.com")
    assert (customer.payment_customer_id, customer.default_payment_method_id) == (intent.customer, method)
    assert stripe_client.v1.customers.retrieve(intent.customer).email == "ada@example.com"
    assert PaymentHold.objects.get().state == "recorded"
    events = list(BasketEvent.objects.filter(basket=basket).values_list("kind", "data"))
    assert [kind for kind, _ in events] == ["completed", "payment_captured"]
    assert events[1][1] == {"payment": str(payment.id), "status": "captured", "from": "authorised", "attempt": 1}


def test_the_saved_card_pays_later_without_the_customer(stripe_client, basket):
    """What off-session renewals need is stored: the customer and the card charge with nobody present."""
    place_order(basket, {"paymentMethodId": card(stripe_client)})
    customer = Customer.objects.get()

    renewal = stripe_client.v1.payment_intents.create(
        params={
            "amount": 1799, "currency": "gbp", "customer": customer.payment_customer_id,
            "payment_method": customer.default_payment_method_id, "off_session": True, "confirm": True,
        }
    )  # fmt: skip

    assert renewal.status == "succeeded"


def test_a_second_order_reuses_the_stripe_customer(stripe_client, basket):
    place_order(basket, {"paymentMethodId": card(stripe_client)})
    first = Customer.objects.get().payment_customer_id
    second_card = card(stripe_client)

    second = place_order(BasketFactory(email="ada@example.com"), {"paymentMethodId": second_card})

    assert stripe_client.v1.payment_intents.retrieve(second.gateway_reference).customer == first
    assert (Customer.objects.count(), Customer.objects.get().default_payment_method_id) == (1, second_card)


def test_the_completion_refusing_voids_the_authorisation(stripe_client, basket):
    with pytest.raises(BasketCompleted):
        place_order(basket, {"paymentMethodId": card(stripe_client)}, refuse=BasketCompleted())

    (intent,) = intents_of(stripe_client, basket)
    assert intent.status == "canceled"
    assert not Payment.objects.exists()
    assert PaymentHold.objects.get().state == "released"
    basket.refresh_from_db()
    assert (basket.status, basket.version) == ("active", 1)


def test_a_declined_card_is_402_payment_declined_and_nothing_is_written(stripe_client, basket):
    customers = CustomerFactory(email="ada@example.com")

    with pytest.raises(PaymentDeclined) as declined:
        place_order(basket, {"paymentMethodId": card(stripe_client, CARD_DECLINED_ON_CHARGE)})

    assert rendered(declined.value) == (402, {
        "message": "The card was declined; no order was placed. Try another card.",
        "code": "payment_declined",
        "details": {"declineCode": "card_declined"},
    })  # fmt: skip
    assert (Payment.objects.count(), PaymentHold.objects.count(), BasketEvent.objects.count()) == (0, 0, 0)
    customers.refresh_from_db()
    assert (customers.payment_customer_id, customers.default_payment_method_id) == ("", "")
    basket.refresh_from_db()
    assert (basket.status, basket.version) == ("active", 1)


def test_3d_secure_is_402_with_the_client_secret_then_the_confirmed_intent_pays(stripe_client, basket):
    with pytest.raises(PaymentRequiresAction) as action:
        place_order(basket, {"paymentMethodId": card(stripe_client, CARD_NEEDS_3DS)})

    status, body = rendered(action.value)
    (intent,) = intents_of(stripe_client, basket)
    assert (status, body["code"]) == (402, "payment_requires_action")
    assert body["details"] == {"clientSecret": intent.client_secret, "paymentIntentId": intent.id}
    assert intent.status == "requires_action"
    assert (Payment.objects.count(), PaymentHold.objects.count()) == (0, 0)
    # The customer authenticates in the browser (Stripe.js; here localstripe's endpoint for it).
    stripe_client.raw_request(
        "post", f"/v1/payment_intents/{intent.id}/_authenticate", client_secret=intent.client_secret, success="true"
    )

    payment = place_order(basket, {"paymentIntentId": intent.id})

    assert (payment.status, payment.gateway_reference) == ("captured", intent.id)
    assert stripe_client.v1.payment_intents.retrieve(intent.id).status == "succeeded"


def confirmed_intent(client, basket, *, amount=1799, currency="gbp", capture_method="manual", method=None):
    """A PaymentIntent the client confirmed itself (as the hosted page does with Stripe.js)."""
    return client.v1.payment_intents.create(
        params={
            "amount": amount, "currency": currency, "payment_method": method or card(client),
            "capture_method": capture_method, "confirm": True, "metadata": {"basket_id": basket.public_id},
        }
    )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "code", "details"),
    [
        ({"amount": 1800}, "payment_intent_amount_mismatch", {"expected": "17.99", "actual": "18.00"}),
        ({"currency": "eur"}, "payment_intent_currency_mismatch", {"expected": "GBP", "actual": "EUR"}),
        ({"other_basket": True}, "payment_intent_basket_mismatch", None),
        ({"unconfirmed": True}, "payment_intent_status_invalid", {"status": "requires_confirmation"}),
        ({"canceled": True}, "payment_intent_status_invalid", {"status": "canceled"}),
        ({"unknown": True}, "payment_intent_not_found", None),
    ],
)
def test_a_client_confirmed_payment_intent_is_checked_server_side(stripe_client, basket, change, code, details):
    if change.get("unknown"):
        intent_id = "pi_doesnotexist"
    elif change.get("unconfirmed"):
        intent_id = stripe_client.v1.payment_intents.create(
            params={"amount": 1799, "currency": "gbp", "metadata": {"basket_id": basket.public_id},
                    "payment_method": card(stripe_client), "capture_method": "manual"}
        ).id  # fmt: skip
    else:
        target = BasketFactory() if change.get("other_basket") else basket
        kwargs = {key: value for key, value in change.items() if key in {"amount", "currency"}}
        intent_id = confirmed_intent(stripe_client, target, **kwargs).id
        if change.get("canceled"):
            stripe_client.v1.payment_intents.cancel(intent_id)

    with pytest.raises(PaymentIntentMismatch) as mismatch:
        place_order(basket, {"paymentIntentId": intent_id})

    status, body = rendered(mismatch.value)
    assert (status, body["code"], body.get("details")) == (400, code, details)
    assert (Payment.objects.count(), PaymentHold.objects.count(), BasketEvent.objects.count()) == (0, 0, 0)
    if not change.get("unknown") and not change.get("canceled") and not change.get("unconfirmed"):
        # Somebody else's money: refused, never cancelled by us.
        assert stripe_client.v1.payment_intents.retrieve(intent_id).status == "requires_capture"


def test_a_client_confirmed_intent_captured_already_is_recorded_captured(stripe_client, basket):
    intent = confirmed_intent(stripe_client, basket, capture_method="automatic")
    assert intent.status == "succeeded"

    payment = place_order(basket, {"paymentIntentId": intent.id})

    assert (payment.status, payment.capture_attempts) == ("captured", 0)


def test_a_captured_intent_whose_order_is_refused_is_refunded(stripe_client, basket):
    intent = confirmed_intent(stripe_client, basket, capture_method="automatic")

    with pytest.raises(BasketCompleted):
        place_order(basket, {"paymentIntentId": intent.id}, refuse=BasketCompleted())

    assert refunded_at_stripe(stripe_client, intent.id) == 1799


def test_a_payment_method_stripe_does_not_know_is_400(stripe_client, basket):
    with pytest.raises(ApplicationError) as refused:
        place_order(basket, {"paymentMethodId": "pm_doesnotexist"})

    assert rendered(refused.value)[0:1] == (400,)
    assert refused.value.code == "payment_method_required"
    assert not Payment.objects.exists()


def test_no_payment_method_is_400(basket):
    with pytest.raises(ApplicationError) as refused:
        place_order(basket, {})

    assert (refused.value.status_code, refused.value.code) == (400, "payment_method_required")


def test_nothing_due_saves_the_card_with_a_setup_intent(stripe_client, basket):
    method = card(stripe_client)

    payment = place_order(basket, {"paymentMethodId": method}, amount=Decimal("0"))

    assert (payment.status, payment.amount, payment.gateway_reference) == ("captured", Decimal("0.00"), "")
    assert intents_of(stripe_client, basket) == []
    assert Customer.objects.get().default_payment_method_id == method


def test_nothing_due_with_a_card_declined_on_attach_is_402(stripe_client, basket):
    with pytest.raises(PaymentDeclined) as declined:
        place_order(basket, {"paymentMethodId": card(stripe_client, CARD_DECLINED_ON_ATTACH)}, amount=Decimal("0"))

    assert declined.value.details == {"declineCode": "card_declined"}
    assert not Payment.objects.exists()


def test_refunds_partial_then_the_rest_never_more_than_captured(stripe_client, basket):
    payment = place_order(basket, {"paymentMethodId": card(stripe_client)})

    partial = payment_refund(payment_id=payment.id, amount=Decimal("5.00"), actor=_system())
    assert (partial.status, partial.refunded_amount) == ("captured", Decimal("5.00"))
    assert refunded_at_stripe(stripe_client, payment.gateway_reference) == 500

    with pytest.raises(RefundRefused) as too_much:
        payment_refund(payment_id=payment.id, amount=Decimal("13.00"), actor=_system())
    assert too_much.value.code == "refund_amount_invalid"
    with pytest.raises(RefundRefused):
        payment_refund(payment_id=payment.id, amount=Decimal("0.001"), actor=_system())
    assert refunded_at_stripe(stripe_client, payment.gateway_reference) == 500

    rest = payment_refund(payment_id=payment.id, amount=None, actor=_system())
    assert (rest.status, rest.refunded_amount) == ("refunded", Decimal("17.99"))
    assert refunded_at_stripe(stripe_client, payment.gateway_reference) == 1799
    with pytest.raises(RefundRefused) as nothing_left:
        payment_refund(payment_id=payment.id, amount=Decimal("1.00"), actor=_system())
    assert nothing_left.value.code == "payment_not_refundable"
    kinds = list(BasketEvent.objects.filter(basket=basket).values_list("kind", flat=True))
    assert kinds == ["completed", "payment_captured", "payment_refund", "payment_refunded"]


def _system():
    from checkout_project.api.actor import Actor

    return Actor()


def test_every_step_replayed_charges_once(stripe_client, basket):
    """localstripe ignores idempotency keys: authorising the same basket version twice makes two
    PaymentIntents. Our records still capture one: the second completion is refused and voids its
    own; capture, void and refund replays change nothing."""
    method = card(stripe_client)
    first = payment_authorise(basket=basket, amount=Decimal("17.99"), currency="GBP", email=basket.email,
                              payment={"paymentMethodId": method})  # fmt: skip
    payment = place_order(basket, {"paymentMethodId": method})  # the replay, completing first
    with pytest.raises(BasketCompleted):
        place_order(basket, {"paymentMethodId": method})  # and a third time, after the order
    payment_void(authorisation=first)  # the first request finds the basket completed: it voids its own

    assert payment_capture(payment_id=payment.id).status == "captured"  # a second capture: nothing to do
    assert payment_void(authorisation=first) is False  # a second void: released already
    statuses = sorted(intent.status for intent in intents_of(stripe_client, basket))
    assert statuses == ["canceled", "canceled", "succeeded"]
    assert Payment.objects.count() == 1
    payment.refresh_from_db()
    assert (payment.status, payment.capture_attempts) == ("captured", 1)


def test_a_payment_intent_sent_twice_is_used_once_and_never_voided_by_the_second(stripe_client, basket):
    intent = confirmed_intent(stripe_client, basket)
    held = payment_authorise(basket=basket, amount=Decimal("17.99"), currency="GBP", email=basket.email,
                             payment={"paymentIntentId": intent.id})  # fmt: skip

    with pytest.raises(PaymentInProgress) as in_progress:
        place_order(basket, {"paymentIntentId": intent.id})  # the same PaymentIntent, sent again

    assert rendered(in_progress.value)[0] == 409
    assert stripe_client.v1.payment_intents.retrieve(intent.id).status == "requires_capture"
    assert held.reference == intent.id
    assert not Payment.objects.exists()


def test_a_cancelled_authorisation_cannot_be_captured_and_the_payment_is_voided(stripe_client, basket):
    authorisation = payment_authorise(basket=basket, amount=Decimal("17.99"), currency="GBP", email=basket.email,
                                      payment={"paymentMethodId": card(stripe_client)})  # fmt: skip
    stripe_client.v1.payment_intents.cancel(authorisation.reference)  # expired, or cancelled at Stripe
    gateway = StripePaymentGateway()

    assert gateway.capture(authorisation).status == "voided"


def test_an_unreachable_gateway_is_502_within_the_timeout(stripe_settings, basket):
    stripe_settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens on the discard port
    stripe_settings.STRIPE_TIMEOUT_SECONDS = 2

    with pytest.raises(PaymentGatewayError) as failed:
        place_order(basket, {"paymentMethodId": "pm_any"})

    assert rendered(failed.value) == (502, {
        "message": "The payment gateway failed; no order was placed.", "code": "upstream_unavailable",
    })  # fmt: skip
    assert failed.value.reason == "unreachable"
    assert not Payment.objects.exists()


def test_amounts_go_to_stripe_in_minor_units():
    assert to_minor_units(Decimal("17.99"), "GBP") == 1799
    assert to_minor_units(Decimal("1000"), "JPY") == 1000
    assert to_minor_units(Decimal("0.105"), "EUR") == 11  # half-up at the minor unit


def test_the_stripe_tests_commit_for_real():
    assert not connection.in_atomic_block
