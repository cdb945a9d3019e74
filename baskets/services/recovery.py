"""Abandoned-basket recovery emails (docs/recovery.md): queueing them (staff, in bulk, on the
schedule), sending them in the background with retries, the visit of their link and the completion
after it (attribution), and unsubscribing.

An email's life: `queued` (a RecoveryEmail row, written in the transaction that decides to send
it; the send task is enqueued when it commits) → `sent`, `failed` (after SEND_MAX_ATTEMPTS), or
`skipped` with the reason (decided when queued, and again when sending). A scheduled email has a
`step` of RECOVERY_EMAIL_SCHEDULE and the (basket, step) unique constraint makes each step happen
at most once per basket, however many schedulers run; a staff email has none.

No email is sent while a transaction is open: the send task claims its email in one short
transaction (a guarded `next_attempt_at`), talks to the mail server outside any, and records the
outcome in another.
"""

from __future__ import annotations

import enum
import logging
import smtplib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from baskets import selectors
from baskets.errors import BASKET_NOT_FOUND, BasketNotFound
from baskets.locks import lock_basket, lock_baskets, lock_baskets_skipping_locked
from baskets.models import Basket, BasketStatus, EmailSuppression, OrderItem, RecoveryEmail, RecoveryStatus
from baskets.recovery_mail import SiteUrlMissing, parse_email_reference, recovery_message
from baskets.services.lifecycle import SYSTEM_ACTOR, basket_record_event, baskets_extend_for_link
from checkout_project.api.actor import Actor

logger = logging.getLogger(__name__)

Status = RecoveryEmail.Status

# Retries of a failed send: after 1, 5 and 30 minutes, then 2 hours; `failed` after the last.
SEND_BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
SEND_MAX_ATTEMPTS = len(SEND_BACKOFF) + 1
# How long a worker holds an email it is sending (its claim); the sweep may retry it after that.
SEND_CLAIM = timedelta(minutes=10)
# A queued email whose task never ran (lost, or the worker died) is re-enqueued by the sweep after this.
SEND_SWEEP_GRACE = timedelta(minutes=10)
# Bulk sends lock and queue this many baskets per transaction.
BULK_CHUNK = 200

# What a send may raise that is the mail server's (or the network's) failure, retried with backoff.
SEND_ERRORS: tuple[type[Exception], ...] = (smtplib.SMTPException, OSError)
try:  # a provider backend (django-anymail), when installed
    from anymail.exceptions import AnymailError  # type: ignore[import-not-found]

    SEND_ERRORS = (*SEND_ERRORS, AnymailError)
except ImportError:  # pragma: no cover - anymail is optional
    pass


class SkipReason(enum.StrEnum):
    """Why a recovery email was not sent (RecoveryEmail.reason; the bulk summary's keys)."""

    NO_EMAIL = "no email address"
    UNSUBSCRIBED = "address unsubscribed"
    COMPLETED = "basket completed"
    EXPIRED = "basket expired"
    ACTIVE_AGAIN = "customer came back"
    EMPTY = "basket empty"


def _skip_reason(basket: Basket, *, address: str, suppressed: bool, now: datetime) -> SkipReason | None:
    if not address:
        return SkipReason.NO_EMAIL
    if basket.status == BasketStatus.COMPLETED:
        return SkipReason.COMPLETED
    if basket.status == BasketStatus.EXPIRED or basket.expires_at <= now:
        return SkipReason.EXPIRED
    if suppressed:
        return SkipReason.UNSUBSCRIBED
    return None


def _suppressed(addresses: Iterable[str]) -> set[str]:
    wanted = {address.lower() for address in addresses if address}
    if not wanted:
        return set()
    return set(EmailSuppression.objects.filter(email__in=wanted).values_list("email", flat=True))


def _enqueue_send(recovery_email_id: uuid.UUID, *, run_after: datetime | None = None) -> None:
    """Enqueue the send task once the current transaction (if any) commits."""
    from baskets.tasks import recovery_email_send_task

    def send() -> None:
        task = recovery_email_send_task
        if run_after is not None and task.get_backend().supports_defer:
            task = task.using(run_after=run_after)
        task.enqueue(str(recovery_email_id))

    transaction.on_commit(send, robust=True)


