"""Admin for baskets and promo codes.

Baskets are a read-only window: they change only through the services, which lock the row, bump
the version and record an event, so the admin's actions (revoke links, expire) call those
services and its form saves nothing. The changelist never reads a row's relations one by one.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import ActionLocation
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from baskets import selectors, services
from baskets.charts import recovery_chart_svg
from baskets.errors import BasketCompleted, BasketExpired, BasketNotFound, PaymentGatewayError, RefundRefused
from baskets.links import assisted_checkout_link, recovery_link
from baskets.models import (
    BASKET_ID_PREFIX,
    Basket,
    BasketStatus,
    OrderItem,
    Payment,
    PromoCode,
    PromoRedemption,
    RecoveryEmail,
    RecoveryStatus,
)
from baskets.payments.services import payment_refund
from baskets.selectors import normalise_promo_code, recovery_report
from baskets.services.totals import basket_current_quote
from checkout_project.api.actor import Actor
from checkout_project.api.errors import ApplicationError
from subscriptions import pricing

# A recovery email that did not go out: the list and the detail page say why.
NOT_SENT = (RecoveryEmail.Status.SKIPPED, RecoveryEmail.Status.FAILED)


def _amounts(values: dict[str, Decimal]) -> str:
    """Amounts in several currencies, "£120.00 · €30.00"; "—" when there is none."""
    return " · ".join(recovery_report.money(amount, currency) for currency, amount in sorted(values.items())) or "—"


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
    """Abandoned = still open with no activity for ABANDONED_AFTER_MINUTES (abandoned_for_recovery,
    the definition the recovery emails use); "not completed" keeps the abandoned feed's wider sense."""

    title = "abandoned"
    parameter_name = "abandoned"

    def lookups(self, request, model_admin):
        minutes = settings.ABANDONED_AFTER_MINUTES
        return (
            ("yes", f"Abandoned (no activity for {minutes} min)"),
            ("open", "Not completed (active or expired)"),
            ("no", "Completed"),
        )

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset & selectors.abandoned_for_recovery()
        if self.value() == "open":
            return queryset.exclude(status=BasketStatus.COMPLETED)
        if self.value() == "no":
            return queryset.filter(status=BasketStatus.COMPLETED)
        return queryset


