"""Subscription checkout (API.md §6): GET/POST/PUT /checkout/subscription."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from baskets import services
from baskets.api import examples, schemas
from baskets.api.landing_state import basket_id_from_cookie, set_landing_state, subscription_id_from_cookie
from baskets.api.render import offer_to_wire, order_to_wire
from baskets.api.serializers import ActionsRequestSerializer, OrderItemActionSerializer
from baskets.api.views import entry_from_request
from checkout_project.api.actions import Call, api_action
from checkout_project.api.fields import JSONObjectField, RegexIdField
from checkout_project.api.headers import set_etag
from checkout_project.api.openapi import ETAG_HEADER, SET_LANDING_STATE_HEADER
from checkout_project.api.recaptcha import HEADER as RECAPTCHA_HEADER
from checkout_project.api.recaptcha import verify_request
from checkout_project.api.viewsets import ScopedViewSet

RECAPTCHA_PARAMETER = OpenApiParameter(
    RECAPTCHA_HEADER, str, OpenApiParameter.HEADER, required=True, description="reCAPTCHA token for bot prevention"
)
# Read into the basket's entry (who came from where), as Limio's page lists them.
ENTRY_HEADERS = [
    OpenApiParameter("X-Forwarded-For", str, OpenApiParameter.HEADER, description="Client IP address"),
    OpenApiParameter("Referer", str, OpenApiParameter.HEADER, description="Referrer URL for journey tracking"),
]

# --- Input ------------------------------------------------------------------------------------


class ForSubscriptionSerializer(serializers.Serializer):
    id = RegexIdField(r"^sub-[0-9a-fA-F-]{32,36}$", required=False)
    name = RegexIdField(r"^[A-Z0-9]{12}$", required=False, help_text="The subscription's reference")

    def validate(self, attrs):
        if not attrs.get("id") and not attrs.get("name"):
            raise serializers.ValidationError("forSubscription needs an id or a name (the reference).")
        if attrs.get("id"):
            try:
                attrs["subscription_id"] = uuid.UUID(attrs["id"].removeprefix("sub-"))
            except ValueError:
                raise serializers.ValidationError({"id": "Not a subscription id."}) from None
        return attrs


class SubscriptionOrderSerializer(serializers.Serializer):
    # A CharField, not a one-choice ChoiceField: the schema already has an `order_type` enum.
    order_type = serializers.CharField(default="update_subscription", help_text='Always "update_subscription".')

    def validate_order_type(self, value):
        if value != "update_subscription":
            raise serializers.ValidationError('Must be "update_subscription".')
        return value

    forSubscription = ForSubscriptionSerializer()
    tracking = JSONObjectField(required=False)


class SubscriptionInitiateRequestSerializer(serializers.Serializer):
    # Limio documents `{"tracking"}` alone: the subscription is then the landing state's, or the
    # caller's only active one (API.md §6).
    order = SubscriptionOrderSerializer(
        required=False,
        help_text="Names the subscription. Without it: the subscription of a subscription-scoped "
        "landing state (limio_state cookie), else your only active subscription.",
    )
    tracking = JSONObjectField(required=False)


class SubscriptionUpdateOrderSerializer(serializers.Serializer):
    # ListSerializer's length limits, which the stubs read as the child's arguments.
    orderItems = OrderItemActionSerializer(many=True, min_length=1, max_length=100)  # type: ignore[call-arg]


class SubscriptionUpdateRequestSerializer(ActionsRequestSerializer):
    order = SubscriptionUpdateOrderSerializer()


# --- Output (documentation only) --------------------------------------------------------------


class OfferOutSerializer(schemas.OfferSummarySerializer):
    type = serializers.ChoiceField(choices=["offer", "add_on"])
    currency = serializers.CharField()
    term = schemas.TermSerializer()
    price = schemas.ChargeSerializer(many=True)


class SubscriptionAddOnOutSerializer(OfferOutSerializer):
    quantity = serializers.IntegerField()


class ProrationSerializer(serializers.Serializer):
    effectiveDate = serializers.DateTimeField()
    credit = serializers.CharField(help_text="For the unused part of what was paid")
    charge = serializers.CharField()
    dueToday = serializers.CharField()
    nextChargeDate = serializers.DateTimeField(allow_null=True)
    nextChargeAmount = serializers.CharField()
    currency = serializers.CharField()


class SubscriptionChangeOrderItemSerializer(schemas.OrderItemSerializer):
    orderItemActionType = serializers.ChoiceField(
        choices=["add", "remove"], allow_null=True, help_text="add: joins the subscription; remove: leaves it"
    )
    effectiveDate = serializers.DateTimeField(allow_null=True, help_text="When the change takes effect")
    automatic = serializers.BooleanField(help_text="Added by the system (the current offer's removal, add-ons "
                                         "not compatible with the new offer)")  # fmt: skip
    proration = ProrationSerializer(allow_null=True, help_text="What this change costs; null when nothing")


class ChargeLineSerializer(serializers.Serializer):
    description = serializers.CharField()
    periodStart = serializers.DateTimeField()
    periodEnd = serializers.DateTimeField()
    amount = serializers.CharField()


class ChangeTotalsSerializer(schemas.TotalsSerializer):
    credit = serializers.CharField()
    nextChargeDate = serializers.DateTimeField(allow_null=True)
    nextChargeAmount = serializers.CharField()
    charges = ChargeLineSerializer(many=True, help_text="What each amount pays for (API.md §6)")
    balanceApplied = serializers.CharField(
        required=False, help_text="Paid from the customer's balance (a change made today only)"
    )
    balance = serializers.CharField(
        required=False, help_text="The customer's balance after the change (a change made today only)"
    )


class ForSubscriptionOutSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="sub-<uuid>")
    reference = serializers.CharField(help_text="12 upper-case letters and digits")


class SubscriptionChangeOrderSerializer(schemas.OrderSerializer):
    order_type = serializers.ChoiceField(choices=["update_subscription"])
    orderItems = SubscriptionChangeOrderItemSerializer(many=True)
    totals = ChangeTotalsSerializer()
    forSubscription = ForSubscriptionOutSerializer()
    forSubscriptionOffer = OfferOutSerializer(help_text="The subscription's current offer")


class NextActionsSerializer(serializers.Serializer):
    upgrades = OfferOutSerializer(many=True)
    downgrades = OfferOutSerializer(many=True)
    crossSells = OfferOutSerializer(many=True)
    subscriptionAddOns = SubscriptionAddOnOutSerializer(many=True)


class SubscriptionCheckoutResponse(serializers.Serializer):
    id = serializers.CharField(help_text="basket-<uuid>")
    order = SubscriptionChangeOrderSerializer()
    nextActions = NextActionsSerializer()
    completed = serializers.BooleanField()


class SubscriptionCheckoutUpdateResponse(SubscriptionCheckoutResponse):
    actionResults = schemas.ActionResultSerializer(many=True)


# --- Rendering --------------------------------------------------------------------------------


def checkout_to_wire(state: services.SubscriptionCheckout, *, with_results: bool) -> dict[str, Any]:
    basket = state.basket
    order = order_to_wire(basket, state.items, state.quote, subscription=state.subscription)
    body: dict[str, Any] = {
        "id": basket.public_id,
        "order": order,
        "nextActions": {
            "upgrades": [offer_to_wire(o) for o in state.upgrades],
            "downgrades": [offer_to_wire(o) for o in state.downgrades],
            "crossSells": [offer_to_wire(o) for o in state.cross_sells],
            "subscriptionAddOns": [{**offer_to_wire(o), "quantity": q} for o, q in state.subscription_add_ons],
        },
        "completed": order["completed"],
    }
    if with_results:
        body["actionResults"] = state.action_results
    return body


def checkout_response(state: services.SubscriptionCheckout, *, with_results: bool = False) -> Response:
    response = Response(checkout_to_wire(state, with_results=with_results))
    set_etag(response, state.basket.version)
    return response


def checkout_with_landing_state(state: services.SubscriptionCheckout) -> Response:
    """The subscription checkout, and the landing-state cookie naming its basket."""
    response = checkout_response(state)
    set_landing_state(response, state.basket)
    return response


def checkout_with_action_results(state: services.SubscriptionCheckout) -> Response:
    """The subscription checkout and what became of each requested action."""
    return checkout_response(state, with_results=True)


# --- Views ------------------------------------------------------------------------------------


class SubscriptionCheckoutViewSet(ScopedViewSet):
    """Change a subscription through a basket: upgrades, downgrades and add-ons."""

    # reCAPTCHA guards the writes: a first attempt needs a valid token before anything else is
    # read, while a retry with the same Idempotency-Key and body (its single-use token spent)
    # replays the first answer without asking the verifier (checkout_project.api.actions).
    schema_tags = ["Checkout & Baskets"]
    required_scope = "checkout"
    # The use cases behind the endpoints (partners.api binds them to a partner organisation).
    checkout_get: Callable[..., services.SubscriptionCheckout] = staticmethod(services.subscription_checkout_get)
    checkout_initiate: Callable[..., services.SubscriptionCheckout] = staticmethod(
        services.subscription_checkout_initiate
    )
    checkout_apply_actions: Callable[..., services.SubscriptionCheckout] = staticmethod(
        services.subscription_checkout_apply_actions
    )

    @extend_schema(
        operation_id="checkout_subscription_retrieve",
        summary="Retrieve the subscription checkout basket of the landing state",
        description="The change basket the `limio_state` cookie names, as PUT last answered it: its items "
        "with their proration, the change totals, the subscription and its current offer, and what can be "
        "done next. `completed` is true once the order was submitted. Two reads with the same ETag return "
        "the same body. Needs a customer token (the subscription's customer).",
        parameters=[schemas.LANDING_STATE_COOKIE, ETAG_HEADER],
        examples=examples.SUBSCRIPTION_RETRIEVE,
        responses=schemas.responses(200, SubscriptionCheckoutResponse, 401, 403, 404),
    )
    @api_action(methods=["get"], url_path="subscription", render=checkout_response)
    def subscription(self, call: Call) -> services.SubscriptionCheckout:
        return self.checkout_get(actor=call.actor, basket_id=basket_id_from_cookie(call.request.COOKIES))

    @extend_schema(
        operation_id="checkout_subscription_initiate",
        summary="Initiate an update-subscription checkout",
        description="Creates a basket to change the subscription `order.forSubscription` names (`id`, or "
        "`name`: its reference), sets the `limio_state` cookie naming it, and answers the (empty) change "
        "with the subscription's current offer and the upgrades, downgrades, cross-sells and add-ons on "
        "offer. Needs a customer token whose customer owns the subscription (404 otherwise) and a reCAPTCHA "
        "token. 423 while the subscription has a pending change (`details.lockedUntil`).",
        parameters=[RECAPTCHA_PARAMETER, *ENTRY_HEADERS, ETAG_HEADER, SET_LANDING_STATE_HEADER],
        examples=examples.SUBSCRIPTION_INITIATE,
        responses=schemas.responses(200, SubscriptionCheckoutResponse, 400, 401, 403, 404, 409, 422, 423, 502),
    )
    @subscription.mapping.post
    @api_action(
        body=SubscriptionInitiateRequestSerializer,
        idempotent=True,
        guard=verify_request,
        render=checkout_with_landing_state,
    )
    def subscription_initiate(self, call: Call) -> services.SubscriptionCheckout:
        order = call.data.get("order") or {}
        target = order.get("forSubscription") or {}
        return self.checkout_initiate(
            actor=call.actor,
            subscription_id=target.get("subscription_id"),
            reference=None if target.get("subscription_id") else target.get("name"),
            landing_subscription_id=subscription_id_from_cookie(call.request.COOKIES),
            tracking=call.data.get("tracking") or order.get("tracking"),
            entry=entry_from_request(call.request),
        )

    @extend_schema(
        operation_id="checkout_subscription_update",
        summary="Add or remove offers and add-ons of the subscription checkout basket",
        description="Applies the actions to the change basket the `limio_state` cookie names, all or nothing: "
        "at most one `add` of `type: offer` per request (else 400 multiple_offer_adds). Adding an offer also "
        "adds the `remove` of the current offer and removes add-ons the new offer does not allow (listed in "
        "`actionResults` with status `auto`). Upgrades take effect today with proration (credit for the "
        "unused part of what was paid, charge for the new plan; credit left over becomes the customer's "
        "balance); downgrades at the end of the current term; add-ons today, prorated to the term end. "
        "Answers the change re-priced and what can be done next.",
        parameters=[RECAPTCHA_PARAMETER, schemas.LANDING_STATE_COOKIE, ETAG_HEADER],
        examples=examples.SUBSCRIPTION_UPDATE,
        responses=schemas.responses(
            200, SubscriptionCheckoutUpdateResponse, 400, 401, 403, 404, 409, 410, 412, 422, 423, 502
        ),
    )
    @subscription.mapping.put
    @api_action(
        body=SubscriptionUpdateRequestSerializer,
        idempotent=True,
        guard=verify_request,
        if_match=True,
        render=checkout_with_action_results,
    )
    def subscription_update(self, call: Call) -> services.SubscriptionCheckout:
        return self.checkout_apply_actions(
            actor=call.actor,
            basket_id=basket_id_from_cookie(call.request.COOKIES),
            actions=call.data["order"]["orderItems"],
            if_match=call.if_match,
        )