def _queue(baskets: Sequence[Basket], *, step: str, sent_by: Any, now: datetime) -> list[RecoveryEmail]:
    """Record one email per basket (queued, or skipped with its reason); the caller's transaction
    holds the baskets' locks. With a `step`, a basket that already has that step is left out (the
    unique constraint, whichever transaction wrote it): the emails returned are the ones written."""
    suppressed = _suppressed(basket.email for basket in baskets)
    emails = []
    for basket in baskets:
        reason = _skip_reason(basket, address=basket.email, suppressed=basket.email.lower() in suppressed, now=now)
        emails.append(
            RecoveryEmail(
                basket=basket,
                step=step,
                sent_by=sent_by,
                to_email=basket.email,
                status=Status.SKIPPED if reason else Status.QUEUED,
                reason=reason.value if reason else "",
            )
        )
    if not emails:
        return []
    if step:
        # Another scheduler may have written the same step meanwhile: ON CONFLICT DO NOTHING, then
        # read back which of ours went in (the ids are ours, made here).
        RecoveryEmail.objects.bulk_create(emails, ignore_conflicts=True)
        written = set(RecoveryEmail.objects.filter(id__in=[email.id for email in emails]).values_list("id", flat=True))
        emails = [email for email in emails if email.id in written]
    else:
        RecoveryEmail.objects.bulk_create(emails)
    queued = [email for email in emails if email.status == Status.QUEUED]
    # The emailed recovery link gets its whole lifetime: the basket lives at least as long.
    actor = Actor(user=sent_by, is_staff=True) if sent_by is not None else SYSTEM_ACTOR
    baskets_extend_for_link([email.basket for email in queued], actor=actor, now=now)
    for email in queued:
        _enqueue_send(email.id)
    return emails


# --- Queueing ------------------------------------------------------------------------------------


def recovery_email_queue(*, basket: Basket, sent_by: Any = None, step: str = "") -> RecoveryEmail:
    """Queue a recovery email for `basket`, or record why it is skipped; the RecoveryEmail.

    In one transaction with the basket's row locked: skipped (with the reason) when the basket has
    no email address, the address unsubscribed, or the basket is completed or expired; otherwise
    queued, and the send task (recovery_email_send) is enqueued when the transaction commits.
    A staff email (`sent_by`, a staff user) has no step. A schedule `step` the basket already has
    is not queued again: that step's RecoveryEmail is returned as it is.
    Raises BasketNotFound (404) for a basket that no longer exists, ValueError for a staff email
    with a step.
    """
    if sent_by is not None and step:
        raise ValueError("An email sent by staff has no schedule step.")
    with transaction.atomic():
        locked = lock_basket(Basket.objects.all(), basket.pk)
        if locked is None:
            raise BasketNotFound(BASKET_NOT_FOUND)
        if step:
            existing = RecoveryEmail.objects.filter(basket=locked, step=step).first()
            if existing is not None:
                return existing
        emails = _queue([locked], step=step, sent_by=sent_by, now=timezone.now())
        return emails[0] if emails else RecoveryEmail.objects.get(basket=locked, step=step)


@dataclass
class BulkSummary:
    """What a bulk send did: baskets asked for, emails queued, skipped by reason, baskets not found."""

    baskets: int = 0
    queued: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    not_found: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"baskets": self.baskets, "queued": self.queued, "skipped": self.skipped, "notFound": self.not_found}


def recovery_emails_queue_bulk(*, basket_ids: Iterable[uuid.UUID | str], sent_by: Any) -> str:
    """Queue a staff recovery email for each of `basket_ids`, in the background; the task result's id.

    Returns at once: the bulk task (baskets.tasks.recovery_emails_bulk_task, run by a worker)
    queues the emails in transactions of BULK_CHUNK baskets, each a RecoveryEmail (queued or
    skipped with the reason) staff see on the basket, and stores its counts (BulkSummary.to_dict)
    as the task's return value: selectors.recovery_bulk_result(result_id) reads them.
    `basket_ids`: UUIDs, or their strings (public `basket-…` ids too). Raises ValueError for
    anything else, before enqueueing anything.
    """
    from baskets.tasks import recovery_emails_bulk_task

    ids = list(dict.fromkeys(str(uuid.UUID(str(basket_id).removeprefix("basket-"))) for basket_id in basket_ids))
    user_id = sent_by.pk if sent_by is not None else None
    return recovery_emails_bulk_task.enqueue(ids, user_id).id


