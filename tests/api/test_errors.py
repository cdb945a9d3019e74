"""One error shape for everything on /api, and no 500 for any malformed input (API.md §1)."""

from __future__ import annotations

import json

import pytest

from baskets.api.landing_state import landing_state_value
from baskets.models import Basket, BasketEvent, OrderItem
from checkout_project.api.models import IdempotencyRecord
from tests.conftest import bearer
from tests.factories import BasketFactory, OrderItemFactory

pytestmark = pytest.mark.django_db

INITIATE = "/api/checkout/initiate"
UPDATE = "/api/checkout/update"
METHODS = {INITIATE: "POST", UPDATE: "PUT"}


def send(client, token, url, raw, content_type="application/json", **extra):
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    return client.generic(METHODS[url], url, data, content_type=content_type, **bearer(token), **extra)


@pytest.fixture
def landing_basket(api_client, storefront_app, offer):
    """A basket the update endpoint can find, so its bodies are judged rather than its cookie."""
    basket = BasketFactory(application=storefront_app)
    OrderItemFactory(basket=basket, offer=offer)
    api_client.cookies["limio_state"] = landing_state_value(basket)
    return basket


def nothing_written(basket_count: int = 0) -> bool:
    return (Basket.objects.count(), OrderItem.objects.count(), BasketEvent.objects.count()) == (
        basket_count,
        basket_count,
        0,
    )


# --- Parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", [INITIATE, UPDATE])
@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"order": ', "JSON parse error - Expecting value: line 1 column 11 (char 10)"),
        (
            "{'order': {}}",
            "JSON parse error - Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        ('{"order": NaN}', "JSON parse error - Out of range float values are not JSON compliant: 'NaN'"),
        (
            b'{"order": "\xff"}',
            "JSON parse error - 'utf-8' codec can't decode byte 0xff in position 11: invalid start byte",
        ),
    ],
)
def test_malformed_json_is_refused(api_client, storefront_token, landing_basket, url, raw, message):
    response = send(api_client, storefront_token, url, raw)

    assert response.status_code == 400
    assert response.json() == {"message": message, "code": "malformed_json"}
    assert nothing_written(basket_count=1)


@pytest.mark.parametrize("url", [INITIATE, UPDATE])
@pytest.mark.parametrize("depth", [2_000, 100_000])
def test_a_body_nested_too_deeply_is_malformed_json(api_client, storefront_token, landing_basket, url, depth):
    response = send(api_client, storefront_token, url, '{"order": ' + "[" * depth + "]" * depth + "}")

    assert response.status_code == 400
    assert response.json() == {"message": "JSON parse error - the body is nested too deeply.", "code": "malformed_json"}
    assert nothing_written(basket_count=1)


def test_an_integer_too_long_to_parse_is_malformed_json(api_client, storefront_token):
    raw = '{"order": {"orderItems": [{"offer": {"id": "x"}, "quantity": 1' + "0" * 5000 + "}]}}"

    response = send(api_client, storefront_token, INITIATE, raw)

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"
    assert nothing_written()


@pytest.mark.parametrize("url", [INITIATE, UPDATE])
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"],
)
def test_a_body_that_is_not_json_is_unsupported_media_type(
    api_client, storefront_token, landing_basket, url, content_type
):
    response = send(api_client, storefront_token, url, '{"order": {"orderItems": []}}', content_type=content_type)

    assert response.status_code == 415
    assert response.json() == {
        "message": f'Unsupported media type "{content_type}" in request.',
        "code": "unsupported_media_type",
    }
    assert nothing_written(basket_count=1)


def test_an_empty_body_is_a_missing_order(api_client, storefront_token):
    response = send(api_client, storefront_token, INITIATE, "")

    assert response.status_code == 400
    assert response.json() == {
        "message": "Invalid request: order: This field is required.",
        "code": "validation_error",
        "details": {"order": "This field is required."},
    }


