"""Update-subscription baskets (API.md §6): initiate, read, change, quote and apply a change.

An update basket holds the change a subscriber asks for: at most one new offer (an upgrade,
effective now, or a downgrade, effective at the end of the current term), add-ons added now,
and the `remove` items the system adds itself (`automatic`): the current offer when a new one
is added, and the subscription's add-ons the new offer does not sell.

What a change costs is baskets.selectors.basket_quote's (its `change`: the subscription and what
it may change into); completing one is baskets.services.completion's, with the functions at the
end of this module (subscription_change_read under the lock, subscription_change_apply).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from baskets.errors import (
    BasketCodes,
    BasketNotFound,
    InvalidOrderItems,
    SubscriptionAmbiguous,
    SubscriptionChanged,
    SubscriptionLocked,
    SubscriptionNotActive,
    SubscriptionNotFound,
)
from baskets.locks import lock_basket
from baskets.models import Basket, OrderItem, OrderType
from baskets.selectors import (
    BasketQuote,
    SubscriptionChange,
    added_offer_item,
    basket_items,
    basket_quote,
    is_deferred,
    visible_baskets,
)
from baskets.services.acquisition import OfferPolicy, Problem, basket_ensure_within_limits, offer_problem
from baskets.services.lifecycle import basket_check_version, basket_ensure_mutable, basket_record_event
from checkout_project.api.actor import Actor
from checkout_project.api.errors import ApiCodes, ApplicationError
from subscriptions import pricing
from subscriptions import selectors as subscription_selectors
from subscriptions import services as subscription_services
from subscriptions.models import Customer, Offer, Subscription
from subscriptions.selectors import ChangeOptions


@dataclass
class SubscriptionCheckout:
    """An update basket with its items, what the change costs and what the subscriber may do next."""

    basket: Basket
    subscription: Subscription
    items: list[OrderItem]
    quote: BasketQuote  # basket_quote of the change: each change's quote, the change's totals
    upgrades: list[Offer]
    downgrades: list[Offer]
    cross_sells: list[Offer]
    subscription_add_ons: list[tuple[Offer, int]]
    action_results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def change_totals(self) -> pricing.ChangeTotals:
        totals = self.quote.totals
        assert isinstance(totals, pricing.ChangeTotals)  # quoted with its change
        return totals


# --- Who may change which subscription ------------------------------------------------------------


def _require_owner(actor: Actor) -> None:
    """Subscription checkout needs a token that can own subscriptions (API.md §2): a partner token
    (its organisation's subscriptions) or a customer token (its customer's); 403 otherwise."""
    if actor.partner is None:
        _require_customer(actor)


def _require_customer(actor: Actor) -> Customer:
    """Subscription checkout needs a customer token (API.md §2) of a user with a customer: 403 otherwise."""
    if not actor.is_customer_token:
        raise ApplicationError(
            "Subscription checkout needs a customer token (a token with a user).",
            code=BasketCodes.CUSTOMER_TOKEN_REQUIRED,
            status=403,
        )
    if actor.customer is None:
        raise ApplicationError("This user has no customer account.", code=ApiCodes.NO_CUSTOMER_ACCOUNT, status=403)
    return actor.customer


def _owned_subscriptions(actor: Actor, partner_subscriptions: QuerySet[Subscription] | None) -> QuerySet[Subscription]:
    """The subscriptions this caller may change: a partner's are given by the partner endpoints
    (baskets does not know which they are), a customer token owns its customer's; 403 for others."""
    if actor.partner is not None:
        return partner_subscriptions if partner_subscriptions is not None else subscription_selectors.no_subscriptions()
    return subscription_selectors.subscriptions_of_customer(_require_customer(actor))


def _update_baskets(actor: Actor) -> QuerySet[Basket]:
    return (
        visible_baskets(actor)
        .filter(order_type=OrderType.UPDATE_SUBSCRIPTION)
        .select_related("for_subscription__offer", "for_subscription__customer")
    )


def _subscription_of(basket: Basket) -> Subscription:
    subscription = basket.for_subscription
    assert subscription is not None  # an update or renewal basket is built for its subscription
    return subscription


