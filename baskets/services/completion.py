"""Order submission (API.md §9): basket_complete, the one way a basket's order is placed and paid.

POST /api/order and the hosted checkout page both complete baskets through it. It reads as its
steps: lock the basket → its checks (mutable, version, link nonce) → the order type's
`read(lock=True)` → validate → the customer → the order type's `quote` and `apply` (the order's
writes) → pay (`_pay`, the one outbound call) → record the payment and complete the basket.

What differs by order type is one small strategy each, an OrderCompletion, kept here next to the
steps that call it (each is a few lines over its concern's module, which holds the domain rules):

- NewOrder (`new`, baskets.services.acquisition): reads nothing more; redeems the promo code and
  creates a subscription per offer item (then the registered completion hooks);
- SubscriptionChangeOrder (`update_subscription`, baskets.services.subscription_change): locks
  the subscription and reads the change's options, whose offers query is also validation's;
  applies or schedules the change;
- RenewalOrder (`renew`, baskets.services.renewal): locks the subscription; checks it still is
  what the basket renews, renews its term, then redeems the promo code.

A strategy's `read` and `quote` also work without locks, before any transaction: that is the
amount a payment gateway can authorise before the order (`read(lock=False)`, then `quote`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from django.db import transaction
from django.db.models import BooleanField, Case, OuterRef, Q, Value, When
from django.utils import timezone

from baskets import hooks, selectors
from baskets.errors import BASKET_NOT_FOUND, BasketChanged, BasketCodes, BasketInvalid, BasketNotFound
from baskets.links import LinkRefused
from baskets.locks import lock_basket
from baskets.models import Basket, BasketStatus, OrderItem, OrderType, Payment, PromoRedemption
from baskets.payments import (
    Authorisation,
    payment_authorise,
    payment_capture,
    payment_gateway,
    payment_record,
    payment_void,
)
from baskets.selectors import BasketQuote, SubscriptionChange
from baskets.services import acquisition, renewal, subscription_change
from baskets.services.acquisition import CUSTOMER_DETAIL_FIELDS
from baskets.services.lifecycle import basket_check_version, basket_ensure_mutable, basket_transition
from baskets.services.promo_codes import promo_code_ensure_available, promo_code_redeem
from baskets.services.recovery import recovery_attribute_completion
from checkout_project.api.actor import Actor
from checkout_project.api.errors import ApplicationError
from subscriptions import pricing
from subscriptions import selectors as subscription_selectors
from subscriptions import services as subscription_services
from subscriptions.models import Customer, Offer, Subscription

ORDER_ID_PREFIX = "order-"
# The lock query's annotation: for a guest's basket, whether a customer has the order's e-mail.
EMAIL_HAS_CUSTOMER = "email_has_customer"


@dataclass
class CompletedOrder:
    """A completed basket with what completing it created and what it cost."""

    basket: Basket
    items: list[OrderItem]
    customer: Customer
    subscriptions: list[Subscription]
    payment: Payment
    quote: BasketQuote  # what was charged (an update basket's: its change's quotes and totals)
    redemption: PromoRedemption | None = None
    # An update basket's subscription as changed: the order renders with it.
    changed_subscription: Subscription | None = None

    @property
    def public_id(self) -> str:
        return f"{ORDER_ID_PREFIX}{self.basket.id}"

    @property
    def totals(self) -> pricing.Totals | pricing.ChangeTotals:
        return self.quote.totals


# --- One strategy per order type ---------------------------------------------------------------


@dataclass(frozen=True)
class OrderReads:
    """What an order type reads besides the basket and its items."""

    subscription: Subscription | None = None  # update and renewal orders (locked when read to complete)
    change: SubscriptionChange | None = None  # update orders: the subscription and its change options
    offers: Mapping[str, Offer] | None = None  # the items' offers as validation reads them, when read here


@dataclass(frozen=True)
class AppliedOrder:
    """What an order type's writes made: the subscriptions, the promo code's redemption, and what
    the `completed` event records of it."""

    subscriptions: list[Subscription]
    event_data: dict[str, Any]
    redemption: PromoRedemption | None = None
    changed_subscription: Subscription | None = None


class OrderCompletion(Protocol):
    """What completing one order type adds to basket_complete's steps."""

    def read(self, basket: Basket, items: Sequence[OrderItem], *, lock: bool) -> OrderReads:
        """What else the order reads. `lock` (under the basket's lock, completing it): lock what it
        changes (the subscription row, after the basket's) and read the items' offers with
        validation's annotations when this read has them. Without: no lock, for a quote before the
        transaction. Checks nothing."""
        ...

    def quote(self, basket: Basket, items: Sequence[OrderItem], reads: OrderReads, *, now: datetime) -> BasketQuote:
        """What the order costs at `now` from what `read` read (no query): `due_today` is charged."""
        ...

    def apply(
        self,
        basket: Basket,
        items: list[OrderItem],
        reads: OrderReads,
        *,
        customer: Customer,
        quote: BasketQuote,
        now: datetime,
    ) -> AppliedOrder:
        """Check what the locked reads must still satisfy, then write the order (before the
        payment, so a database refusal never follows a charge)."""
        ...