def test_a_compression_codec_as_charset_is_refused(api_client, storefront_token):
    response = send(
        api_client, storefront_token, INITIATE, '{"order": {}}', content_type="application/json; charset=bz2_codec"
    )

    assert response.status_code == 400
    assert response.json() == {
        "message": 'Unsupported charset "bz2_codec" in request Content-Type header.',
        "code": "malformed_json",
    }
    assert nothing_written()


# --- Routing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "allow"),
    [
        ("GET", INITIATE, "POST, OPTIONS"),
        ("PUT", INITIATE, "POST, OPTIONS"),
        ("DELETE", INITIATE, "POST, OPTIONS"),
        ("GET", UPDATE, "PUT, OPTIONS"),
        ("POST", UPDATE, "PUT, OPTIONS"),
    ],
)
def test_a_wrong_method_is_405_after_authentication(api_client, storefront_token, method, url, allow):
    anonymous = api_client.generic(method, url)
    assert anonymous.status_code == 401
    assert anonymous.json() == {"message": "Unauthorized", "code": "unauthorized"}

    response = api_client.generic(method, url, **bearer(storefront_token))

    assert response.status_code == 405
    assert response.json() == {"message": f'Method "{method}" not allowed.', "code": "method_not_allowed"}
    assert response["Allow"] == allow
    assert nothing_written()


@pytest.mark.parametrize(
    "url", ["/api/", "/api/nope", "/api/checkout/nope", "/api/checkout/initiate/", "/api/<script>"]
)
def test_an_unknown_api_path_is_a_json_404(api_client, storefront_token, url):
    response = api_client.get(url, **bearer(storefront_token))

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": "Not found.", "code": "not_found"}


def test_an_unknown_api_path_is_a_json_404_without_a_token(api_client):
    response = api_client.post("/api/nope", {}, format="json")

    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "code": "not_found"}


# --- Wrong-typed bodies: never a 500 ------------------------------------------------------


def validation_error(details: dict[str, str]) -> dict:
    path, message = next(iter(details.items()))
    return {"message": f"Invalid request: {path}: {message}", "code": "validation_error", "details": details}


