"""The public checkout endpoints: initiate, update and the abandoned feed (API.md §4)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from baskets import selectors, services
from baskets.api import examples, schemas
from baskets.api.landing_state import basket_id_from_cookie, set_landing_state
from baskets.api.render import abandoned_item_to_wire, order_to_wire
from baskets.api.serializers import AbandonedQuerySerializer, InitiateRequestSerializer, UpdateRequestSerializer
from baskets.links import recovery_link
from baskets.models import Basket
from checkout_project.api.actions import Call, api_action
from checkout_project.api.auth import require_customer
from checkout_project.api.headers import set_etag
from checkout_project.api.openapi import ETAG_HEADER, SET_LANDING_STATE_HEADER
from checkout_project.api.viewsets import ScopedViewSet

# --- Rendering --------------------------------------------------------------------------------


def basket_response(
    change: services.BasketChange, *, with_results: bool = False, cookie: bool = False, base_url: str | None = None
) -> Response:
    body: dict[str, Any] = {
        "id": change.basket.public_id,
        "order": order_to_wire(change.basket, change.items, change.quote),
    }
    if base_url is not None:
        body["checkoutUrl"] = checkout_url(change.basket, base_url)
    if with_results:
        body["actionResults"] = change.action_results
    response = Response(body)
    set_etag(response, change.basket.version)
    if cookie:
        set_landing_state(response, change.basket)
    return response


@dataclass(frozen=True)
class InitiatedBasket:
    """An initiated basket and where this server is reached (`https://checkout.example.com/`),
    from which its absolute `checkoutUrl` is made."""

    change: services.BasketChange
    base_url: str


def checkout_url(basket: Basket, base_url: str) -> str:
    """The hosted checkout page of this basket, as a link a storefront sends its customer's browser
    to (Stripe's `session.url`): a signed recovery-kind link (API.md §4), absolute, so it works
    from the storefront's own origin. Revoking the basket's links revokes it too (a new nonce)."""
    return urljoin(base_url, recovery_link(basket))


def basket_with_landing_state(initiated: InitiatedBasket) -> Response:
    """The basket, its `checkoutUrl`, and the landing-state cookie naming it."""
    return basket_response(initiated.change, cookie=True, base_url=initiated.base_url)


def basket_with_action_results(change: services.BasketChange) -> Response:
    """The basket and what became of each requested action."""
    return basket_response(change, with_results=True)


def abandoned_page_response(page: selectors.AbandonedPage) -> Response:
    body: dict[str, Any] = {"items": [abandoned_item_to_wire(basket) for basket in page.baskets]}
    if page.next_cursor is not None:
        body["queryMore"] = page.next_cursor.encode()
    return Response(body)


def entry_from_request(request) -> dict[str, str]:
    # NUL cannot be stored in PostgreSQL jsonb; a header is not worth a 500.
    entry = {"referer": request.headers.get("Referer", "").replace("\x00", "")[:500]}
    return {key: value for key, value in entry.items() if value}


# --- Views ------------------------------------------------------------------------------------


class CheckoutViewSet(ScopedViewSet):
    """Create and change baskets; read the abandoned feed."""

    schema_tags = ["Checkout & Baskets"]
    required_scope = "checkout"
    # The use cases behind initiate and update (partners.api binds them to a partner organisation).
    basket_initiate: Callable[..., services.BasketChange] = staticmethod(services.basket_initiate)
    basket_apply_actions: Callable[..., services.BasketChange] = staticmethod(services.basket_apply_actions)

    @extend_schema(
        operation_id="checkout_initiate",
        summary="Create or update a basket",
        description="Creates a basket with these order items and details, answers it with its ETag and a "
        "`checkoutUrl` (a signed link to the hosted checkout page for this basket, revoked with its other "
        "links), and sets "
        "the `limio_state` cookie naming it, which the update and order calls use.\n\n"
        "**Create or update**: when the request carries a `limio_state` cookie for an active basket this "
        "caller owns, that basket's items and details are *replaced* instead (same id, version + 1). The "
        "cookie is read silently: a client that keeps one cookie jar for several customers (a server, or a "
        "generated client with its default jar) merges their baskets. Keep one cookie jar per customer, or "
        "send no cookie to start a new basket.\n\n"
        "Each offer must exist and be published; a `version` must be the offer's current one (400 "
        "offer_version_stale). Limits: an offer's maxQuantity across the basket (400 quantity_limit_exceeded), "
        "at most BASKET_MAX_ITEMS items (400 basket_too_large). A customer token's basket belongs to its "
        "customer; a client token's to its application (API.md §2).",
        parameters=[schemas.LANDING_STATE_FOR_INITIATE, ETAG_HEADER, SET_LANDING_STATE_HEADER],
        examples=examples.INITIATE,
        responses=schemas.responses(200, schemas.InitiateResponse, 400, 401, 403, 404, 412, 422),
    )
    @api_action(
        methods=["post"],
        url_path="initiate",
        body=InitiateRequestSerializer,
        idempotent=True,
        if_match=True,
        actor_check=require_customer,
        render=basket_with_landing_state,
    )
    def initiate(self, call: Call) -> InitiatedBasket:
        change = self.basket_initiate(
            actor=call.actor,
            order=call.data["order"],
            landing_basket_id=basket_id_from_cookie(call.request.COOKIES),
            if_match=call.if_match,
            entry=entry_from_request(call.request),
        )
        # The host the caller reached (ALLOWED_HOSTS; https behind SECURE_PROXY_SSL_HEADER).
        return InitiatedBasket(change, base_url=call.request.build_absolute_uri("/"))

    @extend_schema(
        operation_id="checkout_update",
        summary="Add, remove or change order items of the landing-state basket",
        description="Applies the actions to the basket the `limio_state` cookie names, in order and all or "
        "nothing, under a row lock: `add` needs an `offer` (an add-on also its `parentId`), `remove` the order "
        "item's `id` (its add-ons go with it), `update` the `id` and the new `quantity` (>= 1). Any invalid "
        "action: 400 with `details.actions[index]` saying why, and the basket unchanged. Answers the basket "
        "and each action's result. New (acquisition) baskets only: a subscription change basket changes "
        "through PUT /api/checkout/subscription (409 order_type_mismatch).",
        parameters=[schemas.LANDING_STATE_COOKIE, ETAG_HEADER],
        examples=examples.UPDATE,
        responses=schemas.responses(200, schemas.BasketUpdateResponse, 400, 401, 403, 404, 409, 410, 412, 422),
    )
    @api_action(
        methods=["put"],
        url_path="update",
        body=UpdateRequestSerializer,
        idempotent=True,
        if_match=True,
        render=basket_with_action_results,
    )
    def update_basket(self, call: Call) -> services.BasketChange:
        return self.basket_apply_actions(
            actor=call.actor,
            basket_id=basket_id_from_cookie(call.request.COOKIES),
            actions=call.data["order"]["orderItems"],
            if_match=call.if_match,
        )

    @extend_schema(
        operation_id="checkout_abandoned",
        summary="Baskets started but not completed, oldest first",
        description="Baskets not completed (active or expired) created after `createdAfter`, ordered by "
        "(created, id), `limit` per page (default 50, at most 1000), each with a signed recovery link. "
        "`queryMore` of a page fetches the next one (absent on the last page); a malformed cursor is 400 "
        "invalid_cursor. Beyond Limio: `updatedAfter`, `hasEmail=true`. A caller sees the baskets API.md §2 "
        "lets it see; a token that also carries `checkout:admin` sees every basket.",
        examples=examples.ABANDONED,
        responses=schemas.responses(200, schemas.AbandonedResponse, 400, 401, 403),
    )
    @api_action(
        methods=["get"],
        url_path="abandoned",
        scope="baskets:read",
        query=AbandonedQuerySerializer,
        render=abandoned_page_response,
    )
    def abandoned(self, call: Call) -> selectors.AbandonedPage:
        query = call.data
        return selectors.abandoned_baskets(
            actor=call.actor,
            limit=query["limit"],
            created_after=query.get("createdAfter"),
            updated_after=query.get("updatedAfter"),
            has_email=query.get("hasEmail"),
            cursor=selectors.Cursor.decode(query["queryMore"]) if query.get("queryMore") else None,
        )
