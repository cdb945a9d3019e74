"""Fuzzing: schemathesis generates requests from our own OpenAPI schema and sends them in-process.

Every operation of /api/schema/ is exercised through the WSGI application (no server, no network)
with valid credentials: a customer token carrying every non-partner scope, a partner token for
the partner endpoints, and a `limio_state` cookie for a basket of the right kind, so that the
generated bodies reach the services instead of stopping at 401/403/404. Each response must be
no 5xx and must match the schema: a documented status code, the documented content type, headers
and body shape.

Marked `slow`; CI runs it with MAX_EXAMPLES per operation (FUZZ_MAX_EXAMPLES to change it), with
Hypothesis derandomized so a run is reproducible.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.specs.openapi import checks as openapi_checks

from baskets.api.landing_state import landing_state_value
from baskets.models import Basket, OrderType
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

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))

SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
OPERATIONS = {operation.label: operation for operation in (result.ok() for result in SCHEMA.get_all_operations())}

CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
]


def test_the_fuzzer_sees_every_operation():
    """The schema lists every API operation (a new endpoint is fuzzed without touching this file)."""
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
    } <= set(OPERATIONS)


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


@pytest.fixture
def world():
    """Credentials and baskets that let generated requests get past authentication and the cookie."""
    current = OfferFactory(name="Standard", path="/offers/fuzz-standard")
    premium = OfferFactory(name="Premium", path="/offers/fuzz-premium")
    crossword = OfferFactory(name="Crossword", path="/offers/fuzz-crossword", type="add_on")
    current.upgrade_offers.add(premium)
    current.cross_sell_add_ons.add(crossword)
    premium.cross_sell_add_ons.add(crossword)
    PromoCodeFactory(code="FUZZ20")

    customer = CustomerFactory()
    subscription = SubscriptionFactory(customer=customer, offer=current)
    SubscriptionAddOn.objects.create(subscription=subscription, offer=crossword)
    application = ApplicationFactory(name="fuzzer", scopes="checkout checkout:admin baskets:read")
    customer_token = AccessTokenFactory(
        application=application, user=customer.user, scope="checkout checkout:admin baskets:read",
        expires=timezone.now() + timedelta(hours=2),
    )  # fmt: skip

    new_basket = BasketFactory(application=application, customer=customer, created_by_customer_token=True)
    OrderItemFactory(basket=new_basket, offer=current)
    update_basket = update_basket_for(subscription, application=application, customer=customer)

    # The partner endpoints: a partner's client token, a partner basket and a partner subscription.
    partner_token = factories.partner_token(expires=timezone.now() + timedelta(hours=2))
    partner = partner_token.application.partner_client.partner
    partner_subscription = SubscriptionFactory(offer=current)
    PartnerSubscription.objects.create(partner=partner, subscription=partner_subscription)
    partner_basket = BasketFactory(application=partner_token.application, partner=partner)
    OrderItemFactory(basket=partner_basket, offer=current)
    partner_update_basket = update_basket_for(
        partner_subscription, application=partner_token.application, customer=partner_subscription.customer,
        partner=partner,
    )  # fmt: skip
    return {
        "tokens": {"public": customer_token, "partner": partner_token},
        "cookies": {
            ("public", "new"): landing_state_value(new_basket),
            ("public", "update"): landing_state_value(update_basket),
            ("partner", "new"): landing_state_value(partner_basket),
            ("partner", "update"): landing_state_value(partner_update_basket),
        },
    }


def update_basket_for(subscription, **fields) -> Basket:
    now = timezone.now()
    return Basket.objects.create(
        created=now, updated=now, expires_at=now + timedelta(days=14), order_type=OrderType.UPDATE_SUBSCRIPTION,
        for_subscription=subscription, currency="GBP", email=subscription.customer.email,
        created_by_customer_token=fields.get("partner") is None, **fields,
    )  # fmt: skip


def credentials_for(operation_label: str, world) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, cookies) for an operation: the right token, and a cookie for a basket of the right kind."""
    path = operation_label.split(" ", 1)[1]
    caller = "partner" if path.startswith("/api/partner/") else "public"
    kind = "update" if path.endswith("/subscription") else "new"
    headers = {"Authorization": f"Bearer {world['tokens'][caller].token}", "X-Limio-Recaptcha": "pass-fuzz"}
    return headers, {"limio_state": world["cookies"][(caller, kind)]}


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_fuzz(label, world):
    operation = OPERATIONS[label]
    headers, cookies = credentials_for(label, world)

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case):
        # The generated headers (If-Match, Idempotency-Key, ...) are sent too; ours authenticate.
        response = case.call(headers=headers, cookies=cookies)
        case.validate_response(response, checks=CHECKS, headers=headers)

    fuzz()
