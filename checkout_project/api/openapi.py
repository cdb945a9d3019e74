"""Documentation shared by every endpoint's OpenAPI description: the error shape, the statuses any
operation may answer, the headers the plumbing sends, and the OAuth endpoints (django-oauth-toolkit's
plain Django views, which drf-spectacular does not see)."""

from collections.abc import Mapping, Sequence
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from checkout_project.api.errors import ApiCodes, ApplicationError, error_body

_ERROR_DESCRIPTIONS = {
    400: "Malformed JSON, invalid fields, or a business rule refused (code says which)",
    401: "No token, or an unknown, expired or revoked token",
    402: "The payment was declined (payment_declined) or needs the customer's authentication (payment_requires_action)",
    403: "Valid token without the scope this endpoint needs",
    404: "Not found, or not visible to this caller",
    405: "This method is not allowed on this path (Allow lists those that are)",
    406: "The Accept header asks for something other than application/json",
    409: "Basket already completed, or a concurrent change won",
    410: "Basket expired",
    412: "If-Match does not match the basket's version",
    415: "The body is not application/json",
    422: "Idempotency-Key reused with a different body",
    423: "Subscription has a pending change",
    429: "Throttled: too many requests from this client; retry after Retry-After seconds",
    502: "An upstream service failed",
    503: "The database is unavailable (nothing was changed); retry after Retry-After seconds",
}

# Every API operation may answer these (content negotiation, throttling, a database outage); an
# operation with a body may also answer 415. ScopedAutoSchema adds them to every operation.
COMMON_ERROR_STATUSES = (405, 406, 429, 503)
BODY_ERROR_STATUSES = (415,)

# What the plumbing answers for each status (an app's own codes: its schemas module passes examples).
_ERROR_EXAMPLES: dict[int, tuple[str, str]] = {
    400: ("Invalid request: order.orderItems: This field is required.", ApiCodes.VALIDATION_ERROR),
    401: ("Unauthorized", ApiCodes.UNAUTHORIZED),
    403: ("You do not have permission to perform this action.", ApiCodes.INSUFFICIENT_SCOPE),
    404: ("Not found.", ApiCodes.NOT_FOUND),
    405: ('Method "DELETE" not allowed.', ApiCodes.METHOD_NOT_ALLOWED),
    406: ("Could not satisfy the request Accept header.", ApiCodes.NOT_ACCEPTABLE),
    409: ("Conflict.", ApiCodes.CONFLICT),
    410: ("Gone.", ApiCodes.GONE),
    412: ('If-Match must be a basket version, e.g. "3".', ApiCodes.INVALID_IF_MATCH),
    415: ('Unsupported media type "text/plain" in request.', ApiCodes.UNSUPPORTED_MEDIA_TYPE),
    422: ("This Idempotency-Key was used with a different request.", ApiCodes.IDEMPOTENCY_KEY_REUSED),
    423: ("Locked.", ApiCodes.LOCKED),
    429: ("Request was throttled. Expected available in 12 seconds.", ApiCodes.THROTTLED),
    502: ("reCAPTCHA verification is unavailable; try again.", ApiCodes.UPSTREAM_UNAVAILABLE),
    503: ("The database is unavailable; nothing was changed. Try again.", ApiCodes.DATABASE_UNAVAILABLE),
}


class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField(help_text="A human sentence")
    code = serializers.CharField(help_text="A stable snake_case code")
    details = serializers.DictField(
        required=False, help_text="Validation errors: field path → message; other codes: what the code needs"
    )


def error_example(error: ApplicationError) -> OpenApiExample:
    """An example of the error body `error` renders (its code, message and details)."""
    code = str(error.code)
    return OpenApiExample(code, value=error_body(error.message, code, error.details))


def error_response(status: int, examples: Sequence[OpenApiExample] = ()) -> OpenApiResponse:
    if not examples:
        message, code = _ERROR_EXAMPLES.get(status, ("Request refused.", ApiCodes.ERROR))
        examples = [OpenApiExample(str(code), value=error_body(message, str(code)))]
    for example in examples:
        example.status_codes = [str(status)]
    return OpenApiResponse(ErrorSerializer, description=_ERROR_DESCRIPTIONS[status], examples=list(examples))


def common_error_response(status: int, error_schema: dict[str, Any]) -> dict[str, Any]:
    """One of COMMON_ERROR_STATUSES / BODY_ERROR_STATUSES as an OpenAPI response object, with the
    headers the server sends with it."""
    message, code = _ERROR_EXAMPLES[status]
    example = {"summary": str(code), "value": error_body(message, str(code))}
    described: dict[str, Any] = {
        "description": _ERROR_DESCRIPTIONS[status],
        "content": {"application/json": {"schema": error_schema, "examples": {str(code): example}}},
    }
    headers = {
        parameter.name: {"schema": _header_schema(parameter), "description": parameter.description}
        for parameter in COMMON_RESPONSE_HEADERS
        if isinstance(parameter.response, list) and status in parameter.response
    }
    if headers:
        described["headers"] = headers
    return described


