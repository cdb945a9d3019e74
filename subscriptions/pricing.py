"""All money arithmetic: exact Decimals, quantized half-up to the currency's minor unit at the edge."""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

# ISO 4217 currencies whose minor unit is not 2 decimal places.
_MINOR_UNITS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip
_SYMBOLS = {"GBP": "£", "USD": "$", "EUR": "€", "AUD": "A$", "CAD": "C$", "JPY": "¥"}
ZERO = Decimal(0)


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency.upper(), 2)


def quantize(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)


def money(amount: Decimal, currency: str) -> str:
    """Wire format: a decimal string with exactly the currency's minor units."""
    return str(quantize(amount, currency))


def charge_to_wire(charge: Any, currency: str) -> dict[str, Any]:
    """A subscriptions.Charge as the order item `price` entry of API.md §4."""
    recurring = charge.type == "recurring"
    return {
        "name": charge.name,
        "amount": money(charge.amount, currency),
        "currency": currency,
        "type": charge.type,
        "repeatInterval": charge.repeat_interval if recurring else None,
        "repeatIntervalType": charge.repeat_interval_type if recurring else None,
        "repeatCount": charge.repeat_count if recurring else None,
        "delayInterval": charge.delay_interval,
        "delayIntervalType": charge.delay_interval_type,
    }


def first_period_amount(price: Iterable[dict[str, Any]]) -> Decimal:
    """What one unit costs at checkout: every charge of the schedule that starts without delay."""
    return sum((Decimal(charge["amount"]) for charge in price if not charge["delayInterval"]), ZERO)


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    discount: Decimal
    total: Decimal
    due_today: Decimal
    currency: str

    def to_wire(self) -> dict[str, str]:
        return {
            "subtotal": money(self.subtotal, self.currency),
            "discount": money(self.discount, self.currency),
            "total": money(self.total, self.currency),
            "currency": self.currency,
            "dueToday": money(self.due_today, self.currency),
        }


@dataclass(frozen=True)
class Discount:
    """A promo code's terms, as pricing needs them (the code itself lives in baskets).

    `value` is a percentage (0-100) or an amount in the order's currency. `offer_ids` None means
    the whole order; otherwise only lines of those offers are discounted. `duration_months` None
    means forever; otherwise charges falling before anchor + that many months are discounted.
    """

    type: str  # "percentage" | "amount"
    value: Decimal
    offer_ids: frozenset[str] | None = None
    duration_months: int | None = None

    def applies_to(self, offer_id: str | None) -> bool:
        return self.offer_ids is None or offer_id in self.offer_ids

    def until(self, anchor: datetime) -> datetime | None:
        """The first moment no longer discounted, or None (forever)."""
        return None if self.duration_months is None else add_interval(anchor, self.duration_months, "months")


# An order line: (price schedule, quantity) or (price schedule, quantity, offer id).
OrderLine = tuple[list[dict[str, Any]], int] | tuple[list[dict[str, Any]], int, str]


def _line(line: OrderLine) -> tuple[list[dict[str, Any]], int, str | None]:
    price, quantity, *offer = line
    return price, quantity, offer[0] if offer else None


def bill_discount(eligible: Decimal, discount: Discount, currency: str) -> Decimal:
    """The discount on one bill whose discountable part is `eligible`: never more than it, half-up."""
    if eligible <= ZERO:
        return ZERO
    off = eligible * discount.value / Decimal(100) if discount.type == "percentage" else discount.value
    return quantize(min(max(off, ZERO), eligible), currency or "GBP")


def order_totals(lines: Iterable[OrderLine], currency: str, *, discount: Discount | None = None) -> Totals:
    """Totals of an acquisition order: what is due at checkout (the charges without delay).

    With a `discount`, the lines it applies to are discounted: a percentage of them, or a fixed
    amount capped at their sum, so the total never goes below zero.
    """
    subtotal = eligible = ZERO
    for price, quantity, offer_id in map(_line, lines):
        amount = first_period_amount(price) * quantity
        subtotal += amount
        if discount is not None and discount.applies_to(offer_id):
            eligible += amount
    subtotal = quantize(subtotal, currency or "GBP")
    off = bill_discount(quantize(eligible, currency or "GBP"), discount, currency) if discount else ZERO
    total = subtotal - off
    return Totals(subtotal, off, total, total, currency or "")


@dataclass(frozen=True)
class DiscountedBill:
    """One moment of the schedule while a limited-duration discount runs."""

    at: datetime
    amount: Decimal
    discount: Decimal
    currency: str

    def to_wire(self) -> dict[str, Any]:
        return {
            "date": self.at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "amount": money(self.amount, self.currency),
            "discount": money(self.discount, self.currency),
            "total": money(self.amount - self.discount, self.currency),
        }


