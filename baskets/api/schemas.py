"""Documentation-only serializers describing basket responses in the OpenAPI schema, the
update actions' shapes, and the landing-state cookie as a parameter."""

from datetime import UTC, datetime

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from baskets.api.serializers import OfferRefSerializer
from baskets.errors import (
    BasketCompleted,
    BasketExpired,
    BasketNotFound,
    PaymentDeclined,
    SubscriptionLocked,
    VersionMismatch,
)
from checkout_project.api.openapi import error_example
from checkout_project.api.openapi import responses as plumbing_responses

__all__ = [
    "LANDING_STATE_COOKIE",
    "LANDING_STATE_FOR_INITIATE",
    "AbandonedResponse",
    "BasketResponse",
    "BasketUpdateResponse",
    "InitiateResponse",
    "responses",
]

# --- The landing-state cookie (API.md §3) ------------------------------------------------------

LANDING_STATE_COOKIE = OpenApiParameter(
    "limio_state", str, OpenApiParameter.COOKIE, required=True,
    description="The landing state: the basket this request acts on, as the Set-Cookie of the initiate "
    "response gave it (signed), or a bare basket-<uuid> from a server that builds the header by hand. "
    "Missing, forged, or a basket this caller cannot see: 404.",
)  # fmt: skip
LANDING_STATE_FOR_INITIATE = OpenApiParameter(
    "limio_state", str, OpenApiParameter.COOKIE, required=False,
    description="Read silently: when it names an active basket this caller owns, initiate REPLACES that "
    "basket's items and details instead of creating a basket. A client that keeps one cookie jar for "
    "several customers (a server, or a generated client with its default jar) therefore merges their "
    "baskets: keep one jar per customer, or send no cookie to start a new basket.",
)  # fmt: skip


def responses(success_status: int, success, *error_statuses: int) -> dict:
    """checkout_project.api.openapi.responses with what baskets' errors look like."""
    return plumbing_responses(success_status, success, *error_statuses, examples=ERROR_EXAMPLES)


ERROR_EXAMPLES = {
    402: [error_example(PaymentDeclined("card_declined"))],
    404: [error_example(BasketNotFound())],
    409: [error_example(BasketCompleted())],
    410: [error_example(BasketExpired())],
    412: [error_example(VersionMismatch(4))],
    423: [error_example(SubscriptionLocked(datetime(2026, 1, 1, tzinfo=UTC)))],
}


class ProductSerializer(serializers.Serializer):
    path = serializers.CharField()
    productCode = serializers.CharField()
    name = serializers.CharField()


class TermSerializer(serializers.Serializer):
    length = serializers.IntegerField()
    type = serializers.ChoiceField(choices=["months", "years"])


class ChargeSerializer(serializers.Serializer):
    name = serializers.CharField(allow_blank=True)
    amount = serializers.DecimalField(max_digits=12, decimal_places=3, coerce_to_string=True)
    currency = serializers.CharField()
    type = serializers.ChoiceField(choices=["recurring", "one_time"])
    repeatInterval = serializers.IntegerField(allow_null=True, help_text="Recurring charges: every how many units")
    repeatIntervalType = serializers.CharField(allow_null=True, help_text="days, weeks, months or years")
    repeatCount = serializers.IntegerField(allow_null=True, help_text="How many times; null: until cancelled")
    delayInterval = serializers.IntegerField(help_text="Starts this many units after the start (0: at once)")
    delayIntervalType = serializers.CharField()


class OfferSummarySerializer(serializers.Serializer):
    id = serializers.CharField()
    version = serializers.CharField()
    name = serializers.CharField()
    path = serializers.CharField()
    products = ProductSerializer(many=True)


class OrderItemSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    type = serializers.ChoiceField(choices=["offer", "add_on"])
    offer = OfferSummarySerializer()
    quantity = serializers.IntegerField()
    parentId = serializers.UUIDField(allow_null=True)
    price = ChargeSerializer(many=True)
    orderItemActionType = serializers.ChoiceField(
        choices=["add", "remove"], allow_null=True, required=False, help_text="Subscription change baskets only"
    )
    effectiveDate = serializers.DateTimeField(
        allow_null=True, required=False, help_text="Subscription change baskets only: when the change takes effect"
    )


class CustomerDetailsOutSerializer(serializers.Serializer):
    email = serializers.CharField(allow_blank=True)
    firstName = serializers.CharField(allow_blank=True)
    lastName = serializers.CharField(allow_blank=True)
    companyName = serializers.CharField(allow_blank=True)
    phone = serializers.CharField(allow_blank=True)


class TotalsSerializer(serializers.Serializer):
    subtotal = serializers.CharField(help_text='What the items cost today, e.g. "12.99"')
    discount = serializers.CharField(help_text="The promo code's part")
    total = serializers.CharField()
    currency = serializers.CharField(allow_blank=True, help_text="ISO 4217; empty for an empty basket")
    dueToday = serializers.CharField(help_text="What completing the order charges")


class PromoCodeDiscountSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["percentage", "amount"])
    percentage = serializers.CharField(required=False, help_text='e.g. "20.00"')
    amount = serializers.CharField(required=False)
    currency = serializers.CharField(required=False)


class DiscountedBillSerializer(serializers.Serializer):
    date = serializers.DateTimeField()
    amount = serializers.CharField()
    discount = serializers.CharField()
    total = serializers.CharField()


