"""A client generated from the served OpenAPI schema runs the API's flows (issue 14).

openapi-python-client (a dev extra) generates a Python client from /api/schema/ of a live server
into a temporary directory; the test imports it and runs the acquisition flow (client-credentials
token, initiate, update add and remove, promo code, order) and the subscription flow (a customer
token through authorization code + PKCE, POST/PUT/GET subscription, order) over HTTP with it.

Every answer must parse into the generated model of its operation with nothing left untyped: no
model holds a key its schema does not declare (`additional_properties`, except the free-form
objects `tracking`, `customFields` and error `details`), no plain dict stands where a model is
expected. Each raw body also validates strictly against its schema (no undeclared property
anywhere, nullability as declared), and each 200 carries the response headers its operation declares.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import importlib.util
import json
import secrets
import subprocess
import sys
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import attrs
import httpx
import pytest
from oauth2_provider.models import Application

from checkout_project.api.models import ClientProfile
from tests.api.openapi_json_schema import errors as schema_errors
from tests.factories import (
    ApplicationFactory,
    CustomerFactory,
    OfferFactory,
    PromoCodeFactory,
    SubscriptionFactory,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # The generated operations send the documented limio_state cookie parameter per request, which
    # httpx 0.28 marks as deprecated in favour of the client's jar (the jar is what merged baskets).
    pytest.mark.filterwarnings("ignore:Setting per-request cookies:DeprecationWarning"),
    pytest.mark.skipif(
        importlib.util.find_spec("openapi_python_client") is None,
        reason="openapi-python-client is not installed (pip install '.[dev]')",
    ),
]

PACKAGE = "checkout_api_client"
SECRET = "s3cret-for-tests"
PASSWORD = "correct horse battery staple"
REDIRECT_URI = "https://shop.example.com/callback"
RECAPTCHA = "pass-token"  # the offline verifier of the test settings passes "pass…"
# The generated models of free-form objects: a dict is what they are.
FREE_FORM_MODELS = ("Tracking", "CustomFields", "ErrorDetails")


@pytest.fixture(scope="module")
def generated(django_db_setup, django_db_blocker, live_server, tmp_path_factory):
    """The client package generated from the live server's /api/schema/, imported; and the schema.
    (The test database first: the live server shares it, and touches it on every request.)"""
    directory = tmp_path_factory.mktemp("generated-client")
    config = directory / "config.yaml"
    # No formatting hooks: the generated code is imported, not read.
    config.write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    url = f"{live_server.url}/api/schema/?format=json"
    command = [
        sys.executable, "-m", "openapi_python_client", "generate", "--url", url,
        "--meta", "none", "--config", str(config), "--output-path", str(directory / PACKAGE),
    ]  # fmt: skip
    with django_db_blocker.unblock():
        schema = httpx.get(url, timeout=30).json()
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    # Every part of the schema became code: no "could not generate" warnings.
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(directory))
    try:
        importlib.invalidate_caches()
        yield importlib.import_module(PACKAGE), schema
    finally:
        sys.path.remove(str(directory))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


class Api:
    """The generated package's operations and models, and the checks every answer goes through."""

    def __init__(self, package, schema: dict[str, Any], base_url: str) -> None:
        self.package, self.schema, self.base_url = package, schema, base_url
        self.models = importlib.import_module(f"{package.__name__}.models")
        self.types = importlib.import_module(f"{package.__name__}.types")
        self.calls: list[tuple[str, str]] = []

    def operation(self, tag_module: str, name: str):
        return importlib.import_module(f"{self.package.__name__}.api.{tag_module}.{name}")

    def client(self, token: str | None = None):
        # A new client per customer: one client (and its cookie jar) for two customers merges
        # their baskets (the initiate operation's description says so).
        if token is None:
            return self.package.Client(base_url=self.base_url, raise_on_unexpected_status=True)
        return self.package.AuthenticatedClient(base_url=self.base_url, token=token, raise_on_unexpected_status=True)

    def call(self, path: str, method: str, module, *, client, expected: str, **arguments):
        """Call the operation; check its answer is a 200 typed all the way down and documented."""
        response = module.sync_detailed(client=client, **arguments)
        body = response.content.decode()
        assert response.status_code == 200, f"{method} {path}: {response.status_code} {body}"
        parsed = response.parsed
        assert type(parsed).__name__ == expected, (path, type(parsed))
        assert_typed(parsed, self.types.Unset, path=expected)
        operation = self.schema["paths"][path][method]
        response_schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema_errors(self.schema, response_schema, json.loads(body), strict=True) == []
        # The headers its 200 declares (Idempotent-Replayed only on a replay).
        declared = {name.lower() for name in operation["responses"]["200"].get("headers", {})}
        sent = {name.lower() for name in response.headers}
        assert declared - {"idempotent-replayed"} <= sent, (path, declared, sent)
        self.calls.append((path, method))
        return response


