"""Staff endpoints under /api/admin/checkout (scope `checkout:admin`): assisted sales (API.md §7)
and renewals (API.md §6)."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from baskets import services
from baskets.api import examples, schemas
from baskets.api.render import order_to_wire
from baskets.api.serializers import InitiateRequestSerializer
from baskets.errors import BasketCodes
from baskets.links import basket_links
from checkout_project.api.actions import Call, api_action
from checkout_project.api.errors import ApplicationError, flatten_validation_errors
from checkout_project.api.fields import RegexIdField
from checkout_project.api.headers import set_etag
from checkout_project.api.openapi import ETAG_HEADER
from checkout_project.api.viewsets import ScopedViewSet

_SUBSCRIPTION_ID = r"^sub-[0-9a-fA-F-]{32,36}$"
_REFERENCE = r"^[A-Z0-9]{12}$"
_CUSTOMER_ID = r"^cus-[0-9a-fA-F-]{32,36}$"


class CustomerRefSerializer(serializers.Serializer):
    """The basket's owner: `{"id": "cus-<uuid>"}` or `{"email": "…"}`."""

    id = RegexIdField(_CUSTOMER_ID, required=False)
    email = serializers.EmailField(required=False)

    def validate(self, attrs):
        if ("id" in attrs) == ("email" in attrs):
            raise serializers.ValidationError("Give the customer's id or e-mail, not both.")
        if "id" not in attrs:
            return {"customer_email": attrs["email"]}
        try:
            return {"customer_id": uuid.UUID(attrs["id"].removeprefix("cus-"))}
        except ValueError:
            raise serializers.ValidationError({"id": "Not a customer id."}) from None


class AdminInitiateRequestSerializer(InitiateRequestSerializer):
    customer = CustomerRefSerializer(required=False, allow_null=True)

    def is_valid(self, *, raise_exception: bool = False) -> bool:
        # A malformed owner alone is 400 `invalid_customer`, the rest `validation_error`.
        valid = super().is_valid()
        if valid or not raise_exception:
            return valid
        details = flatten_validation_errors(self.errors)
        if all(path == "customer" or path.startswith("customer.") for path in details):
            path, message = next(iter(details.items()))
            raise ApplicationError(
                f"Invalid request: {path}: {message}", code=BasketCodes.INVALID_CUSTOMER, details=details
            )
        raise serializers.ValidationError(self.errors)


class AdminInitiateResponse(serializers.Serializer):
    id = serializers.CharField()
    recoveryLink = serializers.CharField(help_text="/api/checkout/recover?basketId=…&recover=<signed token>")
    assistedCheckoutLink = serializers.CharField(
        required=False, help_text="/api/checkout/assisted?basketId=…&cl=<signed token>; only with an owner"
    )


class SubscriptionRefSerializer(serializers.Serializer):
    id = RegexIdField(_SUBSCRIPTION_ID, required=False)
    reference = RegexIdField(_REFERENCE, required=False)


class RenewRequestSerializer(serializers.Serializer):
    subscription = SubscriptionRefSerializer(required=False)
    subscriptionId = RegexIdField(_SUBSCRIPTION_ID, required=False)
    subscriptionReference = RegexIdField(_REFERENCE, required=False)

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
    recoveryLink = serializers.CharField()
    assistedCheckoutLink = serializers.CharField()


def admin_basket_response(change: services.BasketChange) -> Response:
    response = Response({"id": change.basket.public_id, **basket_links(change.basket)})
    set_etag(response, change.basket.version)
    return response


def renewal_response(renewal: services.RenewalBasket) -> Response:
    basket = renewal.basket
    response = Response(
        {
            "id": basket.public_id,
            "segments": list(renewal.subscription.customer.segments),
            "order": order_to_wire(basket, renewal.items, renewal.quote),
            **basket_links(basket),
        }
    )
    set_etag(response, basket.version)
    return response


# --- Views ------------------------------------------------------------------------------------


class AdminCheckoutViewSet(ScopedViewSet):
    """Baskets created by staff and back-office systems for a customer."""

    schema_tags = ["Checkout & Baskets"]
    required_scope = "checkout:admin"

    @extend_schema(
        operation_id="admin_checkout_initiate",
        summary="Create a basket on a customer's behalf and get its recovery and assisted links",
        description="For server-side checkout flows and assisted sales: the body is the public initiate's, "
        "plus an optional owner (`customer: {id}` or `{email}`; a malformed one is 400 invalid_customer). "
        "Answers the basket's id and a signed recovery link for the customer to resume the checkout, and, "
        "when the basket has an owner, an assisted checkout link (both valid 30 days). Always creates a "
        "basket: no landing-state cookie is read or set.",
        parameters=[ETAG_HEADER],
        examples=examples.ADMIN_INITIATE,
        responses=schemas.responses(200, AdminInitiateResponse, 400, 401, 403, 422),
    )
    @api_action(
        methods=["post"],
        url_path="initiate",
        body=AdminInitiateRequestSerializer,
        idempotent=True,
        render=admin_basket_response,
    )
    def initiate(self, call: Call) -> services.BasketChange:
        owner = call.data.get("customer") or {}
        return services.basket_initiate_for_customer(
            actor=call.actor,
            order=call.data["order"],
            customer_id=owner.get("customer_id"),
            customer_email=owner.get("customer_email"),
        )

    @extend_schema(
        operation_id="admin_checkout_initiate_renew",
        summary="Create a renewal basket for a subscription",
        description="Looks the subscription up by `subscription.id` or `subscription.reference` (or top-level "
        "`subscriptionId` / `subscriptionReference`) and creates a basket of order_type `renew` with its "
        "offer (or its renewal offer) and add-ons. Answers the basket, the customer's segments and its "
        "links. 404 when no such subscription; 409 when it cannot be renewed (not active).",
        parameters=[ETAG_HEADER],
        examples=examples.RENEW,
        responses=schemas.responses(200, RenewResponse, 400, 401, 403, 404, 409, 422),
    )
    @api_action(
        methods=["post"],
        url_path="initiate/renew",
        body=RenewRequestSerializer,
        idempotent=True,
        render=renewal_response,
    )
    def initiate_renew(self, call: Call) -> services.RenewalBasket:
        return services.basket_initiate_renewal(actor=call.actor, **call.data)
