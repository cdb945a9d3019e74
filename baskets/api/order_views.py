"""Order submission (POST /api/order, API.md §9) and promo codes (POST /api/admin/v2/promo_code, §7)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from baskets import orders, promo_codes
from baskets.api import schemas
from baskets.api.render import order_to_wire
from baskets.api.serializers import CustomerDetailsSerializer
from baskets.api.subscription_views import checkout_to_wire
from baskets.api.views import IDEMPOTENCY_HEADER, IF_MATCH_HEADER, basket_response
from baskets.landing_state import parse_basket_id
from checkout_project.api.auth import actor_from_request, require_customer
from checkout_project.api.headers import parse_if_match, set_etag
from checkout_project.api.idempotency import idempotent_write
from checkout_project.api.viewsets import ScopedViewSet
from subscriptions.pricing import money

ADMIN_SCOPE = "checkout:admin"

# --- Input ------------------------------------------------------------------------------------


class PromoCodeRequestSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64, help_text="The promo code, in any case")
    basketId = serializers.CharField(max_length=64, help_text="basket-<uuid>")


class PaymentInputSerializer(serializers.Serializer):
    method = serializers.CharField(max_length=40, required=False, allow_blank=True, help_text="e.g. invoice")
    reference = serializers.CharField(
        max_length=255, required=False, allow_blank=True, help_text="Your reference, e.g. a purchase order"
    )


class OrderRequestSerializer(serializers.Serializer):
    checkoutId = serializers.CharField(max_length=64, help_text="The basket id, basket-<uuid>")
    customerDetails = CustomerDetailsSerializer(required=False)
    payment = PaymentInputSerializer(required=False)


# --- Output (documentation only) ----------------------------------------------------------------


class SubscriptionRefOutSerializer(serializers.Serializer):
    id = serializers.CharField()
    reference = serializers.CharField()


class PaymentOutSerializer(serializers.Serializer):
    gateway = serializers.CharField(help_text='"manual" with the default gateway')
    status = serializers.CharField(help_text='"recorded" (no money taken), "authorized" or "captured"')
    amount = serializers.CharField()
    currency = serializers.CharField(allow_blank=True)


class OrderResponse(serializers.Serializer):
    id = serializers.CharField(help_text="order-<uuid>")
    checkoutId = serializers.CharField()
    status = serializers.CharField(help_text='"completed"')
    order = schemas.OrderSerializer()
    subscriptions = SubscriptionRefOutSerializer(many=True)
    payment = PaymentOutSerializer()


def completed_order_to_wire(completed: orders.CompletedOrder) -> dict[str, Any]:
    basket, payment = completed.basket, completed.payment
    if completed.update_state is not None:
        order = checkout_to_wire(completed.update_state, with_results=False)["order"]
    else:
        order = order_to_wire(basket, completed.items)
    return {
        "id": completed.public_id,
        "checkoutId": basket.public_id,
        "status": basket.status,
        "order": order,
        "subscriptions": [{"id": s.public_id, "reference": s.reference} for s in completed.subscriptions],
        "payment": {
            "gateway": payment.gateway,
            "status": payment.status,
            "amount": money(payment.amount, payment.currency or "GBP"),
            "currency": payment.currency,
        },
    }


class OrderViewSet(ScopedViewSet):
    """Submit the order of a basket: it completes, once."""

    schema_tags = ["Orders"]
    also_accepted_scopes: tuple[str, ...] = ()  # set per action; checked by HasRequiredScope

    @extend_schema(
        operation_id="order_submit",
        summary="Complete a basket: place the order and record its payment",
        description="Scope `checkout` for a basket the caller owns (API.md §2), or `checkout:admin` for any basket.",
        request=OrderRequestSerializer,
        parameters=[IDEMPOTENCY_HEADER, IF_MATCH_HEADER],
        responses=schemas.responses(200, OrderResponse, 400, 401, 403, 404, 409, 410, 412, 422, 423, 502),
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="order",
        required_scope="checkout",
        also_accepted_scopes=(ADMIN_SCOPE,),
    )
    def submit(self, request):
        actor = actor_from_request(request)
        any_basket = ADMIN_SCOPE in actor.scopes
        if not any_basket:
            require_customer(actor)

        def run(data):
            completed = orders.basket_complete(
                actor=actor,
                basket_id=parse_basket_id(data["checkoutId"]),
                any_basket=any_basket,
                customer_details=data.get("customerDetails"),
                payment=data.get("payment"),
                if_match=parse_if_match(request),
            )
            # The ETag is the completed basket's version (the one `order.version` shows).
            response = Response(completed_order_to_wire(completed))
            set_etag(response, completed.basket.version)
            return response

        return idempotent_write(request, actor, OrderRequestSerializer, run)


class AdminPromoCodeViewSet(ScopedViewSet):
    """Apply promo codes to baskets (staff and back-office systems)."""

    schema_tags = ["Checkout & Baskets"]

    @extend_schema(
        operation_id="admin_promo_code_apply",
        summary="Apply a promo code to a basket (it replaces the basket's previous code)",
        request=PromoCodeRequestSerializer,
        parameters=[IDEMPOTENCY_HEADER, IF_MATCH_HEADER],
        responses=schemas.responses(200, schemas.BasketResponse, 400, 401, 403, 404, 409, 410, 412, 422),
    )
    @action(detail=False, methods=["post"], url_path="promo_code", required_scope=ADMIN_SCOPE)
    def promo_code(self, request):
        actor = actor_from_request(request)

        def run(data):
            change = promo_codes.promo_code_apply(
                actor=actor,
                basket_id=parse_basket_id(data["basketId"]),
                code=data["code"],
                if_match=parse_if_match(request),
            )
            return basket_response(change)

        return idempotent_write(request, actor, PromoCodeRequestSerializer, run)
