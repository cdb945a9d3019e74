"""Capture after the commit, retried by a task when it fails; voids when completion refuses; the
sweep for what a dead process left. Through tests.payments.AssertingGateway, which fails the test
if the gateway is ever called while a database transaction is open."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from baskets.errors import BasketCompleted, PaymentDeclined
from baskets.models import BasketEvent, Payment, PaymentHold, PaymentStatus
from baskets.payments.services import (
    CAPTURE_MAX_ATTEMPTS,
    payment_authorise,
    payment_capture,
)
from tests.factories import BasketFactory
from tests.payments import TransactionOpen, place_order
from tests.threads import in_threads

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def basket(asserting_gateway):
    return BasketFactory(email="grace@example.com")


def run_due_tasks() -> None:
    """What `manage.py db_worker` does with the tasks that are due, once."""
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0)


def make_due(payment: Payment) -> None:
    """Time passes: the payment's retry and its task are due now."""
    past = timezone.now() - timedelta(seconds=1)
    Payment.objects.filter(pk=payment.pk).update(next_capture_at=past)
    DBTaskResult.objects.update(run_after=past)


def test_the_gateway_is_never_called_inside_a_transaction(asserting_gateway, basket):
    payment = place_order(basket, {"paymentMethodId": "pm_1"})

    assert payment.status == "captured"
    assert [method for method, _ in asserting_gateway.calls] == ["authorise", "capture"]
    # A completion that authorised inside its transaction would fail the test.
    other = BasketFactory(email="ada@example.com")
    with transaction.atomic(), pytest.raises(TransactionOpen):
        payment_authorise(basket=other, amount=Decimal("1.00"), currency="GBP", email=other.email)


def test_a_declined_authorisation_writes_nothing(asserting_gateway, basket):
    asserting_gateway.decline = "insufficient_funds"

    with pytest.raises(PaymentDeclined) as declined:
        place_order(basket, {"paymentMethodId": "pm_1"})

    assert declined.value.details == {"declineCode": "insufficient_funds"}
    assert (Payment.objects.count(), PaymentHold.objects.count(), BasketEvent.objects.count()) == (0, 0, 0)


def test_a_refused_completion_voids_its_own_authorisation(asserting_gateway, basket):
    with pytest.raises(BasketCompleted):
        place_order(basket, {"paymentMethodId": "pm_1"}, refuse=BasketCompleted())

    assert asserting_gateway.calls == [("authorise", basket.public_id), ("void", "auth_1")]
    assert PaymentHold.objects.get().state == "released"
    assert not Payment.objects.exists()


def test_a_failed_capture_keeps_the_order_and_the_retry_task_captures_it_later(asserting_gateway, basket):
    asserting_gateway.fail, asserting_gateway.fail_times = {"capture"}, 1
    before = timezone.now()

    payment = place_order(basket, {"paymentMethodId": "pm_1"})

    assert (payment.status, payment.capture_attempts, payment.last_error) == ("capture_failed", 1, "scripted")
    assert before + timedelta(minutes=1) <= payment.next_capture_at <= timezone.now() + timedelta(minutes=1)
    basket.refresh_from_db()
    assert basket.status == "completed"  # the order stands
    (task,) = DBTaskResult.objects.all()
    assert (task.task_path, task.args_kwargs, task.status) == (
        "baskets.payments.tasks.payment_capture_retry", {"args": [str(payment.id)], "kwargs": {}}, "READY",
    )  # fmt: skip
    assert task.run_after == payment.next_capture_at
    failed = BasketEvent.objects.get(basket=basket, kind="payment_capture_failed")
    assert failed.data["error"] == "scripted" and failed.data["attempt"] == 1

    run_due_tasks()  # not due yet: nothing runs
    assert Payment.objects.get().status == "capture_failed"
    make_due(payment)
    run_due_tasks()

    payment.refresh_from_db()
    assert (payment.status, payment.capture_attempts, payment.next_capture_at, payment.last_error) == (
        "captured", 2, None, "",
    )  # fmt: skip
    assert [method for method, _ in asserting_gateway.calls] == ["authorise", "capture", "capture"]
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"
    kinds = list(BasketEvent.objects.filter(basket=basket).values_list("kind", flat=True))
    assert kinds == ["completed", "payment_capture_failed", "payment_captured"]


