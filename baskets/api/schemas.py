"""Documentation-only serializers describing basket responses in the OpenAPI schema."""

from rest_framework import serializers

from checkout_project.api.openapi import responses

__all__ = ["AbandonedResponse", "BasketResponse", "BasketUpdateResponse", "InitiateResponse", "responses"]


class ProductSerializer(serializers.Serializer):
    path = serializers.CharField()
    productCode = serializers.CharField()
    name = serializers.CharField(required=False)


class ChargeSerializer(serializers.Serializer):
    name = serializers.CharField(allow_blank=True)
    amount = serializers.DecimalField(max_digits=12, decimal_places=3, coerce_to_string=True)
    currency = serializers.CharField()
    type = serializers.ChoiceField(choices=["recurring", "one_time"])
    repeatInterval = serializers.IntegerField(allow_null=True)
    repeatIntervalType = serializers.CharField(allow_null=True)
    repeatCount = serializers.IntegerField(allow_null=True)
    delayInterval = serializers.IntegerField()
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
    orderItemActionType = serializers.ChoiceField(choices=["add", "remove"], allow_null=True, required=False)
    effectiveDate = serializers.DateTimeField(allow_null=True, required=False)


class CustomerDetailsOutSerializer(serializers.Serializer):
    email = serializers.CharField(allow_blank=True)
    firstName = serializers.CharField(allow_blank=True)
    lastName = serializers.CharField(allow_blank=True)
    companyName = serializers.CharField(allow_blank=True)
    phone = serializers.CharField(allow_blank=True)


class TotalsSerializer(serializers.Serializer):
    subtotal = serializers.CharField()
    discount = serializers.CharField()
    total = serializers.CharField()
    currency = serializers.CharField(allow_blank=True)
    dueToday = serializers.CharField()


class PromoCodeDiscountSerializer(serializers.Serializer):
    type = serializers.CharField(help_text='"percentage" or "amount"')
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
    applicationLevel = serializers.CharField(help_text='"wholeBasket" or "selectedItems"')
    discountedOrderItems = serializers.ListField(child=serializers.UUIDField(), help_text="The lines it discounts")
    durationLength = serializers.IntegerField(allow_null=True)
    durationType = serializers.CharField(allow_null=True, help_text='"months", or null: forever')
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
    tracking = serializers.DictField()
    country = serializers.CharField(allow_null=True)
    source = serializers.CharField(allow_null=True)  # type: ignore[assignment]  # a field, not Field.source
    external_id = serializers.CharField(allow_null=True)
    customFields = serializers.DictField()
    promoCode = PromoCodeOutSerializer(allow_null=True)
    totals = TotalsSerializer()
    version = serializers.IntegerField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    expiresAt = serializers.DateTimeField()
    completed = serializers.BooleanField()


class BasketResponse(serializers.Serializer):
    id = serializers.CharField()
    order = OrderSerializer()


class InitiateResponse(BasketResponse):
    checkoutUrl = serializers.URLField(
        help_text="The hosted checkout page of this basket, to send the customer's browser to: an absolute, "
        "signed recovery link (https://…/api/checkout/recover?basketId=…&recover=…), valid LINK_LIFETIME_DAYS "
        "and revoked with the basket's other links"
    )


class ActionResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    orderItemActionType = serializers.ChoiceField(choices=["add", "remove", "update"])
    status = serializers.CharField()
    orderItemId = serializers.UUIDField()


class BasketUpdateResponse(BasketResponse):
    actionResults = ActionResultSerializer(many=True)


class AbandonedItemSerializer(serializers.Serializer):
    class ItemSerializer(serializers.Serializer):
        class ProductRefSerializer(serializers.Serializer):
            path = serializers.CharField()
            productCode = serializers.CharField()

        name = serializers.CharField()
        path = serializers.CharField()
        products = ProductRefSerializer(many=True)

    id = serializers.CharField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=["active", "expired"])
    customerDetails = CustomerDetailsOutSerializer()
    orderItems = ItemSerializer(many=True)
    tracking = serializers.DictField()
    customFields = serializers.DictField()
    identities = serializers.ListField(child=serializers.DictField())
    entry = serializers.DictField()
    partner = serializers.CharField(allow_null=True)
    completed = serializers.BooleanField()
    recoveryLink = serializers.CharField(help_text="/api/checkout/recover?basketId=…&recover=<signed token>")


class AbandonedResponse(serializers.Serializer):
    items = AbandonedItemSerializer(many=True)
    queryMore = serializers.CharField(required=False)
