"""What staff read about abandoned baskets and their recovery (the admin's list, detail page and
dashboard): an item summary, a basket's timeline in words, and the dashboard's counts.

"Abandoned" is baskets.selectors.recovery.abandoned_for_recovery's, the one definition the emails
use too. The dashboard reads three grouped aggregates (baskets abandoned, baskets contacted,
emails sent), each over an index range of the last 30 days (index-only on PostgreSQL).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db.models import Case, Count, IntegerField, Q, Sum, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from baskets.models import Basket, BasketEvent, BasketStatus, OrderItem, RecoveryEmail, RecoveryStatus
from baskets.selectors.recovery import abandoned_cutoff
from subscriptions import pricing

# --- The list ---------------------------------------------------------------------------------


def item_summary(items: Sequence[OrderItem]) -> str:
    """ "Digital annual + 1 more": the first item's offer name (its quantity when more than one)."""
    if not items:
        return "No items"
    first = items[0]
    name = str(first.offer_snapshot.get("name") or first.offer_id)
    if first.quantity > 1:
        name = f"{name} x{first.quantity}"
    return f"{name} + {len(items) - 1} more" if len(items) > 1 else name


def money(amount: Decimal | None, currency: str) -> str:
    """An amount as staff read it: "£62.00", "€5.00", "12.00 CHF"; "—" when unknown."""
    if amount is None:
        return "—"
    if amount < 0:
        return f"-{pricing.format_amount(-amount, currency or 'GBP')}"
    return pricing.format_amount(amount, currency or "GBP")


def recovery_status_text(basket: Basket) -> str:
    """Not contacted / Emailed 2 times / Link opened / Recovered, £62.00."""
    status = basket.recovery_status
    if status == RecoveryStatus.EMAILED:
        count = basket.recovery_emails_sent
        return "Emailed once" if count == 1 else f"Emailed {count} times"
    if status == RecoveryStatus.RECOVERED:
        amount = basket.recovered_amount if basket.recovered_amount is not None else basket.total
        return f"Recovered, {money(amount, basket.currency)}"
    return RecoveryStatus(status).label


