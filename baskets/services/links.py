"""Recovery and assisted links (API.md §5): following one, recording the visit, revoking them all.

The tokens themselves (signing, checking) are baskets.links.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from baskets.errors import BasketCodes, BasketNotFound
from baskets.links import VISIT_EVENTS, LinkKind, LinkRefusal, LinkRefused, verify_link_token
from baskets.locks import lock_basket
from baskets.models import Basket, BasketEvent, BasketStatus, new_link_nonce
from baskets.services.lifecycle import basket_record_event, baskets_extend_for_link
from baskets.services.recovery import recovery_email_record_open
from checkout_project.api.actor import Actor


@transaction.atomic
def basket_revoke_links(*, actor: Actor, basket_id: uuid.UUID) -> Basket:
    """Revoke every recovery and assisted link issued for a basket so far (staff only).

    Locks the basket and gives it a new link nonce; links issued afterwards work. The order
    does not change, so neither do `version` nor `updated` (ETags and the feed stay valid).
    Raises BasketNotFound (404). Writes nothing when it raises.
    """
    basket = lock_basket(Basket.objects.all(), basket_id)
    if basket is None:
        raise BasketNotFound("Basket not found")
    basket.link_nonce = new_link_nonce()
    basket.save(update_fields=["link_nonce"])
    basket_record_event(basket=basket, actor=actor, kind="links_revoked")
    return basket


@transaction.atomic
def basket_extend_for_links(*, actor: Actor, basket_id: uuid.UUID, now: datetime | None = None) -> Basket:
    """Make an open basket live at least as long as a link issued now (API.md §5): before a link
    to it is sent (a recovery e-mail), so the link gets its whole LINK_LIFETIME.

    Locks the basket. When its `expires_at` is sooner than a link issued now would end, moves it
    there, bumps the version (the order's `expiresAt` changed: a new ETag) and records a
    `lifetime_extended` event; otherwise changes nothing. A completed or expired basket (or one
    whose lifetime is over) is left as it is: its links are refused anyway. Raises BasketNotFound
    (404).
    """
    now = now or timezone.now()
    basket = lock_basket(Basket.objects.all(), basket_id)
    if basket is None:
        raise BasketNotFound("Basket not found")
    baskets_extend_for_link([basket], actor=actor, now=now)
    return basket


def basket_record_link_visit(*, basket: Basket, kind: LinkKind, actor: Actor | None = None) -> BasketEvent:
    """Record a visit through a link: a `recovered` or `assisted` event. A visit changes no field."""
    return basket_record_event(
        basket=basket, actor=actor or Actor(), kind=VISIT_EVENTS[kind], data={"link": kind.value}
    )


@transaction.atomic
def basket_follow_link(
    *, kind: LinkKind, basket_id: uuid.UUID | None, token: str | None, email_reference: str | None = None
) -> Basket:
    """Open a basket through a recovery or assisted link and record the visit.

    `email_reference`: the `re=` of a recovery link sent in a recovery email, recorded against
    that email (recovery_email_record_open: the email and the basket `opened`); ignored when it
    is not one we signed for this basket's email.

    Locks the basket (a visit racing a revocation or a completion sees it before or after).
    Raises LinkRefused: 400 for a missing, forged, expired, revoked, wrong-kind or other
    basket's token, 410 for a completed, expired or deleted basket. Writes nothing when it raises.
    """
    basket = lock_basket(Basket.objects.all(), basket_id)
    refusal = verify_link_token(
        token, kind=kind, basket_id=basket_id, link_nonce=basket.link_nonce if basket is not None else None
    )
    over = basket is not None and (basket.status != BasketStatus.ACTIVE or basket.expires_at <= timezone.now())
    # A genuine link that expired with its basket (links never outlive theirs) says the basket is over.
    if refusal is not None and not (refusal == LinkRefusal.EXPIRED and over):
        raise LinkRefused.for_refusal(refusal)
    if basket is None:
        raise LinkRefused("This basket no longer exists.", code=BasketCodes.BASKET_NOT_FOUND, status=410)
    if basket.status == BasketStatus.COMPLETED:
        raise LinkRefused("This order has already been completed.", code=BasketCodes.BASKET_COMPLETED, status=410)
    if basket.status == BasketStatus.EXPIRED or basket.expires_at <= timezone.now():
        raise LinkRefused("This basket has expired.", code=BasketCodes.BASKET_EXPIRED, status=410)
    basket_record_link_visit(basket=basket, kind=kind)
    if kind == LinkKind.RECOVER and email_reference:
        recovery_email_record_open(basket=basket, reference=email_reference)
    return basket
