"""Order submission (POST /api/order, API.md §9) and promo codes (POST /api/admin/v2/promo_code, §7)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from baskets import services
from baskets.api import examples, schemas
from baskets.api.landing_state import parse_basket_id
from baskets.api.render import order_to_wire
from baskets.api.serializers import CustomerDetailsSerializer
from baskets.api.subscription_views import SubscriptionChangeOrderSerializer
from baskets.api.views import basket_response
from baskets.payments import payment_to_wire
from checkout_project.api.actions import Call, api_action
from checkout_project.api.auth import require_customer
from checkout_project.api.fields import IdField, PlainCharField, RegexIdField
from checkout_project.api.headers import set_etag
from checkout_project.api.openapi import ETAG_HEADER
from checkout_project.api.viewsets import ScopedViewSet

if TYPE_CHECKING:
    from checkout_project.api.actor import Actor

ADMIN_SCOPE = "checkout:admin"

# --- Input ------------------------------------------------------------------------------------


class PromoCodeRequestSerializer(serializers.Serializer):
    code = IdField(max_length=64, help_text="The promo code, in any case")
    basketId = IdField(max_length=64, help_text="basket-<uuid>")


# A Stripe object id (pm_…, pi_…): letters, digits, underscores and dashes only, so neither NUL
# nor surrogates (nor anything else) reach the gateway or the database.
GATEWAY_ID = r"^[A-Za-z0-9_\-]+$"


class PaymentInputSerializer(serializers.Serializer):
    paymentMethodId = RegexIdField(
        GATEWAY_ID, max_length=255, required=False, help_text="A payment method collected with Stripe.js (pm_…)"
    )
    paymentIntentId = RegexIdField(
        GATEWAY_ID,
        max_length=255,
        required=False,
        help_text="A PaymentIntent the client confirmed (pi_…): its amount, currency, status and basket are checked",
    )
    method = PlainCharField(max_length=40, required=False, allow_blank=True, help_text="manual gateway: e.g. invoice")
    reference = PlainCharField(
        max_length=255,
        required=False,
        allow_blank=True,
        help_text="manual gateway: your reference, e.g. a purchase order",
    )

    def validate(self, attrs):
        if attrs.get("paymentMethodId") and attrs.get("paymentIntentId"):
            raise serializers.ValidationError("Send paymentMethodId or paymentIntentId, not both.")
        return attrs


class OrderRequestSerializer(serializers.Serializer):
    checkoutId = IdField(max_length=64, help_text="The basket id, basket-<uuid>")
    customerDetails = CustomerDetailsSerializer(required=False)
    payment = PaymentInputSerializer(required=False)


# --- Output (documentation only) ----------------------------------------------------------------


class SubscriptionRefOutSerializer(serializers.Serializer):
    id = serializers.CharField()
    reference = serializers.CharField()


class PaymentOutSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="pay-<uuid>")
    gateway = serializers.CharField(help_text='"manual" with the default gateway, "stripe"')
    status = serializers.CharField(
        help_text="manual (no payment taken), authorised, captured, capture_failed, voided or refunded"
    )
    amount = serializers.CharField()
    currency = serializers.CharField(allow_blank=True)
    gatewayReference = serializers.CharField(allow_blank=True, help_text="The gateway's payment id (pi_…)")
    refundedAmount = serializers.CharField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    noPaymentTaken = serializers.BooleanField()
    message = serializers.CharField(required=False, help_text='"No payment taken" with the manual gateway')


class SubmittedOrderField(serializers.DictField):
    """The completed basket's order: its shape depends on its `order_type` (SubmittedOrderExtension)."""


class SubmittedOrderExtension(OpenApiSerializerFieldExtension):
    """A subscription change renders with its items' proration, the change totals and the
    subscription; a new or renewal order as any basket's order. `anyOf`, with the discriminator: a
    change order also has every property of an order, so a validator without discriminator support
    would find both branches valid, which `oneOf` forbids. Clients that try the branches in order
    try the change first: its required fields rule it out for the others."""

    target_class = SubmittedOrderField

    def get_name(self):
        return "SubmittedOrder"

    def map_serializer_field(self, auto_schema, direction):
        change = auto_schema.resolve_serializer(SubscriptionChangeOrderSerializer, direction).ref
        order = auto_schema.resolve_serializer(schemas.OrderSerializer, direction).ref
        return {
            "anyOf": [change, order],
            "discriminator": {
                "propertyName": "order_type",
                "mapping": {"update_subscription": change["$ref"], "new": order["$ref"], "renew": order["$ref"]},
            },
        }


class OrderResponse(serializers.Serializer):
    id = serializers.CharField(help_text="order-<uuid>")
    checkoutId = serializers.CharField(help_text="basket-<uuid>")
    status = serializers.ChoiceField(choices=["completed"])
    order = SubmittedOrderField()
    subscriptions = SubscriptionRefOutSerializer(many=True, help_text="The subscriptions created or changed")
    payment = PaymentOutSerializer()