def test_a_retry_run_twice_captures_once(asserting_gateway, basket):
    asserting_gateway.fail, asserting_gateway.fail_times = {"capture"}, 1
    payment = place_order(basket, {"paymentMethodId": "pm_1"})
    make_due(payment)

    assert payment_capture(payment_id=payment.id).status == "captured"
    assert payment_capture(payment_id=payment.id).status == "captured"
    run_due_tasks()  # the task, late: finds it captured

    assert [method for method, _ in asserting_gateway.calls].count("capture") == 2  # the failure, then one


@pytest.mark.requires_postgres
def test_two_retry_workers_at_once_capture_once(asserting_gateway, basket):
    asserting_gateway.fail, asserting_gateway.fail_times = {"capture"}, 1
    payment = place_order(basket, {"paymentMethodId": "pm_1"})
    make_due(payment)
    asserting_gateway.sleep = 0.3  # the winner is still at the gateway when the other claims

    statuses = in_threads(2, lambda index: payment_capture(payment_id=payment.id).status)

    assert sorted(statuses) == ["capture_failed", "captured"]  # the loser saw it before the winner recorded
    assert [method for method, _ in asserting_gateway.calls].count("capture") == 2
    payment.refresh_from_db()
    assert (payment.status, payment.capture_attempts) == ("captured", 2)


def test_captures_stop_after_the_last_attempt(asserting_gateway, basket):
    asserting_gateway.fail = {"capture"}
    payment = place_order(basket, {"paymentMethodId": "pm_1"})
    now = timezone.now()

    for _ in range(CAPTURE_MAX_ATTEMPTS + 2):
        now += timedelta(days=1)
        payment_capture(payment_id=payment.id, now=now)

    payment.refresh_from_db()
    assert (payment.status, payment.capture_attempts, payment.next_capture_at) == (
        "capture_failed", CAPTURE_MAX_ATTEMPTS, None,
    )  # fmt: skip
    assert [method for method, _ in asserting_gateway.calls].count("capture") == CAPTURE_MAX_ATTEMPTS
    assert DBTaskResult.objects.count() == CAPTURE_MAX_ATTEMPTS - 1


def test_a_failed_void_is_retried_by_a_task(asserting_gateway, basket):
    asserting_gateway.fail, asserting_gateway.fail_times = {"void"}, 1

    with pytest.raises(BasketCompleted):
        place_order(basket, {"paymentMethodId": "pm_1"}, refuse=BasketCompleted())

    (task,) = DBTaskResult.objects.all()
    assert task.task_path == "baskets.payments.tasks.payment_void_retry"
    assert task.args_kwargs["args"] == ["asserting", "auth_1", "authorised", 1]
    DBTaskResult.objects.update(run_after=timezone.now() - timedelta(seconds=1))
    run_due_tasks()
    assert [method for method, _ in asserting_gateway.calls] == ["authorise", "void", "void"]


def test_the_sweep_captures_what_a_dead_process_left_and_voids_orphaned_holds(asserting_gateway, basket):
    # An order committed whose process died before its capture ran (no on_commit capture here).
    authorisation = payment_authorise(basket=basket, amount=Decimal("9.99"), currency="GBP", email=basket.email)
    Payment.objects.create(
        basket=basket, gateway="asserting", status=PaymentStatus.AUTHORISED, amount=Decimal("9.99"), currency="GBP",
        gateway_reference=authorisation.reference,
    )  # fmt: skip
    PaymentHold.objects.filter(reference=authorisation.reference).update(state="recorded")
    Payment.objects.update(created=timezone.now() - timedelta(minutes=3))
    # And an authorisation whose completion never finished.
    orphan = payment_authorise(basket=BasketFactory(email="x@example.com"), amount=Decimal("5.00"), currency="GBP",
                               email="x@example.com")  # fmt: skip
    PaymentHold.objects.filter(reference=orphan.reference).update(created=timezone.now() - timedelta(hours=2))
    # A fresh one is left alone (its own request captures it).
    fresh = payment_authorise(basket=BasketFactory(email="y@example.com"), amount=Decimal("5.00"), currency="GBP",
                              email="y@example.com")  # fmt: skip

    call_command("capture_payments", verbosity=0)

    assert Payment.objects.get().status == "captured"
    assert dict(PaymentHold.objects.values_list("reference", "state")) == {
        authorisation.reference: "recorded", orphan.reference: "released", fresh.reference: "held",
    }  # fmt: skip
    assert asserting_gateway.calls[-2:] == [("capture", authorisation.reference), ("void", orphan.reference)]
