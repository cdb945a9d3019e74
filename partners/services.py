"""Partner checkout: the public basket and subscription-checkout services, bound to the caller's
partner organisation and refusing what the partner may not sell. Plus linking partner rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction

from baskets import services as basket_services
from baskets.errors import BASKET_NOT_FOUND, BasketNotFound
from checkout_project.api.actor import Actor
from checkout_project.api.errors import ApplicationError
from partners.errors import PartnerCodes
from partners.models import Partner, PartnerClient, PartnerSubscription
from partners.selectors import partner_offer_policy, partner_subscriptions
from subscriptions.models import Subscription


def require_partner(actor: Actor) -> Partner:
    """The caller's partner organisation; 403 for a token of no partner's client."""
    if actor.partner is None:
        raise ApplicationError(
            "Partner endpoints need a token of a partner organisation's client.",
            code=PartnerCodes.PARTNER_TOKEN_REQUIRED,
            status=403,
        )
    return actor.partner


def partner_basket_initiate(
    *,
    actor: Actor,
    order: dict[str, Any],
    landing_basket_id: uuid.UUID | None = None,
    if_match: int | None = None,
    entry: dict[str, Any] | None = None,
) -> basket_services.BasketChange:
    """basket_initiate for a partner: the basket belongs to the partner organisation (only its
    landing baskets are replaced) and offers it may not sell are refused (400 offer_not_eligible,
    product_blocked). Locks and raises as basket_initiate; 403 without a partner token."""
    partner = require_partner(actor)
    return basket_services.basket_initiate(
        actor=actor,
        order=order,
        landing_basket_id=landing_basket_id,
        if_match=if_match,
        entry=entry,
        offer_policy=partner_offer_policy(partner),
    )


def partner_basket_apply_actions(
    *,
    actor: Actor,
    basket_id: uuid.UUID | None,
    actions: Sequence[dict[str, Any]],
    if_match: int | None = None,
) -> basket_services.BasketChange:
    """basket_apply_actions on one of the partner's baskets, refusing offers it may not sell.
    Locks and raises as basket_apply_actions (404 in the partner seed's wording); 403 without a
    partner token."""
    partner = require_partner(actor)
    try:
        return basket_services.basket_apply_actions(
            actor=actor,
            basket_id=basket_id,
            actions=actions,
            if_match=if_match,
            offer_policy=partner_offer_policy(partner),
        )
    except BasketNotFound as exc:
        raise BasketNotFound(BASKET_NOT_FOUND) from exc


def partner_subscription_checkout_initiate(
    *,
    actor: Actor,
    subscription_id: uuid.UUID | None = None,
    reference: str | None = None,
    landing_subscription_id: uuid.UUID | None = None,
    tracking: dict[str, Any] | None = None,
    entry: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> basket_services.SubscriptionCheckout:
    """An update basket for one of the partner organisation's subscriptions (404 for any other),
    its next actions limited to what the partner may sell. Raises as
    subscription_checkout_initiate; 403 without a partner token."""
    partner = require_partner(actor)
    return basket_services.subscription_checkout_initiate(
        actor=actor,
        subscription_id=subscription_id,
        reference=reference,
        landing_subscription_id=landing_subscription_id,
        tracking=tracking,
        entry=entry,
        now=now,
        partner_subscriptions=partner_subscriptions(partner),
        offer_policy=partner_offer_policy(partner),
    )


def partner_subscription_checkout_get(
    *, actor: Actor, basket_id: uuid.UUID | None
) -> basket_services.SubscriptionCheckout:
    """One of the partner's update baskets, its next actions limited to what the partner may sell;
    404 for any other basket, 403 without a partner token."""
    partner = require_partner(actor)
    return basket_services.subscription_checkout_get(
        actor=actor, basket_id=basket_id, offer_policy=partner_offer_policy(partner)
    )


def partner_subscription_checkout_apply_actions(
    *,
    actor: Actor,
    basket_id: uuid.UUID | None,
    actions: Sequence[dict[str, Any]],
    if_match: int | None = None,
) -> basket_services.SubscriptionCheckout:
    """subscription_checkout_apply_actions on one of the partner's update baskets, refusing
    offers and add-ons the partner may not sell. Locks and raises as that service."""
    partner = require_partner(actor)
    return basket_services.subscription_checkout_apply_actions(
        actor=actor,
        basket_id=basket_id,
        actions=actions,
        if_match=if_match,
        offer_policy=partner_offer_policy(partner),
    )


# --- Partner rows (admin, seed_demo) ----------------------------------------------------------


@transaction.atomic
def partner_client_link(*, partner: Partner, application) -> PartnerClient:
    """Make `application` a client of `partner` (a client belongs to at most one partner: an
    existing link to another partner moves). Its tokens can only ever carry `partner` from now."""
    link, _ = PartnerClient.objects.update_or_create(application=application, defaults={"partner": partner})
    return link


@transaction.atomic
def partner_subscription_link(*, partner: Partner, subscription: Subscription) -> PartnerSubscription:
    """Put `subscription` under `partner` (at most one partner per subscription: a link moves)."""
    link, _ = PartnerSubscription.objects.update_or_create(subscription=subscription, defaults={"partner": partner})
    return link


def partner_basket_completed(*, basket, subscriptions: Sequence[Subscription]) -> None:
    """A completion hook (registered in baskets.hooks by partners.apps): the subscriptions a
    partner's basket created belong to that partner (one INSERT; nothing for public baskets). Runs
    in the completing transaction, before the payment."""
    if basket.partner_id is None or not subscriptions:
        return
    PartnerSubscription.objects.bulk_create(
        [PartnerSubscription(partner_id=basket.partner_id, subscription=subscription) for subscription in subscriptions]
    )
