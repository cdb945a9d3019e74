"""Background tasks of abandoned-basket recovery (Django's task framework; settings.TASKS,
django_tasks_db's DatabaseBackend by default, run by `manage.py db_worker` on any number of hosts).

Each is a thin wrapper over a service of baskets.services.recovery, which is what makes running
one twice harmless (the send claims its email; the bulk queueing writes one staff email per basket
per run, as a second click in the admin would).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.tasks import task

from baskets.services import recovery


@task()
def recovery_email_send_task(recovery_email_id: str) -> str | None:
    """Send one queued recovery email (retries re-enqueue this task, deferred); its status after."""
    email = recovery.recovery_email_send(recovery_email_id=uuid.UUID(recovery_email_id))
    return email.status if email is not None else None


@task()
def recovery_emails_bulk_task(basket_ids: list[str], sent_by_id: int | None) -> dict[str, Any]:
    """Queue a staff recovery email for each basket; the counts (queued, skipped by reason, not found)."""
    return recovery.recovery_emails_queue_many(basket_ids=basket_ids, sent_by_id=sent_by_id).to_dict()
