"""`python manage.py expire_baskets [--batch-size N] [--max-batches N] [--json]`: housekeeping for cron.

Expires active baskets whose lifetime is over and purges idempotency records older than
IDEMPOTENCY_KEY_LIFETIME, in batches of short transactions. Safe to run from cron on several
hosts at once: each batch skips the rows another run holds, so no basket is expired twice.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from baskets.services import basket_expire_overdue
from checkout_project.api.idempotency import idempotency_records_purge


class Command(BaseCommand):
    help = "Expire overdue baskets and purge old idempotency records (safe to run on several hosts at once)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="Rows per transaction (default 500).")
        parser.add_argument(
            "--max-batches",
            type=int,
            default=200,
            help="Stop after this many batches of each kind (default 200); the next run carries on.",
        )
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print the counts as one JSON object.")

    def handle(self, *args, batch_size: int, max_batches: int, as_json: bool, **options):
        if batch_size < 1 or max_batches < 1:
            raise CommandError("--batch-size and --max-batches must be at least 1.")
        # One cut-off for the whole run: baskets that fall due meanwhile are the next run's.
        now = timezone.now()
        expired = self._drain(lambda: basket_expire_overdue(now=now, batch_size=batch_size), max_batches)
        purged = self._drain(
            lambda: idempotency_records_purge(
                created_before=now - settings.IDEMPOTENCY_KEY_LIFETIME, batch_size=batch_size
            ),
            max_batches,
        )
        counts = {"expired_baskets": expired, "purged_idempotency_records": purged}
        if as_json:
            self.stdout.write(json.dumps(counts, sort_keys=True))
        else:
            self.stdout.write(f"Expired {expired} basket(s); purged {purged} idempotency record(s).")

    @staticmethod
    def _drain(run_batch, max_batches: int) -> int:
        total = 0
        for _ in range(max_batches):
            done = run_batch()
            total += done
            if done == 0:
                break
        return total