def assert_typed(value: Any, unset: type, *, path: str) -> None:
    """No key left in a model's additional_properties (but a free-form one's), no dict for a model."""
    if attrs.has(type(value)):
        name = type(value).__name__
        extra = getattr(value, "additional_properties", {})
        if not name.endswith(FREE_FORM_MODELS):
            assert extra == {}, f"{path}: keys its schema does not declare: {sorted(extra)}"
        for field in attrs.fields(type(value)):
            if field.name != "additional_properties":
                assert_typed(getattr(value, field.name), unset, path=f"{path}.{field.name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            assert_typed(item, unset, path=f"{path}[{index}]")
    else:
        assert not isinstance(value, dict), f"{path}: an untyped dict {value!r}"


def landing_state(response) -> str:
    cookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    return cookie["limio_state"].value


def etag(response) -> str:
    return response.headers["etag"]


@pytest.fixture
def api(generated, live_server):
    package, schema = generated
    return Api(package, schema, live_server.url)


@pytest.fixture
def catalog():
    monthly = OfferFactory(name="Digital monthly", path="/offers/digital-monthly")
    annual = OfferFactory(
        name="Digital annual",
        path="/offers/digital-annual",
        charges=[{"name": "Yearly", "amount": "129.00", "repeat_interval": 1, "repeat_interval_type": "years"}],
    )
    crossword = OfferFactory(name="Crossword", path="/offers/crossword", type="add_on", charges=[
        {"name": "Monthly", "amount": "2.50", "repeat_interval": 1, "repeat_interval_type": "months"}
    ])  # fmt: skip
    monthly.cross_sell_add_ons.add(crossword)
    annual.cross_sell_add_ons.add(crossword)
    monthly.upgrade_offers.add(annual)
    return {"monthly": monthly, "annual": annual, "crossword": crossword}


def client_credentials_token(api: Api, application, scope: str) -> str:
    models = api.models
    body = models.TokenRequest(
        grant_type=models.TokenRequestGrantType.CLIENT_CREDENTIALS,
        client_id=application.client_id,
        client_secret=SECRET,
        scope=scope,
    )
    response = api.call("/oauth2/token", "post", api.operation("o_auth_2_0", "oauth_token"),
                        client=api.client(), expected="Token", body=body)  # fmt: skip
    assert (response.parsed.token_type, response.parsed.scope) == ("Bearer", scope)
    return response.parsed.access_token


def test_the_acquisition_flow_with_the_generated_client(api, catalog):
    models = api.models
    storefront = ApplicationFactory(name="storefront", scopes="checkout")
    backoffice = ApplicationFactory(name="backoffice", scopes="checkout:admin")
    PromoCodeFactory(code="SUMMER20")
    monthly, crossword = catalog["monthly"], catalog["crossword"]
    token = client_credentials_token(api, storefront, "checkout")
    shop = api.client(token)
    checkout = "checkout_baskets"

    initiated = api.call(
        "/api/checkout/initiate", "post", api.operation(checkout, "checkout_initiate"), client=shop,
        expected="InitiateResponse",
        body=models.InitiateRequest(order=models.InitiateOrderRequest(
            order_items=[models.InitiateItemRequest(
                offer=models.OfferRefRequest(id=monthly.id, version=monthly.version), quantity=1
            )],
            customer_details=models.CustomerDetailsRequest(email="ada@example.com", first_name="Ada"),
        )),
    )  # fmt: skip
    basket = initiated.parsed
    assert etag(initiated) == f'"{basket.order.version}"'
    state = landing_state(initiated)
    (item,) = basket.order.order_items

    added = api.call(
        "/api/checkout/update", "put", api.operation(checkout, "checkout_update"), client=shop,
        expected="BasketUpdateResponse", limio_state=state, if_match=etag(initiated), idempotency_key="add-crossword",
        body=models.UpdateRequest(order=models.UpdateOrderRequest(order_items=[models.AddItemActionRequest(
            order_item_action_type=models.AddActionEnum.ADD,
            offer=models.OfferRefRequest(id=crossword.id),
            type_=models.OrderItemTypeEnum.ADD_ON,
            parent_id=item.id,
        )])),
    )  # fmt: skip
    (result,) = added.parsed.action_results
    assert (result.status, len(added.parsed.order.order_items)) == (models.ActionResultStatusEnum.APPLIED, 2)

    # The same key and body again: the first answer, replayed, as its header says.
    replayed = api.operation(checkout, "checkout_update").sync_detailed(
        client=shop, limio_state=state, if_match=etag(initiated), idempotency_key="add-crossword",
        body=models.UpdateRequest(order=models.UpdateOrderRequest(order_items=[models.AddItemActionRequest(
            order_item_action_type=models.AddActionEnum.ADD,
            offer=models.OfferRefRequest(id=crossword.id),
            type_=models.OrderItemTypeEnum.ADD_ON,
            parent_id=item.id,
        )])),
    )  # fmt: skip
    assert (replayed.status_code, replayed.headers["idempotent-replayed"]) == (200, "true")

    removed = api.call(
        "/api/checkout/update", "put", api.operation(checkout, "checkout_update"), client=shop,
        expected="BasketUpdateResponse", limio_state=state,
        body=models.UpdateRequest(order=models.UpdateOrderRequest(order_items=[models.RemoveItemActionRequest(
            order_item_action_type=models.RemoveActionEnum.REMOVE, id=result.order_item_id,
        )])),
    )  # fmt: skip
    assert [line.id for line in removed.parsed.order.order_items] == [item.id]

    admin_token = client_credentials_token(api, backoffice, "checkout:admin")
    discounted = api.call(
        "/api/admin/v2/promo_code", "post", api.operation(checkout, "admin_promo_code_apply"),
        client=api.client(admin_token), expected="BasketResponse",
        body=models.PromoCodeRequest(code="summer20", basket_id=basket.id),
    )  # fmt: skip
    promo = discounted.parsed.order.promo_code
    assert (promo.code, promo.discount.type_, discounted.parsed.order.totals.discount) == (
        "SUMMER20",
        models.DiscountTypeEnum.PERCENTAGE,
        "2.60",
    )

    ordered = api.call(
        "/api/order", "post", api.operation("orders", "order_submit"), client=shop, expected="OrderResponse",
        body=models.OrderRequest(checkout_id=basket.id),
    )  # fmt: skip
    order = ordered.parsed
    assert type(order.order).__name__ == "Order"
    assert (order.status, order.order.completed, order.order.totals.due_today) == (
        models.OrderResponseStatusEnum.COMPLETED,
        True,
        "10.39",
    )
    assert (order.payment.gateway, order.payment.no_payment_taken, len(order.subscriptions)) == ("manual", True, 1)


@pytest.fixture
def customer_app():
    application = Application.objects.create(
        name="storefront spa",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT_URI,
        client_secret="",
        hash_client_secret=False,
        skip_authorization=True,
    )
    ClientProfile.objects.create(application=application, allowed_scopes="checkout")
    return application


def customer_token(api: Api, client, application, customer) -> str:
    """Authorization code + PKCE: the customer logs in (Django's test client stands in for the
    browser), the storefront exchanges the code with the generated client."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert client.login(username=customer.user.username, password=PASSWORD)
    params = {
        "response_type": "code", "client_id": application.client_id, "redirect_uri": REDIRECT_URI,
        "scope": "checkout", "state": "s", "code_challenge": challenge, "code_challenge_method": "S256",
    }  # fmt: skip
    authorized = client.get("/oauth2/authorize/?" + urlencode(params))
    assert authorized.status_code == 302, authorized.content
    code = parse_qs(urlsplit(authorized["Location"]).query)["code"][0]
    models = api.models
    body = models.TokenRequest(
        grant_type=models.TokenRequestGrantType.AUTHORIZATION_CODE,
        client_id=application.client_id,
        code=code,
        redirect_uri=REDIRECT_URI,
        code_verifier=verifier,
    )
    response = api.call("/oauth2/token", "post", api.operation("o_auth_2_0", "oauth_token"),
                        client=api.client(), expected="Token", body=body)  # fmt: skip
    return response.parsed.access_token


def test_the_subscription_flow_with_the_generated_client(api, catalog, customer_app, client):
    models = api.models
    customer = CustomerFactory()
    subscription = SubscriptionFactory(customer=customer, offer=catalog["monthly"])
    token = customer_token(api, client, customer_app, customer)
    subscriber = api.client(token)
    checkout = "checkout_baskets"
    path = "/api/checkout/subscription"

    initiated = api.call(
        path, "post", api.operation(checkout, "checkout_subscription_initiate"), client=subscriber,
        expected="SubscriptionCheckoutResponse", x_limio_recaptcha=RECAPTCHA,
        body=models.SubscriptionInitiateRequest(order=models.SubscriptionOrderRequest(
            for_subscription=models.ForSubscriptionRequest(id=subscription.public_id),
        )),
    )  # fmt: skip
    state = landing_state(initiated)
    assert [offer.id for offer in initiated.parsed.next_actions.upgrades] == [catalog["annual"].id]

    changed = api.call(
        path, "put", api.operation(checkout, "checkout_subscription_update"), client=subscriber,
        expected="SubscriptionCheckoutUpdateResponse", x_limio_recaptcha=RECAPTCHA, limio_state=state,
        body=models.SubscriptionUpdateRequest(order=models.SubscriptionUpdateOrderRequest(order_items=[
            models.AddItemActionRequest(
                order_item_action_type=models.AddActionEnum.ADD,
                offer=models.OfferRefRequest(id=catalog["annual"].id),
                type_=models.OrderItemTypeEnum.OFFER,
            )
        ])),
    )  # fmt: skip
    statuses = sorted(result.status.value for result in changed.parsed.action_results)
    assert statuses == ["applied", "auto"]
    added = next(line for line in changed.parsed.order.order_items if line.order_item_action_type == "add")
    assert type(added.proration).__name__ == "Proration"

    read = api.call(
        path, "get", api.operation(checkout, "checkout_subscription_retrieve"), client=subscriber,
        expected="SubscriptionCheckoutResponse", limio_state=state,
    )  # fmt: skip
    assert etag(read) == etag(changed)
    assert read.parsed.order.totals.credit == changed.parsed.order.totals.credit

    ordered = api.call(
        "/api/order", "post", api.operation("orders", "order_submit"), client=subscriber, expected="OrderResponse",
        body=models.OrderRequest(checkout_id=read.parsed.id),
    )  # fmt: skip
    order = ordered.parsed.order
    # The change's own shape: proration, change totals and the subscription it changed.
    assert type(order).__name__ == "SubscriptionChangeOrder"
    assert order.for_subscription.id == subscription.public_id
    assert order.totals.credit == changed.parsed.order.totals.credit
    assert order.completed is True
    assert any(type(line.proration).__name__ == "Proration" for line in order.order_items)