WRONG_TYPES = {
    "body is a list": ('[{"order": {}}]', {"body": "Invalid data. Expected a dictionary, but got list."}),
    "body is a string": ('"order"', {"body": "Invalid data. Expected a dictionary, but got str."}),
    "body is a number": ("42", {"body": "Invalid data. Expected a dictionary, but got int."}),
    "body is null": ("null", {"body": "No data provided"}),
    "order is null": ('{"order": null}', {"order": "This field may not be null."}),
    "order is a list": ('{"order": []}', {"order": "Invalid data. Expected a dictionary, but got list."}),
    "order items are strings": (
        '{"order": {"orderItems": ["a", "b"]}}',
        {
            "order.orderItems.0": "Invalid data. Expected a dictionary, but got str.",
            "order.orderItems.1": "Invalid data. Expected a dictionary, but got str.",
        },
    ),
    "order items are null": (
        '{"order": {"orderItems": [null]}}',
        {"order.orderItems.0": "This field may not be null."},
    ),
    "offer is a string": (
        '{"order": {"orderItems": [{"offer": "abc"}]}}',
        {"order.orderItems.0.offer": "Invalid data. Expected a dictionary, but got str."},
    ),
    "offer id is a list": (
        '{"order": {"orderItems": [{"offer": {"id": ["x"]}}]}}',
        {"order.orderItems.0.offer.id": "Not a valid string."},
    ),
    "quantity is a word": (
        '{"order": {"orderItems": [{"offer": {"id": "x"}, "quantity": "abc"}]}}',
        {"order.orderItems.0.quantity": "A valid integer is required."},
    ),
    "quantity is huge": (
        '{"order": {"orderItems": [{"offer": {"id": "x"}, "quantity": ' + str(10**30) + "}]}}",
        {"order.orderItems.0.quantity": "Ensure this value is less than or equal to 10000."},
    ),
    "quantity is a huge float": (
        '{"order": {"orderItems": [{"offer": {"id": "x"}, "quantity": 1e308}]}}',
        {"order.orderItems.0.quantity": "A valid integer is required."},
    ),
    "quantity is a boolean": (
        '{"order": {"orderItems": [{"offer": {"id": "x"}, "quantity": true}]}}',
        {"order.orderItems.0.quantity": "A valid integer is required."},
    ),
    "tracking is a list": (
        '{"order": {"orderItems": [], "tracking": ["campaign"]}}',
        {"order.tracking": 'Expected a dictionary of items but got type "list".'},
    ),
    "customerDetails is a string": (
        '{"order": {"orderItems": [], "customerDetails": "ada@example.com"}}',
        {"order.customerDetails": "Invalid data. Expected a dictionary, but got str."},
    ),
    "NUL in a string field": (
        '{"order": {"orderItems": [], "source": "web\\u0000"}}',
        {"order.source": "Null characters are not allowed."},
    ),
    "lone surrogate in a string field": (
        '{"order": {"orderItems": [], "customerDetails": {"firstName": "\\ud800"}}}',
        {"order.customerDetails.firstName": "Surrogate characters are not allowed: U+D800."},
    ),
    "NUL in tracking": (
        '{"order": {"orderItems": [], "tracking": {"campaign": "a\\u0000b"}}}',
        {"order.tracking": "Keys and strings must not contain NUL or surrogate characters."},
    ),
    "NUL in a customFields key": (
        '{"order": {"orderItems": [], "customFields": {"a\\u0000": 1}}}',
        {"order.customFields": "Keys and strings must not contain NUL or surrogate characters."},
    ),
    "lone surrogate deep in tracking": (
        '{"order": {"orderItems": [], "tracking": {"a": [{"b": "\\udfff"}]}}}',
        {"order.tracking.a.0.b": "Surrogate characters are not allowed: U+DFFF."},
    ),
    "tracking over the size cap": (
        json.dumps({"order": {"orderItems": [], "tracking": {"blob": "x" * 10_000}}}),
        {"order.tracking": "At most 8192 bytes of JSON."},
    ),
}


@pytest.mark.parametrize("case", list(WRONG_TYPES))
def test_a_wrong_typed_initiate_body_is_a_validation_error(api_client, storefront_token, case):
    raw, details = WRONG_TYPES[case]

    response = send(api_client, storefront_token, INITIATE, raw)

    assert response.status_code == 400
    assert response.json() == validation_error(details)
    assert nothing_written()


UPDATE_WRONG_TYPES = {
    "body is a list": ("[]", {"body": "Invalid data. Expected a dictionary, but got list."}),
    "order is null": ('{"order": null}', {"order": "This field may not be null."}),
    "actions are strings": (
        '{"order": {"orderItems": ["add"]}}',
        {"order.orderItems.0": "Invalid data. Expected a dictionary, but got str."},
    ),
    "action type is a number": (
        '{"order": {"orderItems": [{"orderItemActionType": 1}]}}',
        {"order.orderItems.0.orderItemActionType": '"1" is not a valid choice.'},
    ),
    "item id is a list": (
        '{"order": {"orderItems": [{"orderItemActionType": "remove", "id": ["x"]}]}}',
        {"order.orderItems.0.id": "Must be a valid UUID."},
    ),
    "quantity is huge": (
        '{"order": {"orderItems": [{"orderItemActionType": "update", "id": "00000000-0000-0000-0000-000000000001",'
        ' "quantity": ' + str(10**30) + "}]}}",
        {"order.orderItems.0.quantity": "Ensure this value is less than or equal to 10000."},
    ),
    "parentId is an object": (
        '{"order": {"orderItems": [{"orderItemActionType": "add", "offer": {"id": "x"}, "parentId": {}}]}}',
        {"order.orderItems.0.parentId": "Must be a valid UUID."},
    ),
}


