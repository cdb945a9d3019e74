"""The pricing table: every expected amount is worked out by hand in the comment beside it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from subscriptions.pricing import (
    add_interval,
    charge_occurrences,
    first_charge,
    prorate,
    quote_add_on,
    quote_downgrade,
    quote_upgrade,
    term_amount,
)


def d(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def recurring(amount: str, every: int = 1, unit: str = "months", count=None, delay: int = 0, delay_unit="months"):
    return {
        "name": "", "amount": amount, "currency": "GBP", "type": "recurring", "repeatInterval": every,
        "repeatIntervalType": unit, "repeatCount": count, "delayInterval": delay, "delayIntervalType": delay_unit,
    }  # fmt: skip


MONTHLY_10 = [recurring("10.00")]
MONTHLY_20 = [recurring("20.00")]
YEARLY_120 = [recurring("120.00", 1, "years")]
YEARLY_240 = [recurring("240.00", 1, "years")]
ADD_ON_250 = [recurring("2.50")]
# 75.00 once for the first 52 weeks, then 31.96 every 4 weeks from week 52.
INTRO_THEN_RECURRING = [
    recurring("75.00", 52, "weeks", count=1),
    recurring("31.96", 4, "weeks", delay=52, delay_unit="weeks"),
]

# A monthly term: 2025-01-01 → 2025-02-01 is 31 days. A yearly term: 2025-01-01 → 2026-01-01 is 365 days.
MONTH = (d(2025, 1, 1), d(2025, 2, 1))
YEAR = (d(2025, 1, 1), d(2026, 1, 1))


@pytest.mark.parametrize(
    ("moment", "count", "unit", "expected"),
    [
        (d(2024, 1, 31), 1, "months", d(2024, 2, 29)),  # leap year: clamped to Feb 29
        (d(2023, 1, 31), 1, "months", d(2023, 2, 28)),  # common year: clamped to Feb 28
        (d(2024, 2, 29), 1, "years", d(2025, 2, 28)),  # no Feb 29 in 2025
        (d(2024, 2, 29), 4, "years", d(2028, 2, 29)),
        (d(2024, 11, 30), 3, "months", d(2025, 2, 28)),  # crosses the year
        (d(2024, 12, 30), 4, "weeks", d(2025, 1, 27)),  # 28 days
        (d(2024, 2, 28), 2, "days", d(2024, 3, 1)),  # via Feb 29
    ],
)
def test_add_interval(moment, count, unit, expected):
    assert add_interval(moment, count, unit) == expected


@pytest.mark.parametrize(
    ("kind", "current", "new", "term", "at", "quantity", "credit", "charge", "due", "next_at", "next_amount"),
    [
        # Monthly term, 10.00 → 20.00. Day 1: all 31 of 31 days remain: credit 10.00, charge 20.00.
        (
            "upgrade",
            MONTHLY_10,
            MONTHLY_20,
            MONTH,
            d(2025, 1, 1, 9),
            1,
            "10.00",
            "20.00",
            "10.00",
            d(2025, 2, 1),
            "20.00",
        ),
        # Mid-term Jan 16: 16/31 remain. 10 * 16/31 = 5.1612… → 5.16; 20 * 16/31 = 10.3225… → 10.32; due 5.16.
        (
            "upgrade",
            MONTHLY_10,
            MONTHLY_20,
            MONTH,
            d(2025, 1, 16, 12),
            1,
            "5.16",
            "10.32",
            "5.16",
            d(2025, 2, 1),
            "20.00",
        ),
        # Last day Jan 31: 1/31 remains. 10/31 = 0.3225… → 0.32; 20/31 = 0.6451… → 0.65; due 0.65 - 0.32 = 0.33.
        (
            "upgrade",
            MONTHLY_10,
            MONTHLY_20,
            MONTH,
            d(2025, 1, 31, 23),
            1,
            "0.32",
            "0.65",
            "0.33",
            d(2025, 2, 1),
            "20.00",
        ),
        # Quantity 2 mid-term: 20 * 16/31 = 10.3225… → 10.32; 40 * 16/31 = 20.6451… → 20.65; due 10.33.
        (
            "upgrade",
            MONTHLY_10,
            MONTHLY_20,
            MONTH,
            d(2025, 1, 16),
            2,
            "10.32",
            "20.65",
            "10.33",
            d(2025, 2, 1),
            "40.00",
        ),
        # Yearly term, 120.00 → 240.00 a year. Day 1: 365/365 remain.
        (
            "upgrade",
            YEARLY_120,
            YEARLY_240,
            YEAR,
            d(2025, 1, 1),
            1,
            "120.00",
            "240.00",
            "120.00",
            d(2026, 1, 1),
            "240.00",
        ),
        # Mid-term Jul 2: Jul 2 → Jan 1 is 30+31+30+31+30+31 = 183 days. 120 * 183/365 = 60.1643… → 60.16;
        # 240 * 183/365 = 120.3287… → 120.33; due 60.17.
        (
            "upgrade",
            YEARLY_120,
            YEARLY_240,
            YEAR,
            d(2025, 7, 2),
            1,
            "60.16",
            "120.33",
            "60.17",
            d(2026, 1, 1),
            "240.00",
        ),
        # Last day Dec 31: 1/365. 120/365 = 0.3287… → 0.33; 240/365 = 0.6575… → 0.66; due 0.33.
        ("upgrade", YEARLY_120, YEARLY_240, YEAR, d(2025, 12, 31), 1, "0.33", "0.66", "0.33", d(2026, 1, 1), "240.00"),
        # Monthly billing on a yearly term: the term amounts are 12 * 10.00 = 120.00 and 12 * 20.00 = 240.00,
        # so mid-term (183/365) gives the same figures as the yearly prices above.
        ("upgrade", MONTHLY_10, MONTHLY_20, YEAR, d(2025, 7, 2), 1, "60.16", "120.33", "60.17", d(2026, 1, 1), "20.00"),
        # Leap-year monthly term Feb 1 → Mar 1 2024 is 29 days; on Feb 29 (last day) 1/29 remains:
        # 10/29 = 0.3448… → 0.34; 20/29 = 0.6896… → 0.69; due 0.35.
        (
            "upgrade",
            MONTHLY_10,
            MONTHLY_20,
            (d(2024, 2, 1), d(2024, 3, 1)),
            d(2024, 2, 29),
            1,
            "0.34",
            "0.69",
            "0.35",
            d(2024, 3, 1),
            "20.00",
        ),
        # Leap-year yearly term 2024-01-01 → 2025-01-01 is 366 days; Feb 29 is day 60, so 366 - 59 = 307 remain.
        # 120 * 307/366 = 100.6557… → 100.66; 240 * 307/366 = 201.3114… → 201.31; due 100.65.
        (
            "upgrade",
            YEARLY_120,
            YEARLY_240,
            (d(2024, 1, 1), d(2025, 1, 1)),
            d(2024, 2, 29),
            1,
            "100.66",
            "201.31",
            "100.65",
            d(2025, 1, 1),
            "240.00",
        ),
        # Downgrade 20.00 → 10.00 a month: effective at term end, nothing due; the next charge is 10.00 then.
        ("downgrade", MONTHLY_20, MONTHLY_10, YEAR, d(2025, 3, 15), 1, "0.00", "0.00", "0.00", d(2026, 1, 1), "10.00"),
        # Add-on 2.50 a month mid-term: term amount 12 * 2.50 = 30.00; 30 * 183/365 = 15.0410… → 15.04.
        ("add_on", None, ADD_ON_250, YEAR, d(2025, 7, 2), 1, "0.00", "15.04", "15.04", d(2026, 1, 1), "2.50"),
        # Two of them: 60 * 183/365 = 30.0821… → 30.08; next charge 2 * 2.50.
        ("add_on", None, ADD_ON_250, YEAR, d(2025, 7, 2), 2, "0.00", "30.08", "30.08", d(2026, 1, 1), "5.00"),
        # Upgrade into the intro schedule over a 2-year term 2024-01-01 → 2026-01-01 (731 days):
        # its term amount is 75.00 + 14 * 31.96 = 522.44 (see test_multi_charge_schedule); on day 1 no credit
        # for a 0.00 offer and the whole 522.44 charged. Next charge from 2026-01-01 is the intro 75.00.
        (
            "upgrade",
            [recurring("0.00")],
            INTRO_THEN_RECURRING,
            (d(2024, 1, 1), d(2026, 1, 1)),
            d(2024, 1, 1),
            1,
            "0.00",
            "522.44",
            "522.44",
            d(2026, 1, 1),
            "75.00",
        ),
    ],
)
def test_quotes(kind, current, new, term, at, quantity, credit, charge, due, next_at, next_amount):
    term_start, term_end = term
    if kind == "upgrade":
        quote = quote_upgrade(
            current_price=current, new_price=new, term_start=term_start, term_end=term_end, at=at,
            currency="GBP", quantity=quantity,
        )  # fmt: skip
        assert quote.effective_at == at
    elif kind == "downgrade":
        quote = quote_downgrade(new_price=new, term_end=term_end, currency="GBP", new_quantity=quantity)
        assert quote.effective_at == term_end
    else:
        quote = quote_add_on(
            price=new, term_start=term_start, term_end=term_end, at=at, currency="GBP", quantity=quantity
        )
        assert quote.effective_at == at
    wire = quote.to_wire()
    assert (wire["credit"], wire["charge"], wire["dueToday"]) == (credit, charge, due)
    assert (quote.next_charge_at, wire["nextChargeAmount"]) == (next_at, next_amount)
    assert wire["currency"] == "GBP"


def test_upgrade_never_refunds_below_zero():
    # 20.00 → 10.00 as an "upgrade" mid-month: credit 10.32 > charge 5.16, so nothing is due (not -5.16).
    quote = quote_upgrade(
        current_price=MONTHLY_20, new_price=MONTHLY_10, term_start=MONTH[0], term_end=MONTH[1],
        at=d(2025, 1, 16), currency="GBP",
    )  # fmt: skip
    assert quote.to_wire()["dueToday"] == "0.00"


def test_multi_charge_schedule():
    # Anchored 2024-01-01: 75.00 then, and 31.96 from 2024-01-01 + 364 days = 2024-12-30 every 28 days.
    # 2024-12-30 → 2026-01-01 is 367 days, so k * 28 < 367 for k = 0..13: 14 charges, the last 2025-12-29.
    occurrences = charge_occurrences(INTRO_THEN_RECURRING, d(2024, 1, 1), d(2024, 1, 1), d(2026, 1, 1))
    assert occurrences[:3] == [
        (d(2024, 1, 1), Decimal("75.00")),
        (d(2024, 12, 30), Decimal("31.96")),
        (d(2025, 1, 27), Decimal("31.96")),
    ]
    assert occurrences[-1] == (d(2025, 12, 29), Decimal("31.96"))
    assert len(occurrences) == 15
    # 75.00 + 14 * 31.96 = 75.00 + 447.44 = 522.44
    assert term_amount(INTRO_THEN_RECURRING, d(2024, 1, 1), d(2024, 1, 1), d(2026, 1, 1)) == Decimal("522.44")
    # The first year alone holds the intro charge and the first 31.96 (2024-12-30 < 2025-01-01): 106.96.
    assert term_amount(INTRO_THEN_RECURRING, d(2024, 1, 1), d(2024, 1, 1), d(2025, 1, 1)) == Decimal("106.96")
    # A window that starts later drops what came before it: 2025-01-01 → 2025-03-01 holds Jan 27 and Feb 24.
    assert term_amount(INTRO_THEN_RECURRING, d(2024, 1, 1), d(2025, 1, 1), d(2025, 3, 1)) == Decimal("63.92")


def test_monthly_schedule_clamps_without_drifting():
    # Anchored Jan 31 2024: Feb 29, Mar 31 (not Mar 29), Apr 30.
    moments = [m for m, _ in charge_occurrences(MONTHLY_10, d(2024, 1, 31), d(2024, 1, 1), d(2024, 5, 1))]
    assert moments == [d(2024, 1, 31), d(2024, 2, 29), d(2024, 3, 31), d(2024, 4, 30)]


def test_one_time_and_limited_repeats():
    price = [
        {"name": "Setup", "amount": "5.00", "type": "one_time", "repeatInterval": None, "repeatIntervalType": None,
         "repeatCount": None, "delayInterval": 0, "delayIntervalType": "months"},
        recurring("9.99", count=3),
    ]  # fmt: skip
    # 5.00 + 3 * 9.99 = 34.97, whatever the window length beyond three months.
    assert term_amount(price, d(2025, 1, 1), d(2025, 1, 1), d(2026, 1, 1)) == Decimal("34.97")
    assert first_charge(price, d(2025, 1, 1)) == (d(2025, 1, 1), Decimal("14.99"))


def test_prorate_is_exact_and_clamped():
    # 100 * 10/31 exactly, then rounding is the caller's business.
    assert prorate(Decimal("100"), d(2025, 1, 1), d(2025, 2, 1), d(2025, 1, 22)) == Decimal(100) * 10 / 31
    assert prorate(Decimal("100"), d(2025, 1, 1), d(2025, 2, 1), d(2024, 12, 1)) == Decimal("100")
    assert prorate(Decimal("100"), d(2025, 1, 1), d(2025, 2, 1), d(2025, 3, 1)) == Decimal("0")


def test_zero_decimal_currency():
    # JPY has no minor unit: 1000 * 16/31 = 516.12… → 516; 2000 * 16/31 = 1032.25… → 1032; due 516.
    quote = quote_upgrade(
        current_price=[recurring("1000")], new_price=[recurring("2000")], term_start=MONTH[0], term_end=MONTH[1],
        at=d(2025, 1, 16), currency="JPY",
    )  # fmt: skip
    assert (quote.to_wire()["credit"], quote.to_wire()["charge"], quote.to_wire()["dueToday"]) == ("516", "1032", "516")