def age_text(delta: timedelta) -> str:
    """A duration in the largest unit that fits: "45 min", "5 h", "3 d"."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} d"


# --- The detail page: the timeline -----------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    text: str
    kind: str


def _who(event: BasketEvent) -> str:
    if event.staff_user is not None:
        return event.staff_user.email or event.staff_user.get_username()
    if event.partner is not None:
        return f"partner {event.partner.name}"
    if event.customer is not None:
        return "the customer"
    if event.application is not None:
        return event.application.name or "an API client"
    return ""


def _by(event: BasketEvent) -> str:
    who = _who(event)
    return f" by {who}" if who else ""


def _event_text(event: BasketEvent, basket: Basket, last_email_at: datetime | None) -> str:
    data: dict[str, Any] = event.data if isinstance(event.data, dict) else {}
    kind = event.kind
    if kind == "created":
        return f"Created{_by(event)}"
    if kind in {"items_replaced", "items_changed"}:
        return f"Items changed{_by(event)}"
    if kind == "promo_code_applied":
        return f"Promo code {data.get('code', '')} applied{_by(event)}".replace("  ", " ")
    if kind == "promo_code_removed":
        return f"Promo code {data.get('code', '')} removed{_by(event)}".replace("  ", " ")
    if kind == "links_revoked":
        return f"Links revoked{_by(event)}"
    if kind == "recovered":
        return "Recovery link visited"
    if kind == "recovery_email_opened":
        later = f" · {age_text(event.created - last_email_at)} after it was sent" if last_email_at else ""
        return f"Recovery email opened (its link followed){later}"
    if kind == "recovery_email_failed":
        return f"Recovery email failed: {data.get('reason', '')}".rstrip(": ")
    if kind == "assisted":
        return "Assisted checkout link opened"
    if kind == "recovery_email_sent":
        step = data.get("step")
        sent_by = data.get("sentBy") or (_who(event) if event.staff_user is not None else "")
        how = f"by {sent_by}" if sent_by else (f"on schedule ({step} after the last activity)" if step else "")
        to = data.get("to") or data.get("email") or ""
        return " ".join(part for part in ("Recovery email sent", how, f"to {to}" if to else "") if part)
    if kind == "completed":
        found = data.get("totals")
        totals: dict[str, Any] = found if isinstance(found, dict) else {}
        total = totals.get("total")
        if total is None:
            return f"Completed{_by(event)}"
        return f"Completed, {money(Decimal(str(total)), str(totals.get('currency') or basket.currency))}"
    if kind == "expired":
        reason = data.get("reason")
        if reason == "staff":
            return f"Expired{_by(event)}"
        return "Expired: its lifetime was over" if reason == "lifetime_over" else "Expired"
    return kind.replace("_", " ").capitalize() + _by(event)


def basket_timeline(
    basket: Basket, events: Iterable[BasketEvent], emails: Iterable[RecoveryEmail]
) -> list[TimelineEntry]:
    """The basket's history in words, oldest first: its events (a sent, opened or failed recovery
    email has its own), and the recovery emails that were skipped (with why) or are still queued.
    No JSON, no offer hashes."""
    entries: list[TimelineEntry] = []
    last_email_at: datetime | None = None
    for event in sorted(events, key=lambda e: (e.created, e.pk)):
        entries.append(TimelineEntry(event.created, _event_text(event, basket, last_email_at), event.kind))
        if event.kind == "recovery_email_sent":
            last_email_at = event.created
    for email in emails:
        who = ""
        if email.sent_by is not None:
            who = f" by {email.sent_by.email or email.sent_by.get_username()}"
        if email.status == RecoveryEmail.Status.SKIPPED:
            entries.append(TimelineEntry(email.created, f"Recovery email not sent{who}: {email.reason}", "skipped"))
        elif email.status == RecoveryEmail.Status.QUEUED:
            entries.append(TimelineEntry(email.created, f"Recovery email queued{who}", "queued"))
    entries.sort(key=lambda entry: entry.at)
    return entries


# --- The dashboard ------------------------------------------------------------------------------------

WINDOWS = (("24h", timedelta(hours=24)), ("7d", timedelta(days=7)), ("30d", timedelta(days=30)))
WINDOW_LABELS = {"24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days"}


@dataclass
class WindowFigures:
    """One window's figures; values are per currency."""

    label: str
    abandoned: int = 0
    abandoned_value: dict[str, Decimal] = field(default_factory=dict)
    contacted: int = 0
    emails_sent: int = 0
    opened: int = 0
    recovered: int = 0
    recovered_value: dict[str, Decimal] = field(default_factory=dict)

    @property
    def recovery_rate(self) -> Decimal | None:
        """Recovered baskets per basket contacted, in percent (None before any was contacted)."""
        if not self.contacted:
            return None
        return (Decimal(self.recovered) * 100 / self.contacted).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class DayFigures:
    day: date
    abandoned: int
    recovered: int


@dataclass(frozen=True)
class RecoveryDashboard:
    now: datetime
    windows: list[WindowFigures]
    days: list[DayFigures]  # the last 30 days, oldest first (the chart)


def _add(values: dict[str, Decimal], currency: str, amount: Decimal | None) -> None:
    if amount:
        values[currency or ""] = values.get(currency or "", Decimal(0)) + amount