def configured_completion_hooks() -> tuple[hooks.CompletionHook, ...]:
    """The functions other apps registered (baskets.hooks, from their AppConfig.ready()), called
    with the basket and the subscriptions a `new` order created, inside the completing transaction
    and before the payment (how the partners app puts its baskets' subscriptions under the partner
    without baskets importing it)."""
    return hooks.completion_hooks()


def _redeem_promo_code(basket: Basket, customer: Customer, quote: BasketQuote) -> PromoRedemption | None:
    """Count the quoted promo code's redemption (promo_code_redeem: its row lock, 400 when exhausted)."""
    if quote.promo_code is None:
        return None
    return promo_code_redeem(
        promo_code=quote.promo_code.promo_code,
        basket=basket,
        customer=customer,
        amount=quote.promo_code.amount,
        currency=basket.currency,
    )


class NewOrder:
    """A `new` order: a subscription per offer item, its add-ons from the items under it."""

    def read(self, basket: Basket, items: Sequence[OrderItem], *, lock: bool) -> OrderReads:
        return OrderReads()

    def quote(self, basket: Basket, items: Sequence[OrderItem], reads: OrderReads, *, now: datetime) -> BasketQuote:
        return selectors.basket_quote(basket, items, now=now)

    def apply(
        self,
        basket: Basket,
        items: list[OrderItem],
        reads: OrderReads,
        *,
        customer: Customer,
        quote: BasketQuote,
        now: datetime,
    ) -> AppliedOrder:
        redemption = _redeem_promo_code(basket, customer, quote)
        subscriptions = acquisition.order_subscriptions_create(customer=customer, items=items, now=now, quote=quote)
        for hook in configured_completion_hooks():
            hook(basket=basket, subscriptions=subscriptions)
        return AppliedOrder(subscriptions, {"totals": quote.totals.to_wire()}, redemption)


class SubscriptionChangeOrder:
    """An `update_subscription` order: the change applied now (an upgrade, add-ons) or scheduled
    for the term end (a downgrade). Update baskets take no promo code (validation refuses one)."""

    def read(self, basket: Basket, items: Sequence[OrderItem], *, lock: bool) -> OrderReads:
        annotations = selectors.basket_validation_offer_annotations(basket) if lock else None
        change = subscription_change.subscription_change_read(
            basket, items, lock=lock, validation_annotations=annotations
        )
        offers = change.options.offers if lock else None
        return OrderReads(subscription=change.subscription, change=change, offers=offers)

    def quote(self, basket: Basket, items: Sequence[OrderItem], reads: OrderReads, *, now: datetime) -> BasketQuote:
        return selectors.basket_quote(basket, items, now=now, change=reads.change)

    def apply(
        self,
        basket: Basket,
        items: list[OrderItem],
        reads: OrderReads,
        *,
        customer: Customer,
        quote: BasketQuote,
        now: datetime,
    ) -> AppliedOrder:
        assert reads.change is not None  # read() always reads the change
        totals = quote.totals
        settlement = totals.settlement if isinstance(totals, pricing.ChangeTotals) else None
        deferred = subscription_change.subscription_change_apply(
            basket=basket, items=items, change=reads.change, now=now, settlement=settlement
        )
        subscription = reads.change.subscription
        return AppliedOrder(
            [subscription],
            {"totals": quote.totals.to_wire(), "deferred": deferred},
            changed_subscription=subscription,
        )


class RenewalOrder:
    """A `renew` order: the subscription's term extended onto the renewal offer."""

    def read(self, basket: Basket, items: Sequence[OrderItem], *, lock: bool) -> OrderReads:
        return OrderReads(subscription=renewal.renewal_read(basket, lock=lock))

    def quote(self, basket: Basket, items: Sequence[OrderItem], reads: OrderReads, *, now: datetime) -> BasketQuote:
        assert reads.subscription is not None  # read() always reads the subscription
        return renewal.renewal_quote(basket, items, reads.subscription, now=now)

    def apply(
        self,
        basket: Basket,
        items: list[OrderItem],
        reads: OrderReads,
        *,
        customer: Customer,
        quote: BasketQuote,
        now: datetime,
    ) -> AppliedOrder:
        assert reads.subscription is not None  # read() always reads the subscription
        # The subscription's checks (409, 423) answer before an exhausted promo code.
        subscription = renewal.renewal_apply(
            basket=basket, items=items, subscription=reads.subscription, now=now, quote=quote
        )
        redemption = _redeem_promo_code(basket, customer, quote)
        event_data = {"totals": quote.totals.to_wire(), "renewal": subscription.public_id}
        return AppliedOrder([subscription], event_data, redemption)


