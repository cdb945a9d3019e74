"""`Idempotency-Key` on every POST/PUT (API.md §4): replay the first answer, 422 on a different body."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.response import Response

from checkout_project.api.actor import Actor
from checkout_project.api.errors import ApiCodes, ApplicationError, Conflict, UnprocessableEntity
from checkout_project.api.models import IdempotencyRecord

HEADER = "Idempotency-Key"
_KEPT_HEADERS = ("ETag",)
# Outside a transaction (idempotent_outside_transaction): how long a duplicate waits for the first
# request's answer, how often it looks, and when a claim left without an answer (its process
# died) may be taken over.
WAIT_FOR_FIRST = timedelta(seconds=30)
POLL_EVERY = 0.05
CLAIM_ABANDONED_AFTER = timedelta(minutes=10)


def _request_hash(request) -> str:
    """What makes two requests "the same" for a key: method, path, body and If-Match (the
    landing-state cookie is compared on its own, see _replay)."""
    canonical = json.dumps(
        {
            "method": request.method,
            "path": request.path,
            "body": request.data,
            "if_match": request.headers.get("If-Match", ""),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _landing_state(request) -> str:
    return request.COOKIES.get(settings.LANDING_STATE_COOKIE, "")[:255]


def _replay(record: IdempotencyRecord, request) -> Response:
    # The cookie names the basket a request acts on: the same key and body aimed at another
    # basket is another request, not a retry (never basket A's answer and cookie for basket B).
    landing_state = _landing_state(request)
    set_by_first = record.cookies.get(settings.LANDING_STATE_COOKIE, {}).get("value")
    same_basket = landing_state in {record.landing_state, set_by_first}
    if record.request_hash != _request_hash(request) or not same_basket:
        raise UnprocessableEntity(
            "This Idempotency-Key was used with a different request.", code=ApiCodes.IDEMPOTENCY_KEY_REUSED
        )
    response = Response(record.body, status=record.status_code, headers=record.headers)
    response["Idempotent-Replayed"] = "true"
    for name, cookie in record.cookies.items():
        response.set_cookie(name, **cookie)
    return response


def _checked_key(request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= 255:
        raise ApplicationError("Idempotency-Key must be 1 to 255 characters.", code=ApiCodes.INVALID_IDEMPOTENCY_KEY)
    if "\x00" in key:  # PostgreSQL text cannot hold it; refuse rather than fail on insert.
        raise ApplicationError(
            "Idempotency-Key must not contain NUL characters.", code=ApiCodes.INVALID_IDEMPOTENCY_KEY
        )
    return key


def idempotent(request, actor: Actor, handler: Callable[[], Response], *, transactional: bool = True) -> Response:
    """Run `handler` at most once per (client, key); concurrent duplicates wait and replay.

    The record is inserted first, in the handler's transaction: a concurrent request with the
    same key blocks on the unique index until the first commits, then replays its answer. A
    refused request (4xx) rolls back with its record, so the key can be used again. The record
    and the write it records commit together: this is why the transaction is opened around the
    handler (the service) here. Called by the action wrapper (checkout_project.api.actions) for
    the actions declared idempotent. `transactional=False`: idempotent_outside_transaction.
    """
    key = _checked_key(request)
    if key is None:
        return handler()
    if not transactional:
        return idempotent_outside_transaction(request, actor, key, handler)
    new_record = {
        "client_key": actor.client_key,
        "key": key,
        "request_hash": _request_hash(request),
        "landing_state": _landing_state(request),
    }
    expired_before = timezone.now() - settings.IDEMPOTENCY_KEY_LIFETIME
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(**new_record)
        except IntegrityError:
            record = _existing_or_reclaimed(new_record, expired_before)
            if record.status_code is not None:
                return _replay(record, request)
        response = handler()
        if not 200 <= response.status_code < 300:
            transaction.set_rollback(True)
            return response
        _store_answer(record, response)
    return response


def _store_answer(record: IdempotencyRecord, response: Response) -> None:
    record.status_code = response.status_code
    record.body = response.data
    record.headers = {name: response[name] for name in _KEPT_HEADERS if response.has_header(name)}
    record.cookies = {
        name: {
            "value": morsel.value,
            "max_age": int(morsel["max-age"]) if morsel["max-age"] else None,
            "path": morsel["path"] or "/",
            "secure": bool(morsel["secure"]),
            "httponly": bool(morsel["httponly"]),
            "samesite": morsel["samesite"] or None,
        }
        for name, morsel in response.cookies.items()
    }
    record.save(update_fields=["status_code", "body", "headers", "cookies"])


def idempotent_outside_transaction(request, actor: Actor, key: str, handler: Callable[[], Response]) -> Response:
    """The Idempotency-Key of an action whose service must run with no transaction open (POST
    /api/order: the payment gateway is called before the completion's transaction, API.md §10).

    The key's record is claimed in its own short transaction (an INSERT, committed), the handler
    runs outside any transaction, and its answer is stored in another; a refusal (4xx, or an
    exception) deletes the claim, so the key can be used again. A concurrent duplicate finds the
    claim without an answer and waits for it (up to WAIT_FOR_FIRST, then 409
    idempotency_key_in_progress): it replays the first answer, or runs itself once the first gave
    up the key. The handler therefore runs at most once at a time per key; the service's own
    guards (the basket completes once, a payment is held by one request) do the rest.
    """
    new_record = {
        "client_key": actor.client_key,
        "key": key,
        "request_hash": _request_hash(request),
        "landing_state": _landing_state(request),
    }
    identity = {"client_key": actor.client_key, "key": key}
    give_up_at = time.monotonic() + WAIT_FOR_FIRST.total_seconds()
    while True:
        record = _claim(new_record, identity)
        if record is not None and record.status_code is not None:
            return _replay(record, request)
        if record is not None:
            break  # claimed: this request runs
        if time.monotonic() >= give_up_at:
            raise Conflict(
                "A request with this Idempotency-Key is still running; retry later for its answer.",
                code=ApiCodes.IDEMPOTENCY_KEY_IN_PROGRESS,
            )
        time.sleep(POLL_EVERY)
    try:
        response = handler()
    except BaseException:
        _release(record)
        raise
    if not 200 <= response.status_code < 300:
        _release(record)
        return response
    with transaction.atomic():
        _store_answer(record, response)
    return response


def _claim(new_record: dict[str, str], identity: dict[str, str]) -> IdempotencyRecord | None:
    """The key's record: a new claim of this request's, the answered one to replay (or an expired
    or abandoned one taken over), or None while another request's claim is running."""
    now = timezone.now()
    with transaction.atomic():
        record = IdempotencyRecord.objects.select_for_update().filter(**identity).first()
        if record is None:
            try:
                with transaction.atomic():
                    return IdempotencyRecord.objects.create(**new_record)
            except IntegrityError:
                return None  # claimed by a concurrent request a moment ago
        expired = record.created < now - settings.IDEMPOTENCY_KEY_LIFETIME
        abandoned = record.status_code is None and record.created < now - CLAIM_ABANDONED_AFTER
        if not (expired or abandoned):
            return record if record.status_code is not None else None
        for name, value in new_record.items():
            setattr(record, name, value)
        record.created, record.status_code, record.body, record.headers, record.cookies = now, None, None, {}, {}
        record.save()
        return record


def _release(record: IdempotencyRecord) -> None:
    """Give the key up after a refusal (the claim only: never an answer stored meanwhile)."""
    with transaction.atomic():
        IdempotencyRecord.objects.filter(pk=record.pk, status_code__isnull=True).delete()


def _existing_or_reclaimed(new_record: dict[str, str], expired_before: datetime) -> IdempotencyRecord:
    """The key's record, locked: the live one to replay, or an expired one taken over for this
    request (its answer cleared). Reusing the row instead of deleting and inserting it keeps two
    concurrent retries of an expired key from colliding on the unique index: the second waits
    for the first's row lock, then finds a live record and replays it."""
    identity = {"client_key": new_record["client_key"], "key": new_record["key"]}
    record = IdempotencyRecord.objects.select_for_update().filter(**identity).first()
    if record is None:  # purged since the insert failed
        return IdempotencyRecord.objects.create(**new_record)
    if record.created < expired_before:
        for name, value in new_record.items():
            setattr(record, name, value)
        record.created, record.status_code, record.body, record.headers, record.cookies = (
            timezone.now(), None, None, {}, {},
        )  # fmt: skip
        record.save()
    return record


@transaction.atomic
def idempotency_records_purge(*, created_before: datetime, batch_size: int) -> int:
    """Delete up to `batch_size` records created before `created_before`; how many it deleted.

    Rows another transaction holds are skipped where the database can (several copies of the
    housekeeping job, or a request replacing an expired record, never wait on each other).
    """
    stale = IdempotencyRecord.objects.filter(created__lt=created_before).order_by("created", "pk")
    if connection.features.has_select_for_update_skip_locked:
        stale = stale.select_for_update(skip_locked=True)
    ids = list(stale.values_list("pk", flat=True)[:batch_size])
    if not ids:
        return 0
    deleted, _ = IdempotencyRecord.objects.filter(pk__in=ids).delete()
    return deleted
