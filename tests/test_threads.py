"""tests/threads.py: `wait_until_waiting_on_a_lock` sees the test's own race, and only it.

The PostgreSQL server is shared (other test runs, other programs): a lock wait there must not
tell a test that its own race is on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection, transaction

from subscriptions.models import Customer
from tests.factories import CustomerFactory
from tests.threads import held_open, started, wait_until_waiting_on_a_lock

pytestmark = [pytest.mark.requires_postgres, pytest.mark.django_db(transaction=True)]

ADVISORY_KEY = 640_014


def _outside_connection() -> psycopg.Connection:
    """A session of the same database that is none of the test's (as another program's would be)."""
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
    )


@contextmanager
def another_session_waiting_on_a_lock() -> Iterator[None]:
    """Two sessions outside the test: one holds an advisory lock, the other waits for it."""
    holder, waiter = _outside_connection(), _outside_connection()
    try:
        holder.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_KEY])
        waiting_pid = waiter.info.backend_pid
        thread = threading.Thread(target=lambda: waiter.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_KEY]))
        thread.start()
        try:
            for _ in range(500):
                row = holder.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND pid = %s", [waiting_pid])
                if row.fetchone()[0]:
                    break
                threading.Event().wait(0.01)
            else:
                raise AssertionError("the outside session never waited")
            yield
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_KEY])
            thread.join(timeout=10)
            waiter.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_KEY])
    finally:
        holder.close()
        waiter.close()


def test_a_lock_wait_of_a_session_outside_the_test_does_not_count():
    with another_session_waiting_on_a_lock(), pytest.raises(AssertionError, match="ever waited for a lock"):
        wait_until_waiting_on_a_lock(timeout=0.5)


def lock_rows(rows) -> list:
    with transaction.atomic():
        return list(rows.select_for_update().values_list("pk", flat=True))


def test_a_started_work_waiting_for_a_row_another_thread_of_the_test_holds_counts():
    customer = CustomerFactory()
    rows = Customer.objects.filter(pk=customer.pk)

    with another_session_waiting_on_a_lock(), held_open(lambda: lock_rows(rows)):
        locked = started(lambda: lock_rows(rows))
        wait_until_waiting_on_a_lock()
    assert locked() == [customer.pk]


def test_a_started_work_waiting_for_a_lock_the_test_itself_holds_counts():
    customer = CustomerFactory()
    rows = Customer.objects.filter(pk=customer.pk)

    with transaction.atomic():
        lock_rows(rows)
        locked = started(lambda: lock_rows(rows))
        wait_until_waiting_on_a_lock()
    assert locked() == [customer.pk]