# --- The subscription's pending change ------------------------------------------------------------


def subscription_ensure_unlocked(subscription: Subscription, now: datetime) -> None:
    """Raises SubscriptionLocked (423) while the subscription's pending change is in the future,
    and SubscriptionChanged (409) once it is due: a basket built before it took effect
    quotes a plan the subscription is leaving (a new basket starts from the new plan)."""
    if subscription.pending_change_at is None:
        return
    if subscription.pending_change_at > now:
        raise SubscriptionLocked(subscription.pending_change_at)
    raise SubscriptionChanged(
        "The subscription's scheduled change has taken effect since this basket was started; start a new one."
    )


def subscription_with_due_change_applied(subscription: Subscription, now: datetime) -> Subscription:
    """The subscription, its pending change applied first when it is due and the job
    (apply_pending_changes) has not run yet: a new basket starts from the plan in force.

    No query unless a change is due; then it locks the row, applies it and reloads.
    """
    if subscription.pending_change_at is None or subscription.pending_change_at > now:
        return subscription
    locked = subscription_services.subscription_lock(subscription_id=subscription.pk)
    subscription_services.subscription_apply_pending_change(subscription=locked, now=now)
    reloaded = subscription_selectors.subscription_by_id_or_reference(subscription_id=subscription.pk)
    assert reloaded is not None  # locked above: it exists
    return reloaded


# --- What the change is quoted against, and what may come next ------------------------------------


def _options(
    subscription: Subscription,
    items: Sequence[OrderItem],
    extra_offer_ids: Iterable[str] = (),
    offer_annotations: Mapping[str, Any] | None = None,
    also_offer_ids: Iterable[str] = (),
) -> ChangeOptions:
    return subscription_selectors.subscription_change_options(
        subscription,
        candidate_offer_ids=[*(i.offer_id for i in items if i.type == Offer.Type.OFFER), *extra_offer_ids],
        offer_annotations=offer_annotations,
        also_offer_ids=also_offer_ids,
    )


def _checkout(
    basket: Basket,
    change: SubscriptionChange,
    items: list[OrderItem],
    now: datetime,
    action_results: list[dict[str, Any]] | None = None,
    offer_policy: OfferPolicy | None = None,
) -> SubscriptionCheckout:
    """The update basket as quoted at `now`, with its next actions (no query).

    Next actions leave out what `offer_policy` would refuse (its annotations are on the options)."""
    subscription, options = change.subscription, change.options
    added_offer = added_offer_item(items)
    target_id = added_offer.offer_id if added_offer else subscription.offer_id
    removed_add_ons = {i.offer_id for i in items if i.type == Offer.Type.ADD_ON and i.action_type == "remove"}
    basket_add_ons = {i.offer_id for i in items if i.type == Offer.Type.ADD_ON and i.action_type == "add"}
    kept_add_ons = set(options.add_ons) - removed_add_ons

    def published(ids: Iterable[str]) -> list[Offer]:
        offers = [options.offers[i] for i in ids if i in options.offers and options.offers[i].published]
        if offer_policy is not None:
            offers = [offer for offer in offers if offer_policy.refusal(offer) is None]
        return sorted(offers, key=lambda offer: offer.path)

    cross_sell_ids = (
        {add_on for parent, add_on in options.cross_sells if parent == target_id} - kept_add_ons - basket_add_ons
    )
    return SubscriptionCheckout(
        basket=basket,
        subscription=subscription,
        items=items,
        quote=basket_quote(basket, items, now=now, change=change),
        upgrades=published(options.upgrades),
        downgrades=published(options.downgrades),
        cross_sells=published(cross_sell_ids),
        subscription_add_ons=[
            (options.offers[a], q) for a, q in sorted(options.add_ons.items()) if a in options.offers
        ],
        action_results=action_results or [],
    )


# --- Initiate ---------------------------------------------------------------------------------

# How many of a caller's active subscriptions subscription_ambiguous lists at most.
AMBIGUOUS_LISTED = 50


