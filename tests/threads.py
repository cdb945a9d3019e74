"""Concurrency helpers for the PostgreSQL tests: work in parallel threads, a row lock held by another."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
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
def held_open(work) -> Iterator[None]:
    """`work()` runs in another thread inside a transaction that stays open (its row locks held)
    until the block ends, then commits: a request caught in the middle of a change."""
    done, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with transaction.atomic():
                work()
                done.set()
                release.wait(timeout=30)
        except BaseException as exc:  # re-raised in the test thread below
            errors.append(exc)
            done.set()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert done.wait(timeout=10), "the work never ran"
        if errors:
            raise errors[0]
        yield
    finally:
        release.set()
        thread.join(timeout=30)


def started(work) -> Callable[[], object]:
    """`work()` started in another thread; call the result to wait for it and get its return value
    (re-raising its error)."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # re-raised by the caller below
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()

    def result() -> object:
        thread.join(timeout=60)
        assert not thread.is_alive(), "the work never finished"
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("value")

    return result


def wait_until_waiting_on_a_lock(timeout: float = 10) -> None:
    """Until some PostgreSQL session waits for a lock (pg_locks), so a test knows the race is on."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return
        time.sleep(0.02)
    raise AssertionError("nobody ever waited for a lock")


def row_locks_held(queryset: QuerySet):
    """While the block runs, another connection holds `SELECT … FOR UPDATE` on the queryset's rows
    (as a request in the middle of changing them would)."""
    return held_open(lambda: list(queryset.select_for_update()))
