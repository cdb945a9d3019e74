"""Every write to the catalog, customers and subscriptions."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from checkout_project.locks import lock_skipping_locked
from subscriptions.models import Charge, Customer, Offer, Product, Subscription, SubscriptionAddOn
from subscriptions.pricing import PaidPeriod, add_interval, charge_to_wire

logger = logging.getLogger("checkout.subscriptions")


def offer_priced_content(offer: Offer) -> dict[str, Any]:
    products = sorted(offer.products.all(), key=lambda product: product.path)
    charges = sorted(offer.charges.all(), key=lambda charge: (charge.position, charge.pk))
    return {
        "currency": offer.currency,
        "term": {"length": offer.term_length, "type": offer.term_type},
        "products": [{"path": p.path, "productCode": p.product_code, "name": p.name} for p in products],
        "price": [charge_to_wire(charge, offer.currency) for charge in charges],
    }


@transaction.atomic
def offer_refresh_version(*, offer: Offer) -> Offer:
    """Recompute the offer's snapshot and version (the hash of its priced content).

    Call after any change of the offer, its products or its charges. The version changes exactly
    when the price schedule, products, currency or term change.
    """
    priced = offer_priced_content(offer)
    version = hashlib.sha1(json.dumps(priced, sort_keys=True).encode(), usedforsecurity=False).hexdigest()
    snapshot = {"id": offer.pk, "version": version, "name": offer.name, "path": offer.path, **priced}
    Offer.objects.filter(pk=offer.pk).update(snapshot=snapshot, version=version)
    offer.snapshot, offer.version = snapshot, version
    return offer


@transaction.atomic
def offer_create(
    *,
    name: str,
    path: str,
    products: list[Product],
    charges: list[dict[str, Any]],
    type: str = Offer.Type.OFFER,
    currency: str = "GBP",
    term_length: int = 12,
    term_type: str = "months",
    published: bool = True,
    min_quantity: int = 1,
    max_quantity: int = 1,
    segments: list[str] | None = None,
    allowed_countries: list[str] | None = None,
    offer_id: str | None = None,
) -> Offer:
    """Create an offer with its price schedule; `charges` are Charge field dicts in schedule order."""
    fields: dict[str, Any] = {}
    if offer_id:
        fields["id"] = offer_id
    offer = Offer.objects.create(
        name=name,
        path=path,
        type=type,
        currency=currency,
        term_length=term_length,
        term_type=term_type,
        published=published,
        min_quantity=min_quantity,
        max_quantity=max_quantity,
        segments=segments or [],
        allowed_countries=allowed_countries or [],
        **fields,
    )
    offer.products.set(products)
    Charge.objects.bulk_create(
        Charge(offer=offer, position=position, **{**charge, "amount": Decimal(str(charge["amount"]))})
        for position, charge in enumerate(charges)
    )
    return offer_refresh_version(offer=offer)


# --- Subscription changes ------------------------------------------------------------------


def subscription_lock(*, subscription_id) -> Subscription:
    """The subscription row, locked for the caller's transaction (select_for_update).

    Joined with its customer only, whose row is locked too: its balance changes with the
    subscription's money (issue 13), and the join key never changes. Not with the offer: under
    READ COMMITTED a row locked through a join vanishes from the result when a concurrent
    transaction changed the join key (its offer) and committed first, because PostgreSQL
    re-checks the new row version against the offer row it had already joined.
    `subscription.offer` loads on first access (callers that have the offer may set it).
    """
    return Subscription.objects.select_for_update().select_related("customer").get(pk=subscription_id)


@transaction.atomic(savepoint=False)  # composed into order completion: no SAVEPOINT round trips
def subscription_apply_change(
    *,
    subscription: Subscription,
    offer_id: str | None = None,
    quantity: int | None = None,
    add_add_ons: dict[str, int] | None = None,
    remove_add_on_ids: Iterable[str] = (),
    also_save: Sequence[str] = (),
) -> Subscription:
    """Apply a change effective now: a new offer (and quantity), add-ons added and removed.

    The caller must hold the subscription's row lock (subscription_lock). Adding an add-on the
    subscription already has sets its quantity (one upsert, no check-then-insert). `also_save`:
    other fields the caller changed on the locked subscription, written by the same UPDATE.
    """
    fields = list(also_save)
    if offer_id is not None and offer_id != subscription.offer_id:
        subscription.offer_id = offer_id
        fields.append("offer")
    if quantity is not None and quantity != subscription.quantity:
        subscription.quantity = quantity
        fields.append("quantity")
    if fields:
        subscription.save(update_fields=[*fields, "updated"])
    remove_ids = set(remove_add_on_ids) - set(add_add_ons or {})
    if remove_ids:
        SubscriptionAddOn.objects.filter(subscription=subscription, offer_id__in=remove_ids).delete()
    if add_add_ons:
        SubscriptionAddOn.objects.bulk_create(
            [SubscriptionAddOn(subscription=subscription, offer_id=i, quantity=q) for i, q in add_add_ons.items()],
            update_conflicts=True,
            unique_fields=["subscription", "offer"],
            update_fields=["quantity"],
        )
    return subscription


@transaction.atomic(savepoint=False)  # composed into order completion: no SAVEPOINT round trips
def subscription_schedule_change(
    *,
    subscription: Subscription,
    offer_id: str,
    effective_at: datetime,
    change: dict[str, Any],
) -> Subscription:
    """Record a change effective later as the subscription's pending change (what makes checkout answer 423).

    The caller must hold the subscription's row lock.
    """
    subscription.pending_offer_id = offer_id
    subscription.pending_change = change
    subscription.pending_change_at = effective_at
    subscription.save(update_fields=["pending_offer", "pending_change", "pending_change_at", "updated"])
    return subscription


@transaction.atomic(savepoint=False)  # composed into order completion: no SAVEPOINT round trips
def subscription_apply_pending_change(*, subscription: Subscription, now: datetime) -> bool:
    """Make the subscription's pending change take effect once its date has come; whether it did.

    A pending change is a downgrade ordered for the end of the term: at `pending_change_at` the
    subscription moves onto the pending offer with the ordered quantity, loses the add-ons the
    change removed, and starts a new term of that offer at the effective date; the pending change
    is cleared (which also lifts checkout's 423); a pending change without an offer is only
    cleared. Nothing happens before that date. The caller holds the subscription's row lock
    (subscription_lock, subscriptions_apply_due_changes); `subscription.pending_offer` costs one
    query unless the caller loaded it.
    """
    effective_at = subscription.pending_change_at
    if effective_at is None or effective_at > now:
        return False
    change = subscription.pending_change if isinstance(subscription.pending_change, dict) else {}
    previous_offer_id = subscription.offer_id
    fields = ["pending_offer", "pending_change", "pending_change_at", "updated"]
    if subscription.pending_offer_id is not None:
        offer = subscription.pending_offer
        assert offer is not None  # pending_offer_id is set
        subscription.offer = offer
        quantity = change.get("quantity")
        if isinstance(quantity, int) and not isinstance(quantity, bool) and quantity >= 1:
            subscription.quantity = quantity
        subscription.term_start = effective_at
        subscription.term_end = add_interval(effective_at, offer.term_length, offer.term_type)
        fields += ["offer", "quantity", "term_start", "term_end"]
    subscription.pending_offer = subscription.pending_change = subscription.pending_change_at = None
    subscription.save(update_fields=fields)
    removed = [offer_id for offer_id in change.get("removeAddOns") or [] if isinstance(offer_id, str)]
    if removed:
        SubscriptionAddOn.objects.filter(subscription=subscription, offer_id__in=removed).delete()
    logger.info(
        "pending change applied",
        extra={
            "subscription": subscription.public_id,
            "from_offer": previous_offer_id,
            "to_offer": subscription.offer_id,
            "effective_at": effective_at.isoformat(),
            "basket": change.get("basket"),
        },
    )
    return True


@transaction.atomic
def subscriptions_apply_due_changes(*, now: datetime, batch_size: int) -> int:
    """Apply up to `batch_size` pending changes due by `now` (earliest first); how many it applied.

    Skips subscriptions another transaction holds (a customer's checkout, or another copy of this
    job): copies running at once on several hosts never take the same subscription.
    """
    due = Subscription.objects.filter(status=Subscription.Status.ACTIVE, pending_change_at__lte=now).order_by(
        "pending_change_at", "id"
    )
    subscriptions = list(lock_skipping_locked(due)[:batch_size])
    offers = Offer.objects.in_bulk({subscription.pending_offer_id for subscription in subscriptions})
    applied = 0
    for subscription in subscriptions:
        if subscription.pending_offer_id is not None:
            subscription.pending_offer = offers[subscription.pending_offer_id]
        applied += subscription_apply_pending_change(subscription=subscription, now=now)
    return applied


# --- Orders: customers, new subscriptions and renewals ------------------------------------------


def customer_get_or_create(
    *, email: str, details: dict[str, str] | None = None, known_absent: bool = False
) -> Customer:
    """The customer with this e-mail (any case; the oldest if several), or a new one with `details`.

    Two statements at most: the lookup, then the INSERT. `known_absent`: the caller has just read
    that no customer has this e-mail (selectors.customer_with_email_exists, in a query of its own),
    so there is no lookup. Safe under concurrency: when a concurrent request inserts the same
    e-mail first, the INSERT waits for it and then fails on the unique e-mail; that failure is
    rolled back to a savepoint and the customer is looked up again, finding the row the other
    request committed.
    """
    customers = Customer.objects.filter(email__iexact=email).order_by("created")
    if not known_absent:
        existing = customers.first()
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            return Customer.objects.create(email=email, **(details or {}))
    except IntegrityError:
        existing = customers.first()
        if existing is None:  # the INSERT failed on something else than the e-mail
            raise
        return existing


@transaction.atomic(savepoint=False)  # composed into order completion: no SAVEPOINT round trips
@transaction.atomic(savepoint=False)  # composed into order completion: no SAVEPOINT round trips
def customer_set_balance(*, customer: Customer, balance: Decimal) -> Customer:
    """Store the customer's balance after a money event (pricing: quote_change, quote_renewal).
    The caller holds the customer's row lock (subscription_lock joins it). One UPDATE, none when
    unchanged."""
    if balance < 0:
        raise ValueError("A balance is never negative")
    if customer.balance != balance:
        customer.balance = balance
        Customer.objects.filter(pk=customer.pk).update(balance=balance)
    return customer


@transaction.atomic(savepoint=False)  # composed into order completion: no SAVEPOINT round trips
def customer_save_payment_method(*, customer: Customer, payment_customer_id: str, payment_method_id: str) -> Customer:
    """Keep the gateway's customer and the payment method saved for later charges (renewals made
    without the customer present) on `customer`; both together, so they always belong to each
    other. Empty values change nothing (a payment that saved no method keeps the one saved
    before). One UPDATE, in the caller's transaction when there is one.
    """
    if not (payment_customer_id and payment_method_id):
        return customer
    if (customer.payment_customer_id, customer.default_payment_method_id) == (payment_customer_id, payment_method_id):
        return customer
    customer.payment_customer_id = payment_customer_id
    customer.default_payment_method_id = payment_method_id
    customer.save(update_fields=["payment_customer_id", "default_payment_method_id"])
    return customer


@dataclass(frozen=True)
class NewSubscription:
    """One subscription to create: the offer (and its term) with the add-ons bought with it."""

    offer_id: str
    quantity: int
    term_length: int
    term_type: str
    add_ons: dict[str, int] = field(default_factory=dict)
    paid: PaidPeriod | None = None  # what was charged for it (pricing.purchase_paid_period)


@transaction.atomic(savepoint=False)  # composed into order completion: no SAVEPOINT round trips
def subscriptions_create(
    *, customer: Customer, orders: Sequence[NewSubscription], start: datetime
) -> list[Subscription]:
    """Create the subscriptions of an order, each starting at `start` for its offer's term, each
    with the paid record of what the order charged for it (`paid`; none: 0.00 for its term).

    Two INSERTs whatever the number of subscriptions and add-ons (one without add-ons).
    """
    subscriptions = []
    for order in orders:
        term_end = add_interval(start, order.term_length, order.term_type)
        paid = order.paid or PaidPeriod(Decimal(0), start, start, term_end)
        subscriptions.append(
            Subscription(
                customer=customer,
                offer_id=order.offer_id,
                quantity=order.quantity,
                term_start=start,
                term_end=term_end,
                paid_amount=paid.amount,
                paid_from=paid.paid_from,
                period_start=paid.period_start,
                period_end=paid.period_end,
            )
        )
    Subscription.objects.bulk_create(subscriptions)
    SubscriptionAddOn.objects.bulk_create(
        [
            SubscriptionAddOn(subscription=subscription, offer_id=add_on_id, quantity=quantity)
            for subscription, order in zip(subscriptions, orders, strict=True)
            for add_on_id, quantity in order.add_ons.items()
        ]
    )
    return subscriptions


@transaction.atomic(savepoint=False)  # composed into order completion: no SAVEPOINT round trips
def subscription_renew(
    *,
    subscription: Subscription,
    offer_id: str,
    quantity: int,
    term_length: int,
    term_type: str,
    add_ons: dict[str, int],
    now: datetime,
    current_add_on_ids: Iterable[str] | None = None,
    paid: PaidPeriod | None = None,
) -> Subscription:
    """Extend the subscription's term by `term_length` `term_type` and move it onto the renewal offer,
    quantity and add-ons (add-ons not renewed are removed).

    A renewal starts a new term: from the current term end while that is ahead (an early
    renewal), else (lapsed) now; `paid` (pricing.quote_renewal's) is the paid record of that term.
    The caller must hold the subscription's row lock (subscription_lock). `current_add_on_ids`:
    the subscription's add-ons when the caller read them under that lock
    (selectors.subscription_add_ons_for_renewal); otherwise they are read here (one query). The
    term, the offer and the quantity are written by one UPDATE.
    """
    if subscription.term_end > now:
        subscription.term_start = subscription.term_end
        subscription.term_end = add_interval(subscription.term_end, term_length, term_type)
    else:
        subscription.term_start = now
        subscription.term_end = add_interval(now, term_length, term_type)
    also_save = ["term_start", "term_end"]
    if paid is not None:
        also_save += subscription.set_paid_period(paid)
    if current_add_on_ids is None:
        current_add_on_ids = subscription.add_ons.values_list("offer_id", flat=True)
    return subscription_apply_change(
        subscription=subscription,
        offer_id=offer_id,
        quantity=quantity,
        add_add_ons=add_ons,
        remove_add_on_ids=set(current_add_on_ids) - set(add_ons),
        also_save=also_save,
    )