def _subscription_to_change(
    owned: QuerySet[Subscription],
    *,
    subscription_id: uuid.UUID | None,
    reference: str | None,
    landing_subscription_id: uuid.UUID | None,
) -> Subscription:
    """The subscription a subscription checkout changes (API.md §6): the one the body names; else
    the one a subscription-scoped landing state names; else the caller's only active subscription.
    SubscriptionNotFound (404) when it is not among `owned` (or there is none),
    SubscriptionAmbiguous (400) when the caller has several active ones. One query."""
    if subscription_id is None and not reference:
        subscription_id = landing_subscription_id
    if subscription_id is not None or reference:
        subscription = subscription_selectors.subscription_among(
            owned, subscription_id=subscription_id, reference=reference
        )
        if subscription is None:
            raise SubscriptionNotFound()
        return subscription
    active = subscription_selectors.active_subscriptions_among(owned, limit=AMBIGUOUS_LISTED)
    if not active:
        raise SubscriptionNotFound()
    if len(active) > 1:
        raise SubscriptionAmbiguous([{"id": s.public_id, "reference": s.reference} for s in active])
    return active[0]


@transaction.atomic
def subscription_checkout_initiate(
    *,
    actor: Actor,
    subscription_id: uuid.UUID | None = None,
    reference: str | None = None,
    landing_subscription_id: uuid.UUID | None = None,
    tracking: dict[str, Any] | None = None,
    entry: dict[str, Any] | None = None,
    now: datetime | None = None,
    partner_subscriptions: QuerySet[Subscription] | None = None,
    offer_policy: OfferPolicy | None = None,
) -> SubscriptionCheckout:
    """Create an update basket for one of the caller's subscriptions: the one `subscription_id` or
    `reference` names; without either (Limio's body, `{"tracking"}` alone) the one a
    subscription-scoped landing state names (`landing_subscription_id`), else the caller's only
    active subscription (400 subscription_ambiguous, listing them, when there are several).

    A partner caller owns `partner_subscriptions` (its organisation's; none when not given) and
    the basket is bound to its partner organisation; next actions leave out what `offer_policy`
    refuses. Locks nothing (it only inserts a new basket), unless the subscription's pending
    change is due: that is applied first (subscription_with_due_change_applied). Raises 403
    without a customer or partner token, SubscriptionNotFound (404) when the subscription is not
    the caller's, SubscriptionNotActive (409) for a cancelled one and SubscriptionLocked (423)
    while a pending change is in the future. Writes nothing when it raises.
    """
    now = now or timezone.now()
    owned = _owned_subscriptions(actor, partner_subscriptions)
    subscription = _subscription_to_change(
        owned, subscription_id=subscription_id, reference=reference, landing_subscription_id=landing_subscription_id
    )
    if subscription.status != Subscription.Status.ACTIVE:
        raise SubscriptionNotActive()
    subscription = subscription_with_due_change_applied(subscription, now)
    subscription_ensure_unlocked(subscription, now)
    customer = subscription.customer
    basket = Basket(
        id=uuid.uuid4(),
        created=now,
        updated=now,
        expires_at=now + settings.BASKET_LIFETIME,
        order_type=OrderType.UPDATE_SUBSCRIPTION,
        for_subscription=subscription,
        application=actor.application,
        created_by_customer_token=actor.is_customer_token,
        customer=customer,
        partner=actor.partner,
        currency=subscription.offer.currency,
        email=customer.email,
        first_name=customer.first_name,
        last_name=customer.last_name,
        company_name=customer.company_name,
        phone=customer.phone,
        tracking=tracking or {},
        entry=entry or {},
    )
    annotations = offer_policy.annotations if offer_policy is not None else None
    options = _options(subscription, [], offer_annotations=annotations)
    # Quoted before the INSERT, which writes the basket's value with the rest of the row.
    checkout = _checkout(basket, SubscriptionChange(subscription, options), [], now, offer_policy=offer_policy)
    basket.total = checkout.quote.total
    basket.save(force_insert=True)
    basket_record_event(basket=basket, actor=actor, kind="created", data={"forSubscription": subscription.public_id})
    return checkout