class PromoCodeOutSerializer(serializers.Serializer):
    code = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    discount = PromoCodeDiscountSerializer()
    applicationLevel = serializers.ChoiceField(choices=["wholeBasket", "selectedItems"])
    discountedOrderItems = serializers.ListField(child=serializers.UUIDField(), help_text="The lines it discounts")
    durationLength = serializers.IntegerField(allow_null=True)
    durationType = serializers.ChoiceField(choices=["months"], allow_null=True, help_text="null: forever")
    discountedUntil = serializers.DateTimeField(allow_null=True, help_text="First moment not discounted; null: forever")
    amount = serializers.CharField(help_text="The discount on this order (what is due today)")
    currency = serializers.CharField(allow_blank=True)
    schedule = DiscountedBillSerializer(many=True, help_text="Each bill until the discount ends (empty: forever)")


class OrderSerializer(serializers.Serializer):
    checkoutId = serializers.CharField()
    order_type = serializers.ChoiceField(choices=["new", "update_subscription", "renew"])
    status = serializers.ChoiceField(choices=["active", "completed", "expired"])
    orderItems = OrderItemSerializer(many=True)
    customerDetails = CustomerDetailsOutSerializer()
    tracking = serializers.DictField(
        help_text="Free-form; known keys: offers, campaign, tag, purchaseCountryCode, accountId, contactId, userId"
    )
    country = serializers.CharField(allow_null=True, help_text="ISO 3166-1 alpha-2")
    source = serializers.CharField(allow_null=True)  # type: ignore[assignment]  # a field, not Field.source
    external_id = serializers.CharField(allow_null=True)
    customFields = serializers.DictField(help_text="Free-form")
    promoCode = PromoCodeOutSerializer(allow_null=True, help_text="The applied code; null: none")
    totals = TotalsSerializer()
    version = serializers.IntegerField(help_text="Bumped by every change; the ETag")
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    expiresAt = serializers.DateTimeField()
    completed = serializers.BooleanField()


class BasketResponse(serializers.Serializer):
    id = serializers.CharField(help_text="basket-<uuid>")
    order = OrderSerializer()


class InitiateResponse(BasketResponse):
    checkoutUrl = serializers.URLField(
        help_text="The hosted checkout page of this basket, to send the customer's browser to: an absolute, "
        "signed recovery link (https://…/api/checkout/recover?basketId=…&recover=…), valid LINK_LIFETIME_DAYS "
        "and revoked with the basket's other links"
    )


class ActionResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The action's position in the request")
    orderItemActionType = serializers.ChoiceField(choices=["add", "remove", "update"])
    status = serializers.ChoiceField(
        choices=["applied", "auto"], help_text="applied: asked for; auto: added by the system (subscription changes)"
    )
    orderItemId = serializers.UUIDField()


class BasketUpdateResponse(BasketResponse):
    actionResults = ActionResultSerializer(many=True)


class AbandonedProductSerializer(serializers.Serializer):
    path = serializers.CharField()
    productCode = serializers.CharField()


class AbandonedOrderItemSerializer(serializers.Serializer):
    name = serializers.CharField()
    path = serializers.CharField()
    products = AbandonedProductSerializer(many=True)


class IdentitySerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["customer", "email"])
    id = serializers.CharField(required=False, help_text="type customer: cus-<uuid>")
    email = serializers.CharField(allow_blank=True)


class EntrySerializer(serializers.Serializer):
    referer = serializers.CharField(required=False, help_text="The Referer of the request that created the basket")


class AbandonedItemSerializer(serializers.Serializer):
    id = serializers.CharField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=["active", "expired"])
    customerDetails = CustomerDetailsOutSerializer()
    orderItems = AbandonedOrderItemSerializer(many=True)
    tracking = serializers.DictField()
    customFields = serializers.DictField()
    identities = IdentitySerializer(many=True)
    entry = EntrySerializer()
    partner = serializers.CharField(allow_null=True, help_text="The partner organisation's slug")
    completed = serializers.BooleanField()
    recoveryLink = serializers.CharField(help_text="/api/checkout/recover?basketId=…&recover=<signed token>")


class AbandonedResponse(serializers.Serializer):
    items = AbandonedItemSerializer(many=True)
    queryMore = serializers.CharField(required=False, help_text="The next page's cursor; absent on the last page")


# --- Update actions: which fields each one needs (baskets.api.serializers.OrderItemActionSerializer) ---


class AddItemActionSerializer(serializers.Serializer):
    orderItemActionType = serializers.ChoiceField(choices=["add"])
    offer = OfferRefSerializer()
    quantity = serializers.IntegerField(min_value=1, max_value=10_000, required=False, default=1)
    type = serializers.ChoiceField(
        choices=["offer", "add_on"], required=False, help_text="Subscription changes: at most one offer add"
    )
    parentId = serializers.UUIDField(required=False, allow_null=True, help_text="An add-on's parent order item")


class RemoveItemActionSerializer(serializers.Serializer):
    orderItemActionType = serializers.ChoiceField(choices=["remove"])
    id = serializers.UUIDField(help_text="The order item to remove (its add-ons go with it)")


class ChangeQuantityActionSerializer(serializers.Serializer):
    orderItemActionType = serializers.ChoiceField(choices=["update"])
    id = serializers.UUIDField(help_text="The order item whose quantity changes")
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)


ITEM_ACTIONS = {
    "add": AddItemActionSerializer,
    "remove": RemoveItemActionSerializer,
    "update": ChangeQuantityActionSerializer,
}


class OrderItemActionExtension(OpenApiSerializerExtension):
    """The one input serializer validates all three actions; the schema says what each needs."""

    target_class = "baskets.api.serializers.OrderItemActionSerializer"

    def map_serializer(self, auto_schema, direction):
        refs = {
            kind: auto_schema.resolve_serializer(serializer, direction).ref for kind, serializer in ITEM_ACTIONS.items()
        }
        return {
            "oneOf": list(refs.values()),
            "discriminator": {
                "propertyName": "orderItemActionType",
                "mapping": {kind: ref["$ref"] for kind, ref in refs.items()},
            },
        }
