"""`manage.py expire_baskets`: expires overdue baskets through the basket service, purges old idempotency records."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from baskets.models import Basket, BasketEvent, BasketStatus
from baskets.services import basket_expire_overdue
from checkout_project.api.models import IdempotencyRecord
from tests.factories import BasketFactory
from tests.threads import in_threads, row_locks_held


def run(*args: str) -> str:
    out = StringIO()
    call_command("expire_baskets", *args, stdout=out)
    return out.getvalue().strip()


def overdue_baskets(count: int, **fields) -> list[Basket]:
    now = timezone.now()
    return [
        BasketFactory(created=now - timedelta(days=20), expires_at=now - timedelta(minutes=count - n), **fields)
        for n in range(count)
    ]


def idempotency_record(key: str, age: timedelta) -> IdempotencyRecord:
    record = IdempotencyRecord.objects.create(client_key="1:-", key=key, request_hash="0" * 64, status_code=200)
    IdempotencyRecord.objects.filter(pk=record.pk).update(created=timezone.now() - age)
    return record


@pytest.mark.django_db
def test_overdue_active_baskets_expire_and_nothing_else_changes():
    now = timezone.now()
    overdue = BasketFactory(created=now - timedelta(days=15), expires_at=now - timedelta(seconds=1), version=4)
    due_later = BasketFactory(expires_at=now + timedelta(minutes=5))
    completed = BasketFactory(status=BasketStatus.COMPLETED, expires_at=now - timedelta(days=1), version=3)
    already_expired = BasketFactory(status=BasketStatus.EXPIRED, expires_at=now - timedelta(days=1), version=2)

    output = run()

    assert output == "Expired 1 basket(s); purged 0 idempotency record(s) and 0 expired cache row(s)."
    overdue.refresh_from_db()
    assert (overdue.status, overdue.version) == (BasketStatus.EXPIRED, 5)
    assert overdue.updated >= now
    [event] = BasketEvent.objects.all()
    assert (event.basket_id, event.kind, event.version) == (overdue.pk, "expired", 5)
    # The system did it: no application, customer, partner or staff user.
    assert (event.application_id, event.customer_id, event.partner_id, event.staff_user_id) == (None,) * 4
    assert event.data == {"reason": "lifetime_over", "expiresAt": overdue.expires_at.isoformat()}
    statuses = dict(Basket.objects.values_list("pk", "status"))
    assert statuses[due_later.pk] == BasketStatus.ACTIVE
    assert statuses[completed.pk] == BasketStatus.COMPLETED
    assert statuses[already_expired.pk] == BasketStatus.EXPIRED


@pytest.mark.django_db
def test_old_idempotency_records_are_purged_and_fresh_ones_kept(settings):
    settings.IDEMPOTENCY_KEY_LIFETIME = timedelta(hours=24)
    stale = [idempotency_record(f"old-{n}", timedelta(hours=25)) for n in range(3)]
    fresh = idempotency_record("fresh", timedelta(hours=23))

    output = run("--json")

    assert json.loads(output) == {"expired_baskets": 0, "purged_idempotency_records": 3, "purged_cache_entries": 0}
    assert list(IdempotencyRecord.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert not IdempotencyRecord.objects.filter(pk__in=[record.pk for record in stale]).exists()


@pytest.mark.django_db
def test_it_works_in_batches_until_none_are_left():
    overdue_baskets(7)
    for n in range(5):
        idempotency_record(f"old-{n}", timedelta(days=2))

    output = run("--batch-size", "2", "--json")

    assert json.loads(output) == {"expired_baskets": 7, "purged_idempotency_records": 5, "purged_cache_entries": 0}
    assert set(Basket.objects.values_list("status", flat=True)) == {BasketStatus.EXPIRED}
    assert BasketEvent.objects.filter(kind="expired").count() == 7


@pytest.mark.django_db
def test_max_batches_bounds_one_run_and_the_next_run_carries_on():
    baskets = overdue_baskets(5)

    assert json.loads(run("--batch-size", "2", "--max-batches", "1", "--json"))["expired_baskets"] == 2
    # Oldest expiry first.
    expired = set(Basket.objects.filter(status=BasketStatus.EXPIRED).values_list("pk", flat=True))
    assert expired == {baskets[0].pk, baskets[1].pk}
    assert json.loads(run("--json"))["expired_baskets"] == 3


@pytest.mark.django_db
def test_the_service_expires_one_batch_and_reports_how_many():
    overdue_baskets(3)

    assert basket_expire_overdue(now=timezone.now(), batch_size=2) == 2
    assert basket_expire_overdue(now=timezone.now(), batch_size=2) == 1
    assert basket_expire_overdue(now=timezone.now(), batch_size=2) == 0


@pytest.mark.django_db
def test_the_service_only_expires_baskets_due_by_the_given_time():
    overdue_baskets(2)
    earlier = timezone.now() - timedelta(hours=1)

    assert basket_expire_overdue(now=earlier, batch_size=10) == 0


# --- Several hosts at once (PostgreSQL: SKIP LOCKED) ------------------------------------


@pytest.mark.requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_expire_each_basket_exactly_once():
    baskets = overdue_baskets(50)

    outputs = in_threads(2, lambda index: json.loads(run("--batch-size", "3", "--json")))

    assert sum(output["expired_baskets"] for output in outputs) == 50
    assert BasketEvent.objects.filter(kind="expired").count() == 50
    assert sorted(BasketEvent.objects.values_list("basket_id", flat=True)) == sorted(b.pk for b in baskets)
    assert set(Basket.objects.values_list("status", "version").distinct()) == {(BasketStatus.EXPIRED, 2)}


@pytest.mark.requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_basket_locked_by_a_request_is_skipped_not_waited_for():
    baskets = overdue_baskets(4)
    with row_locks_held(Basket.objects.filter(pk=baskets[0].pk)):
        output = in_threads(1, lambda index: json.loads(run("--json")))[0]

    assert output["expired_baskets"] == 3
    assert Basket.objects.get(pk=baskets[0].pk).status == BasketStatus.ACTIVE
    assert json.loads(run("--json"))["expired_baskets"] == 1
