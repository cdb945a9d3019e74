"""Admin for the catalog, customers and subscriptions."""

from django.contrib import admin

from subscriptions.models import Charge, Customer, Offer, Product, Subscription, SubscriptionAddOn
from subscriptions.services import offer_refresh_version


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
class OfferAdmin(admin.ModelAdmin):
    list_display = ("name", "path", "type", "currency", "published", "version", "updated")
    list_filter = ("type", "published", "currency")
    search_fields = ("id", "name", "path")
    inlines = [ChargeInline]
    filter_horizontal = ("products", "upgrade_offers", "downgrade_offers", "cross_sell_add_ons")
    autocomplete_fields = ("renewal_offer",)
    readonly_fields = ("id", "version", "snapshot", "created", "updated")
    fieldsets = (
        (None, {"fields": ("id", "type", "name", "path", "published")}),
        ("Price and term", {"fields": ("currency", "term_length", "term_type", "min_quantity", "max_quantity")}),
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


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("email", "first_name", "last_name", "company_name", "user", "created")
    list_select_related = ("user",)
    search_fields = ("email", "first_name", "last_name", "company_name")
    raw_id_fields = ("user",)
    readonly_fields = ("id", "created")


class SubscriptionAddOnInline(admin.TabularInline):
    model = SubscriptionAddOn
    extra = 0
    autocomplete_fields = ("offer",)


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("reference", "customer", "offer", "quantity", "status", "term_end", "pending_offer")
    list_select_related = ("customer", "offer", "pending_offer")
    list_filter = ("status",)
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
