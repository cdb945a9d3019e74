"""Fuzzing: schemathesis generates requests from our own OpenAPI schema and sends them in-process.

Every operation of /api/schema/ (the partner ones included: the test below checks the schema
against the router) is exercised through the WSGI application (no server, no network):

- with valid credentials (a customer token carrying every non-partner scope, a partner token for
  the partner endpoints) and a `limio_state` cookie for a basket of the right kind;
- with real ids: most generated bodies have their ids (checkoutId, basketId, offer ids and
  versions, promo codes, subscription ids and references, order item ids, the validate path's
  basket id) replaced by those of real objects, so the services behind them are reached rather
  than the lookups' 404s;
- positive cases (bodies the schema accepts) and negative ones (bodies it refuses: those must be
  refused with a 4xx, never accepted);
- and strings schemathesis cannot produce: a lone UTF-16 surrogate or a NUL is put into a string
  of the body (any field, any depth); a surrogate must be a 400 `validation_error`, a NUL never a
  5xx.

Each response must be no 5xx, in the error shape when it is an error, and match the schema: a
documented status code, the documented content type, headers and body shape.

Marked `slow`. Random by default (Hypothesis prints how to reproduce a failure); FUZZ_SEED=<n>
makes a run reproducible, FUZZ_MAX_EXAMPLES changes the examples per operation and mode.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

from baskets.api.landing_state import landing_state_value
from baskets.models import Basket, OrderType
from checkout_project.urls import router
from partners.models import PartnerSubscription
from subscriptions.models import SubscriptionAddOn
from tests import factories
from tests.factories import (
    AccessTokenFactory,
    ApplicationFactory,
    BasketFactory,
    CustomerFactory,
    OfferFactory,
    OrderItemFactory,
    PromoCodeFactory,
    SubscriptionFactory,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "15"))
FUZZ_SEED = os.environ.get("FUZZ_SEED")

SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
# The API's operations. The OAuth endpoints (/oauth2/…, django-oauth-toolkit's) are in the schema
# too, but speak OAuth (form bodies, RFC 6749's {"error", "error_description"}, an empty 200 for a
# revocation): tests/api/test_oauth.py and test_token_endpoint_hardening.py hold them to that.
OPERATIONS = {
    operation.label: operation
    for operation in (result.ok() for result in SCHEMA.get_all_operations())
    if operation.path.startswith("/api/")
}

CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
]
# Negative cases are held to the same checks (no 5xx, the error shape, documented statuses, headers
# and bodies), not to schemathesis' negative_data_rejection: the server is deliberately lenient
# where DRF is (whitespace trimmed before a length check, an empty query value read as absent),
# which a JSON schema cannot say.

# What is put into a string of the body: lone surrogates (high, low, in the middle of a word) and NULs.
SURROGATES = ["\ud800", "\udfff", "ab\udc00cd"]
NULS = ["\x00", "x\x00y"]


# --- Every operation ------------------------------------------------------------------------------


def router_operations() -> set[str]:
    """ "METHOD /api/<path>" of every action the API router serves (partner ones included)."""
    labels = set()
    for prefix, viewset, _basename in router.registry:
        for action in viewset.get_extra_actions():
            path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", action.url_path)
            url = "/api/" + "/".join(part for part in (prefix, path) if part)
            labels |= {f"{method.upper()} {url}" for method in action.mapping}
    return labels


def test_the_fuzzer_sees_every_operation():
    """Every route of the API router is in the schema, so every one is fuzzed (a new endpoint is
    fuzzed without touching this file)."""
    served = router_operations()
    assert {
        "POST /api/checkout/initiate",
        "PUT /api/checkout/update",
        "GET /api/checkout/abandoned",
        "GET /api/checkout/subscription",
        "POST /api/checkout/subscription",
        "PUT /api/checkout/subscription",
        "POST /api/admin/checkout/initiate",
        "POST /api/admin/checkout/initiate/renew",
        "POST /api/admin/v2/promo_code",
        "POST /api/order",
        "POST /api/partner/checkout/initiate",
        "PUT /api/partner/checkout/update",
        "POST /api/partner/checkout/validate/{id}",
        "GET /api/partner/checkout/subscription",
        "POST /api/partner/checkout/subscription",
        "PUT /api/partner/checkout/subscription",
    } <= served
    assert served <= set(OPERATIONS), f"not in the schema: {sorted(served - set(OPERATIONS))}"


# --- The world the requests act on ----------------------------------------------------------------


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """As Django's test client does: the WSGI handler must not close the test's database connection.

    The handler closes "old" connections when a request starts and finishes; inside the test's
    transaction (PostgreSQL, CONN_MAX_AGE) that would close it under the test.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@dataclass