# --- Read -------------------------------------------------------------------------------------


def quoted_at(items: Iterable[OrderItem], subscription: Subscription, now: datetime) -> datetime:
    """The moment an update basket's change is quoted at when it is read: the moment its actions
    were last applied, stored as the effective date of its immediate items (subscription_checkout_
    apply_actions gives them all that moment). So two reads of the same version give the same
    quote, byte for byte, whenever they happen (API.md §6); completion quotes it anew at its own
    moment. `now` for a basket with nothing immediate (its quote does not depend on the moment)."""
    moments = [i.effective_date for i in items if i.effective_date is not None and not is_deferred(i, subscription)]
    return max(moments, default=now)


def subscription_checkout_get(
    *, actor: Actor, basket_id: uuid.UUID | None, now: datetime | None = None, offer_policy: OfferPolicy | None = None
) -> SubscriptionCheckout:
    """The caller's update basket as quoted when its actions were last applied (quoted_at), with
    next actions without what `offer_policy` refuses. Locks nothing; raises 403 without a customer
    or partner token and BasketNotFound (404) for a basket the caller cannot see."""
    now = now or timezone.now()
    _require_owner(actor)
    basket = _update_baskets(actor).filter(pk=basket_id).first() if basket_id else None
    if basket is None:
        raise BasketNotFound("No basket found in landing state")
    items = basket_items(basket)
    subscription = _subscription_of(basket)
    annotations = offer_policy.annotations if offer_policy is not None else None
    options = _options(subscription, items, offer_annotations=annotations)
    at = quoted_at(items, subscription, now)
    return _checkout(basket, SubscriptionChange(subscription, options), items, at, offer_policy=offer_policy)


def subscription_checkout_quote(
    *, basket: Basket, items: list[OrderItem], now: datetime | None = None
) -> SubscriptionCheckout:
    """An update basket's change as quoted now: the hosted checkout page's read (what paying now
    charges, unlike the API's reads, which are stable per version: quoted_at).

    The page's caller proved the basket is theirs with the signed landing-state cookie, so
    there is no actor check here. Locks nothing.
    """
    change = subscription_change_read(basket, items, lock=False)
    return _checkout(basket, change, items, now or timezone.now())


# --- Change -----------------------------------------------------------------------------------


class _Plan:
    """The basket's items while a list of actions is applied in memory."""

    def __init__(
        self,
        basket: Basket,
        subscription: Subscription,
        items: list[OrderItem],
        options: ChangeOptions,
        now: datetime,
        offer_policy: OfferPolicy | None = None,
    ) -> None:
        self.basket, self.subscription, self.options, self.now = basket, subscription, options, now
        self.offer_policy: OfferPolicy | None = offer_policy
        self.current: dict[uuid.UUID, OrderItem] = {item.id: item for item in items}
        self.next_position = max((item.position for item in items), default=-1) + 1
        self.replaced: list[OrderItem] = []  # offers the last action replaced, reported as automatic

    def new_item(
        self,
        offer_id: str,
        snapshot: dict[str, Any],
        *,
        type: str,
        quantity: int,
        action: str,
        effective: datetime | None,
        auto: bool = False,
    ) -> OrderItem:
        item = OrderItem(
            id=uuid.uuid4(), basket=self.basket, position=self.next_position, type=type, offer_id=offer_id,
            offer_version=snapshot.get("version", ""), offer_snapshot=snapshot, quantity=quantity,
            action_type=action, effective_date=effective, automatic=auto,
        )  # fmt: skip
        self.next_position += 1
        self.current[item.id] = item
        return item

    def target_offer_id(self) -> str:
        added = added_offer_item(self.current.values())
        return added.offer_id if added else self.subscription.offer_id

    def kept_subscription_add_ons(self) -> set[str]:
        removed = {i.offer_id for i in self.current.values() if i.automatic and i.type == Offer.Type.ADD_ON}
        return set(self.options.add_ons) - removed

    def reconcile(self, index: int) -> list[dict[str, Any]]:
        """Bring the automatic items in line with the offer being added; report what was added or removed."""
        subscription, options = self.subscription, self.options
        added = added_offer_item(self.current.values())
        desired: dict[tuple[str, str], tuple[datetime | None, int]] = {}
        if added is not None:
            desired[(Offer.Type.OFFER, subscription.offer_id)] = (added.effective_date, subscription.quantity)
            for add_on_id, quantity in options.add_ons.items():
                if (added.offer_id, add_on_id) not in options.cross_sells:
                    desired[(Offer.Type.ADD_ON, add_on_id)] = (added.effective_date, quantity)
        target = self.target_offer_id()
        results = []
        for item in list(self.current.values()):
            if item.automatic:
                wanted = desired.pop((item.type, item.offer_id), None)
                if wanted is None:
                    del self.current[item.id]  # the change that needed it was withdrawn
                else:
                    item.effective_date = wanted[0]
            elif item.type == Offer.Type.ADD_ON and (target, item.offer_id) not in options.cross_sells:
                del self.current[item.id]
                results.append(_auto_result(index, item))
        for (item_type, offer_id), (effective, quantity) in desired.items():
            offer = subscription.offer if offer_id == subscription.offer_id else options.offers.get(offer_id)
            snapshot = offer.snapshot if offer is not None else {"id": offer_id}
            item = self.new_item(
                offer_id, snapshot, type=item_type, quantity=quantity, action="remove", effective=effective, auto=True
            )
            results.append(_auto_result(index, item))
        return results


