"""Query budgets: every endpoint has a maximum number of statements, whatever the basket or page size.

One table, BUDGETS, names every endpoint and its budget, at most CEILING. A budget counts the
statements that touch data (tests.statements: the token check included; BEGIN, COMMIT, ROLLBACK
and savepoints are not). Each endpoint is measured at a small and a big size (order items,
add-ons, page size) and must stay within its budget at both sizes with *equal* counts: the cost
does not grow with the data. `test_every_endpoint_has_a_budget` fails when an endpoint is added
to the URLconf without a row.

The budgets are the counts measured on PostgreSQL, the production database; SQLite sends the
same statements (the same ORM calls, one code path), so the same budgets hold there.

Throttling is off in the test settings, so the budgets leave out the throttle checks: with the
default database cache each check is one more statement per counter the request counts against
(one per request; two for a customer token), sent before the endpoint's own work and outside
its transaction (tests/ops/test_shared_cache.py proves the exact difference).

`transaction=True`: each request runs outside pytest-django's wrapping transaction, so a
service's `transaction.atomic()` is the outermost one, as in production (inside a test
transaction it would become SAVEPOINT / RELEASE pairs production never sends).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from oauth2_provider.models import AccessToken

from baskets.api.landing_state import landing_state_value
from baskets.links import LinkKind, link_path
from baskets.models import Basket, BasketStatus, OrderType
from partners import services as partner_services
from subscriptions.models import Offer, Subscription, SubscriptionAddOn
from tests import factories
from tests.conftest import bearer
from tests.factories import (
    ApplicationFactory,
    BasketFactory,
    CustomerFactory,
    OfferFactory,
    OrderItemFactory,
    PromoCodeFactory,
    SubscriptionFactory,
)
from tests.statements import CEILING, assert_flat, max_data_statements

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("token_cache_off")]

# endpoint -> the most statements touching data one request may send (the token check included),
# as measured on PostgreSQL (and the same on SQLite).
BUDGETS: dict[str, int] = {
    # Token, (replacing the landing basket: its lock), the offers and their cross-sells; the
    # basket's INSERT (or UPDATE and its items' DELETE), the items' INSERT, the event's INSERT.
    "POST /api/checkout/initiate": 7,
    # Token, lock, items, offers; the removed items' DELETE, the added and changed items' upsert,
    # the basket's UPDATE, the event.
    "PUT /api/checkout/update": 8,
    "GET /api/checkout/abandoned": 3,
    "GET /api/checkout/subscription": 4,
    "POST /api/checkout/subscription": 5,
    "PUT /api/checkout/subscription": 7,
    "POST /api/admin/checkout/initiate": 6,
    "POST /api/admin/checkout/initiate/renew": 7,
    "POST /api/admin/v2/promo_code": 7,
    # Completing an order: the token, the basket's lock (which also says, for a guest's basket,
    # whether a customer has the order's e-mail), its items. Then a new order reads the live
    # offers and creates the customer (1), counts the promo code's redemption (guarded UPDATE,
    # INSERT) and inserts the subscriptions and their add-ons (2); an update locks the
    # subscription, reads the change's options with their offers (also the live offers it is
    # validated against), writes the subscription, its add-ons (DELETE, upsert) and the items'
    # effective dates; a renewal reads the live offers, locks the subscription, reads its add-ons
    # and writes the subscription and its add-ons. All of that before the payment; after it, the
    # payment's INSERT, the basket's UPDATE and its event.
    "POST /api/order (new)": 12,
    "POST /api/order (update_subscription)": 12,
    "POST /api/order (renew)": 11,
    "GET /api/checkout/recover": 2,
    "GET /api/checkout/assisted": 2,
    "GET /checkout/": 2,
    "POST /oauth2/token": 5,
    "POST /api/partner/checkout/initiate": 5,
    "PUT /api/partner/checkout/update": 8,
    "POST /api/partner/checkout/validate/{id}": 4,
    "GET /api/partner/checkout/subscription": 4,
    "POST /api/partner/checkout/subscription": 5,
    "PUT /api/partner/checkout/subscription": 7,
    # Token; one page of offers with their upgrades, downgrades and add-ons (aggregated subqueries).
    "GET /api/catalog/offers": 2,
    "GET /healthz": 0,
    "GET /readyz": 1,
    # A Stripe event: the payment's lock (with its basket), the payment's UPDATE, its basket event,
    # the event's INSERT.
    "POST /api/webhooks/stripe": 4,
}

# URL patterns that are not endpoints of ours, or not measured here, and why.
NOT_MEASURED = {
    "api/schema/": "the OpenAPI document: static, no database",
    "api/docs/": "Swagger UI page: static, no database",
    "oauth2/introspect/": "DOT's introspection (resource servers), not a checkout endpoint",
    "oauth2/": "DOT's authorize / revoke / introspect views",
    "accounts/login/": "the staff/customer login form (Django auth)",
    "accounts/logout/": "Django auth",
    "admin/": "the Django admin (staff UI), not an API",
}
PASS = {"HTTP_X_LIMIO_RECAPTCHA": "pass-token"}


def test_the_budgets_are_within_the_ceiling():
    assert {name: budget for name, budget in BUDGETS.items() if budget > CEILING} == {}


def _routes(patterns, prefix: str = "") -> list[str]:
    routes = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if route.rstrip("^") in NOT_MEASURED or str(pattern.pattern) in NOT_MEASURED:
                continue
            routes += _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            routes.append(route)
    return routes


def test_every_endpoint_has_a_budget():
    """Every API route of the URLconf (under /api/, outside NOT_MEASURED) appears in BUDGETS.

    The hosted pages' form posts (/checkout/...) are HTML pages, not API endpoints; the checkout
    page itself is measured as a sample of them.
    """
    measured_paths = {name.split()[1] for name in BUDGETS}
    missing = []
    for route in _routes(get_resolver().url_patterns):
        if route in NOT_MEASURED or not route.startswith("api/"):
            continue
        # Router routes look like "api/^checkout/initiate$"; plain ones like "api/checkout/recover".
        path = "/" + route.replace("/^", "/").removesuffix("$")
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", path)  # validate/(?P<id>[^/]+) -> validate/{id}
        if path not in measured_paths:
            missing.append(path)
    assert missing == [], f"endpoints without a query budget: {missing}"


# --- Measuring ---------------------------------------------------------------------------------


@pytest.fixture
def measure():
    """`measure(name, send)`: the response and the data statements of `send()`, held to BUDGETS[name].

    The budgets are tight: a measurement equals its budget, so the table says what each endpoint
    costs. `cheaper=True` marks a case that costs less than its endpoint's costliest one (a
    refusal, a basket created rather than replaced); it is only held to the budget.
    """

    def run(name: str, send: Callable[[], object], *, cheaper: bool = False):
        with max_data_statements(BUDGETS[name]) as captured:
            response = send()
        if not cheaper:
            assert len(captured) == BUDGETS[name], f"{name}: {len(captured)} statements:\n{captured.sql()}"
        return response, captured

    return run


@pytest.fixture
def catalog(add_on):
    """30 base offers, each selling the add-on; quantities 1..5."""
    # The add-on is sold in numbers: the baskets hold it once per offer, summed across the basket.
    Offer.objects.filter(pk=add_on.pk).update(max_quantity=100)
    offers = [OfferFactory(name=f"Offer {n}", path=f"/offers/budget-{n}") for n in range(30)]
    for offer in offers:
        offer.cross_sell_add_ons.add(add_on)
    return offers


def order_items(catalog, add_on, count: int) -> list[dict]:
    """`count` items to initiate with: offers, each followed by the add-on."""
    items: list[dict] = []
    for offer in catalog:
        items.append({"offer": {"id": offer.id, "version": offer.version}, "quantity": 2})
        items.append({"offer": {"id": add_on.id}, "type": "add_on"})
    return items[:count]


def basket_with_items(catalog, count: int, **fields) -> Basket:
    basket = BasketFactory(**fields)
    for position, offer in enumerate(catalog[:count]):
        OrderItemFactory(basket=basket, offer=offer, position=position)
    return basket


# --- Public checkout ---------------------------------------------------------------------------


@pytest.mark.parametrize("token_kind", ["client", "customer"])
def test_initiate(api_client, storefront_token, customer_token, catalog, add_on, measure, token_kind):
    token = storefront_token if token_kind == "client" else customer_token

    def send(count):
        api_client.cookies.clear()
        body = {"order": {"orderItems": order_items(catalog, add_on, count)}}
        return api_client.post("/api/checkout/initiate", body, format="json", **bearer(token))

    response, small = measure("POST /api/checkout/initiate", lambda: send(1), cheaper=True)
    assert response.status_code == 200, response.json()
    response, big = measure("POST /api/checkout/initiate", lambda: send(20), cheaper=True)
    assert response.status_code == 200, response.json()
    assert len(response.json()["order"]["orderItems"]) == 20
    assert_flat(small, big)

    # Replacing the landing basket's items (the cookie is set) costs no more.
    response, _ = measure("POST /api/checkout/initiate", lambda: api_client.post(
        "/api/checkout/initiate", {"order": {"orderItems": order_items(catalog, add_on, 20)}}, format="json",
        **bearer(token),
    ))  # fmt: skip
    assert response.status_code == 200, response.json()
    assert Basket.objects.count() == 2
    # The signed checkoutUrl is made from the basket row already loaded: no statement of its own.
    assert response.json()["checkoutUrl"].startswith("http://testserver/api/checkout/recover?basketId=")


def test_update(api_client, storefront_token, catalog, add_on, measure):
    new_offer = OfferFactory(name="New", path="/offers/budget-new")

    def send(count):
        basket = basket_with_items(catalog, count, application=storefront_token.application)
        items = list(basket.items.order_by("position"))
        actions = [
            {"orderItemActionType": "add", "offer": {"id": new_offer.id}, "quantity": 2},
            {"orderItemActionType": "add", "offer": {"id": add_on.id}, "parentId": str(items[0].id)},
            {"orderItemActionType": "update", "id": str(items[0].id), "quantity": 3},
            {"orderItemActionType": "remove", "id": str(items[-1].id)},
        ]
        api_client.cookies["limio_state"] = basket.public_id
        return measure(
            "PUT /api/checkout/update",
            lambda: api_client.put(
                "/api/checkout/update", {"order": {"orderItems": actions}}, format="json", **bearer(storefront_token)
            ),
        )

    response, small = send(2)
    assert response.status_code == 200, response.json()
    response, big = send(30)
    assert response.status_code == 200, response.json()
    assert len(response.json()["order"]["orderItems"]) == 31
    assert_flat(small, big)


def test_abandoned(api_client, backoffice_token, catalog, add_on, measure):
    created = timezone.now() - timedelta(days=1)
    customer = CustomerFactory()
    for n in range(201):
        basket = BasketFactory(created=created + timedelta(seconds=n), customer=customer if n % 2 else None)
        for position, offer in enumerate(catalog[n % 25 : n % 25 + 3]):
            OrderItemFactory(basket=basket, offer=offer, position=position)

    def page(**params):
        return lambda: api_client.get("/api/checkout/abandoned", params, **bearer(backoffice_token))

    response, small = measure("GET /api/checkout/abandoned", page(limit=5))
    assert len(response.json()["items"]) == 5
    response, big = measure("GET /api/checkout/abandoned", page(limit=200))
    assert len(response.json()["items"]) == 200
    assert_flat(small, big)
    response, deep = measure("GET /api/checkout/abandoned", page(limit=5, queryMore=response.json()["queryMore"]))
    assert len(response.json()["items"]) == 1
    assert_flat(small, deep)


# --- Subscription checkout ---------------------------------------------------------------------


def subscription_world(customer, size: int) -> dict:
    """A subscription with `size` add-ons its offer sells; an upgrade that sells none of them.

    Upgrading adds the new offer plus `1 + size` automatic removals: the basket grows with `size`.
    """
    current = OfferFactory(name=f"Standard {size}", path=f"/offers/standard-{size}")
    upgrade = OfferFactory(name=f"Premium {size}", path=f"/offers/premium-{size}")
    extra = OfferFactory(name=f"Podcasts {size}", path=f"/offers/podcasts-{size}", type="add_on")
    add_ons = [
        OfferFactory(name=f"Add-on {size}.{n}", path=f"/offers/a-{size}-{n}", type="add_on") for n in range(size)
    ]
    current.upgrade_offers.add(upgrade)
    current.cross_sell_add_ons.add(*add_ons)
    upgrade.cross_sell_add_ons.add(extra)
    subscription = SubscriptionFactory(customer=customer, offer=current)
    SubscriptionAddOn.objects.bulk_create(
        SubscriptionAddOn(subscription=subscription, offer=add_on) for add_on in add_ons
    )
    return {"subscription": subscription, "upgrade": upgrade, "extra": extra}


def subscription_initiate(api_client, token, subscription):
    body = {"order": {"order_type": "update_subscription", "forSubscription": {"id": subscription.public_id}}}
    return api_client.post("/api/checkout/subscription", body, format="json", **bearer(token), **PASS)


def subscription_upgrade(api_client, token, world):
    actions = [
        {"orderItemActionType": "add", "offer": {"id": world["upgrade"].id}},
        {"orderItemActionType": "add", "offer": {"id": world["extra"].id}, "type": "add_on"},
    ]
    return api_client.put(
        "/api/checkout/subscription", {"order": {"orderItems": actions}}, format="json", **bearer(token), **PASS
    )


def test_subscription_initiate(api_client, customer, customer_token, measure):
    name = "POST /api/checkout/subscription"
    small_world, big_world = subscription_world(customer, 1), subscription_world(customer, 12)
    response, small = measure(
        name, lambda: subscription_initiate(api_client, customer_token, small_world["subscription"])
    )
    assert response.status_code == 200, response.json()
    response, big = measure(name, lambda: subscription_initiate(api_client, customer_token, big_world["subscription"]))
    assert response.status_code == 200, response.json()
    assert len(response.json()["nextActions"]["subscriptionAddOns"]) == 12
    assert_flat(small, big)


def test_subscription_update_and_read(api_client, customer, customer_token, measure):
    counts = {}
    for size in (1, 12):
        world = subscription_world(customer, size)
        assert subscription_initiate(api_client, customer_token, world["subscription"]).status_code == 200
        response, counts[("PUT", size)] = measure(
            "PUT /api/checkout/subscription", lambda w=world: subscription_upgrade(api_client, customer_token, w)
        )
        assert response.status_code == 200, response.json()
        # The upgrade, the add-on, the current offer's removal and one removal per subscription add-on.
        assert len(response.json()["order"]["orderItems"]) == 3 + size
        response, counts[("GET", size)] = measure(
            "GET /api/checkout/subscription",
            lambda: api_client.get("/api/checkout/subscription", **bearer(customer_token)),
        )
        assert response.status_code == 200, response.json()
        assert len(response.json()["order"]["orderItems"]) == 3 + size
    assert_flat(counts[("PUT", 1)], counts[("PUT", 12)])
    assert_flat(counts[("GET", 1)], counts[("GET", 12)])


# --- Staff endpoints ---------------------------------------------------------------------------


def test_admin_initiate(api_client, backoffice_token, catalog, add_on, measure):
    owner = CustomerFactory(email="owner@example.com")

    def send(count):
        body = {"order": {"orderItems": order_items(catalog, add_on, count)}, "customer": {"email": owner.email}}
        return api_client.post("/api/admin/checkout/initiate", body, format="json", **bearer(backoffice_token))

    response, small = measure("POST /api/admin/checkout/initiate", lambda: send(1))
    assert response.status_code == 200, response.json()
    assert "assistedCheckoutLink" in response.json()
    response, big = measure("POST /api/admin/checkout/initiate", lambda: send(20))
    assert response.status_code == 200, response.json()
    assert_flat(small, big)


def test_renew(api_client, backoffice_token, customer, measure):
    def send(size):
        world = subscription_world(customer, size)
        body = {"subscription": {"id": world["subscription"].public_id}}
        return measure(
            "POST /api/admin/checkout/initiate/renew",
            lambda: api_client.post(
                "/api/admin/checkout/initiate/renew", body, format="json", **bearer(backoffice_token)
            ),
        )

    response, small = send(1)
    assert response.status_code == 200, response.json()
    assert len(response.json()["order"]["orderItems"]) == 2
    response, big = send(12)
    assert response.status_code == 200, response.json()
    assert len(response.json()["order"]["orderItems"]) == 13
    assert_flat(small, big)


def test_promo_code(api_client, backoffice_token, storefront_app, catalog, measure):
    def send(count):
        promo = PromoCodeFactory(
            code=f"BUDGET{count}", application_level="selectedItems", eligible_offers=catalog[:count]
        )
        basket = basket_with_items(catalog, count, application=storefront_app)
        body = {"code": promo.code.lower(), "basketId": basket.public_id}
        return measure(
            "POST /api/admin/v2/promo_code",
            lambda: api_client.post("/api/admin/v2/promo_code", body, format="json", **bearer(backoffice_token)),
        )

    response, small = send(1)
    assert response.status_code == 200, response.json()
    response, big = send(30)
    assert response.status_code == 200, response.json()
    assert len(response.json()["order"]["promoCode"]["discountedOrderItems"]) == 30
    assert_flat(small, big)


# --- Completing orders -------------------------------------------------------------------------


def test_order_new(api_client, storefront_token, catalog, add_on, measure):
    def send(count):
        promo = PromoCodeFactory(code=f"ORDER{count}", available_quantity=5)
        basket = BasketFactory(application=storefront_token.application, promo_code=promo)
        offers = catalog[: max(1, count // 2)]
        position = 0
        for offer in offers:
            parent = OrderItemFactory(basket=basket, offer=offer, position=position)
            OrderItemFactory(basket=basket, offer=add_on, position=position + 1, parent=parent)
            position += 2
        body = {"checkoutId": basket.public_id, "customerDetails": {"email": f"buyer{count}@example.com"}}
        return measure(
            "POST /api/order (new)",
            lambda: api_client.post("/api/order", body, format="json", **bearer(storefront_token)),
        )

    response, small = send(2)
    assert response.status_code == 200, response.json()
    response, big = send(30)
    assert response.status_code == 200, response.json()
    assert len(response.json()["subscriptions"]) == 15
    assert_flat(small, big)


def test_order_update_subscription(api_client, customer, customer_token, measure):
    def send(size):
        world = subscription_world(customer, size)
        assert subscription_initiate(api_client, customer_token, world["subscription"]).status_code == 200
        assert subscription_upgrade(api_client, customer_token, world).status_code == 200
        basket = Basket.objects.get(for_subscription=world["subscription"])
        return world, measure(
            "POST /api/order (update_subscription)",
            lambda: api_client.post("/api/order", {"checkoutId": basket.public_id}, format="json",
                                    **bearer(customer_token)),
        )  # fmt: skip

    world, (response, small) = send(1)
    assert response.status_code == 200, response.json()
    world, (response, big) = send(12)
    assert response.status_code == 200, response.json()
    subscription = Subscription.objects.get(pk=world["subscription"].pk)
    assert subscription.offer_id == world["upgrade"].id
    assert list(subscription.add_ons.values_list("offer_id", flat=True)) == [world["extra"].id]
    assert_flat(small, big)


def test_order_renew(api_client, backoffice_token, customer, measure):
    def send(size):
        world = subscription_world(customer, size)
        body = {"subscription": {"id": world["subscription"].public_id}}
        renew = api_client.post("/api/admin/checkout/initiate/renew", body, format="json", **bearer(backoffice_token))
        assert renew.status_code == 200, renew.json()
        return measure(
            "POST /api/order (renew)",
            lambda: api_client.post("/api/order", {"checkoutId": renew.json()["id"]}, format="json",
                                    **bearer(backoffice_token)),
        )  # fmt: skip

    response, small = send(1)
    assert response.status_code == 200, response.json()
    response, big = send(12)
    assert response.status_code == 200, response.json()
    assert_flat(small, big)


# --- Links and hosted pages --------------------------------------------------------------------


@pytest.mark.parametrize("kind", [LinkKind.RECOVER, LinkKind.ASSISTED])
def test_link_handlers(client, customer, catalog, measure, kind):
    name = f"GET /api/checkout/{'recover' if kind == LinkKind.RECOVER else 'assisted'}"

    def send(count):
        basket = basket_with_items(catalog, count, customer=customer)
        return measure(name, lambda: client.get(link_path(basket, kind)))

    response, small = send(1)
    assert response.status_code == 302
    response, big = send(30)
    assert response.status_code == 302
    assert_flat(small, big)


def test_checkout_page(client, catalog, measure):
    def send(count):
        basket = basket_with_items(catalog, count)
        client.cookies["limio_state"] = landing_state_value(basket)
        return measure("GET /checkout/", lambda: client.get("/checkout/"))

    response, small = send(1)
    assert response.status_code == 200
    response, big = send(30)
    assert response.status_code == 200
    assert_flat(small, big)


# --- Catalog -----------------------------------------------------------------------------------


def test_catalog(api_client, storefront_token, catalog, add_on, measure):
    """A page of 1 and of 30 offers, each related to others (upgrades, downgrades, add-ons); a
    partner's page (its eligibility read in the same query) and a 304 cost the same."""
    for position, offer in enumerate(catalog):
        offer.upgrade_offers.add(*catalog[position + 1 : position + 4])
        offer.downgrade_offers.add(*catalog[max(0, position - 3) : position])

    def send(limit, token=storefront_token, **headers):
        return lambda: api_client.get("/api/catalog/offers", {"limit": limit}, **bearer(token), **headers)

    response, small = measure("GET /api/catalog/offers", send(1))
    assert response.status_code == 200, response.json()
    assert len(response.json()["items"]) == 1
    response, big = measure("GET /api/catalog/offers", send(30))
    assert response.status_code == 200, response.json()
    assert len(response.json()["items"]) == 30
    assert sum(len(item["upgradeOffers"]) for item in response.json()["items"]) > 60
    assert_flat(small, big)

    response, cached = measure("GET /api/catalog/offers", send(30, HTTP_IF_NONE_MATCH=response["ETag"]))
    assert response.status_code == 304
    assert_flat(big, cached)

    partner = factories.PartnerFactory()
    partner.blocked_products.add(*catalog[0].products.all())
    response, partners_page = measure("GET /api/catalog/offers", send(30, factories.partner_token(partner)))
    assert response.status_code == 200, response.json()
    assert catalog[0].id not in [item["id"] for item in response.json()["items"]]
    assert_flat(big, partners_page)


