"""Admin for baskets: a read-only window. Baskets change only through the API's services, which
lock the row, bump the version and record an event; an admin form would do none of that."""

from django.contrib import admin

from baskets.models import BASKET_ID_PREFIX, Basket, BasketEvent, OrderItem


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