def _auto_result(index: int, item: OrderItem) -> dict[str, Any]:
    return {"index": index, "orderItemActionType": "remove", "status": "auto", "orderItemId": str(item.id)}


def _plan_add(plan: _Plan, action: Mapping[str, Any]) -> tuple[Problem | None, OrderItem | None]:
    basket, subscription, options = plan.basket, plan.subscription, plan.options
    offer = options.offers.get(action["offer"]["id"])
    quantity = action.get("quantity", 1)
    problem = offer_problem(
        offer,
        action,
        quantity=quantity,
        country=basket.country,
        currency=basket.currency or None,
        offer_policy=plan.offer_policy,
    )
    if problem is not None:
        return problem, None
    assert offer is not None  # offer_problem refuses a missing offer
    if offer.type == Offer.Type.OFFER:
        if offer.pk not in options.upgrades and offer.pk not in options.downgrades:
            return (
                BasketCodes.OFFER_NOT_ALLOWED_FOR_SUBSCRIPTION,
                "This offer is neither an upgrade nor a downgrade of the subscription's offer.",
            ), None
        previous = added_offer_item(plan.current.values())
        if previous is not None:
            del plan.current[previous.id]
            plan.replaced.append(previous)
        effective = plan.now if offer.pk in options.upgrades else subscription.term_end
        item = plan.new_item(
            offer.pk, offer.snapshot, type=offer.type, quantity=quantity, action="add", effective=effective
        )
        return None, item
    if (plan.target_offer_id(), offer.pk) not in options.cross_sells:
        return (BasketCodes.ADD_ON_NOT_COMPATIBLE, "This add-on is not sold with the subscription's offer."), None
    if offer.pk in plan.kept_subscription_add_ons():
        return (BasketCodes.ADD_ON_ALREADY_ON_SUBSCRIPTION, "The subscription already has this add-on."), None
    if any(i.offer_id == offer.pk and i.action_type == "add" for i in plan.current.values()):
        return (BasketCodes.ADD_ON_ALREADY_IN_BASKET, "This add-on is already in the basket."), None
    item = plan.new_item(offer.pk, offer.snapshot, type=offer.type, quantity=quantity, action="add", effective=plan.now)
    return None, item


