"""Row locks shared by the apps' background jobs."""

from django.db import connection
from django.db.models import Model, QuerySet


def lock_skipping_locked[M: Model](queryset: QuerySet[M]) -> QuerySet[M]:
    """Locks the rows no other transaction holds and leaves the others out of the result.

    Background jobs use it so that several copies running at once split the work instead of
    queueing behind each other (or behind a customer's request). Where the database has no
    SKIP LOCKED, they wait for the lock instead; SQLite has no row locks at all and
    serialises writers on the whole database.
    """
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True)
    return queryset.select_for_update()
