"""Input serializers: shape and format only; business rules live in baskets.services."""

from rest_framework import serializers

from checkout_project.api.errors import ActionsValidationError
from checkout_project.api.fields import AwareDateTimeField, IdField, JSONObjectField, UUIDIdField

MAX_ORDER_ITEMS = 100


class OfferRefSerializer(serializers.Serializer):
    id = IdField(max_length=40)
    version = IdField(max_length=40, required=False, allow_blank=True)


class CustomerDetailsSerializer(serializers.Serializer):
    email = serializers.EmailField(required=False, allow_blank=True)
    firstName = serializers.CharField(max_length=150, required=False, allow_blank=True)
    lastName = serializers.CharField(max_length=150, required=False, allow_blank=True)
    companyName = serializers.CharField(max_length=255, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=50, required=False, allow_blank=True)


class InitiateItemSerializer(serializers.Serializer):
    offer = OfferRefSerializer()
    quantity = serializers.IntegerField(min_value=1, max_value=10_000, default=1)
    type = serializers.ChoiceField(choices=["offer", "add_on"], required=False)


class OrderDetailsSerializer(serializers.Serializer):
    """The fields of an order a caller may set besides its items."""

    customerDetails = CustomerDetailsSerializer(required=False)
    tracking = JSONObjectField(required=False)
    customFields = JSONObjectField(required=False)
    country = serializers.RegexField(r"^[A-Z]{2}$", required=False, allow_blank=True)
    # The stubs read a field named `source` as Field.source, `many=True` serializers' length
    # limits (ListSerializer's) as the child's arguments: hence the type: ignores in this module.
    source = serializers.CharField(max_length=255, required=False, allow_blank=True)  # type: ignore[assignment]
    external_id = serializers.CharField(max_length=255, required=False, allow_blank=True)


class InitiateOrderSerializer(OrderDetailsSerializer):
    orderItems = InitiateItemSerializer(many=True, max_length=MAX_ORDER_ITEMS)  # type: ignore[call-arg]
    order_type = serializers.ChoiceField(choices=["new"], default="new")


class InitiateRequestSerializer(serializers.Serializer):
    order = InitiateOrderSerializer()


class OrderItemActionSerializer(serializers.Serializer):
    orderItemActionType = serializers.ChoiceField(choices=["add", "remove", "update"])
    id = UUIDIdField(required=False)
    offer = OfferRefSerializer(required=False)
    quantity = serializers.IntegerField(min_value=1, max_value=10_000, required=False)
    type = serializers.ChoiceField(choices=["offer", "add_on"], required=False)
    parentId = UUIDIdField(required=False, allow_null=True)

    def validate(self, attrs):
        kind = attrs["orderItemActionType"]
        if kind == "add" and "offer" not in attrs:
            raise serializers.ValidationError({"offer": "An add action needs an offer."})
        if kind in {"remove", "update"} and "id" not in attrs:
            raise serializers.ValidationError({"id": f"A {kind} action needs the order item id."})
        if kind == "update" and "quantity" not in attrs:
            raise serializers.ValidationError({"quantity": "An update action needs a quantity."})
        return attrs


class UpdateOrderSerializer(serializers.Serializer):
    orderItems = OrderItemActionSerializer(many=True, min_length=1, max_length=MAX_ORDER_ITEMS)  # type: ignore[call-arg]


class ActionsRequestSerializer(serializers.Serializer):
    """A body carrying `order.orderItems` actions: its field errors also name each refused
    action under `details.actions[index]` (ActionsValidationError)."""

    def is_valid(self, *, raise_exception: bool = False) -> bool:
        valid = super().is_valid()
        if not valid and raise_exception:
            raise ActionsValidationError(self.errors)
        return valid


class UpdateRequestSerializer(ActionsRequestSerializer):
    order = UpdateOrderSerializer()


class AbandonedQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=50)
    createdAfter = AwareDateTimeField(required=False)
    updatedAfter = AwareDateTimeField(required=False)
    hasEmail = serializers.BooleanField(required=False, allow_null=True, default=None)
    queryMore = serializers.CharField(max_length=1000, required=False)