@transaction.atomic
def subscription_checkout_apply_actions(
    *,
    actor: Actor,
    basket_id: uuid.UUID | None,
    actions: Sequence[dict[str, Any]],
    if_match: int | None = None,
    now: datetime | None = None,
    offer_policy: OfferPolicy | None = None,
) -> SubscriptionCheckout:
    """Apply add / remove / update actions to an update basket, all-or-nothing, in order.

    `offer_policy` may refuse added offers on top of the catalog's rules (partner callers).
    Locks the basket row (select_for_update) for the whole change. Raises 403 without a customer
    or partner token, BasketNotFound (404), BasketCompleted (409), BasketExpired (410),
    VersionMismatch (412), SubscriptionLocked (423), ApplicationError multiple_offer_adds (400)
    InvalidOrderItems (400, each refused action under `details.actions[index]`) and
    BasketLimitExceeded (400 quantity_limit_exceeded, basket_too_large: API.md §4). Writes
    nothing when it raises; otherwise bumps the basket version and records an `items_changed` event.
    """
    now = now or timezone.now()
    _require_owner(actor)
    basket = lock_basket(_update_baskets(actor), basket_id)
    if basket is None:
        raise BasketNotFound()
    basket_ensure_mutable(basket)
    basket_check_version(basket, if_match)
    subscription = _subscription_of(basket)
    subscription_ensure_unlocked(subscription, now)

    items = basket_items(basket)
    requested = [a["offer"]["id"] for a in actions if a["orderItemActionType"] == "add"]
    options = _options(
        subscription, items, requested, offer_annotations=offer_policy.annotations if offer_policy else None
    )
    offer_adds = [
        str(index)
        for index, a in enumerate(actions)
        if a["orderItemActionType"] == "add"
        and (a.get("type") or getattr(options.offers.get(a["offer"]["id"]), "type", None)) == Offer.Type.OFFER
    ]
    if len(offer_adds) > 1:
        raise ApplicationError(
            "Only one offer can be added per request.",
            code=BasketCodes.MULTIPLE_OFFER_ADDS,
            details={"actions": offer_adds},
        )

    original = {item.id: (item.quantity, item.effective_date) for item in items}
    # The items as they were (the actions change the plan's in place): what the limits compare with.
    before = [OrderItem(offer_id=i.offer_id, quantity=i.quantity, action_type=i.action_type) for i in items]
    plan = _Plan(basket, subscription, items, options, now, offer_policy)
    problems: dict[int, Problem] = {}
    results: list[dict[str, Any]] = []
    for index, action in enumerate(actions):
        kind = action["orderItemActionType"]
        problem: Problem | None = None
        item_id = action.get("id")
        target = plan.current.get(item_id) if item_id else None
        if kind in {"remove", "update"}:
            if target is None:
                problem = BasketCodes.ORDER_ITEM_NOT_FOUND, f"No order item {item_id} in this basket."
            elif target.automatic:
                problem = BasketCodes.ORDER_ITEM_AUTOMATIC, "Automatic items change with the offer that needs them."
            elif kind == "remove":
                del plan.current[target.id]
            else:
                offer = options.offers.get(target.offer_id)
                low, high = (offer.min_quantity, offer.max_quantity) if offer else (1, action["quantity"])
                if not low <= action["quantity"] <= high:
                    problem = (
                        BasketCodes.QUANTITY_OUT_OF_RANGE,
                        f"Quantity must be between {low} and {high} for this offer.",
                    )
                else:
                    target.quantity = action["quantity"]
        else:
            problem, target = _plan_add(plan, action)
        if problem is not None:
            problems[index] = problem
            continue
        assert target is not None  # an action without a problem has its item
        results.append(
            {"index": index, "orderItemActionType": kind, "status": "applied", "orderItemId": str(target.id)}
        )
        results.extend(_auto_result(index, item) for item in plan.replaced)
        plan.replaced.clear()
        results.extend(plan.reconcile(index))
    if problems:
        raise InvalidOrderItems("actions", problems)
    basket_ensure_within_limits(plan.current.values(), options.offers, before=before)
    # The change is quoted as a whole at one moment, stored with it: every immediate item takes
    # effect now, the moment reads quote it at (quoted_at) until the next change or completion.
    for item in plan.current.values():
        if item.effective_date is not None and not is_deferred(item, subscription):
            item.effective_date = now

    current = plan.current
    removed_ids = [item_id for item_id in original if item_id not in current]
    written = [
        item
        for item in current.values()
        if item.id not in original or (item.quantity, item.effective_date) != original[item.id]
    ]
    if removed_ids:
        OrderItem.objects.filter(basket=basket, id__in=removed_ids).delete()
    if written:
        # New items are inserted; existing ones (locked with their basket) take their new values.
        OrderItem.objects.bulk_create(
            written, update_conflicts=True, unique_fields=["id"], update_fields=["quantity", "effective_date"]
        )
    basket.version += 1
    basket.updated = timezone.now()
    ordered = sorted(current.values(), key=lambda item: item.position)
    change = SubscriptionChange(subscription, options)
    checkout = _checkout(basket, change, ordered, now, results, offer_policy=offer_policy)
    basket.total = checkout.quote.total
    basket.save(update_fields=["version", "updated", "total"])
    basket_record_event(
        basket=basket,
        actor=actor,
        kind="items_changed",
        data={"actions": [{"index": r["index"], "type": r["orderItemActionType"], "item": r["orderItemId"],
                           "status": r["status"]} for r in results]},
    )  # fmt: skip
    return checkout