def _window_bucket(since: dict[str, datetime]) -> Case:
    """0 when `updated` falls in the last 24 h, 1 in the last 7 days, 2 otherwise (the 30 days)."""
    return Case(
        When(updated__gte=since["24h"], then=Value(0)),
        When(updated__gte=since["7d"], then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )


# A window's rows: the buckets (of _window_bucket) that fall in it.
_WINDOW_BUCKETS = {"24h": (0,), "7d": (0, 1), "30d": (0, 1, 2)}
_LIFETIME_OVER = -1  # the abandoned aggregate's bucket of active baskets past their lifetime


def recovery_dashboard(now: datetime | None = None) -> RecoveryDashboard:
    """Baskets abandoned (by last activity), contacted, opened and recovered, and emails sent, over
    the last 24 h / 7 / 30 days, with a day-by-day series for the chart. Three queries.

    - abandoned: abandoned_for_recovery baskets whose last activity falls in the window, and
      their value (Basket.total), per currency;
    - contacted / opened / recovered: baskets whose recovery status is past "not contacted",
      by last activity (a recovered basket's is its completion), with the recovered amount;
    - emails sent: recovery emails sent, by when they were queued (index recovery_email_status).

    The first two each read one range of a covering index (basket_active_activity_cov,
    basket_recovery_status_cov: index-only scans on PostgreSQL) and group its rows by currency,
    day and window bucket (a few dozen groups, hashed, no sort) with one count and one sum per
    group; the windows are added up here. Over a million baskets that is what keeps a fresh count
    under 300 ms (docs/admin.md).
    """
    now = now or timezone.now()
    start = now - WINDOWS[-1][1]
    since = {name: now - length for name, length in WINDOWS}
    figures = {name: WindowFigures(WINDOW_LABELS[name]) for name, _ in WINDOWS}
    abandoned_by_day: dict[date, int] = defaultdict(int)
    recovered_by_day: dict[date, int] = defaultdict(int)
    bucket = _window_bucket(since)

    # abandoned_for_recovery's definition (active, idle since the cutoff, within its lifetime),
    # with "within its lifetime" as a bucket rather than in WHERE: PostgreSQL takes status and
    # expires_at as independent, underestimates the rows ten-fold and would read the heap through
    # basket_active_expiry instead of the covering index. Rows past their lifetime are dropped
    # below. tests/baskets/test_recovery_admin.py checks the two definitions agree.
    abandoned = (
        Basket.objects.filter(status=BasketStatus.ACTIVE, updated__lte=abandoned_cutoff(now), updated__gte=start)
        .order_by()
        .values(
            "currency",
            day=TruncDate("updated"),
            bucket=Case(When(expires_at__lte=now, then=Value(_LIFETIME_OVER)), default=bucket),
        )
        .annotate(n=Count("updated"), v=Sum("total"))
    )
    for found_row in abandoned:
        row: dict[str, Any] = dict(found_row)
        if row["bucket"] == _LIFETIME_OVER:
            continue
        abandoned_by_day[row["day"]] += row["n"]
        for name, buckets in _WINDOW_BUCKETS.items():
            if row["bucket"] in buckets:
                figures[name].abandoned += row["n"]
                _add(figures[name].abandoned_value, row["currency"], row["v"])

    opened = {RecoveryStatus.OPENED, RecoveryStatus.RECOVERED}
    contacted = (
        Basket.objects.filter(
            recovery_status__in=[RecoveryStatus.EMAILED, RecoveryStatus.OPENED, RecoveryStatus.RECOVERED],
            updated__gte=start,
        )
        .order_by()
        .values("recovery_status", "currency", day=TruncDate("updated"), bucket=bucket)
        .annotate(n=Count("updated"), v=Sum("recovered_amount"))
    )
    for found_row in contacted:
        row = dict(found_row)
        is_recovered = row["recovery_status"] == RecoveryStatus.RECOVERED
        if is_recovered:
            recovered_by_day[row["day"]] += row["n"]
        for name, buckets in _WINDOW_BUCKETS.items():
            if row["bucket"] not in buckets:
                continue
            window = figures[name]
            window.contacted += row["n"]
            if row["recovery_status"] in opened:
                window.opened += row["n"]
            if is_recovered:
                window.recovered += row["n"]
                _add(window.recovered_value, row["currency"], row["v"])

    sent = RecoveryEmail.objects.filter(status=RecoveryEmail.Status.SENT, created__gte=start).aggregate(
        **{name: Count("created", filter=Q(created__gte=moment)) for name, moment in since.items()}
    )
    for name in since:
        figures[name].emails_sent = sent[name] or 0

    today = now.date()
    days = [
        DayFigures(day, abandoned_by_day.get(day, 0), recovered_by_day.get(day, 0))
        for day in (today - timedelta(days=offset) for offset in range(29, -1, -1))
    ]
    return RecoveryDashboard(now=now, windows=[figures[name] for name, _ in WINDOWS], days=days)


# The dashboard's snapshot in the default cache (CACHES: Redis when CACHE_URL is set, shared by
# every process; otherwise per process), and how old it may be before a page view recomputes it.
DASHBOARD_CACHE_KEY = "baskets:recovery-dashboard:v1"
DASHBOARD_MAX_AGE = timedelta(seconds=60)


def recovery_dashboard_snapshot(*, refresh: bool = False, now: datetime | None = None) -> RecoveryDashboard:
    """recovery_dashboard as of at most DASHBOARD_MAX_AGE ago: the cached snapshot while it is
    that fresh (no query), else computed again and cached. `refresh`: computed now whatever its age.

    Its aggregates read every basket of the last 30 days (index ranges, three queries): over a
    million baskets that is seconds (docs/admin.md has the figures), so staff opening the page
    again, or several staff at once, read the snapshot instead."""
    now = now or timezone.now()
    if not refresh:
        cached = cache.get(DASHBOARD_CACHE_KEY)
        if isinstance(cached, RecoveryDashboard) and now - cached.now < DASHBOARD_MAX_AGE:
            return cached
    dashboard = recovery_dashboard(now)
    cache.set(DASHBOARD_CACHE_KEY, dashboard, timeout=int(DASHBOARD_MAX_AGE.total_seconds()) * 10)
    return dashboard
