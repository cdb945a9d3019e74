"""Discount pricing table: every expected amount is worked out by hand in the comment beside it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from subscriptions.pricing import Discount, bill_discount, discount_schedule, order_totals


def d(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def recurring(amount: str, every: int = 1, unit: str = "months", count=None, delay: int = 0, delay_unit="months"):
    return {
        "name": "", "amount": amount, "currency": "GBP", "type": "recurring", "repeatInterval": every,
        "repeatIntervalType": unit, "repeatCount": count, "delayInterval": delay, "delayIntervalType": delay_unit,
    }  # fmt: skip


MONTHLY_1299 = [recurring("12.99")]
ADD_ON_250 = [recurring("2.50")]
INTRO_THEN_RECURRING = [
    recurring("75.00", 52, "weeks", count=1),
    recurring("31.96", 4, "weeks", delay=52, delay_unit="weeks"),
]


def pct(value: str, **kwargs) -> Discount:
    return Discount(type="percentage", value=Decimal(value), **kwargs)


def off(value: str, **kwargs) -> Discount:
    return Discount(type="amount", value=Decimal(value), **kwargs)


@pytest.mark.parametrize(
    ("lines", "currency", "discount", "expected"),
    [
        # (subtotal, discount, total); dueToday is always the total.
        ([(MONTHLY_1299, 1, "A")], "GBP", None, ("12.99", "0.00", "12.99")),
        # 12.99 * 20% = 2.598 -> 2.60
        ([(MONTHLY_1299, 1, "A")], "GBP", pct("20"), ("12.99", "2.60", "10.39")),
        # 3 x 12.99 = 38.97; 20% = 7.794 -> 7.79
        ([(MONTHLY_1299, 3, "A")], "GBP", pct("20"), ("38.97", "7.79", "31.18")),
        # Whole basket: 12.99 + 2 x 2.50 = 17.99; 20% = 3.598 -> 3.60
        ([(MONTHLY_1299, 1, "A"), (ADD_ON_250, 2, "B")], "GBP", pct("20"), ("17.99", "3.60", "14.39")),
        # Selected items: only B's 5.00; 20% = 1.00
        ([(MONTHLY_1299, 1, "A"), (ADD_ON_250, 2, "B")], "GBP", pct("20", offer_ids=frozenset({"B"})),
         ("17.99", "1.00", "16.99")),
        # Selected items, none in the basket: nothing off
        ([(MONTHLY_1299, 1, "A")], "GBP", pct("20", offer_ids=frozenset({"Z"})), ("12.99", "0.00", "12.99")),
        # Half-up, not half-even: 10% of 0.25 = 0.025 -> 0.03
        ([([recurring("0.25")], 1, "A")], "GBP", pct("10"), ("0.25", "0.03", "0.22")),
        # 12.5% of 10.10 = 1.2625 -> 1.26
        ([([recurring("10.10")], 1, "A")], "GBP", pct("12.5"), ("10.10", "1.26", "8.84")),
        ([(MONTHLY_1299, 1, "A")], "GBP", pct("100"), ("12.99", "12.99", "0.00")),
        ([(MONTHLY_1299, 1, "A")], "GBP", pct("0"), ("12.99", "0.00", "12.99")),
        # Yen has no minor unit: 15% of 999 = 149.85 -> 150
        ([([recurring("999")], 1, "A")], "JPY", pct("15"), ("999", "150", "849")),
        # Only what is due today is discounted today: the intro 75.00, not the delayed 31.96. 20% = 15.00
        ([(INTRO_THEN_RECURRING, 1, "A")], "GBP", pct("20"), ("75.00", "15.00", "60.00")),
        ([(MONTHLY_1299, 1, "A")], "GBP", off("5.00"), ("12.99", "5.00", "7.99")),
        # Never below zero: 20.00 off 12.99 takes 12.99
        ([(MONTHLY_1299, 1, "A")], "GBP", off("20.00"), ("12.99", "12.99", "0.00")),
        # A fixed amount on selected items is capped at their part: 5.00 off B's 2.50 = 2.50
        ([(MONTHLY_1299, 1, "A"), (ADD_ON_250, 1, "B")], "GBP", off("5.00", offer_ids=frozenset({"B"})),
         ("15.49", "2.50", "12.99")),
        # Lines without an offer id (old callers) count for whole-basket codes only
        ([(MONTHLY_1299, 1)], "GBP", pct("20"), ("12.99", "2.60", "10.39")),
        ([(MONTHLY_1299, 1)], "GBP", pct("20", offer_ids=frozenset({"A"})), ("12.99", "0.00", "12.99")),
    ],
)  # fmt: skip
def test_order_totals_with_discounts(lines, currency, discount, expected):
    totals = order_totals(lines, currency, discount=discount)
    wire = totals.to_wire()
    assert (wire["subtotal"], wire["discount"], wire["total"]) == expected
    assert wire["dueToday"] == expected[2]


def test_bill_discount_of_nothing_is_nothing():
    assert bill_discount(Decimal("0.00"), off("5.00"), "GBP") == Decimal("0")
    assert bill_discount(Decimal("0.00"), pct("50"), "GBP") == Decimal("0")


def test_discount_until_clamps_month_ends():
    assert pct("20", duration_months=1).until(d(2025, 1, 31)) == d(2025, 2, 28)
    assert pct("20", duration_months=3).until(d(2025, 1, 31, 9)) == d(2025, 4, 30, 9)
    assert pct("20").until(d(2025, 1, 31)) is None


def test_schedule_of_a_three_month_percentage_discount():
    # 12.99 monthly from Jan 31: bills Jan 31, Feb 28, Mar 31 are discounted (until Apr 30).
    schedule = discount_schedule(
        [(MONTHLY_1299, 1, "A")], pct("20", duration_months=3), anchor=d(2025, 1, 31), currency="GBP"
    )
    assert [bill.to_wire() for bill in schedule] == [
        {"date": "2025-01-31T00:00:00.000Z", "amount": "12.99", "discount": "2.60", "total": "10.39"},
        {"date": "2025-02-28T00:00:00.000Z", "amount": "12.99", "discount": "2.60", "total": "10.39"},
        {"date": "2025-03-31T00:00:00.000Z", "amount": "12.99", "discount": "2.60", "total": "10.39"},
    ]


def test_schedule_of_a_fixed_amount_on_selected_items_applies_per_bill():
    # Each month: 12.99 + 2.50 = 15.49 billed; 5.00 off the add-on's 2.50 takes 2.50.
    schedule = discount_schedule(
        [(MONTHLY_1299, 1, "A"), (ADD_ON_250, 1, "B")],
        off("5.00", offer_ids=frozenset({"B"}), duration_months=2),
        anchor=d(2025, 3, 1),
        currency="GBP",
    )
    assert [bill.to_wire() for bill in schedule] == [
        {"date": "2025-03-01T00:00:00.000Z", "amount": "15.49", "discount": "2.50", "total": "12.99"},
        {"date": "2025-04-01T00:00:00.000Z", "amount": "15.49", "discount": "2.50", "total": "12.99"},
    ]


def test_schedule_skips_charges_that_start_after_the_discount_ends():
    # 6 months of 20%: only the intro 75.00 falls inside; the 31.96 charges start in week 52.
    schedule = discount_schedule(
        [(INTRO_THEN_RECURRING, 1, "A")], pct("20", duration_months=6), anchor=d(2025, 1, 1), currency="GBP"
    )
    assert [bill.to_wire() for bill in schedule] == [
        {"date": "2025-01-01T00:00:00.000Z", "amount": "75.00", "discount": "15.00", "total": "60.00"},
    ]


def test_forever_has_no_schedule_and_the_first_bill_matches_the_totals():
    assert discount_schedule([(MONTHLY_1299, 1, "A")], pct("20"), anchor=d(2025, 1, 1), currency="GBP") == []
    lines = [(MONTHLY_1299, 2, "A"), (ADD_ON_250, 1, "B")]
    discount = pct("15", duration_months=1)
    first = discount_schedule(lines, discount, anchor=d(2025, 1, 1), currency="GBP")[0]
    totals = order_totals(lines, "GBP", discount=discount)
    assert (first.amount, first.discount) == (totals.subtotal, totals.discount)
