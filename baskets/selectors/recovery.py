"""Abandoned-basket recovery reads: which baskets count as abandoned (the one definition the admin,
the recovery emails and the docs share) and which are due for a scheduled recovery email."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.tasks import TaskResultStatus
from django.tasks.exceptions import TaskResultDoesNotExist, TaskResultMismatch
from django.utils import timezone

from baskets.models import Basket, BasketStatus


def abandoned_cutoff(now: datetime | None = None) -> datetime:
    """The last activity before which a basket counts as abandoned (ABANDONED_AFTER_MINUTES ago)."""
    return (now or timezone.now()) - timedelta(minutes=settings.ABANDONED_AFTER_MINUTES)


def abandoned_for_recovery(now: datetime | None = None) -> QuerySet[Basket]:
    """Baskets that are abandoned at `now` (default: now): active, not completed, still within
    their lifetime, and with no activity (`updated`) for ABANDONED_AFTER_MINUTES.

    The admin's list and dashboard, the recovery emails and the docs all use this one definition.
    A visit of a recovery link is no activity (it changes no field of the basket), nor is sending
    a recovery email. Unordered; served by the partial index on `updated` of active baskets.
    """
    now = now or timezone.now()
    return Basket.objects.filter(status=BasketStatus.ACTIVE, updated__lte=abandoned_cutoff(now), expires_at__gt=now)


@dataclass(frozen=True)
class BulkSendResult:
    """Where a bulk send (services.recovery_emails_queue_bulk) stands: the task's status
    (READY, RUNNING, SUCCESSFUL, FAILED) and, once it succeeded, its counts: `baskets`, `queued`,
    `skipped` (by reason), `notFound`."""

    status: str
    summary: dict[str, Any] | None


def recovery_bulk_result(result_id: str) -> BulkSendResult | None:
    """The bulk send `result_id`; None when the task backend has no such result."""
    from baskets.tasks import recovery_emails_bulk_task

    try:
        uuid.UUID(str(result_id))
        result = recovery_emails_bulk_task.get_result(str(result_id))
    except (ValueError, TaskResultDoesNotExist, TaskResultMismatch):  # not an id, or not a bulk send's
        return None
    summary = result.return_value if result.status == TaskResultStatus.SUCCESSFUL else None
    return BulkSendResult(status=str(result.status), summary=summary)