def discount_schedule(
    lines: Iterable[OrderLine], discount: Discount, *, anchor: datetime, currency: str
) -> list[DiscountedBill]:
    """Every bill from `anchor` until the discount ends, with its discount (empty when forever).

    Charges of all lines due at the same moment form one bill; the discount applies per bill
    (a fixed amount comes off each bill, capped at its discountable part). The first bill equals
    order_totals' subtotal and discount.
    """
    until = discount.until(anchor)
    if until is None:
        return []
    bills: dict[datetime, list[Decimal]] = {}
    for price, quantity, offer_id in map(_line, lines):
        for moment, amount in charge_occurrences(price, anchor, anchor, until):
            bill = bills.setdefault(moment, [ZERO, ZERO])
            bill[0] += amount * quantity
            if discount.applies_to(offer_id):
                bill[1] += amount * quantity
    schedule = []
    for moment in sorted(bills):
        amount = quantize(bills[moment][0], currency or "GBP")
        off = bill_discount(quantize(bills[moment][1], currency or "GBP"), discount, currency)
        schedule.append(DiscountedBill(at=moment, amount=amount, discount=off, currency=currency))
    return schedule


def _interval(count: int, unit: str) -> str:
    singular = unit[:-1] if unit.endswith("s") else unit
    return f"{count} {singular if count == 1 else unit}"


def format_amount(amount: Decimal | str, currency: str) -> str:
    value = money(Decimal(amount), currency)
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{value}" if symbol else f"{value} {currency}"


def schedule_in_words(price: list[dict[str, Any]], currency: str) -> str:
    """E.g. "£75.00 for 52 weeks, then £31.96 every 4 weeks"."""
    parts = []
    for charge in price:
        amount = format_amount(charge["amount"], currency)
        if charge["type"] != "recurring":
            parts.append(f"{amount} once")
        elif charge.get("repeatCount") == 1:
            parts.append(f"{amount} for {_interval(charge['repeatInterval'], charge['repeatIntervalType'])}")
        elif charge.get("repeatCount"):
            every = _interval(charge["repeatInterval"], charge["repeatIntervalType"])
            parts.append(f"{amount} every {every}, {charge['repeatCount']} times")
        else:
            parts.append(f"{amount} every {_interval(charge['repeatInterval'], charge['repeatIntervalType'])}")
    return ", then ".join(parts)


# --- Calendars and schedules --------------------------------------------------------------


def add_interval(moment: datetime, count: int, unit: str) -> datetime:
    """`moment` plus `count` days/weeks/months/years; months and years clamp the day (Jan 31 + 1 month = Feb 28/29)."""
    if unit == "days":
        return moment + timedelta(days=count)
    if unit == "weeks":
        return moment + timedelta(weeks=count)
    if unit not in {"months", "years"}:
        raise ValueError(f"Unknown interval unit {unit!r}")
    months = count * 12 if unit == "years" else count
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def _charge_moments(charge: dict[str, Any], anchor: datetime, window_end: datetime) -> Iterator[datetime]:
    """The moments one charge occurs, from anchor + delay, before `window_end`."""
    first = add_interval(anchor, charge.get("delayInterval") or 0, charge.get("delayIntervalType") or "months")
    if charge["type"] != "recurring":
        if first < window_end:
            yield first
        return
    interval, unit = charge.get("repeatInterval") or 1, charge.get("repeatIntervalType") or "months"
    repeat_count = charge.get("repeatCount")
    index = 0
    while repeat_count is None or index < repeat_count:
        # Always from `first`, never from the previous occurrence: clamping must not drift (Jan 31, Feb 29, Mar 31).
        moment = add_interval(first, index * interval, unit)
        if moment >= window_end:
            return
        yield moment
        index += 1


def charge_occurrences(
    price: Iterable[dict[str, Any]], anchor: datetime, window_start: datetime, window_end: datetime
) -> list[tuple[datetime, Decimal]]:
    """Every (moment, amount) of a price schedule anchored at `anchor` within [window_start, window_end), in order."""
    occurrences = [
        (moment, Decimal(charge["amount"]))
        for charge in price
        for moment in _charge_moments(charge, anchor, window_end)
        if moment >= window_start
    ]
    return sorted(occurrences, key=lambda occurrence: occurrence[0])


def term_amount(price: Iterable[dict[str, Any]], anchor: datetime, term_start: datetime, term_end: datetime) -> Decimal:
    """What the schedule charges within the term (exact, not quantized)."""
    return sum((amount for _, amount in charge_occurrences(price, anchor, term_start, term_end)), ZERO)


