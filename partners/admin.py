"""Admin for partner organisations: their clients, eligible offers, blocked products, subscriptions.

Offers list their eligible partners too: the offer admin gains an inline here (subscriptions
knows nothing of partners).
"""

from django.contrib import admin

from partners.models import Partner, PartnerClient, PartnerEligibleOffer, PartnerSubscription
from subscriptions import admin as subscriptions_admin
from subscriptions.models import AddOn, Offer


class PartnerClientInline(admin.TabularInline):
    model = PartnerClient
    extra = 0
    fields = ("application", "created")
    readonly_fields = ("created",)
    raw_id_fields = ("application",)
    verbose_name = "OAuth client"
    verbose_name_plural = "OAuth clients (their tokens can only carry the `partner` scope)"


class PartnerEligibleOfferInline(admin.TabularInline):
    model = PartnerEligibleOffer
    extra = 0
    autocomplete_fields = ("offer",)
    verbose_name = "eligible offer"
    verbose_name_plural = "Eligible offers (an offer listing no partner is sold by every partner)"


class PartnerSubscriptionInline(admin.TabularInline):
    model = PartnerSubscription
    extra = 0
    fields = ("subscription", "created")
    readonly_fields = ("created",)
    raw_id_fields = ("subscription",)
    verbose_name = "subscription"
    verbose_name_plural = "Subscriptions of this partner organisation"


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "active", "contact_name", "contact_email", "created")
    list_filter = ("active",)
    search_fields = ("name", "slug", "contact_name", "contact_email")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created",)
    filter_horizontal = ("blocked_products",)
    fields = ("name", "slug", "active", "contact_name", "contact_email", "blocked_products", "created")
    inlines = [PartnerClientInline, PartnerEligibleOfferInline, PartnerSubscriptionInline]


class OfferEligiblePartnerInline(admin.TabularInline):
    model = PartnerEligibleOffer
    extra = 0
    autocomplete_fields = ("partner",)
    verbose_name = "eligible partner"
    verbose_name_plural = "Eligible partners (none listed: every partner may sell this offer)"


class OfferWithEligiblePartnersAdmin(subscriptions_admin.OfferAdmin):
    inlines = [*subscriptions_admin.OfferAdmin.inlines, OfferEligiblePartnerInline]


class AddOnWithEligiblePartnersAdmin(subscriptions_admin.AddOnAdmin):
    inlines = [*subscriptions_admin.AddOnAdmin.inlines, OfferEligiblePartnerInline]


admin.site.unregister(Offer)
admin.site.register(Offer, OfferWithEligiblePartnersAdmin)
admin.site.unregister(AddOn)
admin.site.register(AddOn, AddOnWithEligiblePartnersAdmin)
