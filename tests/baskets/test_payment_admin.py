"""Staff see payments (status, reference, amounts) and refund them, in full or in part, through the
gateway (payment_refund), from the payment's admin page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from baskets.models import BasketEvent, Payment, PaymentStatus
from baskets.payments.wire import payment_to_wire
from tests.factories import BasketFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def payment(asserting_gateway):
    basket = BasketFactory(status="completed", version=2)
    return Payment.objects.create(
        basket=basket, gateway="asserting", status=PaymentStatus.CAPTURED, amount=Decimal("17.99"), currency="GBP",
        gateway_reference="auth_9", method="card",
    )  # fmt: skip


@pytest.fixture
def staff(client):
    user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


def refund_url(payment: Payment) -> str:
    return reverse("admin:baskets_payment_refund", args=[payment.pk])


def test_the_payment_page_shows_status_reference_amounts_and_the_refund_link(client, staff, payment):
    response = client.get(reverse("admin:baskets_payment_change", args=[payment.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    for shown in ("Captured", "auth_9", "17.99", "GBP", refund_url(payment)):
        assert shown in page
    basket_page = client.get(reverse("admin:baskets_basket_change", args=[payment.basket_id])).content.decode()
    assert "auth_9" in basket_page and reverse("admin:baskets_payment_change", args=[payment.pk]) in basket_page


def test_a_partial_then_a_full_refund_from_the_admin(client, staff, payment, asserting_gateway):
    assert client.get(refund_url(payment)).status_code == 200

    response = client.post(refund_url(payment), {"amount": "5.00"})

    assert response.status_code == 302
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == ("captured", Decimal("5.00"))
    event = BasketEvent.objects.get(kind="payment_refund")
    assert (event.staff_user, event.data["amount"]) == (staff, "5.00")

    response = client.post(refund_url(payment), {"amount": ""})  # empty: the rest

    assert response.status_code == 302

    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == ("refunded", Decimal("17.99"))
    assert [call for call in asserting_gateway.calls if call[0] == "refund"] == [("refund", "auth_9")] * 2


def test_an_over_refund_is_refused_on_the_form_and_changes_nothing(client, staff, payment, asserting_gateway):
    response = client.post(refund_url(payment), {"amount": "18.00"})

    assert response.status_code == 200
    assert "at most 17.99 GBP" in response.content.decode()
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == ("captured", Decimal("0.00"))
    assert asserting_gateway.calls == []


def test_a_failed_gateway_refund_changes_nothing(client, staff, payment, asserting_gateway):
    asserting_gateway.fail = {"refund"}

    response = client.post(refund_url(payment), {"amount": "5.00"})

    assert response.status_code == 200
    assert "payment gateway failed" in response.content.decode()
    payment.refresh_from_db()
    assert payment.refunded_amount == Decimal("0.00")
    assert not BasketEvent.objects.exists()


def test_refunds_need_the_change_payment_permission(client, payment, asserting_gateway):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_payment"))
    client.force_login(viewer)

    assert client.get(reverse("admin:baskets_payment_change", args=[payment.pk])).status_code == 200
    assert client.post(refund_url(payment), {"amount": "5.00"}).status_code == 403
    payment.refresh_from_db()
    assert payment.refunded_amount == Decimal("0.00")


def test_the_payment_record_on_the_wire_says_when_no_payment_was_taken(payment):
    manual = Payment.objects.create(
        basket=BasketFactory(), gateway="manual", status=PaymentStatus.MANUAL, amount=Decimal("9.00"),
        currency="GBP", gateway_reference="PO-7",
    )  # fmt: skip

    wire = payment_to_wire(manual)

    assert wire == {
        "id": f"pay-{manual.id}", "gateway": "manual", "status": "manual", "amount": "9.00", "currency": "GBP",
        "gatewayReference": "PO-7", "refundedAmount": "0.00", "created": wire["created"], "updated": wire["updated"],
        "noPaymentTaken": True, "message": "No payment taken: this order is to be paid outside this service.",
    }  # fmt: skip
    assert wire["created"].endswith("Z")
    assert payment_to_wire(payment)["noPaymentTaken"] is False and "message" not in payment_to_wire(payment)