ORDER_COMPLETIONS: dict[str, OrderCompletion] = {
    OrderType.NEW: NewOrder(),
    OrderType.UPDATE_SUBSCRIPTION: SubscriptionChangeOrder(),
    OrderType.RENEW: RenewalOrder(),
}


# --- The steps ------------------------------------------------------------------------------------


def basket_complete(
    *,
    actor: Actor,
    basket_id: uuid.UUID | None,
    any_basket: bool = False,
    customer_details: dict[str, str] | None = None,
    payment: dict[str, str] | None = None,
    if_match: int | None = None,
    link_nonce: str | None = None,
    now: datetime | None = None,
) -> CompletedOrder:
    """Complete a basket: the order is placed, paid through the gateway and the basket `completed`.

    In two phases (API.md §10), the gateway never called while a transaction is open:

    1. Before any transaction (a gateway that calls out, i.e. not `manual`): the basket as the
       caller sees it, unlocked, must be active (409 for a completed one, without touching the
       gateway), at `if_match` and `link_nonce`, valid and with an e-mail; its quote from unlocked
       reads is authorised (payment_authorise: dueToday, the request's `payment`).
    2. One transaction: locks the basket row first (then, for update and renewal orders, the
       subscription row; the promo code's row is locked by counting its redemption), re-checks
       and re-validates it (basket_validation_findings); requires an e-mail; finds or creates the
       customer by e-mail; refuses with BasketChanged (409 basket_changed) when the basket's
       version or its dueToday differ from what was authorised (nobody is charged another amount
       than the one authorised); counts the promo code's redemption atomically and creates a
       subscription per offer item (`new`), applies or schedules the change
       (`update_subscription`) or extends the term onto the renewal offer (`renew`); records the
       Payment (payment_record) and moves the basket to `completed` (its `completed_at` is `now`).
       The manual gateway moves no money and calls nothing outside: it is asked here, from the
       locked quote (no extra read of the basket before the transaction).
    3. After the commit, an `authorised` payment is captured (transaction.on_commit, robust: the
       order stands whatever the capture does; a failed capture is retried by a job). When the
       transaction raises, the authorisation is voided (payment_void).

    `any_basket` (staff callers) sees every basket; otherwise only those visible to `actor`.
    `if_match` (POST /api/order's If-Match) must be the basket's version; None (no header, or the
    hosted checkout page) checks nothing. `link_nonce` (the hosted page: the nonce its cookie was
    issued under) must still be the basket's, checked under the lock: links revoked while the
    customer was on the page stop the order (LinkRefused link_revoked, 410).
    Raises BasketNotFound (404), BasketCompleted (409), BasketExpired (410), VersionMismatch (412),
    BasketInvalid (400 basket_invalid, every finding in details), ApplicationError
    customer_email_required (400), PromoCodeRefused promo_code_exhausted (400), SubscriptionLocked
    (423), 409 for an inactive subscription or one that changed since the basket was built
    (SubscriptionChanged subscription_changed: for an update basket, its offer, the term end a
    downgrade was quoted for, or the add-ons it adds no longer fit; for a renewal, the subscription
    moved to an offer that does not renew onto the basket's, its term was renewed since, or its
    add-ons changed since: baskets.services.renewal), BasketChanged (409), and the gateway's:
    PaymentDeclined / PaymentRequiresAction (402), PaymentIntentMismatch (400), PaymentInProgress
    (409), PaymentGatewayError (502). Writes nothing when it raises. The promo code's exhaustion is
    found when its redemption is counted, after a renewal's subscription checks: a renewal whose
    subscription refuses it answers 409/423 even when its code is used up.
    """
    now = now or timezone.now()
    gateway = payment_gateway()
    authorisation: Authorisation | None = None
    if gateway_calls_out(gateway):
        if transaction.get_connection().in_atomic_block:
            raise RuntimeError("basket_complete authorises through the gateway: call it with no transaction open.")
        authorisation = _authorise(
            actor,
            basket_id,
            any_basket=any_basket,
            customer_details=customer_details,
            payment=payment,
            if_match=if_match,
            link_nonce=link_nonce,
            now=now,
        )
    committed = False
    try:
        with transaction.atomic():
            completed = _complete(
                actor,
                basket_id,
                any_basket=any_basket,
                customer_details=customer_details,
                payment=payment,
                if_match=if_match,
                link_nonce=link_nonce,
                now=now,
                authorisation=authorisation,
            )
        committed = True
    finally:
        if not committed and authorisation is not None:
            payment_void(authorisation=authorisation)  # the transaction refused: give the hold back
    return completed


