"""Admin for baskets and promo codes.

Baskets are a read-only window: they change only through the services, which lock the row, bump
the version and record an event, so the admin's actions (revoke links, expire) call those
services and its form saves nothing. The changelist never reads a row's relations one by one.
"""

from __future__ import annotations

import csv
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import ActionLocation
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from baskets import selectors, services
from baskets.errors import BasketCompleted, BasketExpired, BasketNotFound, PaymentGatewayError, RefundRefused
from baskets.links import assisted_checkout_link, recovery_link
from baskets.models import (
    BASKET_ID_PREFIX,
    Basket,
    BasketEvent,
    BasketStatus,
    OrderItem,
    Payment,
    PromoCode,
    PromoRedemption,
)
from baskets.payments.services import payment_refund
from baskets.selectors import normalise_promo_code
from checkout_project.api.actor import Actor


def staff_actor(request: HttpRequest) -> Actor:
    """The staff user behind an admin action, as the services record it on the basket's events."""
    return Actor(user=request.user, is_staff=True)


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
    verbose_name = "event"
    verbose_name_plural = "Event history"
    fields = ("created", "kind", "version", "application", "customer", "partner", "staff_user", "data")
    ordering = ("created", "id")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("application", "customer", "partner", "staff_user")


class PaymentInline(ReadOnlyInline):
    model = Payment
    fields = (
        "created", "updated", "gateway", "status", "amount", "refunded_amount", "currency", "gateway_reference",
        "method", "last_error",
    )  # fmt: skip
    # The payment's own page has its refund form.
    show_change_link = True


# --- Changelist filters -----------------------------------------------------------------------------


