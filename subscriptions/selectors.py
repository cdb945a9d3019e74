"""Every non-trivial read of the catalog, customers and subscriptions."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import CharField, Exists, OuterRef, QuerySet, StringAgg, Subquery, Value

from checkout_project.api.wire import cursor_decode, cursor_encode, invalid_cursor
from subscriptions import hooks
from subscriptions.models import Customer, Offer, Subscription, SubscriptionAddOn

if TYPE_CHECKING:
    from checkout_project.api.actor import Actor

OFFER_FIELDS = (
    "id", "type", "name", "path", "currency", "published", "version", "snapshot",
    "min_quantity", "max_quantity", "allowed_countries",
)  # fmt: skip


def offers_by_id(offer_ids: Iterable[object], *, annotations: Mapping[str, Any] | None = None) -> dict[str, Offer]:
    """The offers with these ids (one query), keyed by id; unknown ids, and ids that are not strings
    (read from a request body), are simply absent.

    `annotations` (expressions by name) are added to that query: a caller's per-offer facts ride
    along at no extra query.
    """
    ids = {offer_id for offer_id in offer_ids if isinstance(offer_id, str)}
    if not ids:
        return {}
    offers = Offer.objects.filter(pk__in=ids).only(*OFFER_FIELDS).annotate(**(annotations or {})).order_by()
    return {offer.pk: offer for offer in offers}


@dataclass(frozen=True)
class OffersWithCrossSells:
    offers: dict[str, Offer]
    # (offer id, add-on id) pairs, both among the ids asked for, where the offer sells the add-on.
    cross_sells: set[tuple[str, str]]


def offers_with_cross_sells(
    offer_ids: Iterable[object], *, annotations: Mapping[str, Any] | None = None
) -> OffersWithCrossSells:
    """The offers with these ids and which of them sell which others as add-ons, in one query.

    Basket writes need both on every request; one query whatever the mix of offers and add-ons
    keeps their cost flat. `annotations` are added to that query (see offers_by_id).
    """
    ids = {offer_id for offer_id in offer_ids if isinstance(offer_id, str)}
    if not ids:
        return OffersWithCrossSells(offers={}, cross_sells=set())
    # django-stubs keeps no annotations on an auto-created through model's queryset, so it reads
    # `add_on_ids` in .values() as an unknown field (a false positive; here and below).
    sold = (
        Offer.cross_sell_add_ons.through.objects.filter(  # type: ignore[misc]
            from_offer_id=OuterRef("pk"), to_offer_id__in=ids
        )
        .values("from_offer_id")
        .annotate(add_on_ids=StringAgg("to_offer_id", Value(",")))
        .values("add_on_ids")
    )
    offers: dict[str, Offer] = {}
    cross_sells: set[tuple[str, str]] = set()
    offers_query = Offer.objects.filter(pk__in=ids).annotate(sold_add_on_ids=Subquery(sold), **(annotations or {}))
    # Keyed by id: no ORDER BY (the model's default ordering would sort for nothing).
    for offer in offers_query.only(*OFFER_FIELDS).order_by():
        offers[offer.pk] = offer
        # Offer ids are hex, so the comma cannot occur inside one.
        cross_sells.update((offer.pk, add_on_id) for add_on_id in (offer.sold_add_on_ids or "").split(",") if add_on_id)
    return OffersWithCrossSells(offers=offers, cross_sells=cross_sells)


# --- Subscriptions and what they may change into ----------------------------------------------


def subscriptions_of_customer(customer: Customer) -> QuerySet[Subscription]:
    """The customer's subscriptions (a query the caller narrows down)."""
    return Subscription.objects.filter(customer=customer)


def no_subscriptions() -> QuerySet[Subscription]:
    """No subscription at all (a caller that owns none)."""
    return Subscription.objects.none()


def subscription_among(
    subscriptions: QuerySet[Subscription], *, subscription_id: uuid.UUID | None = None, reference: str | None = None
) -> Subscription | None:
    """The subscription with this id, else this reference, among `subscriptions` (a caller's own,
    e.g. subscriptions_of_customer), with its offer and customer; None when it is not among them."""
    subscriptions = subscriptions.select_related("offer", "customer")
    if subscription_id is not None:
        return subscriptions.filter(pk=subscription_id).first()
    if reference:
        return subscriptions.filter(reference=reference).first()
    return None