# --- Operations and OAuth ----------------------------------------------------------------------


def test_token_endpoint(client, measure):
    """Issuing a client-credentials token, for one scope and for three."""

    def send(scopes):
        application = ApplicationFactory(scopes=scopes)
        body = {"grant_type": "client_credentials", "scope": scopes, "client_id": application.client_id,
                "client_secret": "s3cret-for-tests"}  # fmt: skip
        return measure("POST /oauth2/token", lambda: client.post("/oauth2/token", body))

    response, small = send("checkout")
    assert response.status_code == 200, response.content
    response, big = send("checkout checkout:admin baskets:read")
    assert response.status_code == 200, response.content
    assert AccessToken.objects.count() == 2
    assert_flat(small, big)


def test_probes(client, measure):
    response, _ = measure("GET /healthz", lambda: client.get("/healthz"))
    assert response.status_code == 200
    response, _ = measure("GET /readyz", lambda: client.get("/readyz"))
    assert response.status_code == 200


def test_completed_and_expired_states_are_not_cheaper_paths_to_more_queries(api_client, storefront_token, measure):
    """Refusals (409 completed, 410 expired) stay within the same budget."""
    for status in (BasketStatus.COMPLETED, BasketStatus.EXPIRED):
        basket = BasketFactory(application=storefront_token.application, status=status, order_type=OrderType.NEW)
        api_client.cookies["limio_state"] = basket.public_id
        response, _ = measure(
            "PUT /api/checkout/update",
            lambda: api_client.put(
                "/api/checkout/update",
                {
                    "order": {
                        "orderItems": [{"orderItemActionType": "remove", "id": "00000000-0000-4000-8000-000000000000"}]
                    }
                },
                format="json",
                **bearer(storefront_token),
            ),
            cheaper=True,
        )
        assert response.status_code in {409, 410}


