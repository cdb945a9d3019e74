"""The `limio_state` cookie (API.md §3): the basket id, signed; bare ids accepted from servers.

The signed value is `basket-<uuid>:<link nonce>:<signature>` (Django's Signer over
`basket-<uuid>:<link nonce>`, salted). The API reads only the basket id from it; the hosted
pages also require the nonce to be the basket's current `link_nonce`, so revoking a basket's
links (a new nonce, baskets.services.basket_revoke_links) also shuts out every browser that
holds a cookie set before, however it got it. Values signed before the nonce was added
(`basket-<uuid>:<signature>`) still name their basket for the API, never on the hosted pages.

A landing state may name a subscription instead (API.md §6): `sub-<uuid>:<signature>`, signed
the same way, or a bare `sub-<uuid>` from servers. POST /checkout/subscription without a
`forSubscription` changes the subscription it names.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.utils import timezone

from baskets.models import BASKET_ID_PREFIX, Basket

_SALT = "baskets.landing_state"  # unchanged since the module moved: cookies already issued stay valid
_BASKET_ID = re.compile(r"^basket-[A-Za-z0-9\-_]{32,36}$")
_SUBSCRIPTION_ID = re.compile(r"^sub-[0-9a-fA-F\-]{32,36}$")
SUBSCRIPTION_ID_PREFIX = "sub-"


@dataclass(frozen=True)
class LandingState:
    """What a signed cookie says: its basket and the link nonce it was issued under (None: an old value)."""

    basket_id: uuid.UUID
    link_nonce: str | None


def parse_basket_id(value: object) -> uuid.UUID | None:
    """`basket-<uuid>` to the UUID, or None for anything else."""
    if not isinstance(value, str) or not _BASKET_ID.fullmatch(value):
        return None
    try:
        return uuid.UUID(value.removeprefix(BASKET_ID_PREFIX))
    except ValueError:
        return None


def landing_state_value(basket: Basket) -> str:
    """`basket-<uuid>:<link nonce>:<signature>`: bound to the basket's links as they are now."""
    return signing.Signer(salt=_SALT).sign(f"{basket.public_id}:{basket.link_nonce}")


def signed_landing_state(cookies: dict[str, str]) -> LandingState | None:
    """The landing state of a validly signed cookie; None without one (missing, bare, forged, tampered)."""
    raw = cookies.get(settings.LANDING_STATE_COOKIE)
    if not raw:
        return None
    try:
        value = signing.Signer(salt=_SALT).unsign(raw)
    except signing.BadSignature:
        return None
    public_id, separator, link_nonce = value.partition(":")
    basket_id = parse_basket_id(public_id)
    if basket_id is None or (separator and not link_nonce):
        return None
    return LandingState(basket_id=basket_id, link_nonce=link_nonce or None)


def basket_id_from_cookie(cookies: dict[str, str]) -> uuid.UUID | None:
    """The API's reading (API.md §3): a signed value of either form, or a bare `basket-<uuid>`."""
    raw = cookies.get(settings.LANDING_STATE_COOKIE)
    if raw and _BASKET_ID.fullmatch(raw):
        return parse_basket_id(raw)
    state = signed_landing_state(cookies)
    return state.basket_id if state is not None else None


def subscription_landing_state_value(subscription_public_id: str) -> str:
    """`sub-<uuid>:<signature>`: a landing state naming a subscription (a "change plan" link's)."""
    return signing.Signer(salt=_SALT).sign(subscription_public_id)


def subscription_id_from_cookie(cookies: dict[str, str]) -> uuid.UUID | None:
    """The subscription a subscription-scoped landing state names (signed, or a bare `sub-<uuid>`);
    None for a basket's landing state, a forged one, or none."""
    raw = cookies.get(settings.LANDING_STATE_COOKIE)
    if not raw:
        return None
    value = raw
    if not _SUBSCRIPTION_ID.fullmatch(raw):
        try:
            value = signing.Signer(salt=_SALT).unsign(raw)
        except signing.BadSignature:
            return None
        if not _SUBSCRIPTION_ID.fullmatch(value):
            return None
    try:
        return uuid.UUID(value.removeprefix(SUBSCRIPTION_ID_PREFIX))
    except ValueError:
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