def active_subscriptions_among(subscriptions: QuerySet[Subscription], *, limit: int) -> list[Subscription]:
    """At most `limit` active subscriptions among `subscriptions` (a caller's own), oldest first,
    with their offer and customer."""
    active = subscriptions.filter(status=Subscription.Status.ACTIVE).select_related("offer", "customer")
    return list(active.order_by("created", "id")[:limit])


def customer_with_email_exists(email: Any) -> Exists:
    """Whether a customer has the e-mail `email` (an expression, such as `OuterRef("email")`) in any
    case: for a caller's query of its own (customer_get_or_create's `known_absent`)."""
    return Exists(Customer.objects.filter(email__iexact=email))


def customer_by_id_or_email(*, customer_id: uuid.UUID | None = None, email: str | None = None) -> Customer | None:
    """A customer by id, or by e-mail (exact match first, else the only case-insensitive match)."""
    if customer_id is not None:
        return Customer.objects.filter(pk=customer_id).first()
    if not email:
        return None
    exact = Customer.objects.filter(email=email).first()
    if exact is not None:
        return exact
    matches = list(Customer.objects.filter(email__iexact=email)[:2])
    return matches[0] if len(matches) == 1 else None


@dataclass(frozen=True)
class PaymentProfile:
    """What the payment gateway knows of a customer: its customer id and the saved payment method."""

    customer_id: uuid.UUID
    payment_customer_id: str
    default_payment_method_id: str


def customer_payment_profile(*, email: str) -> PaymentProfile | None:
    """The payment profile of the customer an order with this e-mail belongs to (the one
    services.customer_get_or_create finds: any case, the oldest), or None when there is none yet."""
    row = (
        Customer.objects.filter(email__iexact=email)
        .order_by("created")
        .values_list("id", "payment_customer_id", "default_payment_method_id")
        .first()
    )
    return PaymentProfile(*row) if row is not None else None


def subscription_by_id_or_reference(
    *, subscription_id: uuid.UUID | None = None, reference: str | None = None
) -> Subscription | None:
    """Any subscription by id or reference, with its offer and customer (staff callers)."""
    subscriptions = Subscription.objects.select_related("offer", "customer")
    if subscription_id is not None:
        return subscriptions.filter(pk=subscription_id).first()
    if reference:
        return subscriptions.filter(reference=reference).first()
    return None


def subscriptions_with_ids(ids: Iterable[uuid.UUID] | QuerySet[Any]) -> QuerySet[Subscription]:
    """The subscriptions with these ids: a list, or a query of ids (another app's links to
    subscriptions), which becomes a subquery of the same query."""
    return Subscription.objects.filter(pk__in=ids)


def offers_with_ids_only() -> QuerySet[Offer]:
    """Offers with nothing but their id loaded: the queryset of a Prefetch of another app's relation
    to offers (a promo code's eligible offers), whose rules only compare ids."""
    return Offer.objects.only("id")


def first_published_offer() -> Offer | None:
    """The first published offer (not an add-on) by catalog path, or None in an empty catalog."""
    return Offer.objects.filter(published=True, type=Offer.Type.OFFER).order_by("path").first()


@dataclass(frozen=True)
class ChangeOptions:
    """What a subscription may change into: its offer's upgrades and downgrades, cross-sells, its add-ons."""

    upgrades: frozenset[str]
    downgrades: frozenset[str]
    cross_sells: frozenset[tuple[str, str]]  # (offer id, add-on id) for the current offer and the candidates
    add_ons: dict[str, int]  # the subscription's add-ons: add-on offer id -> quantity
    offers: dict[str, Offer]  # every offer named above, by id