class Ids:
    """The real ids one kind of caller may name."""

    baskets: list[str]
    offers: list[tuple[str, str]]  # (id, version)
    promo_codes: list[str]
    subscriptions: list[tuple[str, str]]  # (id, reference)
    customers: list[str]
    order_items: list[str] = field(default_factory=list)


@dataclass
class World:
    tokens: dict[str, Any]
    cookies: dict[tuple[str, str], str]
    ids: dict[str, Ids]


def update_basket_for(subscription, **fields) -> Basket:
    now = timezone.now()
    return Basket.objects.create(
        created=now, updated=now, expires_at=now + timedelta(days=14), order_type=OrderType.UPDATE_SUBSCRIPTION,
        for_subscription=subscription, currency="GBP", email=subscription.customer.email,
        created_by_customer_token=fields.get("partner") is None, **fields,
    )  # fmt: skip


@pytest.fixture
def world() -> World:
    """Credentials, cookies and real objects that let generated requests reach the services."""
    current = OfferFactory(name="Standard", path="/offers/fuzz-standard")
    premium = OfferFactory(name="Premium", path="/offers/fuzz-premium")
    lite = OfferFactory(name="Lite", path="/offers/fuzz-lite")
    crossword = OfferFactory(name="Crossword", path="/offers/fuzz-crossword", type="add_on")
    puzzles = OfferFactory(name="Puzzles", path="/offers/fuzz-puzzles", type="add_on")
    current.upgrade_offers.add(premium)
    current.downgrade_offers.add(lite)
    current.cross_sell_add_ons.add(crossword, puzzles)
    premium.cross_sell_add_ons.add(crossword, puzzles)
    offers = [(offer.id, offer.version) for offer in (current, premium, lite, crossword, puzzles)]
    PromoCodeFactory(code="FUZZ20")
    PromoCodeFactory(code="FUZZEXPIRED", expires_at=timezone.now() - timedelta(days=1))

    customer = CustomerFactory()
    subscription = SubscriptionFactory(customer=customer, offer=current)
    SubscriptionAddOn.objects.create(subscription=subscription, offer=crossword)
    application = ApplicationFactory(name="fuzzer", scopes="checkout checkout:admin baskets:read")
    customer_token = AccessTokenFactory(
        application=application, user=customer.user, scope="checkout checkout:admin baskets:read",
        expires=timezone.now() + timedelta(hours=2),
    )  # fmt: skip

    def public_basket() -> Basket:
        basket = BasketFactory(
            application=application, customer=customer, created_by_customer_token=True, email=customer.email
        )
        OrderItemFactory(basket=basket, offer=current)
        OrderItemFactory(basket=basket, offer=crossword, position=1)
        return basket

    new_basket = public_basket()
    public_baskets = [new_basket, *(public_basket() for _ in range(4))]
    update_basket = update_basket_for(subscription, application=application, customer=customer)

    # The partner endpoints: a partner's client token, partner baskets and a partner subscription.
    partner_token = factories.partner_token(expires=timezone.now() + timedelta(hours=2))
    partner = partner_token.application.partner_client.partner
    partner_subscription = SubscriptionFactory(offer=current)
    PartnerSubscription.objects.create(partner=partner, subscription=partner_subscription)

    def partner_basket() -> Basket:
        basket = BasketFactory(application=partner_token.application, partner=partner, email="p@example.com")
        OrderItemFactory(basket=basket, offer=current)
        return basket

    partner_baskets = [partner_basket() for _ in range(3)]
    partner_update_basket = update_basket_for(
        partner_subscription, application=partner_token.application, customer=partner_subscription.customer,
        partner=partner,
    )  # fmt: skip

    def items_of(*baskets: Basket) -> list[str]:
        return [str(item_id) for basket in baskets for item_id in basket.items.values_list("id", flat=True)]

    return World(
        tokens={"public": customer_token, "partner": partner_token},
        cookies={
            ("public", "new"): landing_state_value(new_basket),
            ("public", "update"): landing_state_value(update_basket),
            ("partner", "new"): landing_state_value(partner_baskets[0]),
            ("partner", "update"): landing_state_value(partner_update_basket),
        },
        ids={
            "public": Ids(
                baskets=[b.public_id for b in public_baskets],
                offers=offers,
                promo_codes=["FUZZ20", "fuzz20", "FUZZEXPIRED"],
                subscriptions=[(subscription.public_id, subscription.reference)],
                customers=[customer.public_id],
                order_items=items_of(new_basket),
            ),
            "partner": Ids(
                baskets=[b.public_id for b in partner_baskets],
                offers=offers,
                promo_codes=["FUZZ20"],
                subscriptions=[(partner_subscription.public_id, partner_subscription.reference)],
                customers=[partner_subscription.customer.public_id],
                order_items=items_of(partner_baskets[0]),
            ),
        },
    )