def gateway_calls_out(gateway: object) -> bool:
    """Whether a gateway calls a remote service (every one but `manual`, which only records)."""
    return bool(getattr(gateway, "calls_out", True))


def _check_basket(basket: Basket, *, if_match: int | None, link_nonce: str | None) -> None:
    basket_ensure_mutable(basket)
    basket_check_version(basket, if_match)
    if link_nonce is not None and basket.link_nonce != link_nonce:
        raise LinkRefused.revoked()


def _authorise(
    actor: Actor,
    basket_id: uuid.UUID | None,
    *,
    any_basket: bool,
    customer_details: dict[str, str] | None,
    payment: Mapping[str, str] | None,
    if_match: int | None,
    link_nonce: str | None,
    now: datetime,
) -> Authorisation:
    """Phase 1, no transaction open: the basket's checks and its quote from unlocked reads, then
    the gateway's authorisation of its dueToday (at the basket's version as read here)."""
    basket = _find_basket(actor, basket_id, any_basket=any_basket, customer_details=customer_details, lock=False)
    _check_basket(basket, if_match=if_match, link_nonce=link_nonce)
    items = _order_items(basket)
    order = ORDER_COMPLETIONS[basket.order_type]
    reads = order.read(basket, items, lock=False)
    _validate(basket, items, offers=reads.offers, now=now)
    email = (customer_details or {}).get("email") or basket.email
    if not email:
        raise _email_required()
    quote = order.quote(basket, items, reads, now=now)
    if quote.promo_code is not None:  # used up already: refused before the card is touched
        promo_code_ensure_available(quote.promo_code.promo_code)
    return payment_authorise(
        basket=basket,
        amount=quote.due_today,
        currency=quote.currency,
        email=email,
        payment=payment,
        save_payment_method=True,  # every order is a subscription's, which renews: kept for those charges
    )


def _complete(
    actor: Actor,
    basket_id: uuid.UUID | None,
    *,
    any_basket: bool,
    customer_details: dict[str, str] | None,
    payment: Mapping[str, str] | None,
    if_match: int | None,
    link_nonce: str | None,
    now: datetime,
    authorisation: Authorisation | None,
) -> CompletedOrder:
    """Phase 2, in the caller's transaction: lock, re-check, the order's writes, the payment's
    record, the basket's completion; the capture is scheduled for after the commit."""
    basket = _find_basket(actor, basket_id, any_basket=any_basket, customer_details=customer_details, lock=True)
    _check_basket(basket, if_match=if_match, link_nonce=link_nonce)
    items = _order_items(basket)
    order = ORDER_COMPLETIONS[basket.order_type]
    # What else the order locks and reads comes first: an update's change options are also the
    # offers validation reads. What it finds is checked after the validation (400 basket_invalid,
    # then 423, then 409).
    reads = order.read(basket, items, lock=True)
    _validate(basket, items, offers=reads.offers, now=now)
    changed = _merge_customer_details(basket, customer_details)
    _require_email(basket)
    customer = _order_customer(basket)
    quote = order.quote(basket, items, reads, now=now)
    if authorisation is None:  # a gateway that calls nothing outside (manual): asked from the locked quote
        authorisation = payment_authorise(
            basket=basket, amount=quote.due_today, currency=quote.currency, email=basket.email, payment=payment
        )
    elif (
        basket.version != authorisation.basket_version
        or pricing.quantize(quote.due_today, quote.currency or "GBP") != authorisation.amount
        or quote.currency != authorisation.currency
    ):
        raise BasketChanged()
    # The order's writes (the promo code's guarded counter and redemption, the subscriptions or the
    # change), then the payment's record and the basket's completion, all in this transaction.
    applied = order.apply(basket, items, reads, customer=customer, quote=quote, now=now)
    recorded = payment_record(authorisation=authorisation, basket=basket, customer=customer)
    if authorisation.needs_capture:
        transaction.on_commit(partial(payment_capture, payment_id=recorded.id), robust=True)

    if basket.customer_id is None:
        basket.customer = customer
        changed.append("customer")
    event_data = {
        **applied.event_data,
        "subscriptions": [subscription.public_id for subscription in applied.subscriptions],
        "payment": {"gateway": recorded.gateway, "status": recorded.status, "id": str(recorded.id)},
    }
    # A basket whose recovery link was opened from an email is recovered, for the order's total.
    totals = quote.totals
    amount = totals.total if isinstance(totals, pricing.Totals) else totals.due_today
    changed += recovery_attribute_completion(basket, amount=amount, now=now)
    # The customer details, owner and recovery fields set above are written by the transition's UPDATE.
    basket_transition(basket=basket, to=BasketStatus.COMPLETED, actor=actor, data=event_data, also_save=changed, at=now)
    return CompletedOrder(
        basket=basket,
        items=items,
        customer=customer,
        subscriptions=applied.subscriptions,
        payment=recorded,
        quote=quote,
        redemption=applied.redemption,
        changed_subscription=applied.changed_subscription,
    )


