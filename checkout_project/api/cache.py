"""The default cache: Django's database cache, shared by every worker and app server, plus an
atomic request counter for the throttles (checkout_project.api.throttling).

Its table (`checkout_cache`, checkout_project.api.models.CacheEntry) is created by `migrate`, so
a fresh install needs no other server. Django's own `incr` is a read then a write (two requests
at once lose a count) and every `add` or `set` first counts the whole table; a throttle check
here is one statement instead: an upsert that opens the window or counts into it, and returns
the count. On PostgreSQL the table is UNLOGGED (migration 0003): that statement commits without
waiting for a disk flush, and a crash empties the cache, which holds nothing that must survive.
"""

from __future__ import annotations

import base64
import pickle
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache
from django.db import connections, router, transaction
from django.utils import timezone


class DatabaseCache(DjangoDatabaseCache):
    """Django's DatabaseCache, with `count()` for fixed-window request counters.

    A counter's row holds its count as plain digits (not a pickled value): read it with
    `count()`, never with `get()`. Rows past their window are deleted by `delete_expired()`
    (run by `manage.py expire_baskets`) and by Django's culling.
    """

    def __init__(self, table: str, params: dict) -> None:
        super().__init__(table, params)
        self.table = table

    def count(self, key: str, *, window_ends: float, now: float) -> int:
        """Count one request in `key`'s window ending at `window_ends` (a Unix time); the count so far.

        One statement: the first request of a window inserts the row (or resets a row left from
        an earlier window) with count 1, each later one adds 1, atomically on PostgreSQL and on
        SQLite, whichever process or server sends it.
        """
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote = connection.ops.quote_name
        table, value, expires = quote(self.table), quote("value"), quote("expires")
        adapt = connection.ops.adapt_datetimefield_value
        ends = adapt(datetime.fromtimestamp(window_ends, tz=UTC))
        at = adapt(datetime.fromtimestamp(now, tz=UTC))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({quote('cache_key')}, {value}, {expires}) VALUES (%s, '1', %s) "
                f"ON CONFLICT ({quote('cache_key')}) DO UPDATE SET "
                f"{value} = CASE WHEN {table}.{expires} <= %s THEN '1' "
                f"ELSE CAST(CAST({table}.{value} AS BIGINT) + 1 AS VARCHAR(20)) END, "
                f"{expires} = CASE WHEN {table}.{expires} <= %s THEN %s ELSE {table}.{expires} END "
                f"RETURNING {value}",
                [self.make_and_validate_key(key), ends, at, at, ends],
            )
            (counted,) = cursor.fetchone()
        return int(counted)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None) -> bool:
        """Django's `add` (store unless the key holds an unexpired value), without counting the table.

        Django's DatabaseCache counts every row before each write, to cull past MAX_ENTRIES: with
        the throttle counters in the same table, a scan on every write. Here an `add` (the token
        cache writes with it) deletes the key's row if its time ran out, then inserts it unless
        the key is taken: three statements, whatever the table holds. Expired rows are purged by
        `delete_expired()` (`expire_baskets`), as the counters are.
        """
        from checkout_project.api.models import CacheEntry  # the backend loads before the apps

        key = self.make_and_validate_key(key, version=version)
        seconds = self.get_backend_timeout(timeout)
        zone = UTC if settings.USE_TZ else None
        expires = datetime.max.replace(tzinfo=zone) if seconds is None else datetime.fromtimestamp(seconds, tz=zone)
        encoded = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
        entries = CacheEntry.objects.using(router.db_for_write(self.cache_model_class))
        with transaction.atomic(using=entries.db):
            entries.filter(cache_key=key, expires__lt=timezone.now()).delete()
            _, created = entries.get_or_create(
                cache_key=key, defaults={"value": encoded, "expires": expires.replace(microsecond=0)}
            )
        return created

    def delete_expired(self, *, now: datetime) -> int:
        """Delete every entry (counters included) whose time ran out before `now`; how many."""
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {quote(self.table)} WHERE {quote('expires')} < %s",
                [connection.ops.adapt_datetimefield_value(now)],
            )
            return cursor.rowcount


def cache_entries_purge(*, now: datetime) -> int:
    """Delete the expired entries of every database cache of CACHES (housekeeping); how many."""
    return sum(cache.delete_expired(now=now) for cache in caches.all() if isinstance(cache, DatabaseCache))
