"""`python manage.py send_recovery_emails [--batch-size N] [--max-batches N] [--json]`: the recovery
email scheduler, for cron (every few minutes).

Queues the scheduled recovery emails that are due (RECOVERY_EMAIL_SCHEDULE after each abandoned
basket's last activity, each step once per basket), then re-enqueues the sends a lost task or a
dead worker left queued. It sends nothing itself: `manage.py db_worker` does, in the background.
Safe on several hosts at once: each batch skips the baskets another run holds, and the
(basket, step) unique constraint keeps any step from being queued twice.
"""

from __future__ import annotations

from django.utils import timezone

from baskets.services import recovery_emails_retry_due, recovery_schedule_run
from checkout_project.jobs import BatchJobCommand


class Command(BatchJobCommand):
    help = "Queue the scheduled recovery emails that are due (safe to run on several hosts at once)."

    def run(self, batch_size: int, max_batches: int) -> dict[str, int]:
        now = timezone.now()
        queued = recovery_schedule_run(now, batch_size=batch_size, max_batches=max_batches)
        retried = self.drain(lambda: recovery_emails_retry_due(now=now, batch_size=batch_size), 1)
        return {**{f"step_{step}": count for step, count in queued.items()}, "sends_requeued": retried}

    def summary(self, counts: dict[str, int]) -> str:
        steps = [f"{name.removeprefix('step_')}: {count}" for name, count in counts.items() if name.startswith("step_")]
        taken = ", ".join(steps) or "none (RECOVERY_EMAIL_SCHEDULE=off)"
        return f"Baskets taken per step: {taken}; re-enqueued {counts['sends_requeued']} send(s)."
