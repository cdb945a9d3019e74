"""One error vocabulary and one JSON shape for every error the API returns (API.md §1)."""

from __future__ import annotations

import enum
import logging
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response

logger = logging.getLogger(__name__)


@enum.unique
class ApiCodes(enum.StrEnum):
    """The plumbing's own error codes: every app's requests can get these (the apps' registries are
    baskets.errors.BasketCodes and partners.errors.PartnerCodes; no value is in two of them)."""

    INVALID_REQUEST = "invalid_request"
    VALIDATION_ERROR = "validation_error"
    INVALID_ACTION = "invalid_action"
    MALFORMED_JSON = "malformed_json"
    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    INSUFFICIENT_SCOPE = "insufficient_scope"
    FORBIDDEN = "forbidden"
    NO_CUSTOMER_ACCOUNT = "no_customer_account"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    CONFLICT = "conflict"
    GONE = "gone"
    PRECONDITION_FAILED = "precondition_failed"
    INVALID_IF_MATCH = "invalid_if_match"
    # A paging cursor (`queryMore`) this API did not issue: the abandoned feed's and the catalog's.
    INVALID_CURSOR = "invalid_cursor"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    UNPROCESSABLE_ENTITY = "unprocessable_entity"
    LOCKED = "locked"
    THROTTLED = "throttled"
    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IDEMPOTENCY_KEY_IN_PROGRESS = "idempotency_key_in_progress"
    RECAPTCHA_REQUIRED = "recaptcha_required"
    RECAPTCHA_INVALID = "recaptcha_invalid"
    ERROR = "error"
    SERVER_ERROR = "server_error"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    DATABASE_UNAVAILABLE = "database_unavailable"


class ApplicationError(Exception):
    """A domain error: a stable machine `code`, a human `message`, an HTTP status, optional details."""

    status_code = 400
    code: str = ApiCodes.INVALID_REQUEST

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status_code = status
        self.details = details
        self.headers = headers or {}


class NotFound(ApplicationError):
    status_code = 404
    code: str = ApiCodes.NOT_FOUND


class Conflict(ApplicationError):
    status_code = 409
    code: str = ApiCodes.CONFLICT


class Gone(ApplicationError):
    status_code = 410
    code: str = ApiCodes.GONE


class PreconditionFailed(ApplicationError):
    status_code = 412
    code: str = ApiCodes.PRECONDITION_FAILED


class UnprocessableEntity(ApplicationError):
    status_code = 422
    code: str = ApiCodes.UNPROCESSABLE_ENTITY


class Locked(ApplicationError):
    status_code = 423
    code: str = ApiCodes.LOCKED


class UpstreamUnavailable(ApplicationError):
    status_code = 502
    code: str = ApiCodes.UPSTREAM_UNAVAILABLE


def error_body(message: str, code: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message, "code": code}
    if details:
        body["details"] = details
    return body


def flatten_validation_errors(detail: Any, prefix: str = "") -> dict[str, str]:
    """DRF's nested error structure as {"order.orderItems.0.quantity": "message"}."""
    flat: dict[str, str] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            path = key if not prefix else (prefix if key == "non_field_errors" else f"{prefix}.{key}")
            if key == "non_field_errors" and not prefix:
                path = "body"
            flat.update(flatten_validation_errors(value, path))
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            flat[prefix or "body"] = " ".join(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                if item:
                    flat.update(flatten_validation_errors(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "body"] = str(detail)
    return flat


class ActionsValidationError(exceptions.ValidationError):
    """Field errors of a list of order-item actions: besides the flat field paths, each refused
    action is reported under `details.actions[index]`, as the business-rule refusals are (API.md §4)."""

    actions_path = "order.orderItems"


def per_action_errors(flat: dict[str, str], actions_path: str) -> dict[str, dict[str, str]]:
    """{"<index>": {"code": "invalid_action", "message": "<field>: <message>; …"}} from flat paths."""
    messages: dict[str, list[str]] = {}
    for path, message in flat.items():
        if not path.startswith(f"{actions_path}."):
            continue
        index, _, field = path.removeprefix(f"{actions_path}.").partition(".")
        if index.isdigit():
            messages.setdefault(index, []).append(f"{field}: {message}" if field else message)
    return {index: {"code": ApiCodes.INVALID_ACTION, "message": "; ".join(texts)} for index, texts in messages.items()}


_DRF_CODES: list[tuple[type[exceptions.APIException], str, str | None]] = [
    (exceptions.NotAuthenticated, ApiCodes.UNAUTHORIZED, "Unauthorized"),
    (exceptions.AuthenticationFailed, ApiCodes.UNAUTHORIZED, "Unauthorized"),
    (exceptions.PermissionDenied, ApiCodes.INSUFFICIENT_SCOPE, None),
    (exceptions.NotFound, ApiCodes.NOT_FOUND, None),
    (exceptions.MethodNotAllowed, ApiCodes.METHOD_NOT_ALLOWED, None),
    (exceptions.UnsupportedMediaType, ApiCodes.UNSUPPORTED_MEDIA_TYPE, None),
    (exceptions.NotAcceptable, ApiCodes.NOT_ACCEPTABLE, None),
    (exceptions.ParseError, ApiCodes.MALFORMED_JSON, None),
    (exceptions.Throttled, ApiCodes.THROTTLED, None),
]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: renders every error in the contract's shape."""
    headers: dict[str, str] = {}
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.message, exc.code, exc.details), status=exc.status_code, headers=exc.headers)
    if isinstance(exc, DatabaseError):
        return database_error_response(exc, context)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None

    if auth_header := getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = auth_header
    if wait := getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(wait))

    if isinstance(exc, exceptions.ValidationError):
        details: dict[str, Any] = flatten_validation_errors(exc.detail)
        first = next(iter(details.items()), ("body", "Invalid request body."))
        if isinstance(exc, ActionsValidationError) and (actions := per_action_errors(details, exc.actions_path)):
            details["actions"] = actions
        body = error_body(f"Invalid request: {first[0]}: {first[1]}", ApiCodes.VALIDATION_ERROR, details)
        return Response(body, status=400, headers=headers)

    code: str = ApiCodes.ERROR
    message: str | None = None
    for exc_class, exc_code, exc_message in _DRF_CODES:
        if isinstance(exc, exc_class):
            code, message = exc_code, exc_message
            break
    if message is None:
        message = str(exc.detail) if isinstance(exc.detail, str) else "Request refused."
    detail_code = getattr(exc, "code_override", None)
    return Response(error_body(message, detail_code or code), status=exc.status_code, headers=headers)


