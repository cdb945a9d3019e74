"""One way to write an API action: declare what the plumbing does around one service call.

    @extend_schema(operation_id="checkout_update", summary="…", responses=…)
    @api_action(methods=["put"], url_path="update", body=UpdateRequestSerializer,
                idempotent=True, if_match=True, render=basket_with_action_results)
    def update_basket(self, call: Call) -> BasketChange:
        return self.basket_apply_actions(
            actor=call.actor, basket_id=basket_id_from_cookie(call.request.COOKIES),
            actions=call.data["order"]["orderItems"], if_match=call.if_match,
        )

The handler only builds the service call from the caller, the validated input and the request,
and returns the service's result; `render` turns that result into the Response (body, ETag,
cookie). The action stays a DRF `@action` of a viewset registered on the router, and the
declaration documents itself: the body or query serializer, the Idempotency-Key and If-Match
headers join the OpenAPI operation that `@extend_schema` on the action describes.

Around the handler, in this order:

1. the caller: the viewset's `caller(request)` (the actor and the viewset's own check, e.g. a
   partner token for the partner endpoints), then the action's `actor_check(actor)`;
2. without a `guard`: the body (or query) is validated (400 in the error shape); then
3. with `idempotent=True`, the Idempotency-Key (checkout_project.api.idempotency): a retry is
   answered from the stored record, and nothing below runs for it;
4. with a `guard` (reCAPTCHA): `guard(request)`, then the body is validated. The guard runs only
   when the request is executed, never for a replay: its single-use proof was spent by the first
   attempt, and a retry with the same key and body must still get the first answer. Its refusal
   rolls back the key's record with the rest, so the key can be used again;
5. If-Match (`if_match=True`) is read into `call.if_match`; the handler calls the service and
   `render` renders its result.

Why a transaction around the service: with an Idempotency-Key, steps 4-5 run inside the
transaction that inserted the key's record, so the record commits atomically with the write it
records (and rolls back with it when the service refuses). A concurrent request with the same key
waits on the record's unique index until then and replays the answer. That is the only
transaction the API layer opens; every service opens its own for its writes. An action declared
`transactional=False` (POST /api/order, whose service calls the payment gateway before its own
transaction) claims the key in a short transaction first and stores the answer after, instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from checkout_project.api.headers import IF_MATCH_PATTERN, parse_if_match
from checkout_project.api.idempotency import HEADER as IDEMPOTENCY_KEY
from checkout_project.api.idempotency import idempotent as run_idempotently
from checkout_project.api.openapi import IDEMPOTENT_REPLAYED_HEADER

if TYPE_CHECKING:
    from checkout_project.api.actor import Actor

__all__ = ["IDEMPOTENCY_HEADER", "IF_MATCH_HEADER", "Call", "api_action", "extend_schema_actions"]

IDEMPOTENCY_HEADER = OpenApiParameter(
    IDEMPOTENCY_KEY, {"type": "string", "minLength": 1, "maxLength": 255}, OpenApiParameter.HEADER, required=False,
    description="Any string of 1 to 255 characters (e.g. a UUID), unique per change you mean to make. Sent "
    "again with the same body by the same client within 24 h, it replays the first response "
    "(Idempotent-Replayed: true) instead of acting twice; with a different body: 422 "
    "idempotency_key_reused. Longer, empty or NUL-carrying keys: 400 invalid_idempotency_key.",
    examples=[OpenApiExample("a UUID", value="5f0c6a2e-8d1b-4c7e-9a3f-2b6d4e8c1a90")],
)  # fmt: skip
IF_MATCH_HEADER = OpenApiParameter(
    "If-Match", {"type": "string", "pattern": IF_MATCH_PATTERN}, OpenApiParameter.HEADER, required=False,
    description='The basket version you read (its ETag): "3", W/"3" or 3; * or no header: any version. '
    "412 when the basket changed since (nothing is changed); anything else: 400 invalid_if_match.",
    examples=[OpenApiExample("the ETag you read", value='"3"')],
)  # fmt: skip


@dataclass(frozen=True)
class Call:
    """What a handler builds its service call from."""

    actor: Actor
    request: Request
    data: dict[str, Any] = field(default_factory=dict)  # the validated body or query
    if_match: int | None = None  # the version If-Match names (actions declared with if_match=True)
    path: dict[str, str] = field(default_factory=dict)  # the URL's named groups


def api_action(
    *,
    methods: Sequence[str] | None = None,
    url_path: str | None = None,
    scope: str | None = None,
    also_accepted_scopes: tuple[str, ...] = (),
    body: type[Serializer] | None = None,
    query: type[Serializer] | None = None,
    idempotent: bool = False,
    transactional: bool = True,
    guard: Callable[[Request], None] | None = None,
    if_match: bool = False,
    actor_check: Callable[[Actor], None] | None = None,
    render: Callable[[Any], Response],
) -> Callable[[Callable[[Any, Call], Any]], Any]:
    """Make `handler(self, call) -> service result` a view method of a ScopedViewSet.

    With `methods` and `url_path` it is a route of its own (DRF `@action(detail=False)`): `scope`
    is the OAuth scope it requires (default: the viewset's `required_scope`, which a subclass may
    change), `also_accepted_scopes` its alternatives. Without them it is a further method of
    another action's route, mapped with DRF's `@<action>.mapping.<method>` above this decorator;
    that route's scope applies. `transactional=False` (with `idempotent`): the service runs with
    no transaction open, its Idempotency-Key claimed before and answered after in short
    transactions of their own (checkout_project.api.idempotency.idempotent_outside_transaction):
    for a service that calls out (the payment gateway) and must not do so inside one.
    """
    if (methods is None) != (url_path is None):
        raise TypeError("api_action: give both methods and url_path (a route), or neither (a mapped method).")
    if methods is None and (scope is not None or also_accepted_scopes):
        raise TypeError("api_action: a mapped method has its route's scope.")
    if body is not None and query is not None:
        raise TypeError("api_action: an action reads a body or a query, not both.")

    # The view method it returns is typed Any: DRF's @action adds the route's attributes
    # (mapping, url_path, kwargs…) to the function.
    def decorate(handler: Callable[[Any, Call], Any]) -> Any:
        def view(self, request: Request, **path: str) -> Response:
            actor = self.caller(request)
            if actor_check is not None:
                actor_check(actor)
            # Without a guard, a malformed request is refused before its Idempotency-Key is read.
            data = None if guard is not None else _validated(request, body=body, query=query)

            def execute() -> Response:
                if guard is not None:
                    guard(request)
                valid = data if data is not None else _validated(request, body=body, query=query)
                version = parse_if_match(request) if if_match else None
                call = Call(actor=actor, request=request, data=valid, if_match=version, path=path)
                return render(handler(self, call))

            if not idempotent:
                return execute()
            return run_idempotently(request, actor, execute, transactional=transactional)

        # Not functools.wraps: the schema reads the action's docstring as its description, and
        # the handler's own attributes are not the view's.
        view.__name__ = handler.__name__
        view.__qualname__ = handler.__qualname__
        view.__module__ = handler.__module__

        if methods is not None:
            route: dict[str, Any] = {"detail": False, "methods": list(methods), "url_path": url_path}
            if scope is not None:
                route["required_scope"] = scope
            if also_accepted_scopes:
                route["also_accepted_scopes"] = also_accepted_scopes
            view = action(**route)(view)
        parameters: list[Any] = [serializer for serializer in (query,) if serializer is not None]
        if idempotent:
            parameters.extend((IDEMPOTENCY_HEADER, IDEMPOTENT_REPLAYED_HEADER))
        if if_match:
            parameters.append(IF_MATCH_HEADER)
        return extend_schema(request=body, parameters=parameters)(view)

    return decorate


def _validated(request: Request, *, body: type[Serializer] | None, query: type[Serializer] | None) -> dict[str, Any]:
    """The body or the query, validated; 400 in the error shape (the exception handler's)."""
    if body is not None:
        payload = body(data=request.data)
    elif query is not None:
        payload = query(data=request.query_params)
    else:
        return {}
    payload.is_valid(raise_exception=True)
    return payload.validated_data


def extend_schema_actions(**decorators: Callable[[Any], Any]) -> Callable[[type], type]:
    """drf-spectacular's `extend_schema_view` for a viewset that inherits its actions: the
    subclass's own description of each (operation id, summary…) on top of the inherited one,
    including the methods mapped onto another action's route, which `extend_schema_view` skips.
    The parent's actions keep their description: each one described here gets its own copy."""

    def decorate(viewset: type) -> type:
        for name, decorator in decorators.items():
            if name not in vars(viewset):
                setattr(viewset, name, _own_copy(viewset, name))
            decorator(getattr(viewset, name))
        return viewset

    return decorate


def _own_copy(viewset: type, name: str) -> Callable[..., Response]:
    inherited = getattr(viewset, name)

    def method(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return inherited(self, request, *args, **kwargs)

    vars(method).update(vars(inherited))  # the route: mapping, url_path, kwargs…
    vars(method)["kwargs"] = dict(getattr(inherited, "kwargs", {}))  # …whose schema changes for this viewset only
    method.__name__ = name
    method.__qualname__ = f"{viewset.__qualname__}.{name}"
    method.__module__ = viewset.__module__
    return method