def first_charge(price: Iterable[dict[str, Any]], anchor: datetime) -> tuple[datetime | None, Decimal]:
    """The schedule's first charge moment from `anchor` and the sum of the charges due then."""
    firsts = []
    for charge in price:
        moment = next(_charge_moments(charge, anchor, datetime.max.replace(tzinfo=UTC)), None)
        if moment is not None:
            firsts.append((moment, Decimal(charge["amount"])))
    if not firsts:
        return None, ZERO
    earliest = min(moment for moment, _ in firsts)
    return earliest, sum((amount for moment, amount in firsts if moment == earliest), ZERO)


def _utc_date(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def prorate(amount: Decimal, term_start: datetime, term_end: datetime, at: datetime) -> Decimal:
    """amount * remaining days / total days of the term, in UTC calendar days (exact, not quantized)."""
    total = (_utc_date(term_end) - _utc_date(term_start)).days
    if total <= 0:
        return ZERO
    remaining = min(max((_utc_date(term_end) - _utc_date(at)).days, 0), total)
    return amount * remaining / total


# --- Quotes for subscription changes --------------------------------------------------------


@dataclass(frozen=True)
class ChangeQuote:
    """What a subscription change costs. Amounts are quantized once, here, so the lines add up."""

    effective_at: datetime
    credit: Decimal
    charge: Decimal
    due_today: Decimal
    next_charge_at: datetime | None
    next_charge_amount: Decimal
    currency: str

    def to_wire(self) -> dict[str, Any]:
        def iso(moment: datetime | None) -> str | None:
            if moment is None:
                return None
            return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

        return {
            "effectiveDate": iso(self.effective_at),
            "credit": money(self.credit, self.currency),
            "charge": money(self.charge, self.currency),
            "dueToday": money(self.due_today, self.currency),
            "nextChargeDate": iso(self.next_charge_at),
            "nextChargeAmount": money(self.next_charge_amount, self.currency),
            "currency": self.currency,
        }


def _prorated_term(price, quantity: int, term_start: datetime, term_end: datetime, at: datetime) -> Decimal:
    return prorate(term_amount(price, term_start, term_start, term_end) * quantity, term_start, term_end, at)


def quote_upgrade(
    *,
    current_price: list[dict[str, Any]],
    new_price: list[dict[str, Any]],
    term_start: datetime,
    term_end: datetime,
    at: datetime,
    currency: str,
    quantity: int = 1,
    new_quantity: int | None = None,
) -> ChangeQuote:
    """Effective `at`: credit the unused part of the current offer's term, charge the new offer to term end.

    Superseded by quote_change: this credit prices the current offer's whole schedule inside the
    term (charges never billed included), so it can exceed what was paid (issue 13).
    """
    new_quantity = quantity if new_quantity is None else new_quantity
    credit = quantize(_prorated_term(current_price, quantity, term_start, term_end, at), currency)
    charge = quantize(_prorated_term(new_price, new_quantity, term_start, term_end, at), currency)
    next_at, next_amount = first_charge(new_price, term_end)
    return ChangeQuote(
        effective_at=at,
        credit=credit,
        charge=charge,
        due_today=max(charge - credit, ZERO),
        next_charge_at=next_at,
        next_charge_amount=quantize(next_amount * new_quantity, currency),
        currency=currency,
    )


def quote_downgrade(
    *, new_price: list[dict[str, Any]], term_end: datetime, currency: str, new_quantity: int = 1
) -> ChangeQuote:
    """Effective at term end: nothing due today; the next charge is the new offer's first charge then."""
    next_at, next_amount = first_charge(new_price, term_end)
    return ChangeQuote(
        effective_at=term_end,
        credit=ZERO,
        charge=ZERO,
        due_today=ZERO,
        next_charge_at=next_at,
        next_charge_amount=quantize(next_amount * new_quantity, currency),
        currency=currency,
    )


def quote_add_on(
    *,
    price: list[dict[str, Any]],
    term_start: datetime,
    term_end: datetime,
    at: datetime,
    currency: str,
    quantity: int = 1,
) -> ChangeQuote:
    """An add-on co-termed with its subscription: added `at`, charged prorated to term end."""
    charge = quantize(_prorated_term(price, quantity, term_start, term_end, at), currency)
    next_at, next_amount = first_charge(price, term_end)
    return ChangeQuote(
        effective_at=at,
        credit=ZERO,
        charge=charge,
        due_today=charge,
        next_charge_at=next_at,
        next_charge_amount=quantize(next_amount * quantity, currency),
        currency=currency,
    )


def quote_removal(
    *,
    price: list[dict[str, Any]],
    term_start: datetime,
    term_end: datetime,
    at: datetime,
    currency: str,
    quantity: int = 1,
) -> ChangeQuote:
    """An add-on removed `at`: credit for the unused part of its term; nothing charged.

    Superseded by quote_change(removed_add_ons=...), which caps the credit at what was paid.
    """
    credit = quantize(_prorated_term(price, quantity, term_start, term_end, at), currency)
    return ChangeQuote(
        effective_at=at,
        credit=credit,
        charge=ZERO,
        due_today=ZERO,
        next_charge_at=None,
        next_charge_amount=ZERO,
        currency=currency,
    )


@dataclass(frozen=True)
class ChangeTotals:
    """The totals of a subscription change: what is due today and the next recurring charge."""

    charge: Decimal
    credit: Decimal
    due_today: Decimal
    next_charge_at: datetime | None
    next_charge_amount: Decimal
    currency: str
    # The change made today, priced from what was paid (quote_change): its charges, credit and
    # balance; None when nothing changes today (a downgrade alone, an empty basket).
    settlement: ChangeSettlement | None = None

    def to_wire(self) -> dict[str, Any]:
        next_at = self.next_charge_at
        if self.settlement is not None:
            return {
                **self.settlement.to_wire(),
                "nextChargeDate": _iso(next_at) if next_at else None,
                "nextChargeAmount": money(self.next_charge_amount, self.currency),
            }
        return {
            "subtotal": money(self.charge, self.currency),
            "discount": money(ZERO, self.currency),
            "credit": money(self.credit, self.currency),
            "total": money(self.due_today, self.currency),
            "currency": self.currency,
            "dueToday": money(self.due_today, self.currency),
            "nextChargeDate": next_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            if next_at
            else None,
            "nextChargeAmount": money(self.next_charge_amount, self.currency),
            "charges": [],
        }


def change_totals(
    quotes: Iterable[ChangeQuote],
    renewal_lines: Iterable[tuple[list[dict[str, Any]], int]],
    *,
    renews_at: datetime,
    currency: str,
) -> ChangeTotals:
    """Sum the quotes (credits offset charges, never below zero) and price the next renewal.

    `renewal_lines` are the (price schedule, quantity) of everything the subscription will have
    at `renews_at`; the next charge is their first charges from then.
    """
    quotes = list(quotes)
    charge = sum((quote.charge for quote in quotes), ZERO)
    credit = sum((quote.credit for quote in quotes), ZERO)
    next_amount = ZERO
    next_at = None
    for price, quantity in renewal_lines:
        moment, amount = first_charge(price, renews_at)
        if moment is None:
            continue
        if next_at is None or moment < next_at:
            next_at, next_amount = moment, ZERO
        if moment == next_at:
            next_amount += amount * quantity
    return ChangeTotals(
        charge=charge,
        credit=credit,
        due_today=max(charge - credit, ZERO),
        next_charge_at=next_at,
        next_charge_amount=quantize(next_amount, currency),
        currency=currency,
    )


# --- Money held: what a subscription was actually charged, credits and the customer's balance ----
#
# The functions above price a *schedule*; they say nothing about what was billed. The ones below
# work from what the subscription was actually charged for its current billing period (its
# PaidPeriod), so that no change can credit money that was never received:
#
#   * a credit is the unused part of the PaidPeriod, quantized DOWN (never more than the exact
#     unused value, never more than what was paid, zero once the period has ended);
#   * a change to an offer with the same billing interval co-terms: the new lines are charged
#     for [at, period_end); a change to another interval starts a new billing period today:
#     the new offer's first period is charged in full, less the credit;
#   * credit left over after a change becomes the customer's balance, which later charges
#     (renewals) use first (apply_balance); it is never paid out and nothing due is negative;
#   * after every event the PaidPeriod to store is what the customer now holds for the new
#     span, so `paid.amount + balance <= money received` holds by induction.
#
# Charges are quantized half-up per line (so the lines add up); credits are quantized down.
# Days are counted in UTC calendar days, like `prorate`.
#
# What the services store (subscription: paid_amount, paid_from, period_start, period_end, i.e.
# the PaidPeriod; customer: balance) after each event, all from the function's result:
#   purchase            purchase_paid_period(charged=<this subscription's share of the order total,
#                       after the promo code>, start=now, interval=<Line.interval of the offer>)
#   change today        quote_change(...).paid and .balance (upgrade, same or other interval,
#                       add-ons added or removed; add-ons are folded into the one PaidPeriod)
#   downgrade ordered   nothing (quote_downgrade); at its effective date settle it as a renewal
#   renewal             quote_renewal(...).paid and .balance (charge = the renewal order's total)

Interval = tuple[int, str]  # (count, "days" | "weeks" | "months" | "years")


def quantize_down(amount: Decimal, currency: str) -> Decimal:
    """`amount` rounded toward zero to the currency's minor unit: for credits, which must never
    exceed the exact value they stand for."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_DOWN)


def _days(start: datetime, end: datetime) -> int:
    return (_utc_date(end) - _utc_date(start)).days


def _scale(amount: Decimal, numerator: int, denominator: int) -> Decimal:
    """amount * numerator / denominator with ONE division, so a half-way value stays exact."""
    if denominator <= 0 or numerator <= 0:
        return ZERO
    return amount * numerator / denominator


def _interval_key(interval: Interval) -> tuple[str, int]:
    count, unit = interval
    if unit in {"days", "weeks"}:
        return "days", count * (7 if unit == "weeks" else 1)
    if unit in {"months", "years"}:
        return "months", count * (12 if unit == "years" else 1)
    raise ValueError(f"Unknown interval unit {unit!r}")


def same_interval(first: Interval, second: Interval) -> bool:
    """Whether two billing intervals are the same length: 12 months = 1 year, 7 days = 1 week,
    but 4 weeks != 1 month and 52 weeks != 12 months (calendars do not line up)."""
    return _interval_key(first) == _interval_key(second)


def billing_interval(price: Iterable[dict[str, Any]], term_length: int, term_type: str) -> Interval:
    """The period one bill of an offer covers, from its price schedule and its term.

    The charges due at the start (no delay) decide: when one of them keeps recurring
    (`repeatCount` empty or more than 1), the bill covers its repeat interval (the shortest if
    several), e.g. "£29.99 every 1 month" → (1, "months") whatever the term. When they are
    one-off (one-time, or "£75.00 for 52 weeks", `repeatCount` 1) or there are none, one bill
    covers the whole term, e.g. Digital annual (term 12 months) → (12, "months"): that is how
    renewals charge it (the first period's price once per term).
    """
    candidates = [
        (int(charge.get("repeatInterval") or 1), str(charge.get("repeatIntervalType") or "months"))
        for charge in price
        if not charge.get("delayInterval")
        and charge.get("type") == "recurring"
        and (charge.get("repeatCount") is None or charge["repeatCount"] > 1)
    ]
    if not candidates:
        return (term_length, term_type)

    def approximate_days(interval: Interval) -> int:
        kind, count = _interval_key(interval)
        return count if kind == "days" else count * 31

    return min(candidates, key=approximate_days)


def periods_in(start: datetime, end: datetime, interval: Interval) -> tuple[int, int]:
    """How many `interval`s fit in [start, end), as an exact fraction (numerator, denominator).

    Whole intervals are stepped on the calendar from `start` (add_interval, no drift); the part
    left over is counted in days of the interval it falls in. [Jan 1, next Jan 1) holds 12 months
    exactly; [Jul 2, Jan 1) holds 5 months and 30/31. An empty or reversed span holds 0.
    """
    count, unit = interval
    if count <= 0:
        raise ValueError("An interval is at least 1")
    if _days(start, end) <= 0:
        return 0, 1
    kind, size = _interval_key(interval)
    if kind == "days":
        whole = _days(start, end) // size
    else:
        whole = max((end.year - start.year) * 12 + end.month - start.month, 0) // size
    whole = max(whole - 1, 0)  # the estimate may overshoot by one; step from below
    while add_interval(start, (whole + 1) * count, unit) <= end:
        whole += 1
    step = add_interval(start, whole * count, unit)
    length = _days(step, add_interval(start, (whole + 1) * count, unit))
    left = max(_days(step, end), 0)
    if length <= 0:  # an interval shorter than a UTC day cannot be expressed here
        raise ValueError("An interval is at least one day")
    return whole * length + left, length


@dataclass(frozen=True)
class Line:
    """One thing a subscription holds, as money needs it: an offer or an add-on and its quantity.

    `interval` is billing_interval() of the offer; `period_price()` is what one such interval costs
    (the schedule's charges due at the start, times the quantity). Build it from an offer snapshot
    (`Offer.snapshot` / `OrderItem.offer_snapshot`) with Line.from_snapshot.
    """

    price: list[dict[str, Any]]
    interval: Interval
    quantity: int = 1
    description: str = ""
    offer_id: str | None = None

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any], quantity: int = 1) -> Line:
        term = snapshot.get("term") or {}
        price = list(snapshot.get("price") or [])
        interval = billing_interval(price, int(term.get("length") or 1), str(term.get("type") or "months"))
        return cls(
            price=price,
            interval=interval,
            quantity=quantity,
            description=str(snapshot.get("name") or ""),
            offer_id=snapshot.get("id"),
        )

    def period_price(self) -> Decimal:
        """One billing interval of this line, exact (not quantized)."""
        return first_period_amount(self.price) * self.quantity


def co_term_value(line: Line, *, period_start: datetime, period_end: datetime, at: datetime) -> Decimal:
    """What `line` is worth for [at, period_end) when co-termed with the period [period_start, period_end).

    Its value for the whole period (its period price times the number of its intervals in the
    period, see periods_in) times the share of the period's days left from `at`. For a line
    billed on the period's own interval that is period price * days left / days in the period;
    a monthly add-on on a 12-month period is 12 times its price, prorated. `at` before
    `period_start` (an early renewal made the customer hold more than one period) gives more
    than one period; `at` at or after `period_end` gives zero. Exact, not quantized.
    """
    periods, per = periods_in(period_start, period_end, line.interval)
    left = max(_days(at, period_end), 0)
    total = _days(period_start, period_end)
    return _scale(line.period_price(), periods * left, per * total)


@dataclass(frozen=True)
class PaidPeriod:
    """What a subscription was actually charged for its current billing period: the record
    credits are computed from. Store its four fields on the subscription after every event.

    `amount` is the money value the customer holds for [paid_from, period_end): what was charged
    (after any discount, whether paid by card, credit or balance), plus, after a change or an
    early renewal, the unused value carried over. [period_start, period_end) is the current
    billing period: co-termed charges are prorated over it, and `period_end` is when the next
    charge is due. Invariants: amount >= 0; the credit it gives is never more than `amount`.
    """

    amount: Decimal
    paid_from: datetime
    period_start: datetime
    period_end: datetime

    def __post_init__(self) -> None:
        if self.amount < ZERO:
            raise ValueError("A paid amount is never negative")

    def unused(self, at: datetime) -> Decimal:
        """amount * days left / days paid for (clamped to [0, amount]); exact, not quantized."""
        total = _days(self.paid_from, self.period_end)
        left = min(max(_days(at, self.period_end), 0), total)
        return _scale(self.amount, left, total)

    def credit(self, at: datetime, currency: str) -> Decimal:
        """The credit for the unused part at `at`: quantized down, so never more than the exact
        unused value; at most `amount`; zero at or after `period_end`."""
        return min(quantize_down(self.unused(at), currency), self.amount)


def unused_credit(
    *, paid_amount: Decimal, paid_from: datetime, period_end: datetime, at: datetime, currency: str
) -> Decimal:
    """The credit at `at` for what was paid: paid_amount * (period_end - at) / (period_end - paid_from)
    in UTC days, quantized down, never more than `paid_amount`, zero at or after `period_end`.
    (PaidPeriod.credit, for callers holding the fields.)"""
    return PaidPeriod(paid_amount, paid_from, paid_from, period_end).credit(at, currency)


def purchase_paid_period(*, charged: Decimal, start: datetime, interval: Interval, currency: str) -> PaidPeriod:
    """The PaidPeriod of a new subscription: `charged` (what its order lines cost today after the
    promo code discount, i.e. its share of order_totals' `total`) for [start, start + interval)."""
    if charged < ZERO:
        raise ValueError("A charge is never negative")
    return PaidPeriod(quantize(charged, currency), start, start, add_interval(start, *interval))


def split_amount(amount: Decimal, weights: Sequence[Decimal], currency: str) -> list[Decimal]:
    """Split `amount` in proportion to `weights`, in minor units that add up to `amount` exactly
    (largest remainder; ties to the earlier share). E.g. an order's discount among its subscriptions."""
    if not weights:
        return []
    if amount < ZERO or any(weight < ZERO for weight in weights):
        raise ValueError("Neither an amount to split nor a weight is negative")
    unit = Decimal(1).scaleb(-minor_units(currency))
    units = int(quantize(amount, currency) / unit)
    weight_total = sum(weights, ZERO)
    if weight_total == ZERO:
        shares = [0] * len(weights)
        shares[0] = units
    else:
        exact = [units * weight / weight_total for weight in weights]
        shares = [int(value) for value in exact]  # toward zero
        order = sorted(range(len(weights)), key=lambda index: (-(exact[index] - shares[index]), index))
        for index in order[: units - sum(shares)]:
            shares[index] += 1
    return [quantize(share * unit, currency) for share in shares]


def apply_balance(due: Decimal, balance: Decimal, currency: str) -> tuple[Decimal, Decimal]:
    """Use the customer's balance against an amount due: (still due, balance left), both quantized.

    The balance pays first, up to the amount due; neither result is ever negative and their
    sum with what was used is conserved: due - still_due == balance - balance_left.
    """
    due, balance = quantize(due, currency), quantize(balance, currency)
    if due < ZERO or balance < ZERO:
        raise ValueError("Neither an amount due nor a balance is negative")
    used = min(due, balance)
    return due - used, balance - used


@dataclass(frozen=True)
class ChargeLine:
    """One amount of a bill and the period it pays for."""

    description: str
    period_start: datetime
    period_end: datetime
    amount: Decimal
    currency: str

    def to_wire(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "periodStart": _iso(self.period_start),
            "periodEnd": _iso(self.period_end),
            "amount": money(self.amount, self.currency),
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def first_period_charges(lines: Iterable[Line], *, start: datetime, currency: str) -> list[ChargeLine]:
    """The charges of a purchase or a renewal starting at `start`: each line's first period
    (what order_totals charges), labelled with the period it covers."""
    return [
        ChargeLine(
            description=line.description,
            period_start=start,
            period_end=add_interval(start, *line.interval),
            amount=quantize(line.period_price(), currency),
            currency=currency,
        )
        for line in lines
    ]


@dataclass(frozen=True)
class ChangeSettlement:
    """The money of a subscription change made at `effective_at`, and what to store after it.

    subtotal = sum of `charges`; total = max(0, subtotal - discount - credit);
    due_today = total - balance_applied >= 0; balance = the customer's balance afterwards
    (>= 0; grows by max(0, credit - (subtotal - discount))). `paid` replaces the subscription's
    PaidPeriod on completion; `paid.period_end` is the next charge date.
    """

    effective_at: datetime
    charges: tuple[ChargeLine, ...]
    subtotal: Decimal
    discount: Decimal
    credit: Decimal
    total: Decimal
    balance_applied: Decimal
    due_today: Decimal
    balance: Decimal
    new_period: bool
    paid: PaidPeriod
    next_charge_amount: Decimal
    currency: str

    @property
    def next_charge_at(self) -> datetime:
        return self.paid.period_end

    def to_wire(self) -> dict[str, Any]:
        """Totals in the shape of ChangeTotals.to_wire, plus the balance and the charges breakdown."""
        return {
            "subtotal": money(self.subtotal, self.currency),
            "discount": money(self.discount, self.currency),
            "credit": money(self.credit, self.currency),
            "total": money(self.total, self.currency),
            "balanceApplied": money(self.balance_applied, self.currency),
            "currency": self.currency,
            "dueToday": money(self.due_today, self.currency),
            "balance": money(self.balance, self.currency),
            "nextChargeDate": _iso(self.next_charge_at),
            "nextChargeAmount": money(self.next_charge_amount, self.currency),
            "charges": [charge.to_wire() for charge in self.charges],
        }


def quote_change(
    *,
    paid: PaidPeriod,
    at: datetime,
    currency: str,
    current_offer: Line,
    new_offer: Line | None = None,
    kept_add_ons: Sequence[Line] = (),
    added_add_ons: Sequence[Line] = (),
    removed_add_ons: Sequence[Line] = (),
    balance: Decimal = ZERO,
    discount: Discount | None = None,
) -> ChangeSettlement:
    """A change effective `at` (an upgrade, add-ons added or removed), priced from what was paid.

    - `paid`: the subscription's PaidPeriod; `balance`: the customer's balance before the change.
    - `current_offer`: the offer (and quantity) the subscription has now.
    - `new_offer`: the offer (and quantity) replacing it today, or None when the offer stays
      (a quantity change of the same offer is a `new_offer` too). Downgrades are not changes
      made today: quote them with quote_downgrade and settle them with quote_renewal.
    - `kept_add_ons`: the add-ons the subscription has and keeps; `added_add_ons`: added today
      (an add-on whose quantity changes: the old Line in `removed_add_ons`, the new in `added_add_ons`);
      `removed_add_ons`: removed today.
    - `discount`: the update basket's promo code, applied to the charges of the lines it covers.

    With a new offer, the whole unused part of `paid` is credited and everything the subscription
    holds afterwards (new offer, kept and added add-ons) is charged: co-termed to `paid.period_end`
    when the new offer's billing interval is the current one's (same_interval), otherwise for a
    new billing period [at, at + new interval) in which the new offer's first period is charged in
    full (also when the current period has already ended: there is nothing to co-term with).
    Without a new offer, added add-ons are charged co-termed, removed ones credited at their
    co-termed value (never more than the unused part of `paid`), and the rest of `paid` stays held.

    Guarantees: credit <= paid.credit(at) <= exact unused part of paid.amount; due_today >= 0;
    balance >= 0; the stored `paid.amount` + `balance` never exceeds the old unused value + old
    balance + due_today (no value is created); every amount is quantized to the minor unit.
    """
    if balance < ZERO:
        raise ValueError("A balance is never negative")
    balance = quantize(balance, currency)
    unused = paid.credit(at, currency)
    if new_offer is None:
        period_start, period_end, new_period = paid.period_start, paid.period_end, False
        charged: list[Line] = list(added_add_ons)
        removal = sum(
            (
                quantize_down(co_term_value(line, period_start=period_start, period_end=period_end, at=at), currency)
                for line in removed_add_ons
            ),
            ZERO,
        )
        credit = min(removal, unused)
        kept_value = unused - credit
    else:
        new_period = at >= paid.period_end or not same_interval(current_offer.interval, new_offer.interval)
        if new_period:
            period_start, period_end = at, add_interval(at, *new_offer.interval)
        else:
            period_start, period_end = paid.period_start, paid.period_end
        charged = [new_offer, *kept_add_ons, *added_add_ons]
        credit, kept_value = unused, ZERO

    charge_end = max(period_end, at)
    charges = tuple(
        ChargeLine(
            description=line.description,
            period_start=at,
            period_end=charge_end,
            amount=quantize(co_term_value(line, period_start=period_start, period_end=period_end, at=at), currency),
            currency=currency,
        )
        for line in charged
    )
    subtotal = sum((charge.amount for charge in charges), ZERO)
    off = ZERO
    if discount is not None:
        eligible = sum(
            (
                charge.amount
                for charge, line in zip(charges, charged, strict=True)
                if discount.applies_to(line.offer_id)
            ),
            ZERO,
        )
        off = bill_discount(eligible, discount, currency)
    value = subtotal - off
    if value >= credit:
        total = value - credit
        due_today, balance_after = apply_balance(total, balance, currency)
    else:
        total = due_today = ZERO
        balance_after = balance + credit - value
    next_lines = [new_offer or current_offer, *kept_add_ons, *added_add_ons]
    return ChangeSettlement(
        effective_at=at,
        charges=charges,
        subtotal=quantize(subtotal, currency),
        discount=quantize(off, currency),
        credit=quantize(credit, currency),
        total=quantize(total, currency),
        balance_applied=quantize(balance - balance_after if value >= credit else ZERO, currency),
        due_today=quantize(due_today, currency),
        balance=quantize(balance_after, currency),
        new_period=new_period,
        paid=PaidPeriod(quantize(kept_value + value, currency), at, period_start, period_end),
        next_charge_amount=quantize(sum((line.period_price() for line in next_lines), ZERO), currency),
        currency=currency,
    )


@dataclass(frozen=True)
class RenewalSettlement:
    """The money of a renewal (or of a downgrade taking effect) made at `at`, and what to store.

    due_today = charge - balance_applied >= 0; `carried` is the unused value of the old period
    folded into the new PaidPeriod when renewing early (before the old period ended)."""

    charge: Decimal
    balance_applied: Decimal
    due_today: Decimal
    balance: Decimal
    carried: Decimal
    paid: PaidPeriod
    currency: str


def quote_renewal(
    *,
    paid: PaidPeriod | None,
    charge: Decimal,
    interval: Interval,
    at: datetime,
    currency: str,
    balance: Decimal = ZERO,
) -> RenewalSettlement:
    """Charge a new billing period: `charge` (the renewal order's total after its promo code), the
    customer's balance used first (apply_balance).

    The new period runs from the current one's end when that is still ahead (an early renewal:
    the unused value of the current period is carried into the new PaidPeriod, which then holds
    [at, new end)), else from `at` (on time, or lapsed: nothing left to carry). A renewal starts
    a new term: later credits come only from this PaidPeriod. Also settles a downgrade at its
    effective date (`charge`/`interval` of the new offer, `at` = the old period's end).
    """
    if charge < ZERO or balance < ZERO:
        raise ValueError("Neither a charge nor a balance is negative")
    charge = quantize(charge, currency)
    early = paid is not None and paid.period_end > at
    start = paid.period_end if paid is not None and early else at
    carried = paid.credit(at, currency) if paid is not None and early else quantize(ZERO, currency)
    due_today, balance_after = apply_balance(charge, balance, currency)
    return RenewalSettlement(
        charge=charge,
        balance_applied=quantize(balance, currency) - balance_after,
        due_today=due_today,
        balance=balance_after,
        carried=carried,
        paid=PaidPeriod(carried + charge, at, start, add_interval(start, *interval)),
        currency=currency,
    )
