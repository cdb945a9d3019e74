"""The OpenAPI schema and the interactive docs."""

import pytest
import yaml

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("/api/checkout/initiate", "post"): "checkout",
    ("/api/checkout/update", "put"): "checkout",
    ("/api/checkout/abandoned", "get"): "baskets:read",
}


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/")
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