# --- Completing a change (baskets.services.completion) ---------------------------------------------


def subscription_change_read(
    basket: Basket,
    items: Sequence[OrderItem],
    *,
    lock: bool,
    validation_annotations: Mapping[str, Any] | None = None,
) -> SubscriptionChange:
    """What an update basket's change is quoted and applied against: its subscription and what that
    may change into (one query). Raises nothing: subscription_change_apply checks what it read.

    `lock` (completing the basket, under its row lock): the subscription row is locked and read
    afresh (one more query); without, the subscription read with the basket is used (a quote, e.g.
    of the amount due before completing). `validation_annotations`: the options query also reads
    every item's offer with them, the offers basket_validation_findings then needs no query for.
    """
    if lock:
        assert basket.for_subscription_id is not None  # an update basket is built for its subscription
        subscription = subscription_services.subscription_lock(subscription_id=basket.for_subscription_id)
    else:
        subscription = _subscription_of(basket)
    options = _options(
        subscription,
        items,
        offer_annotations=validation_annotations,
        also_offer_ids=[i.offer_id for i in items] if validation_annotations is not None else (),
    )
    if subscription.offer_id in options.offers:
        subscription.offer = options.offers[subscription.offer_id]  # loaded with the options: no query
    return SubscriptionChange(subscription, options)


def _ensure_still_applicable(
    subscription: Subscription, items: Sequence[OrderItem], added_offer: OrderItem | None, options: ChangeOptions
) -> None:
    """Raise SubscriptionChanged (409) unless the basket's change still applies to the subscription
    as it is now; the caller holds the subscription's row lock and has written nothing yet.

    What the basket was built against is read from its items and the change options the
    completion loads anyway (no query):

    - An added offer replaces the offer the subscription had when it was added (the automatic
      `remove` item names it): that must still be the subscription's offer. The add-ons it
      removes (automatic `remove` items: those the new offer does not sell) must still be exactly
      the subscription's add-ons the new offer does not sell, or it would leave one on an offer
      that does not sell it, unquoted.
    - A deferred change (an added offer that is not an upgrade: a downgrade, as _plan_add decides)
      was quoted for the term end it takes effect at, stored as its effective date: that must still
      be the subscription's term end. A renewal since then moved the term end out, and the change
      would otherwise be applied at once, quoted against a term that is over. Immediate changes
      (an upgrade, added add-ons) are priced at completion against the term in force, pro rata
      to its end, so a moved term only changes the amount the completion quotes and charges.
    - Every added add-on is checked as _plan_add checked it when it was added, against the
      subscription now (another basket, or the scheduled change taking effect, may have changed it
      since): not on the subscription already (unless this change removes it), and sold with the
      offer the subscription will have (the added offer, otherwise its current offer).
    """
    target = added_offer.offer_id if added_offer is not None else subscription.offer_id
    removed = {i.offer_id for i in items if i.automatic and i.type == Offer.Type.ADD_ON}
    if added_offer is not None:
        replaced = {i.offer_id for i in items if i.automatic and i.type == Offer.Type.OFFER}
        if replaced != {subscription.offer_id}:
            raise SubscriptionChanged()
        if added_offer.offer_id not in options.upgrades and added_offer.effective_date != subscription.term_end:
            raise SubscriptionChanged()
        if removed != {add_on for add_on in options.add_ons if (target, add_on) not in options.cross_sells}:
            raise SubscriptionChanged()
    kept = set(options.add_ons) - removed
    for item in items:
        if item.type != Offer.Type.ADD_ON or item.action_type != OrderItem.ActionType.ADD:
            continue
        if item.offer_id in kept or (target, item.offer_id) not in options.cross_sells:
            raise SubscriptionChanged()