def _find_basket(
    actor: Actor,
    basket_id: uuid.UUID | None,
    *,
    any_basket: bool,
    customer_details: Mapping[str, str] | None,
    lock: bool,
) -> Basket:
    """The basket (locked with `lock`), with what completing it reads of its customer,
    subscription (and its offer) and promo code; BasketNotFound (404) when the caller cannot see it."""
    baskets = Basket.objects.all() if any_basket else selectors.visible_baskets(actor)
    queryset = baskets.select_related(
        "customer", "for_subscription__customer", "for_subscription__offer", "promo_code"
    ).annotate(**{EMAIL_HAS_CUSTOMER: _email_has_customer(customer_details)})
    if lock:
        basket = lock_basket(queryset, basket_id)
    else:
        basket = None if basket_id is None else next(iter(queryset.filter(pk=basket_id).order_by()), None)
    if basket is None:
        raise BasketNotFound(BASKET_NOT_FOUND)
    return basket


def _order_items(basket: Basket) -> list[OrderItem]:
    """The basket's items (one query), its promo code's eligible offers first when a selectedItems
    code needs them (one more; the code itself was loaded with the basket)."""
    if basket.promo_code is not None:
        selectors.promo_code_load_eligible_offers(basket.promo_code)
    return selectors.basket_items(basket)


def _validate(basket: Basket, items: Sequence[OrderItem], *, offers: Mapping[str, Offer] | None, now: datetime) -> None:
    """BasketInvalid (400) with every finding that stops the basket; the promo code's exhaustion is
    left to its guarded count (a read here would race with concurrent completions)."""
    findings = selectors.basket_validation_findings(basket, items, now=now, check_redemption_limit=False, offers=offers)
    if findings:
        raise BasketInvalid([finding.to_wire() for finding in findings])


def _merge_customer_details(basket: Basket, details: Mapping[str, str] | None) -> list[str]:
    """The request's non-empty customer details override the basket's; the fields changed."""
    changed = []
    for wire_name, field_name in CUSTOMER_DETAIL_FIELDS.items():
        value = (details or {}).get(wire_name) or ""
        if value and value != getattr(basket, field_name):
            setattr(basket, field_name, value)
            changed.append(field_name)
    return changed


def _require_email(basket: Basket) -> None:
    if not basket.email:
        raise _email_required()


def _email_required() -> ApplicationError:
    return ApplicationError(
        "customerDetails.email is required to place an order.",
        code=BasketCodes.CUSTOMER_EMAIL_REQUIRED,
        details={"customerDetails.email": "This field is required."},
    )


def _email_has_customer(customer_details: Mapping[str, str] | None) -> Case:
    """For the lock query of a guest's basket (no customer, no subscription): whether a customer
    has the e-mail the order will be placed with (the request's, else the basket's). When none has,
    _order_customer creates one without a lookup of its own (one round trip fewer)."""
    email = (customer_details or {}).get("email") or OuterRef("email")
    return Case(
        When(
            Q(customer__isnull=True, for_subscription__isnull=True),
            then=subscription_selectors.customer_with_email_exists(email),
        ),
        default=Value(True),
        output_field=BooleanField(),
    )


def _order_customer(basket: Basket) -> Customer:
    """The order's customer: the subscription's, the basket's, or the one with the basket's e-mail
    (created when there is none)."""
    if basket.for_subscription is not None:
        return basket.for_subscription.customer
    if basket.customer is not None:
        return basket.customer
    details = {field: getattr(basket, field) for field in CUSTOMER_DETAIL_FIELDS.values() if field != "email"}
    return subscription_services.customer_get_or_create(
        email=basket.email, details=details, known_absent=not getattr(basket, EMAIL_HAS_CUSTOMER)
    )