# How long a client should wait before retrying after the database failed transiently.
DATABASE_RETRY_AFTER_SECONDS = 1


def database_error_response(exc: DatabaseError, context: dict[str, Any]) -> Response:
    """A database failure as the contract's JSON error, never Django's HTML 500 page.

    Every service owns its transaction, so when the database fails mid-request the transaction
    rolls back whole and the request changed nothing. A connection lost, a deadlock, a
    serialization failure or a statement timeout (OperationalError, InterfaceError) is
    transient: 503 `database_unavailable` with Retry-After, the same request may be sent again.
    Any other database error (a constraint or data error that got past validation) is a bug on
    our side: 500 `server_error`. Both are logged with their traceback.
    """
    request = context.get("request")
    path = getattr(request, "path", "?")
    if isinstance(exc, (OperationalError, InterfaceError)):
        logger.error("database unavailable on %s: %s", path, exc.__class__.__name__, exc_info=exc)
        return Response(
            error_body("The database is unavailable; nothing was changed. Try again.", ApiCodes.DATABASE_UNAVAILABLE),
            status=503,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    logger.error("database error on %s: %s", path, exc.__class__.__name__, exc_info=exc)
    return Response(error_body("Internal server error.", ApiCodes.SERVER_ERROR), status=500)


def _json_error(request, status: int, message: str, code: str) -> JsonResponse:
    return JsonResponse(error_body(message, code), status=status)


def require_get(view):
    """django's require_GET for the plain Django views under /api: another method gets the API's
    JSON 405 (with `Allow`), never an HTML page."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method not in {"GET", "HEAD"}:
            response = _json_error(request, 405, f'Method "{request.method}" not allowed.', ApiCodes.METHOD_NOT_ALLOWED)
            response["Allow"] = "GET, HEAD"
            return response
        return view(request, *args, **kwargs)

    return wrapped


def is_api_path(path: str) -> bool:
    """Whether `path` is the API's (`/api` and below): its every answer is JSON in the error shape."""
    return path == "/api" or path.startswith("/api/")


def handler404(request, exception=None):
    if is_api_path(request.path) or request.path.startswith("/oauth2/"):
        return _json_error(request, 404, "Not found.", ApiCodes.NOT_FOUND)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if is_api_path(request.path):
        return _json_error(request, 500, "Internal server error.", ApiCodes.SERVER_ERROR)
    from django.views.defaults import server_error

    return server_error(request)


def handler400(request, exception=None):
    if is_api_path(request.path):
        return _json_error(request, 400, "Bad request.", ApiCodes.BAD_REQUEST)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler403(request, exception=None):
    if is_api_path(request.path):
        return _json_error(request, 403, "Forbidden.", ApiCodes.FORBIDDEN)
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)


def csrf_failure(request, reason: str = ""):
    """settings.CSRF_FAILURE_VIEW: under /api a form post without a CSRF token (the plain views
    there answer GET only) gets the API's JSON 403; elsewhere Django's own page."""
    if is_api_path(request.path):
        return _json_error(request, 403, "Forbidden: this request failed the CSRF check.", ApiCodes.FORBIDDEN)
    from django.views.csrf import csrf_failure as django_csrf_failure

    return django_csrf_failure(request, reason)
