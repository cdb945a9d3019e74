"""`python manage.py capture_payments [--batch-size N] [--max-batches N] [--json]`: the payments sweep for cron.

Failed captures are retried by tasks (`manage.py db_worker` runs them, at the time each retry is
due); this command catches what a lost task or a process that died left behind: payments whose
retry is due, payments authorised minutes ago whose capture never started, and authorisations
held by a completion that never finished (voided). Safe on several hosts at once: each payment is
claimed before its gateway call. Run it every few minutes.
"""

from __future__ import annotations

from django.utils import timezone

from baskets.payments.services import payment_holds_release_orphans, payments_capture_due
from checkout_project.jobs import BatchJobCommand


class Command(BatchJobCommand):
    help = "Capture due payments and void orphaned authorisations (safe to run on several hosts at once)."

    def run(self, batch_size: int, max_batches: int) -> dict[str, int]:
        now = timezone.now()
        captures = self.drain(lambda: payments_capture_due(now=now, batch_size=batch_size), max_batches)
        voids = self.drain(lambda: payment_holds_release_orphans(now=now, batch_size=batch_size), max_batches)
        return {"captures_tried": captures, "holds_voided": voids}

    def summary(self, counts: dict[str, int]) -> str:
        return f"Tried {counts['captures_tried']} capture(s); voided {counts['holds_voided']} orphaned hold(s)."