# --- Partner endpoints -------------------------------------------------------------------------


@pytest.fixture
def partner_token():
    return factories.partner_token()


def test_partner_initiate_and_update(api_client, partner_token, catalog, add_on, measure):
    def initiate(count):
        api_client.cookies.clear()
        body = {"order": {"orderItems": order_items(catalog, add_on, count)}}
        return api_client.post("/api/partner/checkout/initiate", body, format="json", **bearer(partner_token))

    response, small = measure("POST /api/partner/checkout/initiate", lambda: initiate(1))
    assert response.status_code == 200, response.json()
    response, big = measure("POST /api/partner/checkout/initiate", lambda: initiate(20))
    assert response.status_code == 200, response.json()
    assert response.json()["checkoutUrl"].startswith("http://testserver/api/checkout/recover?basketId=")
    assert_flat(small, big)

    partner = partner_token.application.partner_client.partner
    new_offer = OfferFactory(name="Partner new", path="/offers/partner-new")

    def update(count):
        basket = basket_with_items(catalog, count, application=partner_token.application, partner=partner)
        items = list(basket.items.order_by("position"))
        actions = [
            {"orderItemActionType": "add", "offer": {"id": new_offer.id}},
            {"orderItemActionType": "update", "id": str(items[0].id), "quantity": 2},
            {"orderItemActionType": "remove", "id": str(items[-1].id)},
        ]
        api_client.cookies["limio_state"] = basket.public_id
        return measure("PUT /api/partner/checkout/update", lambda: api_client.put(
            "/api/partner/checkout/update", {"order": {"orderItems": actions}}, format="json", **bearer(partner_token)
        ))  # fmt: skip

    response, small = update(2)
    assert response.status_code == 200, response.json()
    response, big = update(30)
    assert response.status_code == 200, response.json()
    assert_flat(small, big)