def _header_schema(parameter: OpenApiParameter) -> dict[str, Any]:
    return parameter.type if isinstance(parameter.type, dict) else {"type": "string"}


def responses(
    success_status: int, success, *error_statuses: int, examples: Mapping[int, Sequence[OpenApiExample]] | None = None
) -> dict:
    """The success response and the errors this operation answers besides the common ones
    (ScopedAutoSchema adds COMMON_ERROR_STATUSES, and 415 to operations with a body); `examples`:
    what this operation's errors look like, by status (else the plumbing's)."""
    described = {success_status: success}
    for status in error_statuses:
        described[status] = error_response(status, (examples or {}).get(status, ()))
    return described


# --- Headers ---------------------------------------------------------------------------------

ETAG_HEADER = OpenApiParameter(
    "ETag", str, OpenApiParameter.HEADER, response=[200],
    description='The basket\'s version, e.g. "3": send it back as If-Match to change only what you read.',
)  # fmt: skip
SET_LANDING_STATE_HEADER = OpenApiParameter(
    "Set-Cookie", str, OpenApiParameter.HEADER, response=[200],
    description="limio_state=<signed basket id>; HttpOnly; SameSite=Lax; Path=/; Secure (unless debug); "
    "Max-Age=<the basket's remaining lifetime>. Send it back (a cookie, or the limio_state cookie "
    "parameter) to the update and subscription endpoints.",
)  # fmt: skip
IDEMPOTENT_REPLAYED_HEADER = OpenApiParameter(
    "Idempotent-Replayed", {"type": "string", "enum": ["true"]}, OpenApiParameter.HEADER, response=[200],
    description='"true" when this is the stored answer to an earlier request with the same Idempotency-Key.',
)  # fmt: skip
RETRY_AFTER_HEADER = OpenApiParameter(
    "Retry-After", {"type": "integer", "minimum": 1}, OpenApiParameter.HEADER, response=[429, 503],
    description="Seconds to wait before sending the request again.",
)  # fmt: skip
WWW_AUTHENTICATE_HEADER = OpenApiParameter(
    "WWW-Authenticate", str, OpenApiParameter.HEADER, response=[401], description='Bearer realm="api"'
)
ALLOW_HEADER = OpenApiParameter(
    "Allow", str, OpenApiParameter.HEADER, response=[405], description="The methods this path allows, e.g. POST"
)
COMMON_RESPONSE_HEADERS = (RETRY_AFTER_HEADER, WWW_AUTHENTICATE_HEADER, ALLOW_HEADER)


# --- The OAuth endpoints (POSTPROCESSING_HOOKS) ------------------------------------------------

_FORM = "application/x-www-form-urlencoded"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], example: dict[str, Any] | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": schema}
    if example is not None:
        content["example"] = example
    return {"application/json": content}


OAUTH_COMPONENTS: dict[str, dict[str, Any]] = {
    "TokenRequest": {
        "type": "object",
        "description": "Form fields of a token request (RFC 6749). Client credentials: `client_id` and "
        "`client_secret` here or as HTTP Basic. Authorization code + PKCE (customer tokens): `code`, "
        "`redirect_uri`, `code_verifier` and `client_id`.",
        "properties": {
            "grant_type": {"type": "string", "enum": ["client_credentials", "authorization_code", "refresh_token"]},
            "client_id": {"type": "string"},
            "client_secret": {"type": "string"},
            "scope": {
                "type": "string",
                "description": "Space-separated scopes (checkout, checkout:admin, baskets:read, partner, "
                "introspection); none asked: none granted.",
            },
            "code": {"type": "string", "description": "authorization_code: the code /oauth2/authorize returned"},
            "redirect_uri": {"type": "string", "description": "authorization_code: the one sent to /oauth2/authorize"},
            "code_verifier": {"type": "string", "description": "authorization_code: the PKCE verifier (S256)"},
            "refresh_token": {"type": "string", "description": "refresh_token: the refresh token"},
        },
        "required": ["grant_type"],
    },
    "Token": {
        "type": "object",
        "properties": {
            "access_token": {"type": "string"},
            "expires_in": {"type": "integer", "description": "Seconds: 3600"},
            "token_type": {"type": "string", "enum": ["Bearer"]},
            "scope": {"type": "string", "description": "The granted scopes, space-separated (may be empty)"},
            "refresh_token": {"type": "string", "description": "Authorization code grant only"},
        },
        "required": ["access_token", "expires_in", "token_type", "scope"],
    },
    "OAuthError": {
        "type": "object",
        "description": "RFC 6749 §5.2",
        "properties": {
            "error": {
                "type": "string",
                "description": "invalid_request, invalid_client, invalid_grant, unauthorized_client, "
                "unsupported_grant_type, invalid_scope",
            },
            "error_description": {"type": "string"},
        },
        "required": ["error"],
    },
    "TokenRevocationRequest": {
        "type": "object",
        "description": "RFC 7009; the client authenticates as for /oauth2/token.",
        "properties": {
            "token": {"type": "string"},
            "token_type_hint": {"type": "string", "enum": ["access_token", "refresh_token"]},
            "client_id": {"type": "string"},
            "client_secret": {"type": "string"},
        },
        "required": ["token"],
    },
    "TokenIntrospection": {
        "type": "object",
        "description": "RFC 7662; only `active` for a token that is unknown, expired, revoked, or that the API "
        "would refuse (a deactivated partner's or user's).",
        "properties": {
            "active": {"type": "boolean"},
            "scope": {"type": "string"},
            "exp": {"type": "integer", "description": "Expiry, seconds since the epoch"},
            "client_id": {"type": "string"},
            "username": {"type": "string", "description": "Customer tokens only"},
        },
        "required": ["active"],
    },
}

