"""Admin for the catalog, customers and subscriptions."""

from django.contrib import admin
from django.db.models import Prefetch

from subscriptions.models import AddOn, Charge, Customer, Offer, Product, Subscription, SubscriptionAddOn
from subscriptions.pricing import schedule_in_words
from subscriptions.services import offer_refresh_version


class PriceScheduleMixin:
    @admin.display(description="Price schedule")
    def price_schedule(self, offer: Offer) -> str:
        """The charges in words from the offer's snapshot (no query): "£75.00 for 52 weeks, then …"."""
        return schedule_in_words(offer.snapshot.get("price", []), offer.currency) or "-"


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "product_code", "path", "available")
    list_filter = ("available",)
    search_fields = ("name", "product_code", "path")


class ChargeInline(admin.TabularInline):
    model = Charge
    extra = 0
    ordering = ("position", "id")
    fields = (
        "position", "name", "amount", "type", "repeat_interval", "repeat_interval_type", "repeat_count",
        "delay_interval", "delay_interval_type",
    )  # fmt: skip


@admin.register(Offer)
class OfferAdmin(PriceScheduleMixin, admin.ModelAdmin):
    list_display = ("name", "path", "type", "currency", "price_schedule", "published", "version", "updated")
    list_filter = ("type", "published", "currency")
    search_fields = ("id", "name", "path")
    inlines = [ChargeInline]
    filter_horizontal = ("products", "upgrade_offers", "downgrade_offers", "cross_sell_add_ons")
    autocomplete_fields = ("renewal_offer",)
    readonly_fields = ("id", "price_schedule", "version", "snapshot", "created", "updated")
    fieldsets = (
        (None, {"fields": ("id", "type", "name", "path", "published")}),
        ("Price and term", {"fields": (
            "currency", "price_schedule", "term_length", "term_type", "min_quantity", "max_quantity",
        )}),
        ("Products", {"fields": ("products",)}),
        ("Upgrades, downgrades and add-ons",
         {"fields": ("upgrade_offers", "downgrade_offers", "cross_sell_add_ons", "renewal_offer")}),
        ("Eligibility", {"fields": ("segments", "allowed_countries")}),
        ("Version", {"fields": ("version", "snapshot", "created", "updated")}),
    )  # fmt: skip

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # The version hashes products and charges too, which are saved only now, after the offer.
        offer_refresh_version(offer=form.instance)


@admin.register(AddOn)
class AddOnAdmin(PriceScheduleMixin, admin.ModelAdmin):
    """Add-ons: offers of type `add_on`, sold with the offers that list them as cross-sells."""

    list_display = ("name", "path", "currency", "price_schedule", "sold_with", "published", "version", "updated")
    list_filter = ("published", "currency")
    search_fields = ("id", "name", "path")
    inlines = [ChargeInline]
    filter_horizontal = ("products",)
    readonly_fields = ("id", "price_schedule", "sold_with", "version", "snapshot", "created", "updated")
    fieldsets = (
        (None, {"fields": ("id", "name", "path", "published")}),
        ("Price and term", {"fields": (
            "currency", "price_schedule", "term_length", "term_type", "min_quantity", "max_quantity",
        )}),
        ("Products", {"fields": ("products",)}),
        ("Sold with (set on each offer's cross-sells)", {"fields": ("sold_with",)}),
        ("Eligibility", {"fields": ("segments", "allowed_countries")}),
        ("Version", {"fields": ("version", "snapshot", "created", "updated")}),
    )  # fmt: skip

    def get_queryset(self, request):
        # One query for every row's "sold with", not one per row.
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("cross_sold_with", queryset=Offer.objects.only("id", "name").order_by("name")))
        )

    @admin.display(description="Sold with")
    def sold_with(self, obj: AddOn) -> str:
        return ", ".join(offer.name for offer in obj.cross_sold_with.all()) or "-"

    def save_model(self, request, obj, form, change):
        obj.type = Offer.Type.ADD_ON
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        offer_refresh_version(offer=form.instance)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("email", "first_name", "last_name", "company_name", "user", "created")
    list_select_related = ("user",)
    search_fields = ("email", "first_name", "last_name", "company_name")
    raw_id_fields = ("user",)
    readonly_fields = ("id", "created")


class PendingChangeFilter(admin.SimpleListFilter):
    title = "pending change"
    parameter_name = "pending_change"

    def lookups(self, request, model_admin):
        return (("yes", "Has a pending change"), ("no", "No pending change"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(pending_change_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(pending_change_at__isnull=True)
        return queryset


class SubscriptionAddOnInline(admin.TabularInline):
    model = SubscriptionAddOn
    extra = 0
    autocomplete_fields = ("offer",)


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = (
        "reference", "customer", "offer", "quantity", "status", "term_end", "pending_offer", "pending_change_at",
    )  # fmt: skip
    list_select_related = ("customer", "offer", "pending_offer")
    list_filter = ("status", PendingChangeFilter)
    search_fields = ("reference", "customer__email")
    autocomplete_fields = ("customer", "offer")
    inlines = [SubscriptionAddOnInline]
    # A pending change is scheduled by completing an update basket; shown here, changed there.
    readonly_fields = ("id", "pending_offer", "pending_change", "pending_change_at", "created", "updated")
    fieldsets = (
        (None, {"fields": ("id", "reference", "customer", "status")}),
        ("Offer and term", {"fields": ("offer", "quantity", "term_start", "term_end")}),
        ("Pending change", {"fields": ("pending_offer", "pending_change", "pending_change_at")}),
        ("History", {"fields": ("created", "updated")}),
    )
