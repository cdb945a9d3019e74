"""`python manage.py expire_baskets [--batch-size N] [--max-batches N] [--json]`: housekeeping for cron.

Expires active baskets whose lifetime is over, purges idempotency records older than
IDEMPOTENCY_KEY_LIFETIME (in batches of short transactions) and the database cache's expired
entries (throttle counters of clients gone quiet). Safe to run from cron on several
hosts at once: each batch skips the rows another run holds, so no basket is expired twice.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from baskets.services import basket_expire_overdue
from checkout_project.api.cache import cache_entries_purge
from checkout_project.api.idempotency import idempotency_records_purge
from checkout_project.jobs import BatchJobCommand


class Command(BatchJobCommand):
    help = (
        "Expire overdue baskets, purge old idempotency records and expired cache entries "
        "(safe to run on several hosts at once)."
    )

    def run(self, batch_size: int, max_batches: int) -> dict[str, int]:
        # One cut-off for the whole run: baskets that fall due meanwhile are the next run's.
        now = timezone.now()
        expired = self.drain(lambda: basket_expire_overdue(now=now, batch_size=batch_size), max_batches)
        purged = self.drain(
            lambda: idempotency_records_purge(
                created_before=now - settings.IDEMPOTENCY_KEY_LIFETIME, batch_size=batch_size
            ),
            max_batches,
        )
        return {
            "expired_baskets": expired,
            "purged_idempotency_records": purged,
            "purged_cache_entries": cache_entries_purge(now=now),
        }

    def summary(self, counts: dict[str, int]) -> str:
        return (
            f"Expired {counts['expired_baskets']} basket(s); "
            f"purged {counts['purged_idempotency_records']} idempotency record(s) "
            f"and {counts['purged_cache_entries']} expired cache row(s)."
        )