_TOKEN_ERRORS = {
    "400": {"description": "Invalid request, grant or scope", "content": _json(_ref("OAuthError"))},
    "401": {"description": "Unknown client or wrong secret", "content": _json(_ref("OAuthError"))},
    "429": {
        "description": "Too many token requests for this client id or from this IP address",
        "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}, "description": "Seconds to wait"}},
        "content": _json(_ref("OAuthError")),
    },
}

OAUTH_PATHS: dict[str, dict[str, Any]] = {
    "/oauth2/token": {
        "post": {
            "operationId": "oauth_token",
            "summary": "Get an access token",
            "description": "Client credentials for a storefront, partner or back office "
            "(`grant_type=client_credentials`, the client's id and secret in the form or as HTTP Basic "
            "authentication); "
            "authorization code + PKCE for a customer token, after the customer logged in at "
            "/oauth2/authorize on our hosted login page. Tokens live 3600 s. A client asking for no "
            "scope gets none; a scope its profile does not allow is refused (400 invalid_scope).",
            "tags": ["OAuth 2.0"],
            "security": [],
            "requestBody": {
                "required": True,
                "content": {
                    _FORM: {
                        "schema": _ref("TokenRequest"),
                        "examples": {
                            "client_credentials": {
                                "value": {
                                    "grant_type": "client_credentials",
                                    "client_id": "storefront-client-id",
                                    "client_secret": "storefront-client-secret",
                                    "scope": "checkout",
                                }
                            },
                            "authorization_code": {
                                "value": {
                                    "grant_type": "authorization_code",
                                    "client_id": "storefront-spa",
                                    "code": "pyWR3WJ4l8Fj0YwYBB8nLWjGPAZ3Gz",
                                    "redirect_uri": "https://shop.example.com/callback",
                                    "code_verifier": "Nf3ZCpL4fPbWz2bPqL0qk9X8qG5rXh2Lc8m6Ju1eYt4",
                                }
                            },
                        },
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "The access token",
                    "content": _json(
                        _ref("Token"),
                        {
                            "access_token": "9Yk3t0bF6nLx1W2c",
                            "expires_in": 3600,
                            "token_type": "Bearer",
                            "scope": "checkout",
                        },
                    ),
                },
                **_TOKEN_ERRORS,
            },
        }
    },
    "/oauth2/revoke_token/": {
        "post": {
            "operationId": "oauth_revoke_token",
            "summary": "Revoke an access or refresh token",
            "description": "RFC 7009. The client revokes one of its own tokens, authenticating as for /oauth2/token "
            "(its id and secret in the form or as HTTP Basic); an unknown token is not an error.",
            "tags": ["OAuth 2.0"],
            "security": [],
            "requestBody": {"required": True, "content": {_FORM: {"schema": _ref("TokenRevocationRequest")}}},
            "responses": {"200": {"description": "Revoked (or unknown): no body"}, **_TOKEN_ERRORS},
        }
    },
    "/oauth2/introspect/": {
        "post": {
            "operationId": "oauth_introspect",
            "summary": "Introspect a token (resource servers)",
            "description": "RFC 7662, for resource servers: the caller's bearer token needs the `introspection` "
            "scope; a client's own id and secret are not accepted.",
            "tags": ["OAuth 2.0"],
            "security": [{"oauth2": ["introspection"]}],
            "requestBody": {
                "required": True,
                "content": {
                    _FORM: {
                        "schema": {"type": "object", "properties": {"token": {"type": "string"}}, "required": ["token"]}
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "What the token is",
                    "content": _json(
                        _ref("TokenIntrospection"),
                        {"active": True, "scope": "checkout", "exp": 1767225600, "client_id": "storefront-client-id"},
                    ),
                },
                "403": {"description": "No bearer token with the introspection scope"},
            },
        }
    },
}


def add_oauth_endpoints(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS: document the OAuth endpoints the API's callers use."""
    result.setdefault("paths", {}).update(OAUTH_PATHS)
    result.setdefault("components", {}).setdefault("schemas", {}).update(OAUTH_COMPONENTS)
    return result
