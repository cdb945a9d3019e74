"""The OpenAPI schema and the interactive docs."""

import re

import pytest
import yaml

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("/api/checkout/initiate", "post"): "checkout",
    ("/api/checkout/update", "put"): "checkout",
    ("/api/checkout/abandoned", "get"): "baskets:read",
}


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker):
    """The served schema, fetched once for the module (generating it takes a while)."""
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_schema_is_openapi_3_with_oauth2_flows(schema):
    assert schema["openapi"].startswith("3.")
    flows = schema["components"]["securitySchemes"]["oauth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == "/oauth2/token"
    assert set(flows["clientCredentials"]["scopes"]) == {
        "checkout",
        "checkout:admin",
        "baskets:read",
        "partner",
        "introspection",
    }
    assert flows["authorizationCode"]["authorizationUrl"] == "/oauth2/authorize"


@pytest.mark.parametrize(("path", "method"), list(OPERATIONS))
def test_each_operation_names_its_scope_and_error_responses(schema, path, method):
    operation = schema["paths"][path][method]
    assert operation["security"] == [{"oauth2": [OPERATIONS[(path, method)]]}]
    assert {"200", "400", "401", "403"} <= set(operation["responses"])
    error = operation["responses"]["401"]["content"]["application/json"]["schema"]["$ref"]
    assert error == "#/components/schemas/Error"


def test_docs_page_loads_its_assets_locally(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    for cdn in ("cdn.jsdelivr.net", "unpkg.com", "cdnjs"):
        assert cdn not in html


def test_docs_assets_are_served(client):
    response = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert response.status_code == 200


# --- Issue 14: a schema a generated client can rely on ------------------------------------------

# Every operation the API serves, by (path, method): each describes itself in its own words.
EVERY_OPERATION = [
    ("/api/checkout/initiate", "post"),
    ("/api/checkout/update", "put"),
    ("/api/checkout/abandoned", "get"),
    ("/api/catalog/offers", "get"),
    ("/api/checkout/subscription", "get"),
    ("/api/checkout/subscription", "post"),
    ("/api/checkout/subscription", "put"),
    ("/api/admin/checkout/initiate", "post"),
    ("/api/admin/checkout/initiate/renew", "post"),
    ("/api/admin/v2/promo_code", "post"),
    ("/api/order", "post"),
    ("/api/partner/checkout/initiate", "post"),
    ("/api/partner/checkout/update", "put"),
    ("/api/partner/checkout/validate/{id}", "post"),
    ("/api/partner/checkout/subscription", "get"),
    ("/api/partner/checkout/subscription", "post"),
    ("/api/partner/checkout/subscription", "put"),
]
OAUTH_OPERATIONS = [("/oauth2/token", "post"), ("/oauth2/revoke_token/", "post"), ("/oauth2/introspect/", "post")]


def api_operations(schema):
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if path.startswith("/api/")
    ]


def test_the_schema_validates_without_a_warning(tmp_path):
    from django.core.management import call_command

    target = tmp_path / "schema.yaml"
    # --fail-on-warn: a warning (an unresolvable field, a component name collision) is a failure.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    assert yaml.safe_load(target.read_text())["paths"]


def test_every_operation_is_listed_here(schema):
    assert sorted((path, method) for path, method, _ in api_operations(schema)) == sorted(EVERY_OPERATION)


def test_each_operation_has_its_own_description_and_summary(schema):
    operations = [schema["paths"][path][method] for path, method in EVERY_OPERATION + OAUTH_OPERATIONS]
    descriptions = [operation["description"] for operation in operations]
    summaries = [operation["summary"] for operation in operations]

    assert all(len(description) > 80 for description in descriptions)
    assert len(set(descriptions)) == len(descriptions)
    assert len(set(summaries)) == len(summaries)
    # No viewset docstring stands in for an operation's description any more.
    assert "Create and change baskets; read the abandoned feed." not in descriptions


def _examples_of(content):
    media = content.get("application/json") or content.get("application/x-www-form-urlencoded") or {}
    examples = [example["value"] for example in media.get("examples", {}).values()]
    if "example" in media:
        examples.append(media["example"])
    return media.get("schema"), examples


def test_every_operation_has_request_and_response_examples_that_match_their_schemas(schema):
    from tests.api.openapi_json_schema import errors

    checked = 0
    for path, method in EVERY_OPERATION:
        operation = schema["paths"][path][method]
        bodies = [operation["responses"]["200"]["content"]]
        if "requestBody" in operation:
            bodies.append(operation["requestBody"]["content"])
        for content in bodies:
            body_schema, examples = _examples_of(content)
            assert examples, f"{method} {path}: no example"
            for example in examples:
                assert errors(schema, body_schema, example, strict=True) == [], (method, path, example)
                checked += 1
        for status, response in operation["responses"].items():
            if status not in ("200", "304"):  # 304 Not Modified has no body by definition
                body_schema, examples = _examples_of(response["content"])
                assert examples, f"{method} {path} {status}: no example"
                for example in examples:
                    assert errors(schema, body_schema, example, strict=True) == [], (method, path, status)
    assert checked > 30


def test_a_subscription_change_order_is_typed_as_what_the_server_sends(schema):
    components = schema["components"]["schemas"]
    submitted = components["OrderResponse"]["properties"]["order"]
    assert submitted == {"$ref": "#/components/schemas/SubmittedOrder"}
    assert components["SubmittedOrder"]["anyOf"] == [
        {"$ref": "#/components/schemas/SubscriptionChangeOrder"},
        {"$ref": "#/components/schemas/Order"},
    ]
    change = components["SubscriptionChangeOrder"]
    assert {"forSubscription", "forSubscriptionOffer"} <= set(change["required"])
    totals = components["ChangeTotals"]["properties"]
    assert {"credit", "nextChargeDate", "nextChargeAmount", "charges", "balanceApplied", "balance"} <= set(totals)
    assert totals["nextChargeDate"]["nullable"] is True
    item = components["SubscriptionChangeOrderItem"]
    assert {"automatic", "proration", "orderItemActionType", "effectiveDate"} <= set(item["required"])
    assert item["properties"]["proration"]["nullable"] is True


def test_component_names_read_naturally(schema):
    names = set(schema["components"]["schemas"])
    assert {"InitiateRequest", "UpdateRequest", "OrderRequest", "PromoCodeRequest", "Order", "CustomerDetails"} <= names
    for name in names:
        assert not name.endswith("RequestRequest"), name
        assert not name.endswith(("Out", "Serializer")), name


def test_the_landing_state_cookie_is_a_documented_parameter(schema):
    def cookie(path, method):
        (parameter,) = [p for p in schema["paths"][path][method]["parameters"] if p["in"] == "cookie"]
        assert parameter["name"] == "limio_state"
        return parameter

    initiate = cookie("/api/checkout/initiate", "post")
    assert initiate.get("required", False) is False
    assert "merges their baskets" in initiate["description"]
    assert "merges their baskets" in schema["paths"]["/api/checkout/initiate"]["post"]["description"]
    assert "merges their baskets" in schema["paths"]["/api/partner/checkout/initiate"]["post"]["description"]
    for path, method in [
        ("/api/checkout/update", "put"),
        ("/api/checkout/subscription", "get"),
        ("/api/checkout/subscription", "put"),
        ("/api/partner/checkout/update", "put"),
        ("/api/partner/checkout/subscription", "get"),
    ]:
        assert cookie(path, method)["required"] is True


# The response headers each operation's 200 declares (ETag and the landing-state cookie where the
# server sends them; Idempotent-Replayed on every idempotent write).
SUCCESS_HEADERS = {
    ("/api/checkout/initiate", "post"): {"ETag", "Set-Cookie", "Idempotent-Replayed"},
    ("/api/checkout/update", "put"): {"ETag", "Idempotent-Replayed"},
    ("/api/checkout/abandoned", "get"): set(),
    ("/api/catalog/offers", "get"): {"ETag"},
    ("/api/checkout/subscription", "get"): {"ETag"},
    ("/api/checkout/subscription", "post"): {"ETag", "Set-Cookie", "Idempotent-Replayed"},
    ("/api/checkout/subscription", "put"): {"ETag", "Idempotent-Replayed"},
    ("/api/admin/checkout/initiate", "post"): {"ETag", "Idempotent-Replayed"},
    ("/api/admin/checkout/initiate/renew", "post"): {"ETag", "Idempotent-Replayed"},
    ("/api/admin/v2/promo_code", "post"): {"ETag", "Idempotent-Replayed"},
    ("/api/order", "post"): {"ETag", "Idempotent-Replayed"},
    ("/api/partner/checkout/initiate", "post"): {"ETag", "Set-Cookie", "Idempotent-Replayed"},
    ("/api/partner/checkout/update", "put"): {"ETag", "Idempotent-Replayed"},
    ("/api/partner/checkout/validate/{id}", "post"): {"ETag"},
    ("/api/partner/checkout/subscription", "get"): {"ETag"},
    ("/api/partner/checkout/subscription", "post"): {"ETag", "Set-Cookie", "Idempotent-Replayed"},
    ("/api/partner/checkout/subscription", "put"): {"ETag", "Idempotent-Replayed"},
}


@pytest.mark.parametrize(("path", "method"), EVERY_OPERATION)
def test_each_operation_declares_the_headers_and_statuses_the_server_sends(schema, path, method):
    operation = schema["paths"][path][method]
    responses = operation["responses"]

    assert set(responses["200"].get("headers", {})) == SUCCESS_HEADERS[(path, method)]
    expected = {"200", "401", "403", "405", "406", "429", "503"}
    if "requestBody" in operation:
        expected.add("415")
    assert expected <= set(responses)
    assert ("415" in responses) == ("requestBody" in operation)
    assert set(responses["429"]["headers"]) == {"Retry-After"}
    assert set(responses["503"]["headers"]) == {"Retry-After"}
    assert set(responses["401"]["headers"]) == {"WWW-Authenticate"}
    assert set(responses["405"]["headers"]) == {"Allow"}


def test_the_oauth_endpoints_are_documented(schema):
    token = schema["paths"]["/oauth2/token"]["post"]
    form = token["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form == {"$ref": "#/components/schemas/TokenRequest"}
    grant_types = schema["components"]["schemas"]["TokenRequest"]["properties"]["grant_type"]["enum"]
    assert set(grant_types) >= {"client_credentials", "authorization_code"}
    assert token["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Token"}
    assert {"400", "401", "429"} <= set(token["responses"])
    assert "/oauth2/revoke_token/" in schema["paths"]
    assert schema["paths"]["/oauth2/introspect/"]["post"]["security"] == [{"oauth2": ["introspection"]}]


def test_constraints_the_server_enforces_are_in_the_schema(schema):
    components = schema["components"]["schemas"]
    items = components["UpdateOrderRequest"]["properties"]["orderItems"]
    assert (items["minItems"], items["maxItems"]) == (1, 100)
    actions = components["OrderItemActionRequest"]
    assert actions["discriminator"]["mapping"] == {
        "add": "#/components/schemas/AddItemActionRequest",
        "remove": "#/components/schemas/RemoveItemActionRequest",
        "update": "#/components/schemas/ChangeQuantityActionRequest",
    }
    assert set(components["AddItemActionRequest"]["required"]) == {"orderItemActionType", "offer"}
    assert set(components["RemoveItemActionRequest"]["required"]) == {"orderItemActionType", "id"}
    assert set(components["ChangeQuantityActionRequest"]["required"]) == {"orderItemActionType", "id", "quantity"}

    parameters = {p["name"]: p for p in schema["paths"]["/api/checkout/update"]["put"]["parameters"]}
    assert parameters["Idempotency-Key"]["schema"] == {"type": "string", "minLength": 1, "maxLength": 255}
    assert parameters["If-Match"]["schema"]["pattern"]


@pytest.mark.parametrize(
    ("value", "accepted"),
    [('"3"', True), ('W/"3"', True), ("3", True), ("*", True), (" 12 ", True), ("", False), ("abc", False),
     ('"3', True), ("²", False), ("1" * 19, False), ('"-1"', False), ("3, 4", False)],
)  # fmt: skip
def test_the_if_match_pattern_accepts_what_the_server_accepts(schema, value, accepted):
    from rest_framework.test import APIRequestFactory

    from checkout_project.api.errors import ApplicationError
    from checkout_project.api.headers import parse_if_match

    parameters = {p["name"]: p for p in schema["paths"]["/api/checkout/update"]["put"]["parameters"]}
    pattern = re.compile(parameters["If-Match"]["schema"]["pattern"])
    request = APIRequestFactory().put("/", HTTP_IF_MATCH=value)
    try:
        parse_if_match(request)
        server_accepts = True
    except ApplicationError:
        server_accepts = False

    assert (pattern.search(value) is not None, server_accepts) == (accepted, accepted)


def _strictly_documented(schema, path, method, response):
    """The 200's body validates against its operation's schema with no undeclared property, and
    carries the headers the operation declares (tests/api/test_generated_client.py does the same
    for the acquisition and subscription flows)."""
    from tests.api.openapi_json_schema import errors

    assert response.status_code == 200, response.content
    documented = schema["paths"][path][method]["responses"]["200"]
    body_schema = documented["content"]["application/json"]["schema"]
    assert errors(schema, body_schema, response.json(), strict=True) == []
    declared = {name for name in documented.get("headers", {}) if name != "Idempotent-Replayed"}
    sent = {name for name in declared if response.has_header(name)} | ({"Set-Cookie"} if response.cookies else set())
    assert declared <= sent
    return response.json()


def test_the_other_operations_answers_are_all_documented(schema, api_client, backoffice_token, customer, offer, add_on):
    from tests.conftest import bearer
    from tests.factories import PromoCodeFactory, SubscriptionFactory, partner_token

    customer.segments = ["loyal"]
    customer.save()
    PromoCodeFactory(code="TENOFF", discount_type="amount", percentage=None, amount="1.00", currency="GBP")
    admin = bearer(backoffice_token)
    items = {"orderItems": [{"offer": {"id": offer.id}}], "customerDetails": {"email": "ada@example.com"}}

    created = api_client.post("/api/admin/checkout/initiate", {"order": items, "customer": {"email": customer.email}},
                              format="json", **admin)  # fmt: skip
    basket_id = _strictly_documented(schema, "/api/admin/checkout/initiate", "post", created)["id"]
    discounted = api_client.post("/api/admin/v2/promo_code", {"code": "tenoff", "basketId": basket_id},
                                 format="json", **admin)  # fmt: skip
    assert _strictly_documented(schema, "/api/admin/v2/promo_code", "post", discounted)["order"]["promoCode"]
    feed = api_client.get("/api/checkout/abandoned", **admin)
    assert _strictly_documented(schema, "/api/checkout/abandoned", "get", feed)["items"]

    subscription = SubscriptionFactory(customer=customer, offer=offer)
    renewal = api_client.post("/api/admin/checkout/initiate/renew", {"subscriptionId": subscription.public_id},
                              format="json", **admin)  # fmt: skip
    renewal_id = _strictly_documented(schema, "/api/admin/checkout/initiate/renew", "post", renewal)["id"]
    renewed = api_client.post("/api/order", {"checkoutId": renewal_id}, format="json", **admin)
    assert _strictly_documented(schema, "/api/order", "post", renewed)["order"]["order_type"] == "renew"

    partner = bearer(partner_token())
    initiated = api_client.post("/api/partner/checkout/initiate", {"order": items}, format="json", **partner)
    body = _strictly_documented(schema, "/api/partner/checkout/initiate", "post", initiated)
    api_client.cookies["limio_state"] = initiated.cookies["limio_state"].value
    parent = body["order"]["orderItems"][0]["id"]
    add = {"orderItemActionType": "add", "offer": {"id": add_on.id}, "type": "add_on", "parentId": parent}
    updated = api_client.put("/api/partner/checkout/update", {"order": {"orderItems": [add]}}, format="json",
                             **partner)  # fmt: skip
    _strictly_documented(schema, "/api/partner/checkout/update", "put", updated)
    validated = api_client.post(f"/api/partner/checkout/validate/{body['id']}", **partner)
    assert _strictly_documented(schema, "/api/partner/checkout/validate/{id}", "post", validated)["checkout"]["valid"]
