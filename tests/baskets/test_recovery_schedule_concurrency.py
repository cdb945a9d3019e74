"""Two schedulers at once (two hosts running `manage.py send_recovery_emails` from cron at the
same minute), as two real processes on the test database: each step is queued once per basket,
with one send task each, whichever process took the basket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from baskets.models import Basket, OrderItem, RecoveryEmail
from tests.factories import BasketFactory, OfferFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.requires_postgres]

ROOT = Path(__file__).resolve().parents[2]
BASKETS = 400


def database_url() -> str:
    database = connection.settings_dict
    user, host, port = database["USER"] or "postgres", database["HOST"] or "127.0.0.1", database["PORT"] or 5432
    password = f":{database['PASSWORD']}" if database["PASSWORD"] else ""
    return f"postgres://{user}{password}@{host}:{port}/{database['NAME']}"


def scheduler() -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "checkout_project.settings_test",
        "RECOVERY_EMAIL_SCHEDULE": "1h,24h",
        "ABANDONED_AFTER_MINUTES": "60",
        "SITE_URL": "https://shop.example",
    }
    command = [sys.executable, "manage.py", "send_recovery_emails", "--batch-size", "5", "--json"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_schedulers_at_once_queue_each_step_once_per_basket():
    now = timezone.now()
    application = BasketFactory().application
    Basket.objects.all().delete()
    baskets = Basket.objects.bulk_create(
        Basket(
            created=now - timedelta(hours=30), updated=now - timedelta(hours=2 if n % 2 else 25),
            expires_at=now + timedelta(days=3), application=application, currency="GBP",
            email=f"customer{n}@example.com",
        )
        for n in range(BASKETS)
    )  # fmt: skip
    offer = OfferFactory()
    OrderItem.objects.bulk_create(
        OrderItem(basket=basket, offer=offer, offer_version=offer.version, offer_snapshot=offer.snapshot)
        for basket in baskets
    )

    processes = [scheduler(), scheduler()]
    outputs = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=240)
        assert process.returncode == 0, stderr
        outputs.append(json.loads(stdout))

    # Together they took every basket (a basket both took is written by one: the constraint).
    assert sum(out["step_1h"] for out in outputs) >= BASKETS // 2
    assert sum(out["step_24h"] for out in outputs) >= BASKETS // 2
    per_basket_step = RecoveryEmail.objects.values("basket", "step").annotate(n=Count("id"))
    assert {row["n"] for row in per_basket_step} == {1}
    assert RecoveryEmail.objects.count() == BASKETS  # 1h for the idle-2h half, only 24h for the idle-25h half
    assert set(RecoveryEmail.objects.values_list("status", flat=True)) == {"queued"}
    sends = DBTaskResult.objects.filter(task_path="baskets.tasks.recovery_email_send_task")
    assert sends.count() == BASKETS
    assert sorted(task.args_kwargs["args"][0] for task in sends) == sorted(
        str(pk) for pk in RecoveryEmail.objects.values_list("id", flat=True)
    )