def caller_of(label: str) -> str:
    return "partner" if label.split(" ", 1)[1].startswith("/api/partner/") else "public"


def credentials_for(label: str, world: World) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, cookies) for an operation: the right token, and a cookie for a basket of the right kind."""
    caller = caller_of(label)
    kind = "update" if label.endswith("/subscription") else "new"
    headers = {"Authorization": f"Bearer {world.tokens[caller].token}", "X-Limio-Recaptcha": "pass-fuzz"}
    return headers, {"limio_state": world.cookies[(caller, kind)]}


# --- Real ids -------------------------------------------------------------------------------------

BASKET_KEYS = {"checkoutId", "basketId"}
SUBSCRIPTION_ID_KEYS = {"subscriptionId"}
REFERENCE_KEYS = {"subscriptionReference"}


def seed_ids(draw, value: Any, ids: Ids, parent: str | None = None) -> Any:
    """`value` (a generated body) with most of its ids replaced by real ones (each replacement drawn,
    so Hypothesis can shrink it away). Walks every object at any depth."""

    def often() -> bool:
        return draw(st.integers(0, 3)) > 0

    if isinstance(value, list):
        return [seed_ids(draw, complete_actions(draw, item, ids), ids, parent) for item in value]
    if not isinstance(value, dict):
        return value
    seeded = {}
    for key, item in value.items():
        if isinstance(item, (dict, list)):
            seeded[key] = seed_ids(draw, item, ids, key)
            continue
        if not isinstance(item, str) or not often():
            seeded[key] = item
        elif key in BASKET_KEYS:
            seeded[key] = draw(st.sampled_from(ids.baskets))
        elif key == "code":
            seeded[key] = draw(st.sampled_from(ids.promo_codes))
        elif parent == "offer" and key in {"id", "version"}:
            offer_id, version = draw(st.sampled_from(ids.offers))
            seeded[key] = offer_id if key == "id" else version
        elif (parent in {"forSubscription", "subscription"} and key == "id") or key in SUBSCRIPTION_ID_KEYS:
            seeded[key] = draw(st.sampled_from(ids.subscriptions))[0]
        elif (parent in {"forSubscription", "subscription"} and key in {"name", "reference"}) or key in REFERENCE_KEYS:
            seeded[key] = draw(st.sampled_from(ids.subscriptions))[1]
        elif parent == "customer" and key == "id":
            seeded[key] = draw(st.sampled_from(ids.customers))
        elif key in {"id", "parentId"} and ids.order_items:
            seeded[key] = draw(st.sampled_from(ids.order_items))
        else:
            seeded[key] = item
    if parent == "offer" and "id" in seeded and "version" in seeded and often():
        # A matching version too (the current one), so an add reaches the offer's rules.
        seeded["version"] = dict(ids.offers).get(seeded["id"], seeded["version"])
    return seeded


def seed_headers(draw, headers: dict[str, Any] | None) -> dict[str, Any] | None:
    """Generated If-Match and Idempotency-Key headers, mostly made well-formed (the schema does not
    say their format: `"<version>"`, 1 to 255 characters), so the request goes on to the service."""
    if not headers:
        return headers
    seeded = dict(headers)
    for name in list(seeded):
        if draw(st.integers(0, 3)) == 0:
            continue
        if name.lower() == "if-match":
            seeded[name] = f'"{draw(st.integers(1, 4))}"'
        elif name.lower() == "idempotency-key":
            # A new key each time: a replayed key is the idempotency tests' business, and a key
            # reused within the test's one transaction would wait on its own earlier claim.
            seeded[name] = uuid.uuid4().hex
    return seeded


def complete_actions(draw, value: Any, ids: Ids) -> Any:
    """Order-item actions given what their kind needs (the schema cannot say it: an add needs an
    offer, a remove or update an item id, an update a quantity), so they reach the service."""
    if not isinstance(value, dict) or "orderItemActionType" not in value or not draw(st.integers(0, 3)):
        return value
    kind = value["orderItemActionType"]
    completed = dict(value)
    if kind == "add" and not isinstance(completed.get("offer"), dict):
        offer_id, version = draw(st.sampled_from(ids.offers))
        completed["offer"] = {"id": offer_id, "version": version}
    if kind in {"remove", "update"} and "id" not in completed and ids.order_items:
        completed["id"] = draw(st.sampled_from(ids.order_items))
    if kind == "update" and "quantity" not in completed:
        completed["quantity"] = draw(st.integers(1, 3))
    return completed


# --- Strings schemathesis cannot produce ------------------------------------------------------------


def string_paths(value: Any, path: tuple = ()) -> list[tuple]:
    """The path of every string value in a JSON value (keys included, as ("key", <key>) leaves)."""
    if isinstance(value, str):
        return [path]
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            found += [(*path, ("key", key)), *string_paths(item, (*path, key))]
        return found
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in string_paths(item, (*path, index))]
    return []


def replaced(value: Any, path: tuple, bad: str) -> Any:
    """`value` with the string at `path` given `bad` (prepended, appended or instead)."""
    head, *rest = path
    if isinstance(head, tuple):  # a key
        key = head[1]
        return {(bad + k if k == key else k): v for k, v in value.items()}
    if not rest:
        original = value[head]
        new = bad + original if len(original) % 2 else original + bad
        return _set(value, head, new)
    return _set(value, head, replaced(value[head], tuple(rest), bad))


def _set(container, key, item):
    if isinstance(container, list):
        return [item if i == key else v for i, v in enumerate(container)]
    return {**container, key: item}


# --- The test -----------------------------------------------------------------------------------


def assert_error_shape(response) -> None:
    if response.status_code < 400:
        return
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("message"), str) and isinstance(body.get("code"), str), body


def negatable(operation) -> bool:
    """Whether schemathesis can make a schema-violating request for it (a body or a parameter to break)."""
    return any(len(container) for container in (operation.body, operation.query, operation.path_parameters))


CASES = [
    (label, mode)
    for label in sorted(OPERATIONS)
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode == GenerationMode.POSITIVE or negatable(OPERATIONS[label])
]


def send_raw(case, headers: dict[str, str], cookies: dict[str, str]):
    """Send `case` with Django's test client: its body holds what schemathesis cannot validate nor
    send (lone surrogates), which json.dumps escapes as any client would (`"\\ud800"`)."""
    client = Client()
    for name, value in cookies.items():
        client.cookies[name] = value
    path = case.operation.path.format(**(case.path_parameters or {}))
    query = "?" + urlencode(case.query, doseq=True) if case.query else ""
    sent = {name: str(value) for name, value in (case.headers or {}).items() if name.lower() in KEPT_HEADERS}
    response = client.generic(
        case.method.upper(),
        path + query,
        json.dumps(case.body),
        content_type="application/json",
        headers={**sent, **headers},
    )
    # Django's test client connects close_old_connections again when it is done: keep it off
    # (keep_the_test_connection), or the next in-process WSGI request closes the test's connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    return response


# The generated headers worth keeping on a hand-sent request (the others are ours or irrelevant).
KEPT_HEADERS = {"if-match", "idempotency-key"}
# The operations that look their object up by an id of the body or path (they answered 404 to
# random ids): some positive request of theirs must reach a real object.
ID_LOOKUPS = {
    "POST /api/order",
    "POST /api/admin/checkout/initiate/renew",
    "POST /api/admin/v2/promo_code",
    "POST /api/partner/checkout/validate/{id}",
    "POST /api/checkout/subscription",
    "POST /api/partner/checkout/subscription",
}
# Answers that show the request never reached an object: refused as malformed, or nothing found.
NOT_REACHED = {
    "validation_error", "malformed_json", "invalid_if_match", "invalid_idempotency_key", "recaptcha_required",
    "basket_not_found", "subscription_not_found", "offer_not_found", "promo_code_unknown", "invalid_basket_id",
    "not_found",
}  # fmt: skip


@pytest.mark.parametrize("label, mode", CASES, ids=[f"{label}-{mode.value}" for label, mode in CASES])
def test_fuzz(label, mode, world):
    operation = OPERATIONS[label]
    headers, cookies = credentials_for(label, world)
    ids = world.ids[caller_of(label)]
    has_body = len(operation.body) > 0

    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case, data):
        if mode == GenerationMode.POSITIVE:
            if isinstance(case.body, (dict, list)):
                case.body = seed_ids(data.draw, case.body, ids)
            if "id" in (case.path_parameters or {}) and data.draw(st.integers(0, 3)) > 0:
                case.path_parameters = {**case.path_parameters, "id": data.draw(st.sampled_from(ids.baskets))}
            case.headers = seed_headers(data.draw, case.headers)
        paths = string_paths(case.body) if has_body and isinstance(case.body, (dict, list)) else []
        if paths and data.draw(st.integers(0, 2)) == 0:
            # A string schemathesis cannot make (nor validate, nor send): sent by hand.
            bad = data.draw(st.sampled_from([*SURROGATES, *NULS]))
            body = replaced(case.body, data.draw(st.sampled_from(paths)), bad)
            case = replace_body(case, body)
            response = send_raw(case, headers, cookies)
            assert response.status_code < 500, response.content
            answer = json.loads(response.content.decode("utf-8"))  # UTF-8 JSON, whatever was sent
            if bad in SURROGATES:
                assert (response.status_code, answer["code"]) == (400, "validation_error"), answer
            if response.status_code >= 400:
                assert isinstance(answer.get("message"), str) and isinstance(answer.get("code"), str), answer
            return
        # The generated headers (If-Match, Idempotency-Key, ...) are sent too; ours authenticate.
        response = case.call(headers=headers, cookies=cookies)
        answers.append((response.status_code, response.json().get("code") if response.status_code >= 400 else None))
        assert response.status_code < 500, response.text
        assert_error_shape(response)
        case.validate_response(response, checks=CHECKS, headers=headers)

    answers: list[tuple[int, str | None]] = []
    if FUZZ_SEED is not None:
        fuzz = seed(int(FUZZ_SEED))(fuzz)
    fuzz()
    if mode == GenerationMode.POSITIVE and label in ID_LOOKUPS:
        # The real ids did their job: some request reached a real object (its service answered).
        reached = [answer for answer in answers if answer[1] not in NOT_REACHED]
        assert reached, f"no request reached a service: {sorted(set(answers))}"


def replace_body(case, body):
    """`case` with `body`, set without schemathesis revalidating it (it cannot hold surrogates)."""
    object.__setattr__(case, "body", body)
    return case