class AbandonedFilter(admin.SimpleListFilter):
    """Abandoned = not completed (active or expired), as the abandoned feed counts them."""

    title = "abandoned"
    parameter_name = "abandoned"

    def lookups(self, request, model_admin):
        return (("yes", "Abandoned (not completed)"), ("no", "Completed"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(status=BasketStatus.COMPLETED)
        if self.value() == "no":
            return queryset.filter(status=BasketStatus.COMPLETED)
        return queryset


class HasEmailFilter(admin.SimpleListFilter):
    title = "customer e-mail"
    parameter_name = "has_email"

    def lookups(self, request, model_admin):
        return (("yes", "Has an e-mail"), ("no", "No e-mail"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(email="")
        if self.value() == "no":
            return queryset.filter(email="")
        return queryset


class DateRangeFilter(admin.FieldListFilter):
    """From / to dates (inclusive, UTC) on a date-time field: `<field>__date__gte` / `__date__lte`.

    Rendered as a small GET form (templates/admin/baskets/date_range_filter.html) that keeps the
    changelist's other filters; an unparseable date is the admin's usual "?e=1" error.
    """

    template = "admin/baskets/date_range_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.lookup_from = f"{field_path}__date__gte"
        self.lookup_to = f"{field_path}__date__lte"
        super().__init__(field, request, params, model, model_admin, field_path)

    def expected_parameters(self):
        return [self.lookup_from, self.lookup_to]

    def get_facet_counts(self, pk_attname, filtered_qs):
        return {}

    def last_value(self, lookup: str) -> str:
        """The date given for this lookup, "" when none (FieldListFilter keeps each value's list)."""
        values = self.used_parameters.get(lookup)
        return values[-1] if isinstance(values, list) and values else ""

    def choices(self, changelist):
        own = set(self.expected_parameters())
        # The form replaces the query string: carry the other filters, search and ordering along.
        keep = [
            (name, value)
            for name, values in changelist.params.items()
            if name not in own and name not in {"p", "e"}
            for value in (values if isinstance(values, list) else [values])
        ]
        yield {
            "from_name": self.lookup_from,
            "from_value": self.last_value(self.lookup_from),
            "to_name": self.lookup_to,
            "to_value": self.last_value(self.lookup_to),
            "keep": keep,
            "clear_url": changelist.get_query_string(remove=list(own)),
            "selected": bool(self.used_parameters),
        }


# --- CSV export ---------------------------------------------------------------------------------------


class _Echo:
    """A file-like object whose write() hands back the line, for a streaming csv.writer."""

    def write(self, value: str) -> str:
        return value


# A cell a spreadsheet would read as a formula (CSV/formula injection, OWASP): customers type
# their own names, companies and external ids.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe_cell(value: str) -> str:
    """`value`, with a leading apostrophe when a spreadsheet would run it as a formula."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def stream_csv(rows, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow([csv_safe_cell(str(cell)) for cell in row]) for row in rows),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- Baskets --------------------------------------------------------------------------------------------


@admin.register(Basket)
class BasketAdmin(admin.ModelAdmin):
    list_display = ("public_id", "status", "order_type", "email", "customer", "partner", "created", "expires_at",
                    "version")  # fmt: skip
    list_display_links = ("public_id",)
    list_filter = (
        "status", AbandonedFilter, "order_type", "partner", HasEmailFilter, ("created", DateRangeFilter),
    )  # fmt: skip
    list_select_related = ("partner", "customer")
    date_hierarchy = "created"
    search_fields = ("id", "email", "external_id")
    search_help_text = "Basket id (basket-… or the bare uuid), e-mail or external id"
    ordering = ("-created",)
    inlines = [OrderItemInline, BasketEventInline, PaymentInline]
    actions = ["revoke_links", "expire_baskets", "export_abandoned_csv"]
    fieldsets = (
        (None, {"fields": ("id", "status", "order_type", "version", "currency", "promo_code")}),
        ("Lifetime", {"fields": ("created", "updated", "expires_at", "completed_at")}),
        ("Owner", {"fields": (
            "application", "created_by_customer_token", "customer", "partner", "created_by_staff", "for_subscription",
        )}),
        ("Customer details", {"fields": ("email", "first_name", "last_name", "company_name", "phone")}),
        ("Order details", {"fields": ("country", "source", "external_id", "tracking", "custom_fields", "entry")}),
    )  # fmt: skip
    readonly_fields = flatten_fieldsets(fieldsets)

    class Media:
        css = {"all": ["baskets/admin/basket_links.css"]}
        js = ["baskets/admin/basket_links.js"]

    @admin.display(description="Basket", ordering="id")
    def public_id(self, obj: Basket) -> str:
        return obj.public_id

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_manage_permission(self, request) -> bool:
        """May run the actions that change baskets through the services (revoke links, expire)."""
        return request.user.has_perm("baskets.change_basket")

    def get_search_results(self, request, queryset, search_term):
        # Staff paste the public id (`basket-<uuid>`); the column holds the bare uuid.
        search_term = " ".join(term.removeprefix(BASKET_ID_PREFIX) for term in search_term.split())
        return super().get_search_results(request, queryset, search_term)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["basket_links"] = self.basket_links(request, obj)
            context["basket_is_open"] = obj.status == BasketStatus.ACTIVE and obj.expires_at > timezone.now()
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    @staticmethod
    def basket_links(request: HttpRequest, basket: Basket) -> list[dict[str, str]]:
        """The links staff send the customer, as full addresses."""
        links = [{"id": "recovery-link", "label": "Recovery link", "url": recovery_link(basket)}]
        assisted = assisted_checkout_link(basket)
        if assisted is not None:
            links.append({"id": "assisted-link", "label": "Assisted checkout link", "url": assisted})
        for link in links:
            link["url"] = request.build_absolute_uri(link["url"])
        return links

    # --- Actions: the same services as the API --------------------------------------------------------

    @admin.action(
        description="Revoke the links of the selected baskets",
        description_plural="Revoke the links of the selected baskets",
        permissions=["manage"],
        location=[ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM],
    )
    def revoke_links(self, request: HttpRequest, queryset: QuerySet[Basket]) -> None:
        revoked = 0
        for basket_id in queryset.values_list("id", flat=True):
            try:
                services.basket_revoke_links(actor=staff_actor(request), basket_id=basket_id)
            except BasketNotFound:
                continue
            revoked += 1
        self.message_user(
            request,
            f"Revoked the links of {revoked} basket(s): links sent before no longer open them.",
            messages.SUCCESS,
        )

    @admin.action(
        description="Expire the selected baskets now",
        permissions=["manage"],
        location=[ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM],
    )
    def expire_baskets(self, request: HttpRequest, queryset: QuerySet[Basket]) -> None:
        expired, skipped = 0, 0
        for basket_id in queryset.values_list("id", flat=True):
            try:
                services.basket_expire(actor=staff_actor(request), basket_id=basket_id)
            except (BasketCompleted, BasketExpired, BasketNotFound):
                skipped += 1
                continue
            expired += 1
        self.message_user(request, f"Expired {expired} basket(s).", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"Left {skipped} basket(s) alone: already completed or expired.", messages.WARNING
            )

    @admin.action(description="Export the selected abandoned baskets as CSV", permissions=["view"])
    def export_abandoned_csv(self, request: HttpRequest, queryset: QuerySet[Basket]) -> StreamingHttpResponse:
        rows = selectors.abandoned_basket_export_rows(queryset.order_by(), absolute_url=request.build_absolute_uri)
        return stream_csv(rows, f"abandoned-baskets-{timezone.now():%Y%m%d-%H%M%S}.csv")


# --- Payments ---------------------------------------------------------------------------------------


class RefundForm(forms.Form):
    amount = forms.DecimalField(
        required=False,
        min_value=Decimal("0.01"),
        max_digits=12,
        decimal_places=2,
        help_text="Empty: refund everything not refunded yet.",
    )


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    """Payments are read-only here; refunds (full or partial) go through the gateway
    (baskets.payments.services.payment_refund), from the payment's page."""

    list_display = (
        "id", "basket_link", "gateway", "status", "amount", "refunded_amount", "currency", "gateway_reference",
        "created", "updated",
    )  # fmt: skip
    list_filter = ("status", "gateway")
    list_select_related = ("basket",)
    search_fields = ("gateway_reference",)
    search_help_text = "The gateway's reference (a PaymentIntent id, pi_…)"
    ordering = ("-created",)
    fields = (
        "id", "basket_link", "gateway", "status", "amount", "refunded_amount", "currency", "gateway_reference",
        "method", "capture_attempts", "next_capture_at", "last_error", "created", "updated", "refund_link",
    )  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_refund_permission(self, request) -> bool:
        return request.user.has_perm("baskets.change_payment")

    @admin.display(description="Basket")
    def basket_link(self, obj: Payment) -> str:
        url = reverse("admin:baskets_basket_change", args=[obj.basket_id])
        return format_html('<a href="{}">{}</a>', url, obj.basket.public_id)

    @admin.display(description="Refund")
    def refund_link(self, obj: Payment) -> str:
        if obj.refundable_amount <= 0:
            return "Nothing to refund." if obj.status != Payment.Status.MANUAL else "No payment was taken."
        url = reverse("admin:baskets_payment_refund", args=[obj.pk])
        return format_html(
            '<a class="button" href="{}">Refund…</a> up to {} {}', url, obj.refundable_amount, obj.currency
        )

    def get_urls(self):
        refund = path(
            "<path:object_id>/refund/", self.admin_site.admin_view(self.refund_view), name="baskets_payment_refund"
        )
        return [refund, *super().get_urls()]

    def refund_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_refund_permission(request):
            raise PermissionDenied
        payment = get_object_or_404(Payment.objects.select_related("basket"), pk=object_id)
        form = RefundForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                refunded = payment_refund(
                    payment_id=payment.pk, amount=form.cleaned_data["amount"], actor=staff_actor(request)
                )
            except (RefundRefused, PaymentGatewayError) as exc:
                form.add_error("amount", exc.message)
            else:
                self.message_user(
                    request,
                    f"Refunded: {refunded.refunded_amount} of {refunded.amount} {refunded.currency} given back "
                    f"in all; the payment is {refunded.get_status_display().lower()}.",
                    messages.SUCCESS,
                )
                return redirect("admin:baskets_payment_change", payment.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Refund payment {payment.gateway_reference or payment.pk}",
            "payment": payment,
            "form": form,
        }
        return TemplateResponse(request, "admin/baskets/payment/refund.html", context)


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
    readonly_fields = ("redemptions", "created", "updated")
    inlines = [PromoRedemptionInline]
    fieldsets = (
        (None, {"fields": ("code", "description", "active")}),
        ("Validity", {"fields": ("starts_at", "expires_at", "available_quantity", "redemptions")}),
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
