"""All money arithmetic: exact Decimals, quantized half-up to the currency's minor unit at the edge."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
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


def order_totals(lines: Iterable[tuple[list[dict[str, Any]], int]], currency: str) -> Totals:
    """Totals of an acquisition order from (price schedule, quantity) lines."""
    subtotal = sum((first_period_amount(price) * quantity for price, quantity in lines), ZERO)
    subtotal = quantize(subtotal, currency or "GBP")
    discount = ZERO
    total = subtotal - discount
    return Totals(subtotal, discount, total, total, currency or "")


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