def subscription_change_apply(
    *,
    basket: Basket,
    items: Sequence[OrderItem],
    change: SubscriptionChange,
    now: datetime,
    settlement: pricing.ChangeSettlement | None = None,
) -> bool:
    """Apply a locked, validated update basket's change to its subscription, locked and read by
    subscription_change_read; whether the change waits for the term end (a downgrade).

    Raises SubscriptionLocked (423) and SubscriptionChanged (409 subscription_changed: the
    subscription no longer is what the basket was built against, see _ensure_still_applicable),
    and writes only after those checks: an upgrade and added add-ons change the subscription now
    (offer, quantity, add-ons; add-ons the new offer does not sell removed), a downgrade becomes
    its pending change (pending_offer / pending_change / pending_change_at = term end), and the
    immediate items take today as their effective date. The caller completes the basket.

    `settlement` (the completion's quote of the change made today, pricing.quote_change) is stored:
    the subscription's paid record, the customer's balance, and for a new billing cycle (an
    upgrade to another billing interval) the term, which then starts now and ends with the new
    period.
    """
    subscription, options = change.subscription, change.options
    subscription_ensure_unlocked(subscription, now)
    added_offer = added_offer_item(items)
    _ensure_still_applicable(subscription, items, added_offer, options)
    deferred = added_offer is not None and is_deferred(added_offer, subscription)
    new_add_ons = {i.offer_id: i.quantity for i in items if i.type == Offer.Type.ADD_ON and i.action_type == "add"}
    auto_removed = [i.offer_id for i in items if i.type == Offer.Type.ADD_ON and i.action_type == "remove"]
    money: list[str] = []
    if settlement is not None:
        money = subscription.set_paid_period(settlement.paid)
        if settlement.new_period:
            subscription.term_start, subscription.term_end = now, settlement.paid.period_end
            money += ["term_start", "term_end"]
        subscription_services.customer_set_balance(customer=subscription.customer, balance=settlement.balance)
    if added_offer is not None and not deferred:
        subscription_services.subscription_apply_change(
            subscription=subscription,
            offer_id=added_offer.offer_id,
            quantity=added_offer.quantity,
            add_add_ons=new_add_ons,
            remove_add_on_ids=auto_removed,
            also_save=money,
        )
        if added_offer.offer_id in options.offers:
            # The new offer is loaded already: rendering the response needs no query for it.
            subscription.offer = options.offers[added_offer.offer_id]
    else:
        subscription_services.subscription_apply_change(
            subscription=subscription, add_add_ons=new_add_ons, also_save=money
        )
    if added_offer is not None and deferred:
        subscription_services.subscription_schedule_change(
            subscription=subscription,
            offer_id=added_offer.offer_id,
            effective_at=subscription.term_end,
            change={
                "basket": basket.public_id,
                "offer": {"id": added_offer.offer_id, "version": added_offer.offer_version},
                "quantity": added_offer.quantity,
                "removeAddOns": auto_removed,
            },
        )
    immediate = [i.id for i in items if not is_deferred(i, subscription)]
    if immediate:
        OrderItem.objects.filter(id__in=immediate).update(effective_date=now)
        for item in items:
            if item.id in immediate:
                item.effective_date = now
    return deferred
