"""What the housekeeping commands share: batch arguments and draining a job batch by batch."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError


class BatchJobCommand(BaseCommand):
    """A cron job that works in batches of short transactions: `--batch-size`, `--max-batches`, `--json`.

    Subclasses implement `run(batch_size, max_batches) -> {count name: count}` (calling `drain`)
    and `summary(counts) -> str`, the line printed without --json.
    """

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
        counts = self.run(batch_size, max_batches)
        self.stdout.write(json.dumps(counts, sort_keys=True) if as_json else self.summary(counts))

    def run(self, batch_size: int, max_batches: int) -> dict[str, int]:
        raise NotImplementedError

    def summary(self, counts: dict[str, int]) -> str:
        raise NotImplementedError

    @staticmethod
    def drain(run_batch: Callable[[], int], max_batches: int) -> int:
        """Run `run_batch` until it does nothing or `max_batches` ran; the total it did."""
        total = 0
        for _ in range(max_batches):
            done = run_batch()
            total += done
            if done == 0:
                break
        return total