def recovery_emails_queue_many(*, basket_ids: Sequence[str], sent_by_id: int | None) -> BulkSummary:
    """The bulk task's work: queue a staff email per basket, BULK_CHUNK baskets per transaction
    (their rows locked in id order); the counts."""
    sent_by = get_user_model().objects.filter(pk=sent_by_id).first() if sent_by_id is not None else None
    summary = BulkSummary(baskets=len(basket_ids))
    for start in range(0, len(basket_ids), BULK_CHUNK):
        chunk = basket_ids[start : start + BULK_CHUNK]
        with transaction.atomic():
            baskets = list(lock_baskets(Basket.objects.filter(pk__in=chunk).order_by("pk")))
            emails = _queue(baskets, step="", sent_by=sent_by, now=timezone.now())
        summary.not_found += len(chunk) - len(baskets)
        for email in emails:
            if email.status == Status.QUEUED:
                summary.queued += 1
            else:
                summary.skipped[email.reason] = summary.skipped.get(email.reason, 0) + 1
    return summary


# --- The schedule --------------------------------------------------------------------------------


def recovery_schedule_batch(
    *, step: str, delay: timedelta, later_steps: Sequence[str], now: datetime, batch_size: int
) -> int:
    """Queue `step` for up to `batch_size` abandoned baskets idle for `delay` that have neither
    this step nor a later one; how many baskets it took.

    Locks the batch skipping the baskets another transaction holds (a customer's request, another
    scheduler): schedulers on several hosts split the work; the unique constraint on
    (basket, step) settles the rest (a basket two of them took one after the other).
    """
    done = RecoveryEmail.objects.filter(basket=OuterRef("pk"), step__in=[step, *later_steps])
    has_items = OrderItem.objects.filter(basket=OuterRef("pk"))
    due = (
        selectors.abandoned_for_recovery(now)
        .filter(updated__lte=now - delay)
        .filter(Exists(has_items))  # an empty basket has nothing to remind anyone of
        .exclude(Exists(done))
        .order_by("updated", "id")
    )
    with transaction.atomic():
        baskets = list(lock_baskets_skipping_locked(due)[:batch_size])
        # A basket another scheduler held until just now (its lock released by its commit) may
        # have got this step or a later one after the statement above read the emails: asked
        # again, now that the baskets are locked (a new statement sees what was committed).
        emailed = RecoveryEmail.objects.filter(basket__in=baskets, step__in=[step, *later_steps])
        taken = set(emailed.values_list("basket_id", flat=True))
        _queue([basket for basket in baskets if basket.pk not in taken], step=step, sent_by=None, now=now)
    return len(baskets)


def recovery_schedule_run(
    now: datetime | None = None, *, batch_size: int = 500, max_batches: int = 200
) -> dict[str, int]:
    """Queue every scheduled recovery email due at `now` (RECOVERY_EMAIL_SCHEDULE); how many
    baskets each step took, by step.

    The latest step first: a basket idle past several steps (the scheduler was not running, or
    was just switched on) gets only the latest, never a burst. Safe on several hosts at once
    (recovery_schedule_batch). Each step stops after `max_batches`; the next run carries on.
    """
    now = now or timezone.now()
    schedule = list(settings.RECOVERY_EMAIL_SCHEDULE)
    counts: dict[str, int] = {}
    for index in reversed(range(len(schedule))):
        step, delay = schedule[index]
        later = [later_step for later_step, _ in schedule[index + 1 :]]
        total = 0
        for _ in range(max_batches):
            taken = recovery_schedule_batch(step=step, delay=delay, later_steps=later, now=now, batch_size=batch_size)
            total += taken
            if taken < batch_size:
                break
        counts[step] = total
    return counts


def recovery_emails_retry_due(*, now: datetime, batch_size: int) -> int:
    """The sweep: re-enqueue the send of queued emails whose task is overdue (lost, or its worker
    died mid-send); how many. The send's claim lets one task through if the old one still runs."""
    overdue = (
        RecoveryEmail.objects.filter(status=Status.QUEUED)
        .filter(
            Q(next_attempt_at__lte=now - SEND_SWEEP_GRACE)
            | Q(next_attempt_at__isnull=True, created__lte=now - SEND_SWEEP_GRACE)
        )
        .order_by("created")
        .values_list("id", flat=True)[:batch_size]
    )
    ids = list(overdue)
    for recovery_email_id in ids:
        _enqueue_send(recovery_email_id)
    return len(ids)


# --- Sending -------------------------------------------------------------------------------------