@pytest.mark.parametrize("case", list(UPDATE_WRONG_TYPES))
def test_a_wrong_typed_update_body_is_a_validation_error(api_client, storefront_token, landing_basket, case):
    raw, details = UPDATE_WRONG_TYPES[case]

    response = send(api_client, storefront_token, UPDATE, raw)

    assert response.status_code == 400
    expected = validation_error(details)
    actions_errors = {
        path.split(".")[2]: {
            "code": "invalid_action",
            "message": ": ".join(filter(None, [*path.split(".")[3:], message])),
        }
        for path, message in details.items()
        if path.startswith("order.orderItems.")
    }
    if actions_errors:  # each refused action also under details.actions[index] (API.md §4)
        expected["details"] = {**details, "actions": actions_errors}
    assert response.json() == expected
    landing_basket.refresh_from_db()
    assert landing_basket.version == 1
    assert nothing_written(basket_count=1)


@pytest.mark.parametrize(
    "raw, code",
    [
        # An id is a string (issue 14): a number is refused before any lookup.
        ('{"order": {"orderItems": [{"offer": {"id": 12345}}]}}', "validation_error"),
        ('{"order": {"orderItems": [{"offer": {"id": 1e400}}]}}', "validation_error"),
        ('{"order": {"orderItems": [{"offer": {"id": "../../etc/passwd"}}]}}', "offer_not_found"),
    ],
)
def test_an_odd_offer_id_is_refused(api_client, storefront_token, raw, code):
    response = send(api_client, storefront_token, INITIATE, raw)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert nothing_written()


def test_a_deep_but_small_tracking_object_is_stored(api_client, storefront_token):
    depth = 500
    tracking = json.loads('{"a": ' * depth + "1" + "}" * depth)

    response = send(
        api_client,
        storefront_token,
        INITIATE,
        json.dumps({"order": {"orderItems": [], "tracking": tracking}}),
        HTTP_IDEMPOTENCY_KEY="deep",
    )

    assert response.status_code == 200, response.content[:300]
    assert Basket.objects.get().tracking == tracking


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_an_idempotency_key_of_the_wrong_length_is_refused(api_client, storefront_token, key):
    response = send(api_client, storefront_token, INITIATE, '{"order": {"orderItems": []}}', HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 400
    assert response.json() == {
        "message": "Idempotency-Key must be 1 to 255 characters.",
        "code": "invalid_idempotency_key",
    }
    assert nothing_written()
    assert IdempotencyRecord.objects.count() == 0


def test_an_idempotency_key_with_a_nul_is_refused(api_client, storefront_token):
    response = send(
        api_client, storefront_token, INITIATE, '{"order": {"orderItems": []}}', HTTP_IDEMPOTENCY_KEY="a\x00b"
    )

    assert response.status_code == 400
    assert response.json() == {
        "message": "Idempotency-Key must not contain NUL characters.",
        "code": "invalid_idempotency_key",
    }
    assert nothing_written()
    assert IdempotencyRecord.objects.count() == 0


def test_a_referer_with_a_nul_is_stored_without_it(api_client, storefront_token):
    response = send(
        api_client,
        storefront_token,
        INITIATE,
        '{"order": {"orderItems": []}}',
        HTTP_REFERER="https://shop.example.com/\x00offers",
    )

    assert response.status_code == 200
    assert Basket.objects.get().entry == {"referer": "https://shop.example.com/offers"}


def test_a_client_that_accepts_only_html_gets_a_json_406(api_client, storefront_token):
    response = send(api_client, storefront_token, INITIATE, '{"order": {"orderItems": []}}', HTTP_ACCEPT="text/html")

    assert response.status_code == 406
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": "Could not satisfy the request Accept header.", "code": "not_acceptable"}
    assert nothing_written()