def subscription_change_options(
    subscription: Subscription,
    *,
    candidate_offer_ids: Iterable[object] = (),
    offer_annotations: Mapping[str, Any] | None = None,
    also_offer_ids: Iterable[object] = (),
) -> ChangeOptions:
    """One query whatever the number of add-ons: every offer the options name, each annotated with
    how it relates to the subscription (an upgrade, a downgrade, which offers sell it, its quantity
    as one of the subscription's add-ons).

    `candidate_offer_ids` are offers the subscription might move to; their cross-sells are included.
    `offer_annotations` are added to that query (see offers_by_id), which also reads
    `also_offer_ids` (a caller's other offers, at no query of their own).
    """
    current = subscription.offer_id
    parents = {current, *(i for i in candidate_offer_ids if isinstance(i, str))}
    named = parents | {offer_id for offer_id in also_offer_ids if isinstance(offer_id, str)}
    upgrades = Offer.upgrade_offers.through.objects.filter(from_offer_id=current)
    downgrades = Offer.downgrade_offers.through.objects.filter(from_offer_id=current)
    cross_sells = Offer.cross_sell_add_ons.through.objects.filter(from_offer_id__in=parents)
    add_ons = SubscriptionAddOn.objects.filter(subscription=subscription)
    # One IN over the union: the database finds each offer by its primary key.
    wanted = (
        Offer.objects.filter(pk__in=named)
        .order_by()
        .values("pk")
        .union(
            upgrades.values("to_offer_id"),
            downgrades.values("to_offer_id"),
            cross_sells.values("to_offer_id"),
            add_ons.values("offer_id"),
            all=True,
        )
    )
    sold_by = (
        # `parent_ids`: the through-model false positive of offers_with_cross_sells.
        cross_sells.filter(to_offer_id=OuterRef("pk"))  # type: ignore[misc]
        .values("to_offer_id")
        .annotate(parent_ids=StringAgg("from_offer_id", Value(",")))
        .values("parent_ids")
    )
    offers_query = (
        Offer.objects.filter(pk__in=wanted)
        .only(*OFFER_FIELDS)
        .annotate(
            change_is_upgrade=Exists(upgrades.filter(to_offer_id=OuterRef("pk"))),
            change_is_downgrade=Exists(downgrades.filter(to_offer_id=OuterRef("pk"))),
            change_sold_by=Subquery(sold_by),
            change_add_on_quantity=Subquery(add_ons.filter(offer_id=OuterRef("pk")).values("quantity")[:1]),
            **(offer_annotations or {}),
        )
        .order_by()  # keyed by id below: no ORDER BY
    )
    offers: dict[str, Offer] = {}
    upgrade_ids: set[str] = set()
    downgrade_ids: set[str] = set()
    pairs: set[tuple[str, str]] = set()
    quantities: dict[str, int] = {}
    for offer in offers_query:
        offers[offer.pk] = offer
        if offer.change_is_upgrade:
            upgrade_ids.add(offer.pk)
        if offer.change_is_downgrade:
            downgrade_ids.add(offer.pk)
        # Offer ids are hex, so the comma cannot occur inside one.
        pairs.update((parent_id, offer.pk) for parent_id in (offer.change_sold_by or "").split(",") if parent_id)
        if offer.change_add_on_quantity is not None:
            quantities[offer.pk] = offer.change_add_on_quantity
    return ChangeOptions(
        upgrades=frozenset(upgrade_ids),
        downgrades=frozenset(downgrade_ids),
        cross_sells=frozenset(pairs),
        add_ons=quantities,
        offers=offers,
    )


# Product codes are joined with the ASCII unit separator, which no code contains.
_CODE_SEPARATOR = "\x1f"


def available_product_codes_annotation() -> Subquery:
    """Per offer: its available products' codes, for offers_by_id's `annotations` (no query of its own).

    Read back with offer_available_product_codes.
    """
    through = Offer.products.through
    return Subquery(
        # `codes`: the through-model false positive of offers_with_cross_sells.
        through.objects.filter(offer_id=OuterRef("pk"), product__available=True)  # type: ignore[misc]
        .values("offer_id")
        .annotate(codes=StringAgg("product__product_code", Value(_CODE_SEPARATOR)))
        .values("codes")
    )


def offer_available_product_codes(offer: Offer, name: str) -> set[str]:
    """The codes an `available_product_codes_annotation()` annotated as `name` on `offer`."""
    return {code for code in (getattr(offer, name) or "").split(_CODE_SEPARATOR) if code}


@dataclass(frozen=True)
class RenewalAddOn:
    """One of a subscription's add-ons, as a renewal onto a given offer sees it."""

    offer_id: str
    quantity: int
    # Its offer is published and the renewal offer sells it: a renewal built now would renew it.
    renewable: bool


