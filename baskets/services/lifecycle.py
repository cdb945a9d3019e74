"""A basket's life: the checks every write makes, its events, its status transitions, its expiry."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from baskets.errors import BasketCodes, BasketCompleted, BasketExpired, BasketNotFound, VersionMismatch
from baskets.locks import lock_basket, lock_baskets_skipping_locked
from baskets.models import BASKET_TRANSITIONS, Basket, BasketEvent, BasketStatus
from checkout_project.api.actor import Actor
from checkout_project.api.errors import ApplicationError

# Expiry is done by the system, not by a client: its events name no application or person.
SYSTEM_ACTOR = Actor()


def basket_ensure_mutable(basket: Basket) -> None:
    """Raises 409 for a completed basket and 410 for one whose lifetime is over."""
    if basket.status == BasketStatus.COMPLETED:
        raise BasketCompleted()
    if basket.status == BasketStatus.EXPIRED or basket.expires_at <= timezone.now():
        raise BasketExpired()


def basket_check_version(basket: Basket, if_match: int | None) -> None:
    """Raises VersionMismatch (412) unless `if_match` (when given) is the basket's version."""
    if if_match is not None and if_match != basket.version:
        raise VersionMismatch(basket.version)


def basket_record_event(
    *,
    basket: Basket,
    actor: Actor,
    kind: str,
    data: dict[str, Any] | None = None,
) -> BasketEvent:
    """Record an event of the basket at its current version (one INSERT)."""
    event = _event(basket, actor, kind, data)
    event.save(force_insert=True)
    return event


def _event(basket: Basket, actor: Actor, kind: str, data: dict[str, Any] | None) -> BasketEvent:
    return BasketEvent(
        basket=basket,
        kind=kind,
        application=actor.application,
        customer=actor.customer,
        partner=actor.partner,
        staff_user=actor.user if actor.is_staff else None,
        version=basket.version,
        data=data or {},
    )


@transaction.atomic(savepoint=False)  # runs inside its caller's transaction: no SAVEPOINT
def basket_transition(
    *,
    basket: Basket,
    to: str,
    actor: Actor,
    data: dict[str, Any] | None = None,
    also_save: Sequence[str] = (),
    at: datetime | None = None,
) -> Basket:
    """The only writer of `Basket.status`. The caller must hold the basket's row lock.

    `also_save`: other fields the caller changed on the locked basket, written by the same UPDATE.
    `at`: when it happens (default now); a completion passes the moment its order was placed.
    Records the transition's event.
    """
    if to not in BASKET_TRANSITIONS[basket.status]:
        if basket.status == BasketStatus.COMPLETED:
            raise BasketCompleted()
        if basket.status == BasketStatus.EXPIRED:
            raise BasketExpired()
        raise ApplicationError(f"A basket cannot go from {basket.status} to {to}.", code=BasketCodes.INVALID_TRANSITION)
    now = at or timezone.now()
    basket.status = to
    basket.version += 1
    basket.updated = now
    fields = ["status", "version", "updated", *(name for name in also_save if name not in {"status", "version"})]
    if to == BasketStatus.COMPLETED:
        basket.completed_at = now
        fields.append("completed_at")
    basket.save(update_fields=fields)
    basket_record_event(basket=basket, actor=actor, kind=to, data=data)
    return basket


def baskets_extend_for_link(baskets: Sequence[Basket], *, actor: Actor, now: datetime) -> list[Basket]:
    """Make the locked, open `baskets` live at least as long as a link issued `now` (API.md §5:
    LINK_LIFETIME), before such a link is handed to the customer; the baskets that changed.

    A basket whose `expires_at` is sooner is moved there, its version bumped (the order's
    `expiresAt` changed: a new ETag) and a `lifetime_extended` event recorded: two statements
    however many baskets. A completed or expired basket (or one whose lifetime is over) is left as
    it is: its links are refused anyway.
    """
    until = now + settings.LINK_LIFETIME
    changed, events = [], []
    for basket in baskets:
        if basket.status != BasketStatus.ACTIVE or basket.expires_at <= now or basket.expires_at >= until:
            continue
        data = {"from": basket.expires_at.isoformat(), "to": until.isoformat(), "reason": "link"}
        basket.expires_at = until
        basket.version += 1
        changed.append(basket)
        events.append(_event(basket, actor, "lifetime_extended", data))
    if changed:
        Basket.objects.bulk_update(changed, ["expires_at", "version"])
        BasketEvent.objects.bulk_create(events)
    return changed


@transaction.atomic
def basket_expire(*, actor: Actor, basket_id: uuid.UUID) -> Basket:
    """End an active basket's life now, before its lifetime is over (staff, from the admin).

    Locks the basket and moves it to `expired` through basket_transition, which bumps the
    version and records an `expired` event naming the staff user. Raises BasketNotFound (404),
    BasketCompleted (409) and BasketExpired (410) for a basket that is already over. Writes
    nothing when it raises.
    """
    basket = lock_basket(Basket.objects.all(), basket_id)
    if basket is None:
        raise BasketNotFound("Basket not found")
    return basket_transition(basket=basket, to=BasketStatus.EXPIRED, actor=actor, data={"reason": "staff"})


@transaction.atomic
def basket_expire_overdue(*, now: datetime, batch_size: int) -> int:
    """Expire up to `batch_size` active baskets whose lifetime ended before `now`; how many it expired.

    Locks the batch, oldest expiry first, skipping baskets another transaction holds (a
    request changing one, or another copy of this job): copies running at once on several
    hosts never take the same basket, and a customer's request is never waited for. Each
    basket goes through `basket_transition`, which records an `expired` event.
    """
    overdue = Basket.objects.filter(status=BasketStatus.ACTIVE, expires_at__lte=now).order_by("expires_at", "id")
    baskets = list(lock_baskets_skipping_locked(overdue)[:batch_size])
    for basket in baskets:
        basket_transition(
            basket=basket,
            to=BasketStatus.EXPIRED,
            actor=SYSTEM_ACTOR,
            data={"reason": "lifetime_over", "expiresAt": basket.expires_at.isoformat()},
        )
    return len(baskets)