def _lock_email(recovery_email_id: uuid.UUID) -> tuple[Basket | None, RecoveryEmail | None]:
    """The email and its basket, both locked (the basket first, as every basket write does)."""
    basket_id = RecoveryEmail.objects.filter(pk=recovery_email_id).values_list("basket_id", flat=True).first()
    if basket_id is None:
        return None, None
    basket = lock_basket(Basket.objects.all(), basket_id)
    emails = RecoveryEmail.objects.select_for_update(of=("self",)).select_related("sent_by")
    email = emails.filter(pk=recovery_email_id).first()
    return basket, email


def recovery_email_send(*, recovery_email_id: uuid.UUID, now: datetime | None = None) -> RecoveryEmail | None:
    """Send one queued recovery email (the send task); the email as recorded after, None if gone.

    Idempotent: only a `queued` email whose attempt is due is sent, and a claim (a short
    transaction moving `next_attempt_at` SEND_CLAIM ahead) lets one worker through. The skip rules
    are checked again first (the basket completed or expired, the address unsubscribed since it
    was queued; a scheduled email whose customer came back since). The mail server is called with
    no transaction open. On success: `sent` and the basket's recovery fields and a
    `recovery_email_sent` event (recovery_email_record_sent). On a mail server error: retried after
    SEND_BACKOFF (the task is enqueued again, deferred), `failed` with the reason after
    SEND_MAX_ATTEMPTS attempts. Never raises for a mail server error.
    """
    now = now or timezone.now()
    with transaction.atomic():
        basket, email = _lock_email(recovery_email_id)
        if basket is None or email is None:
            return email
        if email.status != Status.QUEUED or (email.next_attempt_at is not None and email.next_attempt_at > now):
            return email
        if email.attempts >= SEND_MAX_ATTEMPTS:  # its last attempt died mid-send (the sweep brought it back)
            return _give_up(basket, email, "the last attempt did not finish")
        reason = _skip_reason(basket, address=email.to_email, suppressed=bool(_suppressed([email.to_email])), now=now)
        if reason is None and email.step and basket.updated > email.created:
            reason = SkipReason.ACTIVE_AGAIN
        items = selectors.basket_items(basket) if reason is None else []
        if reason is None and not any(item.action_type != OrderItem.ActionType.REMOVE for item in items):
            reason = SkipReason.EMPTY
        if reason is not None:
            email.status, email.reason, email.next_attempt_at = Status.SKIPPED, reason.value, None
            email.save(update_fields=["status", "reason", "next_attempt_at"])
            return email
        email.attempts += 1
        email.next_attempt_at = now + SEND_CLAIM
        email.save(update_fields=["attempts", "next_attempt_at"])
    # Outside any transaction: the price, the message, then the mail server.
    quote = selectors.basket_quote(basket, items, now=now)
    try:
        recovery_message(recovery_email=email, basket=basket, items=items, quote=quote).send()
    except SiteUrlMissing as exc:
        return _send_failed(recovery_email_id, str(exc), now, final=True)
    except SEND_ERRORS as exc:
        return _send_failed(recovery_email_id, f"{type(exc).__name__}: {exc}", now)
    return recovery_email_record_sent(recovery_email_id=recovery_email_id, now=timezone.now())


def _actor(email: RecoveryEmail) -> Actor:
    return Actor(user=email.sent_by, is_staff=True) if email.sent_by is not None else SYSTEM_ACTOR


@transaction.atomic
def recovery_email_record_sent(*, recovery_email_id: uuid.UUID, now: datetime) -> RecoveryEmail | None:
    """Record a sent email: `sent`, and on the basket `recovery_status` emailed (unless the link was
    opened or the basket recovered already), one more `recovery_emails_sent`,
    `recovery_last_emailed_at`, and a `recovery_email_sent` event (step, staff user, email id).
    Neither `version` nor `updated` changes (an email is no activity of the customer's)."""
    basket, email = _lock_email(recovery_email_id)
    if basket is None or email is None or email.status != Status.QUEUED:
        return email
    email.status, email.sent_at, email.next_attempt_at, email.reason = Status.SENT, now, None, ""
    email.save(update_fields=["status", "sent_at", "next_attempt_at", "reason"])
    if basket.recovery_status not in (RecoveryStatus.OPENED, RecoveryStatus.RECOVERED):
        basket.recovery_status = RecoveryStatus.EMAILED
    basket.recovery_emails_sent += 1
    basket.recovery_last_emailed_at = now
    basket.save(update_fields=["recovery_status", "recovery_emails_sent", "recovery_last_emailed_at"])
    basket_record_event(
        basket=basket,
        actor=_actor(email),
        kind="recovery_email_sent",
        data={
            "recoveryEmail": str(email.id),
            "step": email.step,
            "sentBy": email.sent_by.email if email.sent_by is not None else None,
            "to": email.to_email,
        },
    )
    return email