def completed_order_to_wire(completed: services.CompletedOrder) -> dict[str, Any]:
    basket, payment = completed.basket, completed.payment
    order = order_to_wire(basket, completed.items, completed.quote, subscription=completed.changed_subscription)
    return {
        "id": completed.public_id,
        "checkoutId": basket.public_id,
        "status": basket.status,
        "order": order,
        "subscriptions": [{"id": s.public_id, "reference": s.reference} for s in completed.subscriptions],
        "payment": payment_to_wire(payment),
    }


def order_response(completed: services.CompletedOrder) -> Response:
    # The ETag is the completed basket's version (the one `order.version` shows).
    response = Response(completed_order_to_wire(completed))
    set_etag(response, completed.basket.version)
    return response


def customer_account_unless_admin(actor: Actor) -> None:
    """Any basket with `checkout:admin`; a customer's token must otherwise have its customer."""
    if ADMIN_SCOPE not in actor.scopes:
        require_customer(actor)


# --- Views ------------------------------------------------------------------------------------


class OrderViewSet(ScopedViewSet):
    """Submit the order of a basket: it completes, once."""

    schema_tags = ["Orders"]
    required_scope = "checkout"
    also_accepted_scopes: tuple[str, ...] = ()  # set per action; checked by HasRequiredScope

    @extend_schema(
        operation_id="order_submit",
        summary="Complete a basket: place the order and record its payment",
        description="Completes the basket `checkoutId` names, once: locks it, re-validates it (as partner "
        "validate does), counts its promo code's redemption, creates the subscription (a new order), changes "
        "it (a subscription change) or renews it, and marks the basket completed. A second attempt is 409; "
        "a retry with the same Idempotency-Key gets the first answer.\n\n"
        "Payment (API.md §10): with the Stripe gateway send `payment.paymentMethodId` (collected with "
        "Stripe.js) or `payment.paymentIntentId` (confirmed client-side); a declined card is 402 "
        "payment_declined, 3-D Secure 402 payment_requires_action with the client secret, and the basket "
        "stays active. The default manual gateway takes no money and says so (`payment.noPaymentTaken`).\n\n"
        "`order` is shaped by its `order_type`: a subscription change also carries each item's `proration`, "
        "change totals (`credit`, `nextChargeDate`, `charges`…) and `forSubscription`.\n\n"
        "Scope `checkout` for a basket the caller owns (API.md §2), or `checkout:admin` for any basket.",
        parameters=[ETAG_HEADER],
        examples=examples.SUBMIT_ORDER,
        responses=schemas.responses(200, OrderResponse, 400, 401, 402, 403, 404, 409, 410, 412, 422, 423, 502),
    )
    @api_action(
        methods=["post"],
        url_path="order",
        also_accepted_scopes=(ADMIN_SCOPE,),
        body=OrderRequestSerializer,
        idempotent=True,
        transactional=False,  # the gateway is called before the completion's transaction (API.md §10)
        if_match=True,
        actor_check=customer_account_unless_admin,
        render=order_response,
    )
    def submit(self, call: Call) -> services.CompletedOrder:
        return services.basket_complete(
            actor=call.actor,
            basket_id=parse_basket_id(call.data["checkoutId"]),
            any_basket=ADMIN_SCOPE in call.actor.scopes,
            customer_details=call.data.get("customerDetails"),
            payment=call.data.get("payment"),
            if_match=call.if_match,
        )


class AdminPromoCodeViewSet(ScopedViewSet):
    """Apply promo codes to baskets (staff and back-office systems)."""

    schema_tags = ["Checkout & Baskets"]
    required_scope = ADMIN_SCOPE

    @extend_schema(
        operation_id="admin_promo_code_apply",
        summary="Apply a promo code to a basket (it replaces the basket's previous code)",
        description="Validates the code (letters and digits, any case) against the basket and applies it: one "
        "code per basket, a new one replaces the old. Answers the basket with its totals recalculated and "
        "`order.promoCode` (the discount, the lines it applies to, until when, and each discounted bill). "
        "Refusals are 400 with promo_code_unknown, promo_code_inactive, promo_code_not_started, "
        "promo_code_expired, promo_code_exhausted or promo_code_not_applicable. Redemptions are counted when "
        "the order completes.",
        parameters=[ETAG_HEADER],
        examples=examples.APPLY_PROMO_CODE,
        responses=schemas.responses(200, schemas.BasketResponse, 400, 401, 403, 404, 409, 410, 412, 422),
    )
    @api_action(
        methods=["post"],
        url_path="promo_code",
        body=PromoCodeRequestSerializer,
        idempotent=True,
        if_match=True,
        render=basket_response,
    )
    def promo_code(self, call: Call) -> services.BasketChange:
        return services.promo_code_apply(
            actor=call.actor,
            basket_id=parse_basket_id(call.data["basketId"]),
            code=call.data["code"],
            if_match=call.if_match,
        )
