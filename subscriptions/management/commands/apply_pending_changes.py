"""`python manage.py apply_pending_changes [--batch-size N] [--max-batches N] [--json]`: cron job.

Applies the pending changes (downgrades ordered for the end of the term) whose date has come:
the subscription moves onto the new offer and starts its new term. Batches of short
transactions; safe to run on several hosts at once (each batch skips the subscriptions another
run or a customer's checkout holds). Completing a change or renewal order applies a due pending
change first too, so a late run never lets an order act on the old plan.
"""

from __future__ import annotations

from django.utils import timezone

from checkout_project.jobs import BatchJobCommand
from subscriptions.services import subscriptions_apply_due_changes


class Command(BatchJobCommand):
    help = "Apply the subscriptions' pending changes that are due (safe to run on several hosts at once)."

    def run(self, batch_size: int, max_batches: int) -> dict[str, int]:
        now = timezone.now()
        applied = self.drain(lambda: subscriptions_apply_due_changes(now=now, batch_size=batch_size), max_batches)
        return {"applied_pending_changes": applied}

    def summary(self, counts: dict[str, int]) -> str:
        return f"Applied {counts['applied_pending_changes']} pending change(s)."
