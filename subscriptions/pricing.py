"""All money arithmetic: exact Decimals, quantized half-up to the currency's minor unit at the edge."""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
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
    """Effective `at`: credit the unused part of the current offer's term, charge the new offer to term end."""
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
    """An add-on removed `at`: credit for the unused part of its term; nothing charged."""
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

    def to_wire(self) -> dict[str, Any]:
        next_at = self.next_charge_at
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