def subscription_add_ons_for_renewal(*, subscription: Subscription, renewal_offer_id: str) -> dict[str, RenewalAddOn]:
    """The subscription's add-ons by offer id, each saying whether a renewal onto `renewal_offer_id`
    would carry it on (the add-ons a renewal basket is built with), in one query.

    Read under the caller's subscription lock, these are the add-ons subscription_renew replaces:
    pass their ids as its `current_add_on_ids` and it does not read them again.
    """
    sold = Offer.cross_sell_add_ons.through.objects.filter(
        from_offer_id=renewal_offer_id, to_offer_id=OuterRef("offer_id")
    )
    rows = (
        SubscriptionAddOn.objects.filter(subscription=subscription)
        .annotate(sold=Exists(sold))
        .values_list("offer_id", "quantity", "offer__published", "sold")
    )
    return {
        offer_id: RenewalAddOn(offer_id=offer_id, quantity=quantity, renewable=published and sold)
        for offer_id, quantity, published, sold in rows
    }


# --- The catalog as integrators read it (GET /api/catalog/offers) ------------------------------


@dataclass(frozen=True)
class CatalogCursor:
    """Where the next catalog page starts: after the offer with this path (paths are unique)."""

    path: str

    def encode(self) -> str:
        return cursor_encode({"p": self.path})

    @classmethod
    def decode(cls, value: str) -> CatalogCursor:
        path = cursor_decode(value).get("p")
        if not isinstance(path, str) or not path or len(path) > 255 or "\x00" in path:
            raise invalid_cursor()
        if any("\ud800" <= char <= "\udfff" for char in path):
            raise invalid_cursor()
        return cls(path=path)


@dataclass(frozen=True)
class CatalogOffer:
    """A published offer with the ids of the offers it upgrades and downgrades to and the add-ons it
    sells, each among the offers the same caller can read."""

    offer: Offer
    upgrade_offer_ids: list[str]
    downgrade_offer_ids: list[str]
    cross_sell_add_on_ids: list[str]


@dataclass(frozen=True)
class CatalogPage:
    offers: list[CatalogOffer]
    next_cursor: CatalogCursor | None


def _related_offer_ids(relation: Any, readable: QuerySet[Offer]) -> Subquery:
    """The ids (comma-joined, in no order: SQLite before 3.44 cannot order an aggregate) of the
    offers `relation` (an Offer M2M to Offer) links the outer offer to, among `readable`: a
    subquery of the catalog's one query."""
    linked = (
        relation.through.objects.filter(from_offer_id=OuterRef("pk"), to_offer_id__in=readable.values("pk"))
        .values("from_offer_id")
        .annotate(ids=StringAgg("to_offer_id", Value(",")))
        .values("ids")
    )
    return Subquery(linked, output_field=CharField())


def _split_ids(joined: str | None) -> list[str]:
    """Sorted, so a page's body (and its ETag) does not depend on the database's aggregation order.
    Offer ids are hex, so the comma cannot occur inside one."""
    return sorted(offer_id for offer_id in (joined or "").split(",") if offer_id)


def readable_offers(actor: Actor) -> QuerySet[Offer]:
    """The offers `actor` may read in the catalog: the published ones that every registered catalog
    restriction (subscriptions.hooks; a partner's eligible offers) admits."""
    offers = Offer.objects.filter(published=True)
    for restriction in hooks.catalog_restrictions():
        condition = restriction(actor)
        if condition is not None:
            offers = offers.filter(condition)
    return offers


def catalog_offers(*, actor: Actor, limit: int, cursor: CatalogCursor | None = None) -> CatalogPage:
    """One page of the catalog `actor` reads, by path, after `cursor`: one query at any depth and
    page size (the offers, `limit` + 1 of them to know whether a page follows, with the ids of
    their upgrades, downgrades and cross-sold add-ons aggregated by subqueries). The priced
    content (products, price schedule, term) is the offer's snapshot, the one baskets price from.
    """
    readable = readable_offers(actor)
    page = readable.annotate(
        upgrade_ids=_related_offer_ids(Offer.upgrade_offers, readable),
        downgrade_ids=_related_offer_ids(Offer.downgrade_offers, readable),
        cross_sell_ids=_related_offer_ids(Offer.cross_sell_add_ons, readable),
    ).only("id", "type", "name", "path", "version", "snapshot", "max_quantity")
    if cursor is not None:
        page = page.filter(path__gt=cursor.path)
    rows = list(page.order_by("path")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    offers = [
        CatalogOffer(
            offer=offer,
            upgrade_offer_ids=_split_ids(offer.upgrade_ids),
            downgrade_offer_ids=_split_ids(offer.downgrade_ids),
            cross_sell_add_on_ids=_split_ids(offer.cross_sell_ids),
        )
        for offer in rows
    ]
    return CatalogPage(offers=offers, next_cursor=CatalogCursor(path=rows[-1].path) if more else None)
