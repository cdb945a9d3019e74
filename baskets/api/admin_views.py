"""Staff endpoints under /api/admin/checkout (scope `checkout:admin`): renewals (API.md §6)."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from baskets import subscription_checkout
from baskets.api import schemas
from baskets.api.render import order_to_wire
from baskets.api.views import IDEMPOTENCY_HEADER
from checkout_project.api.auth import actor_from_request
from checkout_project.api.headers import set_etag
from checkout_project.api.idempotency import idempotent
from checkout_project.api.viewsets import ScopedViewSet

_SUBSCRIPTION_ID = r"^sub-[0-9a-fA-F-]{32,36}$"
_REFERENCE = r"^[A-Z0-9]{12}$"


class SubscriptionRefSerializer(serializers.Serializer):
    id = serializers.RegexField(_SUBSCRIPTION_ID, required=False)
    reference = serializers.RegexField(_REFERENCE, required=False)


class RenewRequestSerializer(serializers.Serializer):
    subscription = SubscriptionRefSerializer(required=False)
    subscriptionId = serializers.RegexField(_SUBSCRIPTION_ID, required=False)
    subscriptionReference = serializers.RegexField(_REFERENCE, required=False)

    def validate(self, attrs):
        nested = attrs.get("subscription") or {}
        public_id = nested.get("id") or attrs.get("subscriptionId")
        reference = nested.get("reference") or attrs.get("subscriptionReference")
        if not public_id and not reference:
            raise serializers.ValidationError(
                {"subscription": "Give subscription.id or subscription.reference (or subscriptionId / "
                 "subscriptionReference)."}
            )  # fmt: skip
        subscription_id = None
        if public_id:
            try:
                subscription_id = uuid.UUID(public_id.removeprefix("sub-"))
            except ValueError:
                raise serializers.ValidationError({"subscription": "Not a subscription id."}) from None
        return {"subscription_id": subscription_id, "reference": None if subscription_id else reference}


class RenewResponse(serializers.Serializer):
    id = serializers.CharField()
    segments = serializers.ListField(child=serializers.CharField())
    order = schemas.OrderSerializer()


class AdminCheckoutViewSet(ScopedViewSet):
    """Baskets created by staff and back-office systems for a customer."""

    schema_tags = ["Checkout & Baskets"]

    @extend_schema(
        operation_id="admin_checkout_initiate_renew",
        summary="Create a renewal basket for a subscription",
        request=RenewRequestSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses=schemas.responses(200, RenewResponse, 400, 401, 403, 404, 409, 422),
    )
    @action(detail=False, methods=["post"], url_path="initiate/renew", required_scope="checkout:admin")
    def initiate_renew(self, request):
        actor = actor_from_request(request)
        payload = RenewRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)

        def handle():
            basket, items, subscription = subscription_checkout.basket_initiate_renewal(
                actor=actor, **payload.validated_data
            )
            response = Response(
                {
                    "id": basket.public_id,
                    "segments": list(subscription.customer.segments),
                    "order": order_to_wire(basket, items),
                }
            )
            set_etag(response, basket.version)
            return response

        return idempotent(request, actor, handle)
