"""Concurrency helpers for the PostgreSQL tests: work in parallel threads, a row lock held by another."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import QuerySet


def in_threads(count: int, work) -> list:
    """`work(index)` in `count` threads started together; their results in order (re-raises the first error)."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except BaseException as exc:  # re-raised in the test thread below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a run never finished"
    if errors:
        raise errors[0]
    return results


def run_at_once(count: int, send) -> list:
    """`send(index, client)` from `count` threads released together, each with its own APIClient."""
    from rest_framework.test import APIClient

    return in_threads(count, lambda index: send(index, APIClient()))


@contextmanager
def row_locks_held(queryset: QuerySet) -> Iterator[None]:
    """While the block runs, another connection holds `SELECT … FOR UPDATE` on the queryset's rows
    (as a request in the middle of changing them would)."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                list(queryset.select_for_update())
                held.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(timeout=10), "the lock was never taken"
        yield
    finally:
        release.set()
        holder.join(timeout=30)
