"""The `limio_state` cookie (API.md §3): the basket id, signed; bare ids accepted from servers."""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.core import signing
from django.utils import timezone

from baskets.models import BASKET_ID_PREFIX, Basket

_SALT = "baskets.landing_state"
_BASKET_ID = re.compile(r"^basket-[A-Za-z0-9\-_]{32,36}$")


def parse_basket_id(value: object) -> uuid.UUID | None:
    """`basket-<uuid>` to the UUID, or None for anything else."""
    if not isinstance(value, str) or not _BASKET_ID.fullmatch(value):
        return None
    try:
        return uuid.UUID(value.removeprefix(BASKET_ID_PREFIX))
    except ValueError:
        return None


def landing_state_value(basket: Basket) -> str:
    return signing.Signer(salt=_SALT).sign(basket.public_id)


def basket_id_from_cookie(cookies: dict[str, str]) -> uuid.UUID | None:
    raw = cookies.get(settings.LANDING_STATE_COOKIE)
    if not raw:
        return None
    if _BASKET_ID.fullmatch(raw):
        return parse_basket_id(raw)
    try:
        return parse_basket_id(signing.Signer(salt=_SALT).unsign(raw))
    except signing.BadSignature:
        return None


def basket_id_from_signed_cookie(cookies: dict[str, str]) -> uuid.UUID | None:
    """The basket of a signed cookie only: the hosted pages take no bare ids, which are no secret."""
    raw = cookies.get(settings.LANDING_STATE_COOKIE)
    if not raw:
        return None
    try:
        return parse_basket_id(signing.Signer(salt=_SALT).unsign(raw))
    except signing.BadSignature:
        return None


def set_landing_state(response, basket: Basket) -> None:
    remaining = int((basket.expires_at - timezone.now()).total_seconds())
    response.set_cookie(
        settings.LANDING_STATE_COOKIE,
        landing_state_value(basket),
        max_age=max(remaining, 0),
        path="/",
        secure=settings.LANDING_STATE_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