class RecoveryStatusFilter(admin.SimpleListFilter):
    title = "recovery status"
    parameter_name = "recovery"

    def lookups(self, request, model_admin):
        return [
            *RecoveryStatus.choices,
            ("skipped", "Last email not sent (skipped or failed)"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value in RecoveryStatus.values:
            return queryset.filter(recovery_status=value)
        if value == "skipped":
            # The latest recovery email's outcome, as BasketAdmin.get_queryset joins it in.
            return queryset.filter(last_email_status__in=NOT_SENT)
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
    input_type = "date"
    step = ""
    lookup_prefix = "__date"
    from_label, to_label = "From", "To"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.lookup_from = f"{field_path}{self.lookup_prefix}__gte"
        self.lookup_to = f"{field_path}{self.lookup_prefix}__lte"
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
            "input_type": self.input_type,
            "step": self.step,
            "from_label": self.from_label,
            "to_label": self.to_label,
        }


class ValueRangeFilter(DateRangeFilter):
    """From / to amounts (inclusive) on a money field: `<field>__gte` / `__lte`, same form."""

    input_type = "number"
    step = "0.01"
    lookup_prefix = ""
    from_label, to_label = "At least", "At most"


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


def _user_label(user) -> str:
    return user.email or user.get_username()


@admin.register(Basket)
class BasketAdmin(admin.ModelAdmin):
    """Baskets, read as staff recovering abandoned ones: at 1280 px the list fits without scrolling
    (a short reference, the customer, value, items, last activity, age, recovery, origin)."""

    list_display = ("reference", "customer_column", "value", "items_column", "last_activity", "age", "recovery",
                    "origin")  # fmt: skip
    list_display_links = ("reference",)
    list_filter = (
        AbandonedFilter, RecoveryStatusFilter, ("total", ValueRangeFilter), "status", "order_type", "partner",
        HasEmailFilter, ("created", DateRangeFilter),
    )  # fmt: skip
    list_select_related = ("partner", "customer")
    date_hierarchy = "created"
    search_fields = ("id", "email", "external_id")
    search_help_text = "Basket id (basket-… or the bare uuid), e-mail or external id"
    ordering = ("-created",)
    inlines = [PaymentInline]
    actions = ["send_recovery_emails", "revoke_links", "expire_baskets", "export_abandoned_csv"]
    fieldsets = (
        (None, {"fields": ("id", "status", "order_type", "version", "currency", "promo_code")}),
        ("Customer details", {"fields": ("email", "first_name", "last_name", "company_name", "phone")}),
        # The rest, folded: the summary above says what staff need first.
        ("Lifetime", {"fields": ("created", "updated", "expires_at", "completed_at"), "classes": ["collapse"]}),
        ("Recovery", {"classes": ["collapse"], "fields": (
            "recovery_status", "recovery_emails_sent", "recovery_last_emailed_at", "recovery_opened_at", "recovered_at",
            "recovered_amount",
        )}),
        ("Owner", {"classes": ["collapse"], "fields": (
            "application", "created_by_customer_token", "customer", "partner", "created_by_staff", "for_subscription",
        )}),
        ("Order details", {"classes": ["collapse"], "fields": (
            "country", "source", "external_id", "tracking", "custom_fields", "entry",
        )}),
    )  # fmt: skip
    readonly_fields = flatten_fieldsets(fieldsets)

    class Media:
        css = {"all": ["baskets/admin/basket_links.css", "baskets/admin/recovery.css"]}
        js = ["baskets/admin/basket_links.js"]

    def changelist_view(self, request, extra_context=None):
        # The list needs the width: without the admin's navigation sidebar (the breadcrumbs and
        # the home page lead elsewhere), its nine columns fit at 1280 px with no scrolling.
        return super().changelist_view(request, {"is_nav_sidebar_enabled": False, **(extra_context or {})})

    def get_queryset(self, request):
        # The page's items in one query, and the latest recovery email's outcome joined in as two
        # columns: the list reads nothing per row.
        latest_email = RecoveryEmail.objects.filter(basket=OuterRef("pk")).order_by("-created")
        return (
            super()
            .get_queryset(request)
            .annotate(
                last_email_status=Subquery(latest_email.values("status")[:1]),
                last_email_reason=Subquery(latest_email.values("reason")[:1]),
            )
            .prefetch_related(
                Prefetch(
                    "items",
                    queryset=OrderItem.objects.only(
                        "id", "basket_id", "position", "created", "offer_id", "quantity", "offer_snapshot"
                    ).order_by("position", "created"),
                )
            )
        )

    # --- The list's columns ----------------------------------------------------------------------------

    @admin.display(description="Basket", ordering="id")
    def reference(self, obj: Basket) -> str:
        return format_html('<span class="basket-ref" title="{}">{}</span>', obj.public_id, obj.id.hex[:8])

    @admin.display(description="Customer", ordering="email")
    def customer_column(self, obj: Basket) -> str:
        name = " ".join(part for part in (obj.first_name, obj.last_name) if part) or obj.company_name
        if not name and obj.customer is not None:
            name = " ".join(part for part in (obj.customer.first_name, obj.customer.last_name) if part)
        email = obj.email or (obj.customer.email if obj.customer is not None else "")
        if not name and not email:
            return "—"
        return format_html(
            '<span class="basket-customer">{}<br><small>{}</small></span>', name or "—", email or "no e-mail"
        )

    @admin.display(description="Value", ordering="total")
    def value(self, obj: Basket) -> str:
        return recovery_report.money(obj.total, obj.currency)

    @admin.display(description="Items")
    def items_column(self, obj: Basket) -> str:
        return recovery_report.item_summary(list(obj.items.all()))

    @admin.display(description="Last activity", ordering="updated")
    def last_activity(self, obj: Basket) -> str:
        return format_html(
            '<time datetime="{}">{}</time>', obj.updated.isoformat(), f"{obj.updated:%d %b %H:%M}".lstrip("0")
        )

    @admin.display(description="Age", ordering="-created")
    def age(self, obj: Basket) -> str:
        return recovery_report.age_text(timezone.now() - obj.created)

    @admin.display(description="Recovery", ordering="recovery_status")
    def recovery(self, obj: Basket) -> str:
        text = recovery_report.recovery_status_text(obj)
        if obj.status != BasketStatus.ACTIVE:  # the basket's own status, when it is over
            text = f"{obj.get_status_display()} · {text}"
        status = getattr(obj, "last_email_status", None)
        if status in NOT_SENT:
            outcome = "not sent" if status == RecoveryEmail.Status.SKIPPED else "failed"
            reason = getattr(obj, "last_email_reason", "") or ""
            return format_html('{}<br><small class="recovery-problem">Last email {}: {}</small>', text, outcome, reason)
        if status == RecoveryEmail.Status.QUEUED:
            return format_html("{}<br><small>Email queued</small>", text)
        return text

    @admin.display(description="Source / partner", ordering="partner__name")
    def origin(self, obj: Basket) -> str:
        if obj.partner is not None:
            return obj.partner.name
        return obj.source or "—"

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
        """May run the actions that change baskets through the services (revoke links, expire,
        send recovery emails)."""
        return request.user.has_perm("baskets.change_basket")

    def get_search_results(self, request, queryset, search_term):
        # Staff paste the public id (`basket-<uuid>`); the column holds the bare uuid.
        search_term = " ".join(term.removeprefix(BASKET_ID_PREFIX) for term in search_term.split())
        return super().get_search_results(request, queryset, search_term)

    # --- The change page ---------------------------------------------------------------------------------

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["basket_links"] = self.basket_links(request, obj)
            context["basket_is_open"] = obj.status == BasketStatus.ACTIVE and obj.expires_at > timezone.now()
            context.update(self.basket_summary(obj))
            context["can_send_recovery_email"] = self.has_manage_permission(request) and context["basket_is_open"]
            context["send_recovery_email_url"] = reverse("admin:baskets_basket_send_recovery_email", args=[obj.pk])
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    @staticmethod
    def basket_summary(basket: Basket) -> dict[str, Any]:
        """What the change page shows above the fields: totals, items with prices, the timeline."""
        items = selectors.basket_items(basket)
        quote = basket_current_quote(basket, items)
        currency = quote.currency or basket.currency
        totals = quote.totals
        if isinstance(totals, pricing.Totals):
            rows = [("Subtotal", totals.subtotal), ("Discount", -totals.discount), ("Total", totals.total)]
        else:
            settlement = totals.settlement
            subtotal = settlement.subtotal if settlement is not None else totals.charge
            discount = settlement.discount if settlement is not None else pricing.ZERO
            rows = [("Subtotal", subtotal), ("Discount", -discount), ("Credit", -totals.credit), ("Total", quote.total)]
        rows.append(("Due today", quote.due_today))
        lines = []
        for item in items:
            change = quote.change_quotes.get(item.id)
            if change is not None:
                amount = change.due_today
            elif item.action_type == OrderItem.ActionType.REMOVE:
                amount = pricing.ZERO
            else:
                amount = pricing.first_period_amount(item.offer_snapshot.get("price", [])) * item.quantity
            lines.append(
                {
                    "name": item.offer_snapshot.get("name") or item.offer_id,
                    "kind": "add-on" if item.parent_id else item.get_type_display().lower(),
                    "action": item.get_action_type_display() if item.action_type else "",
                    "quantity": item.quantity,
                    "price": pricing.schedule_in_words(item.offer_snapshot.get("price", []), currency),
                    "amount": recovery_report.money(pricing.quantize(amount, currency or "GBP"), currency),
                }
            )
        events = basket.events.select_related("staff_user", "partner", "customer", "application")
        emails = basket.recovery_emails.select_related("sent_by")
        return {
            "basket_totals": [(label, recovery_report.money(amount, currency)) for label, amount in rows],
            "basket_lines": lines,
            "basket_promo_code": basket.promo_code.code if basket.promo_code_id and basket.promo_code else "",
            "basket_recovery_status": recovery_report.recovery_status_text(basket),
            "basket_timeline": recovery_report.basket_timeline(basket, events, emails),
        }

    @staticmethod
    def basket_links(request: HttpRequest, basket: Basket) -> list[dict[str, str]]:
        """The links staff send the customer, as full addresses, each with what it is for."""
        links = [
            {
                "id": "recovery-link",
                "label": "Recovery link",
                "url": recovery_link(basket),
                "help": "For the customer who left this basket: it reopens the basket at checkout, "
                "and a visit counts towards recovery.",
            }
        ]
        assisted = assisted_checkout_link(basket)
        if assisted is not None:
            links.append(
                {
                    "id": "assisted-link",
                    "label": "Assisted checkout link",
                    "url": assisted,
                    "help": "For a basket staff built for a customer (assisted sale): it opens the basket "
                    "for its owner to pay; it is not a recovery.",
                }
            )
        for link in links:
            link["url"] = request.build_absolute_uri(link["url"])
        return links

    def get_urls(self):
        send = path(
            "<path:object_id>/send-recovery-email/",
            self.admin_site.admin_view(self.send_recovery_email_view),
            name="baskets_basket_send_recovery_email",
        )
        dashboard = path(
            "recovery-dashboard/",
            self.admin_site.admin_view(self.dashboard_view),
            name="baskets_basket_recovery_dashboard",
        )
        bulk = path(
            "recovery-bulk/<str:result_id>/",
            self.admin_site.admin_view(self.bulk_status_view),
            name="baskets_basket_recovery_bulk",
        )
        return [send, dashboard, bulk, *super().get_urls()]

    def send_recovery_email_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: queue one recovery email for this basket (recovery_email_queue), sent in the
        background; says whether it was queued or why it was skipped."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_manage_permission(request):
            raise PermissionDenied
        basket = get_object_or_404(Basket, pk=object_id)
        try:
            email = services.recovery_email_queue(basket=basket, sent_by=request.user)
        except ApplicationError as exc:
            self.message_user(request, f"No recovery email: {exc.message}", messages.ERROR)
        else:
            if email.status == RecoveryEmail.Status.SKIPPED:
                self.message_user(request, f"No recovery email sent: {email.reason}", messages.WARNING)
            else:
                self.message_user(
                    request,
                    f"Recovery email to {email.to_email or basket.email} queued: it is sent in the background.",
                    messages.SUCCESS,
                )
        return redirect("admin:baskets_basket_change", basket.pk)

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        dashboard = recovery_report.recovery_dashboard_snapshot(refresh=request.GET.get("refresh") == "1")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Abandoned-basket recovery",
            "dashboard": dashboard,
            "windows": [
                {
                    "label": window.label,
                    "abandoned": window.abandoned,
                    "abandoned_value": _amounts(window.abandoned_value),
                    "emails_sent": window.emails_sent,
                    "contacted": window.contacted,
                    "opened": window.opened,
                    "recovered": window.recovered,
                    "recovered_value": _amounts(window.recovered_value),
                    "recovery_rate": "—" if window.recovery_rate is None else f"{window.recovery_rate}%",
                }
                for window in dashboard.windows
            ],
            "chart": recovery_chart_svg(dashboard.days),
            "abandoned_after": settings.ABANDONED_AFTER_MINUTES,
            "abandoned_url": reverse("admin:baskets_basket_changelist") + "?abandoned=yes",
            "max_age": int(recovery_report.DASHBOARD_MAX_AGE.total_seconds()),
        }
        return TemplateResponse(request, "admin/baskets/basket/recovery_dashboard.html", context)

    # --- Actions: the same services as the API --------------------------------------------------------

    @admin.action(
        description="Send a recovery email to the selected baskets",
        permissions=["manage"],
    )
    def send_recovery_emails(self, request: HttpRequest, queryset: QuerySet[Basket]) -> None:
        basket_ids = list(queryset.order_by().values_list("id", flat=True))
        result_id = services.recovery_emails_queue_bulk(basket_ids=basket_ids, sent_by=request.user)
        status_url = reverse("admin:baskets_basket_recovery_bulk", args=[result_id])
        self.message_user(
            request,
            format_html(
                'Sending recovery emails for {} basket(s) in the background: <a href="{}">see the counts</a>. '
                "Baskets that cannot be emailed (no e-mail, unsubscribed, completed or expired) are skipped: "
                "the Recovery column says why.",
                len(basket_ids),
                status_url,
            ),
            messages.SUCCESS,
        )

    def bulk_status_view(self, request: HttpRequest, result_id: str) -> HttpResponse:
        """Where a bulk send stands: its task's status, then how many emails it queued and skipped (by why)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            result = selectors.recovery_bulk_result(result_id)
        except NotImplementedError:  # a task backend that keeps no results (the immediate one)
            result = None
        if result is None:
            raise Http404("No such bulk send.")
        summary = result.summary or {}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Bulk recovery emails",
            "status": result.status,
            "done": result.summary is not None,
            "baskets": summary.get("baskets", 0),
            "queued": summary.get("queued", 0),
            "skipped": sorted((summary.get("skipped") or {}).items()),
            "not_found": summary.get("notFound", 0),
            "abandoned_url": reverse("admin:baskets_basket_changelist") + "?recovery=skipped",
        }
        return TemplateResponse(request, "admin/baskets/basket/recovery_bulk.html", context)

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
        # The export reads its own relations (the list's prefetch is for a page of rows).
        baskets = queryset.order_by().prefetch_related(None)
        rows = selectors.abandoned_basket_export_rows(baskets, absolute_url=request.build_absolute_uri)
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
