"""The default cache is the database's: every worker process and app server counts into one
throttle counter (issue 14: with a per-process cache, 4 workers let 240 of 300 posts through a
60/min limit), one statement per check, and its expired rows are purged by housekeeping."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from checkout_project.api.cache import DatabaseCache
from checkout_project.api.models import CacheEntry
from checkout_project.api.throttling import window_wait
from tests.conftest import bearer
from tests.statements import DataStatements

ROOT = Path(__file__).resolve().parents[2]
# 20 seconds into a minute: the current window ends in 40 seconds.
NOW = 1_700_000_000.0 - (1_700_000_000 % 60) + 20

# One worker process: waits for the common start time, then counts WORKER_REQUESTS requests of one
# caller against a 50/min rate at a fixed time and prints how many were let through.
WORKER = """
import json, os, time
from checkout_project.api.throttling import window_wait
from tests.conftest import bearer
from tests.statements import DataStatements
time.sleep(max(0.0, float(os.environ["WORKER_START_AT"]) - time.time()))
now, n = float(os.environ["WORKER_NOW"]), int(os.environ["WORKER_REQUESTS"])
allowed = sum(window_wait("anonymous", "ip:198.51.100.7", "50/min", now) is None for _ in range(n))
print(json.dumps({"allowed": allowed}))
"""


def test_the_default_cache_is_the_database_cache_in_its_migrated_table():
    cache = caches["default"]

    assert isinstance(cache, DatabaseCache)
    assert cache.table == CacheEntry._meta.db_table == "checkout_cache"


@pytest.mark.django_db
def test_the_cache_works_as_a_cache():
    cache = caches["default"]
    cache.set("greeting", {"hello": "world"}, timeout=60)

    assert cache.get("greeting") == {"hello": "world"}
    assert CacheEntry.objects.filter(cache_key=":1:greeting").exists()


@pytest.mark.django_db
def test_add_stores_once_keeps_a_taken_key_and_never_counts_the_table():
    cache = caches["default"]
    for number in range(5):
        cache.set(f"other-{number}", number, timeout=60)

    with DataStatements(connection) as captured:
        assert cache.add("token", {"first": True}, timeout=60) is True
    taken = cache.add("token", {"second": True}, timeout=60)

    assert taken is False
    assert cache.get("token") == {"first": True}
    assert len(captured) == 3, captured.sql()  # the expired row's DELETE, a SELECT, the INSERT
    assert not any("COUNT(" in statement.upper() for statement in captured.statements)


@pytest.mark.django_db
def test_add_replaces_an_entry_whose_time_ran_out():
    cache = caches["default"]
    CacheEntry.objects.create(cache_key=":1:token", value="stale", expires=datetime(2020, 1, 1, tzinfo=UTC))

    assert cache.add("token", "fresh", timeout=60) is True
    assert cache.get("token") == "fresh"
    assert CacheEntry.objects.get(cache_key=":1:token").expires > datetime.now(tz=UTC)


@pytest.mark.django_db
def test_add_without_a_timeout_keeps_the_entry_for_ever():
    cache = caches["default"]

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # Django's warning on a naive datetime
        assert cache.add("forever", "kept", timeout=None) is True

    assert cache.get("forever") == "kept"
    assert CacheEntry.objects.get(cache_key=":1:forever").expires.year == 9999


@pytest.mark.django_db
def test_a_throttle_check_is_one_statement_and_counts_to_the_limit():
    with CaptureQueriesContext(connection) as first:
        assert window_wait("anonymous", "ip:203.0.113.1", "3/min", NOW) is None

    waits = [window_wait("anonymous", "ip:203.0.113.1", "3/min", NOW) for _ in range(3)]

    assert len(first.captured_queries) == 1, first.captured_queries
    assert waits == [None, None, 40.0]
    # Another caller has its own counter.
    assert window_wait("anonymous", "ip:203.0.113.2", "3/min", NOW) is None


@pytest.mark.django_db
def test_the_counter_starts_again_in_the_next_window_on_the_same_row():
    for _ in range(3):
        window_wait("anonymous", "ip:203.0.113.1", "3/min", NOW)
    assert window_wait("anonymous", "ip:203.0.113.1", "3/min", NOW) == 40.0

    assert window_wait("anonymous", "ip:203.0.113.1", "3/min", NOW + 40) is None
    assert [window_wait("anonymous", "ip:203.0.113.1", "3/min", NOW + 41) for _ in range(3)] == [None, None, 59.0]
    [row] = CacheEntry.objects.all()
    assert (row.cache_key, row.value) == (":1:throttle:anonymous:ip:203.0.113.1:60", "4")
    assert row.expires == datetime.fromtimestamp(NOW + 100, tz=UTC)


@pytest.mark.django_db
def test_expire_baskets_purges_the_expired_cache_rows_only():
    window_wait("anonymous", "ip:203.0.113.1", "3/min", NOW)  # its window ended long ago
    caches["default"].set("fresh", 1, timeout=600)

    output = call_command_output("expire_baskets", "--json")

    assert json.loads(output)["purged_cache_entries"] == 1
    assert list(CacheEntry.objects.values_list("cache_key", flat=True)) == [":1:fresh"]


def call_command_output(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_two_processes_count_into_one_counter(tmp_path):
    """Two worker processes, started together, each send 40 requests of one client: one counter
    of 80 lets exactly 50 through (the rate). Per-process counters would let all 80 through."""
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "checkout_project.settings_test"}
    database = connection.settings_dict
    if connection.vendor == "postgresql":
        # The test database itself: this test commits, so the workers see its (empty) cache table.
        user, host, port = database["USER"], database["HOST"] or "127.0.0.1", database["PORT"] or 5432
        environment["DATABASE_URL"] = f"postgres://{user}@{host}:{port}/{database['NAME']}"
    else:
        # The test database is in memory: the workers share a file with the migrated cache table.
        environment["DATABASE_URL"] = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "api", "--no-input"], cwd=ROOT, env=environment, check=True,
            capture_output=True, timeout=120,
        )  # fmt: skip

    # Both start counting at once (Django's start-up takes a second or two).
    environment |= {"WORKER_NOW": str(NOW), "WORKER_REQUESTS": "40", "WORKER_START_AT": str(time.time() + 4)}
    command = [sys.executable, "manage.py", "shell", "-c", WORKER]
    workers = [
        subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=120) for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0], outputs
    allowed = [json.loads(stdout.strip().splitlines()[-1])["allowed"] for stdout, _ in outputs]
    assert sum(allowed) == 50, allowed


def statements_and_status(request) -> tuple[int, int]:
    """The data statements a request sends and its status."""
    with DataStatements(connection) as captured:
        response = request()
    return len(captured), response.status_code


@pytest.mark.usefixtures("token_cache_off")
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "token", "counters"),
    [
        ("/api/checkout/abandoned", "backoffice_token", 1),  # the application's counter for its scope
        ("/api/checkout/subscription", "customer_token", 2),  # and the customer's own
    ],
)
def test_throttling_adds_one_statement_per_counter_to_a_request(settings, api_client, request, url, token, counters):
    """What the query budgets (throttling off) leave out: one statement per counter, no more."""
    credentials = bearer(request.getfixturevalue(token))
    caches["default"].clear()
    without, status = statements_and_status(lambda: api_client.get(url, **credentials))
    settings.THROTTLE_ENABLED = True

    with_throttling, throttled_status = statements_and_status(lambda: api_client.get(url, **credentials))

    assert throttled_status == status != 429
    assert with_throttling == without + counters