def test_partner_validate(api_client, partner_token, catalog, measure):
    partner = partner_token.application.partner_client.partner

    def send(count):
        basket = basket_with_items(catalog, count, application=partner_token.application, partner=partner)
        return measure("POST /api/partner/checkout/validate/{id}", lambda: api_client.post(
            f"/api/partner/checkout/validate/{basket.public_id}", format="json", **bearer(partner_token)
        ))  # fmt: skip

    response, small = send(1)
    assert response.status_code == 200, response.json()
    response, big = send(30)
    assert response.status_code == 200, response.json()
    assert response.json()["checkout"]["valid"] is True, response.json()
    assert_flat(small, big)


def test_partner_subscription_checkout(api_client, partner_token, measure):
    partner = partner_token.application.partner_client.partner
    counts = {}
    for size in (1, 12):
        world = subscription_world(CustomerFactory(), size)
        partner_services.partner_subscription_link(partner=partner, subscription=world["subscription"])
        api_client.cookies.clear()
        body = {
            "order": {"order_type": "update_subscription", "forSubscription": {"id": world["subscription"].public_id}}
        }
        response, counts[("POST", size)] = measure(
            "POST /api/partner/checkout/subscription",
            lambda b=body: api_client.post(
                "/api/partner/checkout/subscription", b, format="json", **bearer(partner_token), **PASS
            ),
        )
        assert response.status_code == 200, response.json()
        actions = [
            {"orderItemActionType": "add", "offer": {"id": world["upgrade"].id}},
            {"orderItemActionType": "add", "offer": {"id": world["extra"].id}, "type": "add_on"},
        ]
        response, counts[("PUT", size)] = measure(
            "PUT /api/partner/checkout/subscription",
            lambda a=actions: api_client.put(
                "/api/partner/checkout/subscription", {"order": {"orderItems": a}}, format="json",
                **bearer(partner_token), **PASS,
            ),
        )  # fmt: skip
        assert response.status_code == 200, response.json()
        assert len(response.json()["order"]["orderItems"]) == 3 + size
        response, counts[("GET", size)] = measure(
            "GET /api/partner/checkout/subscription",
            lambda: api_client.get("/api/partner/checkout/subscription", **bearer(partner_token)),
        )
        assert response.status_code == 200, response.json()
    for method in ("POST", "PUT", "GET"):
        assert_flat(counts[(method, 1)], counts[(method, 12)])


# --- Payments ----------------------------------------------------------------------------------


def test_stripe_webhook(client, measure, settings):
    from decimal import Decimal

    from baskets.models import Payment
    from tests.stripe_server import WEBHOOK_SECRET, event_payload, sign

    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET

    def send(index: int, items: int):
        basket = BasketFactory(status=BasketStatus.COMPLETED)
        for position in range(items):
            OrderItemFactory(basket=basket, position=position)
        Payment.objects.create(
            basket=basket, gateway="stripe", status="authorised", amount=Decimal("9.99"), currency="GBP",
            gateway_reference=f"pi_{index}",
        )  # fmt: skip
        payload = event_payload(f"evt_{index}", "payment_intent.succeeded", {"id": f"pi_{index}"})
        return lambda: client.post(
            "/api/webhooks/stripe", payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=sign(payload)
        )

    response, small = measure("POST /api/webhooks/stripe", send(1, 1))
    assert (response.status_code, response.json()["outcome"]) == (200, "applied")
    response, big = measure("POST /api/webhooks/stripe", send(2, 20))
    assert (response.status_code, response.json()["outcome"]) == (200, "applied")
    assert_flat(small, big)
