"""Renewal baskets (`renew` orders, API.md §6): staff build one for a subscription; completing it
extends the subscription's term onto its renewal offer, after checking the subscription is still
what the basket was built against."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from baskets.errors import BasketCodes, SubscriptionChanged, SubscriptionNotActive, SubscriptionNotFound
from baskets.links import basket_lifetime_with_links
from baskets.models import Basket, OrderItem, OrderType
from baskets.selectors import BasketQuote, basket_quote
from baskets.services.acquisition import basket_ensure_within_limits
from baskets.services.lifecycle import basket_record_event
from baskets.services.subscription_change import subscription_ensure_unlocked, subscription_with_due_change_applied
from checkout_project.api.actor import Actor
from checkout_project.api.errors import ApplicationError
from subscriptions import pricing
from subscriptions import selectors as subscription_selectors
from subscriptions import services as subscription_services
from subscriptions.models import Subscription


@dataclass(frozen=True)
class RenewalBasket:
    """A new renewal basket, its items, what it costs and the subscription it renews."""

    basket: Basket
    items: list[OrderItem]
    quote: BasketQuote
    subscription: Subscription


@transaction.atomic
def basket_initiate_renewal(
    *, actor: Actor, subscription_id: uuid.UUID | None = None, reference: str | None = None
) -> RenewalBasket:
    """Create a `renew` basket for any subscription (staff callers), pre-populated with the
    subscription's renewal offer (or its current offer) and the add-ons that offer still sells.

    Every item's effective date is the subscription's term end as read here: the end of the term
    this basket renews, from which the renewed term runs (a lapsed subscription's renewal starts
    when it completes instead; the date still names the term it renews). Completion compares it
    with the locked subscription's term end (_ensure_renewal_still_applies): a
    renewal completed in between moved it, and this basket then refuses to renew the same term a
    second time. It lives on the items' existing field (a renewal's items cannot be changed after
    the build, so it stays as written) rather than a new basket column.

    Locks nothing (it only inserts), unless the subscription's pending change is due: that is
    applied first (subscription_with_due_change_applied). Raises SubscriptionNotFound (404), 409
    subscription_not_active for a cancelled subscription, 400 renewal_offer_unavailable when
    the offer to renew onto is no longer published, and BasketLimitExceeded (400
    quantity_limit_exceeded, basket_too_large) when the subscription's quantities or add-ons go
    over what a basket may hold now (API.md §4). Writes nothing when it raises.
    """
    subscription = subscription_selectors.subscription_by_id_or_reference(
        subscription_id=subscription_id, reference=reference
    )
    if subscription is None:
        raise SubscriptionNotFound()
    if subscription.status != Subscription.Status.ACTIVE:
        raise SubscriptionNotActive()
    now = timezone.now()
    subscription = subscription_with_due_change_applied(subscription, now)
    renewal_offer_id = subscription.offer.renewal_offer_id or subscription.offer_id
    add_ons = list(subscription.add_ons.all())
    catalog = subscription_selectors.offers_with_cross_sells([renewal_offer_id, *(a.offer_id for a in add_ons)])
    offer = catalog.offers.get(renewal_offer_id)
    if offer is None or not offer.published:
        raise ApplicationError(
            "The offer this subscription renews onto is no longer sold.", code=BasketCodes.RENEWAL_OFFER_UNAVAILABLE
        )
    customer = subscription.customer
    basket = Basket(
        id=uuid.uuid4(),
        created=now,
        updated=now,
        expires_at=basket_lifetime_with_links(now),  # handed over by its links: lives as long as they do
        order_type=OrderType.RENEW,
        for_subscription=subscription,
        application=actor.application,
        created_by_customer_token=False,
        customer=customer,
        created_by_staff=actor.user if actor.is_staff else None,
        currency=offer.currency,
        email=customer.email,
        first_name=customer.first_name,
        last_name=customer.last_name,
        company_name=customer.company_name,
        phone=customer.phone,
    )
    main = OrderItem(
        basket=basket,
        position=0,
        type=offer.type,
        offer_id=offer.pk,
        offer_version=offer.version,
        offer_snapshot=offer.snapshot,
        quantity=subscription.quantity,
        effective_date=subscription.term_end,
    )
    items = [main]
    for position, add_on in enumerate(add_ons, start=1):
        add_on_offer = catalog.offers.get(add_on.offer_id)
        if add_on_offer is None or not add_on_offer.published:
            continue
        if (offer.pk, add_on_offer.pk) not in catalog.cross_sells:
            continue
        items.append(
            OrderItem(
                basket=basket,
                position=position,
                type=add_on_offer.type,
                offer_id=add_on_offer.pk,
                offer_version=add_on_offer.version,
                offer_snapshot=add_on_offer.snapshot,
                quantity=add_on.quantity,
                parent_id=main.id,
                effective_date=subscription.term_end,
            )
        )
    # The subscription's quantities may exceed what the offers allow now: refused before any write.
    basket_ensure_within_limits(items, catalog.offers)
    quote = basket_quote(basket, items, now=now)
    basket.total = quote.total
    basket.save(force_insert=True)
    OrderItem.objects.bulk_create(items)
    basket_record_event(
        basket=basket,
        actor=actor,
        kind="created",
        data={"renewal": subscription.public_id, "orderItems": [{"offer": i.offer_id} for i in items]},
    )
    return RenewalBasket(basket=basket, items=items, quote=quote, subscription=subscription)


# --- Completing a renewal ------------------------------------------------------------------------


def _ensure_renewal_still_applies(basket: Basket, subscription: Subscription, main: OrderItem) -> None:
    """Raise SubscriptionChanged (409) unless the renewal basket still renews the locked
    subscription's offer and term.

    The offer: the basket's must be the subscription's offer or that offer's renewal offer.
    basket_initiate_renewal builds the basket onto the subscription's offer's renewal offer, or
    onto the offer itself when it has none; once the subscription has moved to another offer (an
    upgrade, or its scheduled downgrade taking effect), completing the renewal would move it back
    onto the old plan's renewal. The offer's row was read with the basket (the lock query joins
    `for_subscription__offer`): no query. When the subscription's offer changed between that read
    and its lock, it changed after the basket was built: refused as well.

    The term: basket_initiate_renewal records the term end the basket renews from as its items'
    effective date; it must still be the subscription's term end. Any renewal completed since
    (another renewal basket built for the same term, completed first) moved the term end: this one
    was quoted for a term already renewed and would extend it a second time. A basket without
    that date was built before it was recorded: which term it renews is unknown, so it is refused
    too (staff build a new one) rather than risk renewing a term twice.
    """
    if main.effective_date != subscription.term_end:
        raise SubscriptionChanged()
    if main.offer_id == subscription.offer_id:
        return
    assert basket.for_subscription is not None  # read with the basket: the offer it was built on
    offer = basket.for_subscription.offer
    if offer.pk != subscription.offer_id or offer.renewal_offer_id != main.offer_id:
        raise SubscriptionChanged()


def _ensure_renewal_keeps_add_ons(
    renewed: dict[str, int], current: dict[str, subscription_selectors.RenewalAddOn]
) -> None:
    """Raise SubscriptionChanged (409) unless the basket's add-ons (`renewed`, quantities by offer
    id) are still the subscription's add-ons a renewal carries on (`current`, read under the lock).

    A renewal replaces the subscription's add-ons with the basket's, and basket_initiate_renewal
    built those from the subscription's add-ons that the renewal offer sells (published ones):
    - an add-on the subscription has now, that the renewal offer sells, but that is not in the
      basket was bought after the basket was built (a subscription change basket): completing
      would silently drop it. Add-ons the renewal offer does not sell (or no longer published)
      were left out on purpose and are dropped, as a basket built now would drop them.
    - an add-on the basket renews that the subscription no longer has, or has in another quantity,
      changed since the basket was built: completing would put it back as it was.
    """
    for offer_id, quantity in renewed.items():
        add_on = current.get(offer_id)
        if add_on is None or add_on.quantity != quantity:
            raise SubscriptionChanged()
    if any(add_on.renewable and offer_id not in renewed for offer_id, add_on in current.items()):
        raise SubscriptionChanged()


def renewal_read(basket: Basket, *, lock: bool) -> Subscription:
    """The subscription a renewal basket renews: with `lock` (completing the basket, under its row
    lock) its row locked and read afresh (one query), else as read with the basket."""
    if lock:
        assert basket.for_subscription_id is not None  # a renewal basket is built for its subscription
        return subscription_services.subscription_lock(subscription_id=basket.for_subscription_id)
    subscription = basket.for_subscription
    assert subscription is not None
    return subscription


def renewal_settlement(
    subscription: Subscription, items: Sequence[OrderItem], total: Decimal, *, now: datetime
) -> pricing.RenewalSettlement:
    """What renewing `subscription` with the basket's `items` at `now` settles (pricing.quote_renewal):
    the order's `total` charged, the customer's balance used first; the paid record of the new term.

    A renewal starts a new term of the renewed offer's term length, from the current term end while
    that is ahead, else from `now` (as subscription_renew moves the term); the unused value of
    what was paid before is carried into it when renewing early."""
    main = next(item for item in items if item.type == OrderItem.Type.OFFER)
    term = (int(main.offer_snapshot["term"]["length"]), str(main.offer_snapshot["term"]["type"]))
    held = subscription.paid_period()
    currency = str(main.offer_snapshot.get("currency") or "GBP")
    return pricing.quote_renewal(
        # Held until the term end: what a renewal moves on from.
        paid=pricing.PaidPeriod(
            held.amount, held.paid_from, held.period_start, max(subscription.term_end, held.paid_from)
        ),
        charge=max(total, pricing.ZERO),
        interval=term,
        at=now,
        currency=currency,
        balance=subscription.customer.balance,
    )


def renewal_quote(
    basket: Basket, items: Sequence[OrderItem], subscription: Subscription, *, now: datetime
) -> BasketQuote:
    """The renewal basket's quote, with the customer's balance used first for what is due today."""
    quote = basket_quote(basket, items, now=now)
    totals = quote.totals
    if not isinstance(totals, pricing.Totals) or subscription.customer.balance <= 0:
        return quote
    settlement = renewal_settlement(subscription, items, totals.total, now=now)
    return replace(quote, totals=replace(totals, due_today=settlement.due_today))


def renewal_apply(
    *,
    basket: Basket,
    items: Sequence[OrderItem],
    subscription: Subscription,
    now: datetime,
    quote: BasketQuote | None = None,
) -> Subscription:
    """Renew `subscription` (locked by renewal_read) as the locked, validated renewal basket says.

    Raises SubscriptionNotActive (409), SubscriptionLocked (423) and SubscriptionChanged (409:
    _ensure_renewal_still_applies, then, after reading the subscription's add-ons (one query),
    _ensure_renewal_keeps_add_ons) before it writes; then extends the term onto the basket's offer
    with the basket's add-ons, storing the new term's paid record and the customer's balance
    (renewal_settlement of the `quote`'s total). The caller completes the basket.
    """
    if subscription.status != Subscription.Status.ACTIVE:
        raise SubscriptionNotActive()
    subscription_ensure_unlocked(subscription, now)
    # Validated: a renewal has exactly one offer item (check_renewal).
    main = next(item for item in items if item.type == OrderItem.Type.OFFER)
    _ensure_renewal_still_applies(basket, subscription, main)
    add_ons: dict[str, int] = {}
    for item in items:
        if item.type == OrderItem.Type.ADD_ON:
            add_ons[item.offer_id] = add_ons.get(item.offer_id, 0) + item.quantity
    # The read subscription_renew would make to replace the add-ons, made first to check them.
    current = subscription_selectors.subscription_add_ons_for_renewal(
        subscription=subscription, renewal_offer_id=main.offer_id
    )
    _ensure_renewal_keeps_add_ons(add_ons, current)
    settlement = None
    if quote is not None and isinstance(quote.totals, pricing.Totals):
        settlement = renewal_settlement(subscription, items, quote.totals.total, now=now)
        subscription_services.customer_set_balance(customer=subscription.customer, balance=settlement.balance)
    return subscription_services.subscription_renew(
        subscription=subscription,
        offer_id=main.offer_id,
        quantity=main.quantity,
        term_length=main.offer_snapshot["term"]["length"],
        term_type=main.offer_snapshot["term"]["type"],
        add_ons=add_ons,
        now=now,
        current_add_on_ids=current,
        paid=settlement.paid if settlement is not None else None,
    )