@transaction.atomic
def _send_failed(
    recovery_email_id: uuid.UUID, error: str, now: datetime, *, final: bool = False
) -> RecoveryEmail | None:
    basket, email = _lock_email(recovery_email_id)
    if basket is None or email is None or email.status != Status.QUEUED:
        return email
    if email.attempts < SEND_MAX_ATTEMPTS and not final:
        email.next_attempt_at = now + SEND_BACKOFF[email.attempts - 1]
        email.reason = f"attempt {email.attempts} failed: {error}"[:200]
        email.save(update_fields=["next_attempt_at", "reason"])
        _enqueue_send(email.id, run_after=email.next_attempt_at)
        logger.warning("recovery email %s: attempt %d failed (%s); retrying", email.id, email.attempts, error)
        return email
    return _give_up(basket, email, error)


def _give_up(basket: Basket, email: RecoveryEmail, error: str) -> RecoveryEmail:
    """`failed` with the reason, and a `recovery_email_failed` event; the caller holds both locks."""
    email.status, email.next_attempt_at = Status.FAILED, None
    email.reason = f"failed after {email.attempts} attempt(s): {error}"[:200]
    email.save(update_fields=["status", "next_attempt_at", "reason"])
    basket_record_event(
        basket=basket,
        actor=_actor(email),
        kind="recovery_email_failed",
        data={"recoveryEmail": str(email.id), "step": email.step, "reason": email.reason},
    )
    logger.error("recovery email %s failed after %d attempts (%s)", email.id, email.attempts, error)
    return email


# --- Attribution ---------------------------------------------------------------------------------


def recovery_email_record_open(*, basket: Basket, reference: str | None, now: datetime | None = None) -> bool:
    """Record the visit of a recovery link from an email (its `re=` reference), inside the caller's
    transaction holding the basket's lock (basket_follow_link). The first visit through an email
    sets its `opened_at`; the basket's first sets `recovery_opened_at` and `recovery_status`
    opened (unless recovered) and records a `recovery_email_opened` event. A forged reference, or
    one of another basket's email, records nothing. Whether it recorded a first visit."""
    recovery_email_id = parse_email_reference(reference)
    if recovery_email_id is None:
        return False
    now = now or timezone.now()
    opened = RecoveryEmail.objects.filter(
        pk=recovery_email_id, basket=basket, status=Status.SENT, opened_at__isnull=True
    ).update(opened_at=now)
    if not opened:
        return False
    fields = []
    if basket.recovery_opened_at is None:
        basket.recovery_opened_at = now
        fields.append("recovery_opened_at")
    if basket.recovery_status != RecoveryStatus.RECOVERED:
        basket.recovery_status = RecoveryStatus.OPENED
        fields.append("recovery_status")
    if fields:
        basket.save(update_fields=fields)
    step = RecoveryEmail.objects.filter(pk=recovery_email_id).values_list("step", flat=True).first()
    basket_record_event(
        basket=basket,
        actor=SYSTEM_ACTOR,
        kind="recovery_email_opened",
        data={"recoveryEmail": str(recovery_email_id), "step": step or ""},
    )
    return True


def recovery_attribute_completion(basket: Basket, *, amount: Any, now: datetime) -> list[str]:
    """At completion, under the basket's lock: a basket whose recovery link was opened from an
    email is `recovered`, with `recovered_at` and `recovered_amount` (the order's total). No query:
    the fields changed, for the completing UPDATE to write (basket_transition's also_save)."""
    if basket.recovery_opened_at is None or basket.recovery_status == RecoveryStatus.RECOVERED:
        return []
    basket.recovery_status = RecoveryStatus.RECOVERED
    basket.recovered_at = now
    basket.recovered_amount = amount
    return ["recovery_status", "recovered_at", "recovered_amount"]


# --- Unsubscribing -------------------------------------------------------------------------------


def email_unsubscribe(*, address: str) -> bool:
    """Stop recovery emails to `address` (stored lower-case); whether it was subscribed until now.
    Emails already queued for it are skipped when their turn comes."""
    _, created = EmailSuppression.objects.get_or_create(email=address.strip().lower())
    return created
