"""Partner endpoints (API.md §8): partner checkout and partner subscription checkout.

Thin views over the public endpoints' serializers, services and rendering; every action needs
the `partner` scope, and the basket or subscription must be the token's partner organisation's.
"""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from baskets.api import schemas
from baskets.api.render import order_to_wire
from baskets.api.serializers import InitiateRequestSerializer, UpdateRequestSerializer
from baskets.api.subscription_views import (
    RECAPTCHA_PARAMETER,
    SubscriptionCheckoutResponse,
    SubscriptionCheckoutUpdateResponse,
    SubscriptionInitiateRequestSerializer,
    SubscriptionUpdateRequestSerializer,
    checkout_response,
    subscription_initiate_request,
    subscription_update_request,
)
from baskets.api.views import IDEMPOTENCY_HEADER, IF_MATCH_HEADER, initiate_request, update_request
from baskets.landing_state import basket_id_from_cookie, parse_basket_id
from checkout_project.api.auth import PARTNER_SCOPE, actor_from_request
from checkout_project.api.errors import ApplicationError
from checkout_project.api.headers import set_etag
from checkout_project.api.viewsets import ScopedViewSet
from partners import selectors, services
from partners.errors import PartnerCodes

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


class ValidationErrorOutSerializer(serializers.Serializer):
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
    errors = ValidationErrorOutSerializer(many=True)


class PartnerValidateResponse(serializers.Serializer):
    id = serializers.CharField()
    checkout = PartnerCheckoutStateSerializer()


def validation_to_wire(validation: selectors.PartnerBasketValidation) -> dict[str, Any]:
    return {
        "id": validation.basket.public_id,
        "checkout": {
            "order": order_to_wire(validation.basket, validation.items),
            "valid": validation.valid,
            "blockedProducts": validation.blocked_products(),
            "errors": [finding.to_wire() for finding in validation.findings],
        },
    }


# --- Views ------------------------------------------------------------------------------------


class PartnerCheckoutViewSet(ScopedViewSet):
    """Create, change and validate the partner organisation's baskets."""

    schema_tags = SCHEMA_TAGS

    @extend_schema(
        operation_id="partner_checkout_initiate",
        summary="Create or update a partner checkout basket",
        description="As POST /checkout/initiate; the basket belongs to the token's partner organisation. "
        "Offers not eligible for the partner are refused (400 offer_not_eligible), so are offers with a "
        "product blocked for it (400 product_blocked).",
        request=InitiateRequestSerializer,
        parameters=[IDEMPOTENCY_HEADER, IF_MATCH_HEADER],
        responses=schemas.responses(200, schemas.BasketResponse, 400, 401, 403, 404, 412, 422),
    )
    @action(detail=False, methods=["post"], url_path="initiate", required_scope=PARTNER_SCOPE)
    def initiate(self, request):
        actor = actor_from_request(request)
        services.require_partner(actor)
        return initiate_request(request, actor, services.partner_basket_initiate)

    @extend_schema(
        operation_id="partner_checkout_update",
        summary="Add, remove or change order items of the partner's landing-state basket",
        description="As PUT /checkout/update, on a basket of the token's partner organisation.",
        request=UpdateRequestSerializer,
        parameters=[IDEMPOTENCY_HEADER, IF_MATCH_HEADER],
        responses=schemas.responses(200, schemas.BasketUpdateResponse, 400, 401, 403, 404, 409, 410, 412, 422),
    )
    @action(detail=False, methods=["put"], url_path="update", required_scope=PARTNER_SCOPE)
    def update_basket(self, request):
        actor = actor_from_request(request)
        services.require_partner(actor)
        return update_request(request, actor, services.partner_basket_apply_actions)

    @extend_schema(
        operation_id="partner_checkout_validate",
        summary="Validate a partner checkout basket before submitting its order",
        description="Re-runs every check order submission runs, plus whether the basket is still open. "
        "Changes nothing.",
        request=None,
        parameters=[BASKET_ID_PARAMETER],
        responses=schemas.responses(200, PartnerValidateResponse, 400, 401, 403, 404),
    )
    @action(detail=False, methods=["post"], url_path=r"validate/(?P<id>[^/]+)", required_scope=PARTNER_SCOPE)
    def validate(self, request, id: str):  # the contract names the path parameter `id`
        actor = actor_from_request(request)
        services.require_partner(actor)
        if not _BASKET_ID.fullmatch(id):
            raise ApplicationError(
                "The basket id must look like basket-<uuid>.",
                code=PartnerCodes.INVALID_BASKET_ID,
                details={"id": f"Must match {BASKET_ID_PATTERN}"},
            )
        validation = selectors.partner_basket_validate(actor=actor, basket_id=parse_basket_id(id))
        response = Response(validation_to_wire(validation))
        set_etag(response, validation.basket.version)
        return response


class PartnerSubscriptionCheckoutViewSet(ScopedViewSet):
    """Change a subscription of the partner organisation through a basket."""

    schema_tags = ["Partner Subscription Checkout"]

    @extend_schema(
        operation_id="partner_checkout_subscription_retrieve",
        summary="Retrieve the partner's subscription checkout basket of the landing state",
        request=None,
        responses=schemas.responses(200, SubscriptionCheckoutResponse, 401, 403, 404),
    )
    @action(detail=False, methods=["get"], url_path="subscription", required_scope=PARTNER_SCOPE)
    def subscription(self, request):
        state = services.partner_subscription_checkout_get(
            actor=actor_from_request(request), basket_id=basket_id_from_cookie(request.COOKIES)
        )
        return checkout_response(state)

    @extend_schema(
        operation_id="partner_checkout_subscription_initiate",
        summary="Initiate an update-subscription checkout for a subscription of the partner organisation",
        request=SubscriptionInitiateRequestSerializer,
        parameters=[RECAPTCHA_PARAMETER, IDEMPOTENCY_HEADER],
        responses=schemas.responses(200, SubscriptionCheckoutResponse, 400, 401, 403, 404, 409, 422, 423, 502),
    )
    @subscription.mapping.post
    def subscription_initiate(self, request):
        actor = actor_from_request(request)
        services.require_partner(actor)
        return subscription_initiate_request(request, actor, services.partner_subscription_checkout_initiate)

    @extend_schema(
        operation_id="partner_checkout_subscription_update",
        summary="Add or remove offers and add-ons of the partner's subscription checkout basket",
        request=SubscriptionUpdateRequestSerializer,
        parameters=[RECAPTCHA_PARAMETER, IDEMPOTENCY_HEADER, IF_MATCH_HEADER],
        responses=schemas.responses(
            200, SubscriptionCheckoutUpdateResponse, 400, 401, 403, 404, 409, 410, 412, 422, 423, 502
        ),
    )
    @subscription.mapping.put
    def subscription_update(self, request):
        actor = actor_from_request(request)
        services.require_partner(actor)
        return subscription_update_request(request, actor, services.partner_subscription_checkout_apply_actions)
