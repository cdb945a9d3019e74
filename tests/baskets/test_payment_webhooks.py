"""POST /api/webhooks/stripe: signed by Stripe, each event once, in any order, never backwards.

localstripe sends no payment_intent webhooks, so the events are built and signed here with the
webhook secret, as Stripe signs them (tests/stripe_server.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from baskets.models import Basket, BasketEvent, Payment, PaymentEvent, PaymentStatus
from tests.factories import BasketFactory
from tests.stripe_server import WEBHOOK_SECRET, event_payload, sign

pytestmark = pytest.mark.django_db

URL = "/api/webhooks/stripe"


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET


@pytest.fixture
def payment():
    basket = BasketFactory(status="completed", version=2)
    return Payment.objects.create(
        basket=basket, gateway="stripe", status=PaymentStatus.AUTHORISED, amount=Decimal("17.99"), currency="GBP",
        gateway_reference="pi_123", method="card",
    )  # fmt: skip


def post(client, payload: str, signature: str | None = None):
    headers = {"HTTP_STRIPE_SIGNATURE": sign(payload) if signature is None else signature}
    return client.post(URL, payload, content_type="application/json", **headers)


def intent_event(event_id: str, kind: str, status: str, **extra) -> str:
    intent = {
        "id": "pi_123", "object": "payment_intent", "status": status, "amount": 1799, "currency": "gbp",
        "client_secret": "pi_123_secret_abc", **extra,
    }  # fmt: skip
    return event_payload(event_id, kind, intent)


def refund_event(event_id: str, amount_refunded: int) -> str:
    charge = {
        "id": "ch_1", "object": "charge", "payment_intent": "pi_123", "amount": 1799,
        "amount_refunded": amount_refunded, "currency": "gbp", "captured": True, "refunded": amount_refunded == 1799,
    }  # fmt: skip
    return event_payload(event_id, "charge.refunded", charge)


def state(payment: Payment) -> tuple:
    payment.refresh_from_db()
    return payment.status, payment.refunded_amount


def kinds(payment: Payment) -> list[str]:
    return list(BasketEvent.objects.filter(basket=payment.basket).values_list("kind", flat=True))


def test_payment_intent_succeeded_captures_and_is_recorded(client, payment):
    response = post(client, intent_event("evt_1", "payment_intent.succeeded", "succeeded"))

    assert response.status_code == 200
    assert response.json() == {"received": True, "id": "evt_1", "outcome": "applied", "replayed": False}
    assert state(payment) == ("captured", Decimal("0.00"))
    event = BasketEvent.objects.get(basket=payment.basket)
    assert (event.kind, event.version) == ("payment_captured", 2)  # the basket itself did not change
    assert event.data == {
        "payment": str(payment.id), "status": "captured", "from": "authorised", "event": "evt_1",
        "eventType": "payment_intent.succeeded",
    }  # fmt: skip
    stored = PaymentEvent.objects.get()
    assert (stored.gateway, stored.event_id, stored.type, stored.payment, stored.outcome) == (
        "stripe", "evt_1", "payment_intent.succeeded", payment, "applied",
    )  # fmt: skip
    # Only a summary is kept: never the client secret.
    assert stored.summary == {"id": "pi_123", "object": "payment_intent", "status": "succeeded", "amount": 1799,
                              "currency": "gbp"}  # fmt: skip
    assert Basket.objects.get().version == 2


def test_a_replayed_event_is_processed_once(client, payment):
    payload = refund_event("evt_2", 500)
    assert post(client, intent_event("evt_1", "payment_intent.succeeded", "succeeded")).status_code == 200
    first = post(client, payload)

    replay = post(client, payload)

    assert (first.json()["replayed"], replay.status_code, replay.json()["replayed"]) == (False, 200, True)
    assert state(payment) == ("captured", Decimal("5.00"))
    assert kinds(payment) == ["payment_captured", "payment_refund"]
    assert PaymentEvent.objects.count() == 2


def test_events_out_of_order_never_move_a_payment_backwards(client, payment):
    """The refund arrives first (our capture's answer and Stripe's succeeded event are late)."""
    assert post(client, refund_event("evt_3", 1799)).json()["outcome"] == "applied"
    assert state(payment) == ("refunded", Decimal("17.99"))

    late = post(client, intent_event("evt_1", "payment_intent.succeeded", "succeeded"))
    older_refund = post(client, refund_event("evt_2", 500))

    assert (late.status_code, late.json()["outcome"]) == (200, "stale")
    assert older_refund.json()["outcome"] == "stale"
    assert state(payment) == ("refunded", Decimal("17.99"))
    assert kinds(payment) == ["payment_captured", "payment_refunded"]
    assert list(PaymentEvent.objects.order_by("id").values_list("outcome", flat=True)) == [
        "applied", "stale", "stale",
    ]  # fmt: skip


def test_a_partial_refund_then_the_rest(client, payment):
    Payment.objects.filter(pk=payment.pk).update(status="captured")
    assert post(client, refund_event("evt_1", 700)).json()["outcome"] == "applied"
    assert state(payment) == ("captured", Decimal("7.00"))

    assert post(client, refund_event("evt_2", 1799)).json()["outcome"] == "applied"

    assert state(payment) == ("refunded", Decimal("17.99"))


def test_payment_intent_canceled_voids_an_authorised_payment_only(client, payment):
    assert post(client, intent_event("evt_1", "payment_intent.canceled", "canceled")).json()["outcome"] == "applied"
    assert state(payment)[0] == "voided"
    assert payment.last_error == "authorisation_canceled"

    assert post(client, intent_event("evt_2", "payment_intent.succeeded", "succeeded")).json()["outcome"] == "stale"
    assert state(payment)[0] == "voided"


def test_payment_intent_payment_failed_is_noted_without_changing_the_status(client, payment):
    payload = intent_event(
        "evt_1", "payment_intent.payment_failed", "requires_payment_method",
        last_payment_error={"code": "card_declined", "decline_code": "insufficient_funds"},
    )  # fmt: skip

    assert post(client, payload).json()["outcome"] == "applied"

    assert state(payment)[0] == "authorised"
    assert payment.last_error == "insufficient_funds"
    assert kinds(payment) == ["payment_failed"]


def test_unknown_types_and_unknown_payments_are_stored_and_ignored(client, payment):
    unknown_type = post(client, event_payload("evt_1", "customer.created", {"id": "cus_1", "object": "customer"}))
    unknown_payment = post(client, event_payload("evt_2", "payment_intent.succeeded", {"id": "pi_other"}))

    assert (unknown_type.status_code, unknown_type.json()["outcome"]) == (200, "ignored")
    assert (unknown_payment.status_code, unknown_payment.json()["outcome"]) == (200, "no_payment")
    assert state(payment)[0] == "authorised"
    assert PaymentEvent.objects.count() == 2
    assert not BasketEvent.objects.exists()


@pytest.mark.parametrize(
    ("signature", "code"),
    [
        ("", "webhook_signature_invalid"),
        ("t=1,v1=00", "webhook_signature_invalid"),
        (None, "webhook_signature_invalid"),  # signed with another secret
        ("old", "webhook_signature_invalid"),  # signed ten minutes ago: a replay from the past
    ],
)
def test_a_forged_signature_is_400_and_changes_nothing(client, payment, signature, code):
    payload = intent_event("evt_1", "payment_intent.succeeded", "succeeded")
    if signature is None:
        signature = sign(payload, secret="whsec_someone_else")
    elif signature == "old":
        import time

        signature = sign(payload, timestamp=int(time.time()) - 600)

    response = post(client, payload, signature)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert set(response.json()) == {"message", "code"}
    assert state(payment) == ("authorised", Decimal("0.00"))
    assert not PaymentEvent.objects.exists() and not BasketEvent.objects.exists()


@pytest.mark.parametrize("payload", ["not json", "[1, 2]", '"x"', "{}", '{"id": "evt_1", "type": "x"}'])
def test_a_payload_that_is_no_event_is_400(client, payment, payload):
    response = post(client, payload)

    assert (response.status_code, response.json()["code"]) == (400, "webhook_payload_invalid")
    assert not PaymentEvent.objects.exists()


def test_without_a_webhook_secret_nothing_is_trusted(client, payment, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""

    response = post(client, intent_event("evt_1", "payment_intent.succeeded", "succeeded"))

    assert (response.status_code, response.json()["code"]) == (400, "webhook_signature_invalid")
    assert state(payment)[0] == "authorised"


def test_only_post(client):
    response = client.get(URL)

    assert (response.status_code, response.json()["code"], response["Allow"]) == (405, "method_not_allowed", "POST")
