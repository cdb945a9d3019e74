"""The public checkout endpoints: initiate, update and the abandoned feed (API.md §4)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from baskets import selectors, services
from baskets.api import schemas
from baskets.api.render import abandoned_item_to_wire, order_to_wire
from baskets.api.serializers import (
    AbandonedQuerySerializer,
    InitiateRequestSerializer,
    UpdateRequestSerializer,
)
from baskets.landing_state import basket_id_from_cookie, set_landing_state
from checkout_project.api.auth import actor_from_request, require_customer
from checkout_project.api.headers import parse_if_match, set_etag
from checkout_project.api.idempotency import idempotent_write
from checkout_project.api.viewsets import ScopedViewSet

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
    description="Replays the first response for 24 h when sent again with the same body.",
)  # fmt: skip
IF_MATCH_HEADER = OpenApiParameter(
    "If-Match", str, OpenApiParameter.HEADER, required=False,
    description='The basket version you read (ETag), e.g. "3"; 412 when it changed since.',
)  # fmt: skip


def basket_response(change: services.BasketChange, *, with_results: bool = False, cookie: bool = False) -> Response:
    body = {"id": change.basket.public_id, "order": order_to_wire(change.basket, change.items)}
    if with_results:
        body["actionResults"] = change.action_results
    response = Response(body)
    set_etag(response, change.basket.version)
    if cookie:
        set_landing_state(response, change.basket)
    return response


def entry_from_request(request) -> dict[str, str]:
    # NUL cannot be stored in PostgreSQL jsonb; a header is not worth a 500.
    entry = {"referer": request.headers.get("Referer", "").replace("\x00", "")[:500]}
    return {key: value for key, value in entry.items() if value}


# The request handling the public and the partner endpoints share; each viewset authorises the
# caller first and names its service (the partner services bind the basket to the partner).


def initiate_request(request, actor, initiate: Callable[..., services.BasketChange]) -> Response:
    """POST …/checkout/initiate: validate the body, run `initiate` idempotently, set the cookie."""

    def run(data):
        change = initiate(
            actor=actor,
            order=data["order"],
            landing_basket_id=basket_id_from_cookie(request.COOKIES),
            if_match=parse_if_match(request),
            entry=entry_from_request(request),
        )
        return basket_response(change, cookie=True)

    return idempotent_write(request, actor, InitiateRequestSerializer, run)


def update_request(
    request,
    actor,
    apply_actions: Callable[..., Any],
    *,
    serializer_class: type[Serializer] = UpdateRequestSerializer,
    render: Callable[[Any], Response] | None = None,
    guard: Callable[[Any], None] | None = None,
) -> Response:
    """PUT …/checkout/update (and …/checkout/subscription, with its serializer, rendering and
    reCAPTCHA `guard`): validate the body, run `apply_actions` on the cookie's basket
    idempotently, `render` the result (by default the basket with its actionResults)."""
    render = render or partial(basket_response, with_results=True)

    def run(data):
        return render(
            apply_actions(
                actor=actor,
                basket_id=basket_id_from_cookie(request.COOKIES),
                actions=data["order"]["orderItems"],
                if_match=parse_if_match(request),
            )
        )

    return idempotent_write(request, actor, serializer_class, run, guard=guard)


class CheckoutViewSet(ScopedViewSet):
    """Create and change baskets; read the abandoned feed."""

    schema_tags = ["Checkout & Baskets"]

    @extend_schema(
        operation_id="checkout_initiate",
        summary="Create or update a basket",
        request=InitiateRequestSerializer,
        parameters=[IDEMPOTENCY_HEADER, IF_MATCH_HEADER],
        responses=schemas.responses(200, schemas.BasketResponse, 400, 401, 403, 404, 412, 422),
    )
    @action(detail=False, methods=["post"], url_path="initiate", required_scope="checkout")
    def initiate(self, request):
        actor = actor_from_request(request)
        require_customer(actor)
        return initiate_request(request, actor, services.basket_initiate)

    @extend_schema(
        operation_id="checkout_update",
        summary="Add, remove or change order items of the landing-state basket",
        request=UpdateRequestSerializer,
        parameters=[IDEMPOTENCY_HEADER, IF_MATCH_HEADER],
        responses=schemas.responses(200, schemas.BasketUpdateResponse, 400, 401, 403, 404, 409, 410, 412, 422),
    )
    @action(detail=False, methods=["put"], url_path="update", required_scope="checkout")
    def update_basket(self, request):
        return update_request(request, actor_from_request(request), services.basket_apply_actions)

    @extend_schema(
        operation_id="checkout_abandoned",
        summary="Baskets started but not completed, oldest first",
        parameters=[AbandonedQuerySerializer],
        responses=schemas.responses(200, schemas.AbandonedResponse, 400, 401, 403),
    )
    @action(detail=False, methods=["get"], url_path="abandoned", required_scope="baskets:read")
    def abandoned(self, request):
        query = AbandonedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        page = selectors.abandoned_baskets(
            actor=actor_from_request(request),
            limit=params["limit"],
            created_after=params.get("createdAfter"),
            updated_after=params.get("updatedAfter"),
            has_email=params.get("hasEmail"),
            cursor=selectors.Cursor.decode(params["queryMore"]) if params.get("queryMore") else None,
        )
        body = {"items": [abandoned_item_to_wire(basket) for basket in page.baskets]}
        if page.next_cursor is not None:
            body["queryMore"] = page.next_cursor.encode()
        return Response(body)
