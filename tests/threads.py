"""Concurrency helpers for the PostgreSQL tests: work in parallel threads, a row lock held by another.

The threads started here register the PostgreSQL session (backend PID) each one opens, for as long
as it runs: `wait_until_waiting_on_a_lock` looks only at those sessions and the test's own, never
at another test's or another program's on the same server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import QuerySet

# The backend PIDs of the PostgreSQL sessions opened by the threads of this module that are running.
_sessions: set[int] = set()
_sessions_lock = threading.Lock()


@contextmanager
def _session_of_the_test() -> Iterator[None]:
    """The calling thread's database session counts as one of the test's while the block runs."""
    pid = None
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        pid = connection.connection.info.backend_pid
        with _sessions_lock:
            _sessions.add(pid)
    try:
        yield
    finally:
        if pid is not None:
            with _sessions_lock:
                _sessions.discard(pid)


def sessions_of_the_test() -> list[int]:
    """The backend PIDs of the sessions the running threads of this module opened."""
    with _sessions_lock:
        return sorted(_sessions)


def in_threads(count: int, work) -> list:
    """`work(index)` in `count` threads started together; their results in order (re-raises the first error)."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            with _session_of_the_test():
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
            with _session_of_the_test(), transaction.atomic():
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
            with _session_of_the_test():
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
    """Until a session of this test's threads (started, held_open, in_threads) waits for a lock
    that a session of this test holds (another thread's, or the test's own connection), so the
    test knows its race is on. Lock waits of other sessions on the server (another test run,
    another program) do not count."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiters = sessions_of_the_test()
        if waiters:
            with connection.cursor() as cursor:
                own = connection.connection.info.backend_pid
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid = ANY(%s)"
                    " AND pg_blocking_pids(pid) && %s::int[]",
                    [waiters, [*waiters, own]],
                )
                if cursor.fetchone()[0]:
                    return
        time.sleep(0.02)
    raise AssertionError("no session of this test ever waited for a lock another of its sessions held")


def row_locks_held(queryset: QuerySet):
    """While the block runs, another connection holds `SELECT … FOR UPDATE` on the queryset's rows
    (as a request in the middle of changing them would)."""
    return held_open(lambda: list(queryset.select_for_update()))
