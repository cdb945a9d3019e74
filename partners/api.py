"""Partner endpoints (API.md §8): partner checkout and partner subscription checkout.

The public checkout viewsets, subclassed with the partner policy: every action needs the `partner`
scope and a partner organisation's token, and runs the partner services (the basket or
subscription must be the token's partner organisation's). Validation is a partner-only action.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from baskets.api import examples, schemas
from baskets.api.landing_state import parse_basket_id
from baskets.api.render import order_to_wire
from baskets.api.subscription_views import SubscriptionCheckoutViewSet
from baskets.api.views import CheckoutViewSet
from checkout_project.api.actions import Call, api_action, extend_schema_actions
from checkout_project.api.auth import PARTNER_SCOPE
from checkout_project.api.errors import ApplicationError
from checkout_project.api.headers import set_etag
from checkout_project.api.openapi import ETAG_HEADER
from checkout_project.api.viewsets import ScopedViewSet
from partners import selectors, services
from partners.errors import PartnerCodes

if TYPE_CHECKING:
    from checkout_project.api.actor import Actor

BASKET_ID_PATTERN = r"^basket-[A-Za-z0-9\-_]{32,36}$"
_BASKET_ID = re.compile(BASKET_ID_PATTERN)
BASKET_ID_PARAMETER = OpenApiParameter(
    "id", str, OpenApiParameter.PATH, pattern=BASKET_ID_PATTERN,
    description="The basket ID to validate (format basket-{uuid}).",
)  # fmt: skip
SCHEMA_TAGS = ["Partner Checkout"]


# --- Output (documentation only) ----------------------------------------------------------------


class BlockedProductSerializer(serializers.Serializer):
    orderItemId = serializers.UUIDField()
    path = serializers.CharField(allow_null=True)
    productCode = serializers.CharField()
    reason = serializers.ChoiceField(
        choices=["product_unavailable", "product_blocked"],
        help_text="product_unavailable: no longer sold; product_blocked: not sold through this partner",
    )


class ValidationFindingOutSerializer(serializers.Serializer):
    orderItemId = serializers.UUIDField(required=False, help_text="Absent for findings about the whole basket")
    code = serializers.CharField(
        help_text="basket_completed, basket_expired, basket_empty, offer_not_found (unpublished), "
        "offer_version_stale, price_changed, offer_not_eligible, product_unavailable, product_blocked, "
        "quantity_out_of_range, renewal_needs_one_offer, promo_code_*"
    )
    message = serializers.CharField()


class PartnerCheckoutStateSerializer(serializers.Serializer):
    order = schemas.OrderSerializer()
    valid = serializers.BooleanField(help_text="True when `errors` is empty: the order can be submitted")
    blockedProducts = BlockedProductSerializer(many=True)
    errors = ValidationFindingOutSerializer(many=True)  # type: ignore[assignment]  # a field, not Serializer.errors


class PartnerValidateResponse(serializers.Serializer):
    id = serializers.CharField()
    checkout = PartnerCheckoutStateSerializer()


def validation_to_wire(validation: selectors.PartnerBasketValidation) -> dict[str, Any]:
    return {
        "id": validation.basket.public_id,
        "checkout": {
            "order": order_to_wire(validation.basket, validation.items, validation.quote),
            "valid": validation.valid,
            "blockedProducts": validation.blocked_products(),
            "errors": [finding.to_wire() for finding in validation.findings],
        },
    }


def validation_response(validation: selectors.PartnerBasketValidation) -> Response:
    response = Response(validation_to_wire(validation))
    set_etag(response, validation.basket.version)
    return response


def basket_id_from_path(value: str) -> uuid.UUID | None:
    """The basket named by the path (`basket-<uuid>`); 400 invalid_basket_id otherwise."""
    if not _BASKET_ID.fullmatch(value):
        raise ApplicationError(
            "The basket id must look like basket-<uuid>.",
            code=PartnerCodes.INVALID_BASKET_ID,
            details={"id": f"Must match {BASKET_ID_PATTERN}"},
        )
    return parse_basket_id(value)


# --- Views ------------------------------------------------------------------------------------
# The public checkout viewsets with the partner policy: the `partner` scope, a partner
# organisation's token, and the partner services (the basket or subscription must be the
# partner's; offers it may not sell are refused).


class PartnerViewSet(ScopedViewSet):
    """The partner endpoints' caller: a token of a partner organisation's client, with the `partner`
    scope (an inactive partner's tokens are already refused when loaded: auth.token_holder_allowed)."""

    required_scope = PARTNER_SCOPE

    def caller(self, request) -> Actor:
        actor = super().caller(request)
        services.require_partner(actor)
        return actor


@extend_schema_actions(
    initiate=extend_schema(
        operation_id="partner_checkout_initiate",
        summary="Create or update a partner checkout basket",
        description="As POST /api/checkout/initiate; the basket belongs to the token's partner organisation. "
        "Offers not eligible for the partner are refused (400 offer_not_eligible), so are offers with a "
        "product blocked for it (400 product_blocked).\n\n"
        "**Create or update**: a `limio_state` cookie naming an active basket of this partner makes initiate "
        "replace that basket's items and details. The cookie is read silently: a partner server that keeps "
        "one cookie jar for several customers merges their baskets. Keep one jar per customer, or send no "
        "cookie to start a new basket.",
    ),
    update_basket=extend_schema(
        operation_id="partner_checkout_update",
        summary="Add, remove or change order items of the partner's landing-state basket",
        description="As PUT /api/checkout/update, on a basket of the token's partner organisation: `add` needs "
        "an `offer` (eligible for the partner), `remove` the order item's `id`, `update` the `id` and a "
        "`quantity`; all or nothing, 400 with `details.actions[index]` for an invalid action.",
    ),
)
class PartnerCheckoutViewSet(PartnerViewSet, CheckoutViewSet):
    """Create, change and validate the partner organisation's baskets."""

    schema_tags = SCHEMA_TAGS
    basket_initiate = staticmethod(services.partner_basket_initiate)
    basket_apply_actions = staticmethod(services.partner_basket_apply_actions)
    abandoned = None  # the abandoned feed is not a partner endpoint

    @extend_schema(
        operation_id="partner_checkout_validate",
        summary="Validate a partner checkout basket before submitting its order",
        description="Re-runs every check order submission runs, plus whether the basket is still open: every "
        "offer still published, at the version added and the price unchanged, eligible for the partner, "
        "every product available and not blocked for it, quantities within limits, the promo code still "
        "valid. Answers `valid` and each finding; changes nothing. 400 invalid_basket_id when the id does not "
        "match the pattern; 404 unless the basket is this partner's.",
        parameters=[BASKET_ID_PARAMETER, ETAG_HEADER],
        examples=examples.PARTNER_VALIDATE,
        responses=schemas.responses(200, PartnerValidateResponse, 400, 401, 403, 404),
    )
    # The contract names the path parameter `id`.
    @api_action(methods=["post"], url_path=r"validate/(?P<id>[^/]+)", render=validation_response)
    def validate(self, call: Call) -> selectors.PartnerBasketValidation:
        return selectors.partner_basket_validate(actor=call.actor, basket_id=basket_id_from_path(call.path["id"]))


@extend_schema_actions(
    subscription=extend_schema(
        operation_id="partner_checkout_subscription_retrieve",
        summary="Retrieve the partner's subscription checkout basket of the landing state",
        description="As GET /api/checkout/subscription, for a change basket of the token's partner "
        "organisation (named by the `limio_state` cookie).",
    ),
    subscription_initiate=extend_schema(
        operation_id="partner_checkout_subscription_initiate",
        summary="Initiate an update-subscription checkout for a subscription of the partner organisation",
        description="As POST /api/checkout/subscription, with a partner token: the subscription must belong to "
        "the token's partner organisation (404 otherwise). Sets the `limio_state` cookie naming the change "
        "basket; 423 while the subscription has a pending change.",
    ),
    subscription_update=extend_schema(
        operation_id="partner_checkout_subscription_update",
        summary="Add or remove offers and add-ons of the partner's subscription checkout basket",
        description="As PUT /api/checkout/subscription, on a change basket of the token's partner "
        "organisation: at most one offer add per request; the current offer's removal and incompatible "
        "add-ons' removals are added automatically.",
    ),
)
class PartnerSubscriptionCheckoutViewSet(PartnerViewSet, SubscriptionCheckoutViewSet):
    """Change a subscription of the partner organisation through a basket."""

    schema_tags = ["Partner Subscription Checkout"]
    checkout_get = staticmethod(services.partner_subscription_checkout_get)
    checkout_initiate = staticmethod(services.partner_subscription_checkout_initiate)
    checkout_apply_actions = staticmethod(services.partner_subscription_checkout_apply_actions)
