"""Order submission (API.md §9): the one service that completes a basket.

POST /api/order and the hosted checkout page both complete baskets through basket_complete.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import BooleanField, Case, OuterRef, Q, Value, When
from django.utils import timezone

from baskets import hooks, selectors
from baskets.errors import BASKET_NOT_FOUND, BasketCodes, BasketInvalid, BasketNotFound
from baskets.links import LinkRefused
from baskets.locks import lock_basket
from baskets.models import Basket, BasketStatus, OrderItem, OrderType, Payment, PromoRedemption
from baskets.payments import PaymentGatewayError, PaymentRequest, payment_gateway
from baskets.services.acquisition import CUSTOMER_DETAIL_FIELDS
from baskets.services.lifecycle import basket_check_version, basket_ensure_mutable, basket_transition
from baskets.services.promo_codes import promo_code_redeem
from baskets.services.renewal import basket_renew_subscription
from baskets.services.subscription_change import (
    SubscriptionCheckout,
    update_basket_apply_locked,
    update_basket_read_locked,
)
from checkout_project.api.actor import Actor
from checkout_project.api.errors import ApplicationError, UpstreamUnavailable
from subscriptions import pricing
from subscriptions import selectors as subscription_selectors
from subscriptions import services as subscription_services
from subscriptions.models import Customer, Subscription

ORDER_ID_PREFIX = "order-"


def configured_completion_hooks():
    """The functions other apps registered (baskets.hooks, from their AppConfig.ready()), called
    with the basket and the subscriptions a `new` order created, inside the completing transaction
    and before the payment (how the partners app puts its baskets' subscriptions under the partner
    without baskets importing it)."""
    return hooks.completion_hooks()


@dataclass
class CompletedOrder:
    """A completed basket with what completing it created."""

    basket: Basket
    items: list[OrderItem]
    customer: Customer
    subscriptions: list[Subscription]
    payment: Payment
    totals: pricing.Totals | pricing.ChangeTotals
    redemption: PromoRedemption | None = None
    # Update baskets: the change as quoted (their totals are a ChangeTotals).
    update_state: SubscriptionCheckout | None = field(default=None)

    @property
    def public_id(self) -> str:
        return f"{ORDER_ID_PREFIX}{self.basket.id}"


def _merge_customer_details(basket: Basket, details: dict[str, str] | None) -> list[str]:
    """The request's non-empty customer details override the basket's; the fields changed."""
    changed = []
    for wire_name, field_name in CUSTOMER_DETAIL_FIELDS.items():
        value = (details or {}).get(wire_name) or ""
        if value and value != getattr(basket, field_name):
            setattr(basket, field_name, value)
            changed.append(field_name)
    return changed


def _email_has_customer(customer_details: dict[str, str] | None) -> Case:
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
    if basket.for_subscription_id is not None:
        return basket.for_subscription.customer
    if basket.customer_id is not None:
        return basket.customer
    details = {field: getattr(basket, field) for field in CUSTOMER_DETAIL_FIELDS.values() if field != "email"}
    return subscription_services.customer_get_or_create(
        email=basket.email, details=details, known_absent=not basket.email_has_customer
    )


def _new_subscriptions(customer: Customer, items: list[OrderItem], now: datetime) -> list[Subscription]:
    add_ons: dict[uuid.UUID, dict[str, int]] = {}
    for item in items:
        if item.parent_id is not None:
            parent_add_ons = add_ons.setdefault(item.parent_id, {})
            parent_add_ons[item.offer_id] = parent_add_ons.get(item.offer_id, 0) + item.quantity
    orders = [
        subscription_services.NewSubscription(
            offer_id=item.offer_id,
            quantity=item.quantity,
            term_length=item.offer_snapshot["term"]["length"],
            term_type=item.offer_snapshot["term"]["type"],
            add_ons=add_ons.get(item.id, {}),
        )
        for item in items
        if item.type == OrderItem.Type.OFFER
    ]
    return subscription_services.subscriptions_create(customer=customer, orders=orders, start=now)


@transaction.atomic
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

    Locks the basket row first (then, for update and renewal orders, the subscription row; the
    promo code's row is locked by counting its redemption). In order: re-validates the basket
    (basket_validation_findings); requires an e-mail (the basket's or `customer_details`'); finds
    or creates the customer by e-mail; counts the promo code's redemption atomically and creates
    a subscription per offer item (`new`), applies or schedules the change
    (`update_subscription`) or extends the term onto the renewal offer (`renew`), all written
    before the payment, so a database refusal never follows a charge; pays through
    settings.PAYMENT_GATEWAY; records the Payment and moves the basket to `completed`.

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
    add-ons changed since: baskets.services.renewal) and
    UpstreamUnavailable (502) when the gateway fails. Writes nothing when it raises. The promo
    code's exhaustion is found when its redemption is counted, after a renewal's subscription
    checks: a renewal whose subscription refuses it answers 409/423 even when its code is used up.
    """
    now = now or timezone.now()
    baskets = Basket.objects.all() if any_basket else selectors.visible_baskets(actor)
    basket = lock_basket(
        baskets.select_related(
            "customer", "for_subscription__customer", "for_subscription__offer", "promo_code"
        ).annotate(email_has_customer=_email_has_customer(customer_details)),
        basket_id,
    )
    if basket is None:
        raise BasketNotFound(BASKET_NOT_FOUND)
    basket_ensure_mutable(basket)
    basket_check_version(basket, if_match)
    if link_nonce is not None and basket.link_nonce != link_nonce:
        raise LinkRefused.revoked()
    if basket.promo_code_id is not None:
        # Loaded with the basket; only a selectedItems code needs its eligible offers (one query).
        selectors.promo_code_load_eligible_offers(basket.promo_code)
    items = selectors.basket_items(basket)

    update_reads = None
    offers = None
    if basket.order_type == OrderType.UPDATE_SUBSCRIPTION:
        # The subscription's lock and the change's options first: their offers query reads the
        # items' offers for the validation too. What they find is checked after it, in the same
        # order as before (400 basket_invalid, then 423, then 409).
        update_reads = update_basket_read_locked(
            basket=basket, items=items, offer_annotations=selectors.basket_validation_offer_annotations(basket)
        )
        offers = update_reads.options.offers
    findings = selectors.basket_validation_findings(basket, items, now=now, check_redemption_limit=False, offers=offers)
    if findings:
        raise BasketInvalid([finding.to_wire() for finding in findings])
    changed = _merge_customer_details(basket, customer_details)
    if not basket.email:
        raise ApplicationError(
            "customerDetails.email is required to place an order.",
            code=BasketCodes.CUSTOMER_EMAIL_REQUIRED,
            details={"customerDetails.email": "This field is required."},
        )

    customer = _order_customer(basket)
    # The order's writes (the promo code's guarded counter and redemption, the subscriptions or the
    # change) are made before the payment, so the database refuses those before the customer is
    # charged; the payment's record and the basket's completion are written after it. Those last
    # writes and the COMMIT can still fail after a charge: closing that needs the gateway to
    # authorise first and capture after the commit.
    update_state = None
    redemption = None
    totals: pricing.Totals | pricing.ChangeTotals
    event_data: dict[str, Any]
    if basket.order_type == OrderType.UPDATE_SUBSCRIPTION:
        # Quoted under the subscription's lock; update baskets take no promo code (re-validated above).
        update_state, event_data = update_basket_apply_locked(basket=basket, now=now, items=items, reads=update_reads)
        totals = update_state.totals
        subscriptions = [update_state.subscription]
    else:
        discount = selectors.promo_code_discount(basket.promo_code) if basket.promo_code_id else None
        totals = pricing.order_totals(selectors.order_lines(items), basket.currency, discount=discount)
        # A renewal's subscription checks (409, 423) answer before an exhausted promo code.
        renewed = basket_renew_subscription(basket, items, now) if basket.order_type == OrderType.RENEW else None
        if discount is not None:
            # Raises PromoCodeRefused promo_code_exhausted when the code's last use went meanwhile.
            redemption = promo_code_redeem(
                promo_code=basket.promo_code, basket=basket, customer=customer, amount=totals.discount,
                currency=basket.currency,
            )  # fmt: skip
        event_data = {"totals": totals.to_wire()}
        if renewed is not None:
            subscriptions = [renewed]
            event_data["renewal"] = basket.for_subscription.public_id
        else:
            subscriptions = _new_subscriptions(customer, items, now)
            for hook in configured_completion_hooks():
                hook(basket=basket, subscriptions=subscriptions)

    amount, currency = totals.due_today, totals.currency
    request = PaymentRequest(
        order_id=f"{ORDER_ID_PREFIX}{basket.id}",
        amount=amount,
        currency=currency,
        customer_email=basket.email,
        details={key: str(value) for key, value in (payment or {}).items()},
    )
    try:
        result = payment_gateway().pay(request)
    except PaymentGatewayError as exc:
        raise UpstreamUnavailable("The payment gateway failed; no order was placed.") from exc
    recorded = Payment(
        basket=basket,
        gateway=result.gateway,
        status=result.status,
        amount=pricing.quantize(Decimal(amount), currency or "GBP"),
        currency=currency,
        reference=result.reference,
        method=request.details.get("method", ""),
    )
    recorded.save(force_insert=True)

    if basket.customer_id is None:
        basket.customer = customer
        changed.append("customer")
    event_data["subscriptions"] = [subscription.public_id for subscription in subscriptions]
    event_data["payment"] = {"gateway": recorded.gateway, "status": recorded.status, "id": str(recorded.id)}
    # The customer details and owner merged above are written by the transition's UPDATE.
    basket_transition(basket=basket, to=BasketStatus.COMPLETED, actor=actor, data=event_data, also_save=changed)
    return CompletedOrder(
        basket=basket,
        items=items,
        customer=customer,
        subscriptions=subscriptions,
        payment=recorded,
        totals=totals,
        redemption=redemption,
        update_state=update_state,
    )
