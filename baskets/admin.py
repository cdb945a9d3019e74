"""Admin for baskets: a read-only window. Baskets change only through the API's services, which
lock the row, bump the version and record an event; an admin form would do none of that."""

from django import forms
from django.contrib import admin

from baskets.models import BASKET_ID_PREFIX, Basket, BasketEvent, OrderItem, PromoCode, PromoRedemption
from baskets.selectors import normalise_promo_code


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OrderItemInline(ReadOnlyInline):
    model = OrderItem
    fk_name = "basket"
    fields = (
        "id", "position", "type", "offer", "offer_version", "quantity", "parent", "action_type", "effective_date",
        "automatic", "created",
    )  # fmt: skip
    ordering = ("position", "created")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("offer", "parent")


class BasketEventInline(ReadOnlyInline):
    model = BasketEvent
    fields = ("created", "kind", "version", "application", "customer", "partner", "staff_user", "data")
    ordering = ("created", "id")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("application", "customer", "partner", "staff_user")


@admin.register(Basket)
class BasketAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "order_type", "email", "partner", "created", "version")
    list_filter = ("status", "order_type", "partner")
    list_select_related = ("partner",)
    search_fields = ("id", "email", "external_id")
    ordering = ("-created",)
    inlines = [OrderItemInline, BasketEventInline]
    fieldsets = (
        (None, {"fields": ("id", "status", "order_type", "version", "currency")}),
        ("Lifetime", {"fields": ("created", "updated", "expires_at", "completed_at")}),
        ("Owner", {"fields": (
            "application", "created_by_customer_token", "customer", "partner", "created_by_staff", "for_subscription",
        )}),
        ("Customer details", {"fields": ("email", "first_name", "last_name", "company_name", "phone")}),
        ("Order details", {"fields": ("country", "source", "external_id", "tracking", "custom_fields", "entry")}),
    )  # fmt: skip
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        # Staff paste the public id (`basket-<uuid>`); the column holds the bare uuid.
        search_term = " ".join(term.removeprefix(BASKET_ID_PREFIX) for term in search_term.split())
        return super().get_search_results(request, queryset, search_term)


# --- Promo codes ----------------------------------------------------------------------------------


class PromoCodeForm(forms.ModelForm):
    class Meta:
        model = PromoCode
        fields = (
            "code", "description", "active", "starts_at", "expires_at", "available_quantity", "discount_type",
            "percentage", "amount", "currency", "duration_length", "duration_type", "application_level",
            "eligible_offers",
        )  # fmt: skip

    def clean_code(self):
        # Stored upper-case so lookups and the case-insensitive unique constraint agree.
        return normalise_promo_code(self.cleaned_data["code"])


class PromoRedemptionInline(ReadOnlyInline):
    model = PromoRedemption
    fields = ("created", "basket", "customer", "amount", "currency")
    ordering = ("-created",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("basket", "customer")


@admin.register(PromoCode)
class PromoCodeAdmin(admin.ModelAdmin):
    form = PromoCodeForm
    list_display = (
        "code", "description", "active", "discount", "application_level", "redemptions", "starts_at", "expires_at",
    )  # fmt: skip
    list_filter = ("active", "discount_type", "application_level")
    search_fields = ("code", "description")
    ordering = ("code",)
    filter_horizontal = ("eligible_offers",)
    readonly_fields = ("redeemed_count", "created", "updated")
    inlines = [PromoRedemptionInline]
    fieldsets = (
        (None, {"fields": ("code", "description", "active")}),
        ("Validity", {"fields": ("starts_at", "expires_at", "available_quantity", "redeemed_count")}),
        ("Discount", {"fields": ("discount_type", "percentage", "amount", "currency", "duration_length",
                                 "duration_type")}),
        ("Applies to", {"fields": ("application_level", "eligible_offers")}),
        ("History", {"fields": ("created", "updated")}),
    )  # fmt: skip

    @admin.display(description="Discount")
    def discount(self, obj: PromoCode) -> str:
        if obj.discount_type == PromoCode.DiscountType.PERCENTAGE:
            off = f"{obj.percentage}%"
        else:
            off = f"{obj.amount} {obj.currency}"
        return f"{off} for {obj.duration_length} {obj.duration_type}" if obj.duration_length else f"{off} forever"

    @admin.display(description="Redemptions used / available", ordering="redeemed_count")
    def redemptions(self, obj: PromoCode) -> str:
        available = "unlimited" if obj.available_quantity is None else obj.available_quantity
        return f"{obj.redeemed_count} / {available}"
