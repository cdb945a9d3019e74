"""Background tasks (Django's task framework; settings.TASKS, django_tasks_db's DatabaseBackend by
default). `manage.py db_worker` runs them; several workers may run at once: each task claims its
row before calling the gateway (baskets.payments.services), so a task run twice does its work once.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.tasks import task

from baskets.payments import services
from baskets.payments.gateways import Authorisation


@task()
def payment_capture_retry(payment_id: str) -> str:
    """Capture a payment whose capture failed, once its retry is due; the payment's status after."""
    return services.payment_capture(payment_id=uuid.UUID(payment_id)).status


@task()
def payment_void_retry(gateway: str, reference: str, status: str, attempt: int) -> None:
    """Void again an authorisation whose completion refused and whose first void failed."""
    authorisation = Authorisation(gateway=gateway, status=status, amount=Decimal("0"), currency="", reference=reference)
    services.void_with_retries(authorisation, attempt=attempt)
