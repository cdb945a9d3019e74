"""Money invariants (API.md §10, issue 13): credits come only from what was actually charged.

First the issue's cases with their exact figures, worked out by hand beside each assertion; then a
Hypothesis state machine: a small pure ledger of one customer's subscription (money received,
credits, balance, the paid record) driven by random sequences of purchase (with or without a promo
code), upgrades to the same or another billing interval, downgrades, add-ons added and removed,
renewals early, on time and late, at random instants; every step is checked against the invariants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from subscriptions.pricing import (
    Discount,
    Line,
    PaidPeriod,
    add_interval,
    apply_balance,
    billing_interval,
    co_term_value,
    first_period_charges,
    minor_units,
    order_totals,
    periods_in,
    purchase_paid_period,
    quantize,
    quote_change,
    quote_downgrade,
    quote_renewal,
    quote_upgrade,
    same_interval,
    split_amount,
    unused_credit,
)


def d(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def recurring(amount: str, every: int = 1, unit: str = "months", count=None, delay: int = 0, delay_unit="months"):
    return {
        "name": "", "amount": amount, "type": "recurring", "repeatInterval": every, "repeatIntervalType": unit,
        "repeatCount": count, "delayInterval": delay, "delayIntervalType": delay_unit,
    }  # fmt: skip


def one_time(amount: str):
    return {
        "name": "", "amount": amount, "type": "one_time", "repeatInterval": None, "repeatIntervalType": None,
        "repeatCount": None, "delayInterval": 0, "delayIntervalType": "months",
    }  # fmt: skip


def snapshot(offer_id: str, name: str, price, length: int = 12, unit: str = "months") -> dict:
    return {"id": offer_id, "name": name, "price": price, "term": {"length": length, "type": unit}}


# The seed catalog: "£75.00 for 52 weeks, then £31.96 every 4 weeks" on a 12-month term, and Premium.
DIGITAL_ANNUAL_PRICE = [
    recurring("75.00", 52, "weeks", count=1),
    recurring("31.96", 4, "weeks", delay=52, delay_unit="weeks"),
]
DIGITAL_ANNUAL = Line.from_snapshot(snapshot("digital-annual", "Digital annual", DIGITAL_ANNUAL_PRICE))
PREMIUM = Line.from_snapshot(snapshot("premium", "Premium", [recurring("29.99")]))
PREMIUM_ANNUAL = Line.from_snapshot(snapshot("premium-annual", "Premium annual", [recurring("300.00", 1, "years")]))
CROSSWORD = Line.from_snapshot(snapshot("crossword", "Crossword", [recurring("2.50")]))
GBP = "GBP"


def bought_digital_annual(charged: str = "75.00") -> PaidPeriod:
    """Digital annual bought on 2025-01-01 for `charged`: the paid record for 2025-01-01 → 2026-01-01."""
    start = d(2025, 1, 1)
    return purchase_paid_period(charged=Decimal(charged), start=start, interval=DIGITAL_ANNUAL.interval, currency=GBP)


def to_premium(paid: PaidPeriod, at: datetime):
    return quote_change(paid=paid, at=at, currency=GBP, current_offer=DIGITAL_ANNUAL, new_offer=PREMIUM)


def wire(settlement) -> tuple[str, ...]:
    totals = settlement.to_wire()
    return totals["subtotal"], totals["credit"], totals["dueToday"], totals["balance"]


# --- Billing intervals ----------------------------------------------------------------------


def test_billing_intervals_of_the_seed_offers():
    # Digital annual's first charge is one-off ("for 52 weeks"): one bill covers the 12-month term.
    assert DIGITAL_ANNUAL.interval == (12, "months")
    assert PREMIUM.interval == (1, "months")  # billed every month although its term is 12 months
    assert PREMIUM_ANNUAL.interval == (1, "years")
    assert same_interval(DIGITAL_ANNUAL.interval, PREMIUM_ANNUAL.interval)  # 12 months = 1 year
    assert not same_interval(DIGITAL_ANNUAL.interval, PREMIUM.interval)
    assert not same_interval((4, "weeks"), (1, "months"))
    assert same_interval((7, "days"), (1, "weeks"))
    # One-time only: the term; a setup fee beside a monthly charge: monthly.
    assert billing_interval([one_time("99.00")], 2, "years") == (2, "years")
    assert billing_interval([one_time("5.00"), recurring("9.99")], 12, "months") == (1, "months")
    # "£10.00 every month, 3 times" keeps recurring: monthly.
    assert billing_interval([recurring("10.00", count=3)], 12, "months") == (1, "months")


def test_periods_in():
    def periods(*args) -> Fraction:
        return Fraction(*periods_in(*args))

    assert periods(d(2025, 1, 1), d(2026, 1, 1), (1, "months")) == 12
    # Jul 2 → Dec 2 is 5 months; Dec 2 → Jan 1 is 30 of the 31 days of Dec 2 → Jan 2.
    assert periods(d(2025, 7, 2), d(2026, 1, 1), (1, "months")) == 5 + Fraction(30, 31)
    assert periods(d(2025, 1, 1), d(2026, 1, 1), (12, "months")) == 1
    assert periods(d(2025, 1, 31), d(2025, 2, 28), (1, "months")) == 1  # clamped: still one month
    assert periods(d(2025, 1, 1), d(2025, 2, 1), (1, "years")) == Fraction(31, 365)
    assert periods(d(2025, 1, 1), d(2025, 2, 1), (1, "weeks")) == 4 + Fraction(3, 7)
    assert periods(d(2025, 2, 1), d(2025, 1, 1), (1, "months")) == 0


# --- The cases ------------------------------------------------------------------------


def test_immediate_upgrade_after_purchase_credits_at_most_what_was_paid():
    paid = bought_digital_annual()
    at = d(2025, 1, 1, 0, 10)
    # The old quote counted the whole schedule inside the 12-month term, a week-52 charge never billed included.
    old = quote_upgrade(
        current_price=DIGITAL_ANNUAL_PRICE, new_price=[recurring("29.99")], term_start=d(2025, 1, 1),
        term_end=d(2026, 1, 1), at=at, currency=GBP,
    )  # fmt: skip
    assert old.credit == Decimal("106.96")

    change = to_premium(paid, at)
    # Nothing of the year is used: the whole 75.00 (never more). Premium is monthly, Digital annual
    # yearly: a new monthly period starts today, its 29.99 is paid from the credit, 45.01 is kept.
    assert change.credit == Decimal("75.00")
    assert change.new_period
    assert wire(change) == ("29.99", "75.00", "0.00", "45.01")
    assert [charge.to_wire() for charge in change.charges] == [
        {
            "description": "Premium",
            "periodStart": "2025-01-01T00:10:00.000Z",
            "periodEnd": "2025-02-01T00:10:00.000Z",
            "amount": "29.99",
        }
    ]
    assert change.paid == PaidPeriod(Decimal("29.99"), at, at, d(2025, 2, 1, 0, 10))
    assert (change.to_wire()["nextChargeDate"], change.to_wire()["nextChargeAmount"]) == (
        "2025-02-01T00:10:00.000Z",
        "29.99",
    )
    # The balance pays the next renewals: 45.01 - 29.99 = 15.02, then 29.99 - 15.02 = 14.97 due.
    first = quote_renewal(
        paid=change.paid, charge=Decimal("29.99"), interval=PREMIUM.interval, at=d(2025, 2, 1, 0, 10),
        currency=GBP, balance=change.balance,
    )  # fmt: skip
    assert (first.due_today, first.balance_applied) == (Decimal("0.00"), Decimal("29.99"))
    assert first.balance == Decimal("15.02")
    second = quote_renewal(
        paid=first.paid, charge=Decimal("29.99"), interval=PREMIUM.interval, at=d(2025, 3, 1, 0, 10),
        currency=GBP, balance=first.balance,
    )  # fmt: skip
    assert (second.due_today, second.balance) == (Decimal("14.97"), Decimal("0.00"))


def test_immediate_upgrade_to_the_same_interval_co_terms():
    paid = bought_digital_annual()
    change = quote_change(
        paid=paid, at=d(2025, 1, 1, 9), currency=GBP, current_offer=DIGITAL_ANNUAL, new_offer=PREMIUM_ANNUAL
    )
    # Both yearly: co-termed to 2026-01-01, 365 of 365 days left: 300.00 - 75.00 = 225.00 due.
    assert not change.new_period
    assert wire(change) == ("300.00", "75.00", "225.00", "0.00")
    assert change.paid == PaidPeriod(Decimal("300.00"), d(2025, 1, 1, 9), d(2025, 1, 1), d(2026, 1, 1))


def test_purchase_with_a_promo_code_credits_what_was_charged_after_the_discount():
    totals = order_totals([(DIGITAL_ANNUAL_PRICE, 1, "digital-annual")], GBP, discount=_pct("20"))
    assert totals.total == Decimal("60.00")  # 75.00 - 20 %
    paid = bought_digital_annual(charged=str(totals.total))
    change = to_premium(paid, d(2025, 1, 1, 8))
    assert wire(change) == ("29.99", "60.00", "0.00", "30.01")  # not 75.00: 60.00 was received


def test_after_two_renewals_the_credit_is_what_was_paid_for_the_current_term():
    paid = bought_digital_annual()
    received = Decimal("75.00")
    # Renewed on time twice: each renewal charges 75.00 and starts a new term.
    for renewed_at in (d(2026, 1, 1), d(2027, 1, 1)):
        renewal = quote_renewal(
            paid=paid, charge=Decimal("75.00"), interval=DIGITAL_ANNUAL.interval, at=renewed_at, currency=GBP
        )
        assert (renewal.due_today, renewal.carried) == (Decimal("75.00"), Decimal("0.00"))
        paid, received = renewal.paid, received + renewal.due_today
    assert paid == PaidPeriod(Decimal("75.00"), d(2027, 1, 1), d(2027, 1, 1), d(2028, 1, 1))
    assert received == Decimal("225.00")

    # The upgrade credited 937.92; now at most the 75.00 paid for the current term.
    change = to_premium(paid, d(2027, 1, 1, 10))
    assert wire(change) == ("29.99", "75.00", "0.00", "45.01")
    # Mid-term, Jul 2 2027 → Jan 1 2028 is 183 of 365 days: 75.00 * 183/365 = 37.6027… → 37.60.
    change = to_premium(paid, d(2027, 7, 2, 10))
    assert wire(change) == ("29.99", "37.60", "0.00", "7.61")


def test_after_two_early_renewals_the_credit_never_exceeds_what_was_received():
    # Renewed twice on the day of purchase (each moving the term end a year): 75.00 each time, the
    # unused year carried into the record, which then holds 225.00 for 2025-01-01 → 2028-01-01.
    paid = bought_digital_annual()
    for _ in range(2):
        renewal = quote_renewal(
            paid=paid, charge=Decimal("75.00"), interval=DIGITAL_ANNUAL.interval, at=d(2025, 1, 1, 12), currency=GBP
        )
        assert renewal.due_today == Decimal("75.00")
        paid = renewal.paid
    assert paid == PaidPeriod(Decimal("225.00"), d(2025, 1, 1, 12), d(2027, 1, 1), d(2028, 1, 1))

    # Upgraded at once: all three paid years are unused, 225.00 = everything received (the issue: 937.92).
    change = to_premium(paid, d(2025, 1, 1, 13))
    assert wire(change) == ("29.99", "225.00", "0.00", "195.01")
    # Jul 2 2025: 183 + 365 + 365 = 913 of the 1095 days paid for are left: 225 * 913/1095 = 187.6027… → 187.60.
    change = to_premium(paid, d(2025, 7, 2))
    assert wire(change) == ("29.99", "187.60", "0.00", "157.61")


def test_annual_to_monthly_starts_a_monthly_period_and_keeps_the_rest_as_balance():
    paid = bought_digital_annual()
    change = to_premium(paid, d(2025, 7, 2))
    # Jul 2 → Jan 1 is 183 of 365 days: 75.00 * 183/365 = 37.6027… → 37.60. Premium's first month,
    # 29.99 for Jul 2 → Aug 2, is paid from it: due max(0, 29.99 - 37.60) = 0.00, balance 37.60 - 29.99 = 7.61.
    assert wire(change) == ("29.99", "37.60", "0.00", "7.61")
    assert change.total == Decimal("0.00")
    assert [(c.period_start, c.period_end, c.amount) for c in change.charges] == [
        (d(2025, 7, 2), d(2025, 8, 2), Decimal("29.99"))
    ]
    assert change.paid == PaidPeriod(Decimal("29.99"), d(2025, 7, 2), d(2025, 7, 2), d(2025, 8, 2))
    assert change.next_charge_at == d(2025, 8, 2)
    # Aug 2: the 29.99 renewal uses the 7.61 first: 22.38 due, nothing left.
    renewal = quote_renewal(
        paid=change.paid, charge=Decimal("29.99"), interval=PREMIUM.interval, at=d(2025, 8, 2), currency=GBP,
        balance=change.balance,
    )  # fmt: skip
    assert (renewal.balance_applied, renewal.due_today, renewal.balance) == (
        Decimal("7.61"),
        Decimal("22.38"),
        Decimal("0.00"),
    )
    assert renewal.paid == PaidPeriod(Decimal("29.99"), d(2025, 8, 2), d(2025, 8, 2), d(2025, 9, 2))

    # Dec 1: 31 of 365 days left: 75.00 * 31/365 = 6.3698… → 6.36 (credits round down); 29.99 - 6.36 = 23.63 due.
    change = to_premium(paid, d(2025, 12, 1))
    assert wire(change) == ("29.99", "6.36", "23.63", "0.00")
    assert change.paid.period_end == d(2026, 1, 1)


def test_add_on_co_terms_and_its_removal_credits_no_more_than_was_paid():
    paid = bought_digital_annual()
    added = quote_change(
        paid=paid, at=d(2025, 7, 2), currency=GBP, current_offer=DIGITAL_ANNUAL, added_add_ons=[CROSSWORD]
    )
    # 12 months of 2.50 = 30.00 for the year, 183/365 of it left: 15.0410… → 15.04. The offer's
    # unused 37.60 stays held: the record is 37.60 + 15.04 = 52.64 for Jul 2 → Jan 1.
    assert wire(added) == ("15.04", "0.00", "15.04", "0.00")
    assert added.paid == PaidPeriod(Decimal("52.64"), d(2025, 7, 2), d(2025, 1, 1), d(2026, 1, 1))
    assert added.next_charge_amount == Decimal("77.50")  # 75.00 + 2.50 at the renewal
    removed = quote_change(
        paid=added.paid, at=d(2025, 7, 2, 18), currency=GBP, current_offer=DIGITAL_ANNUAL,
        removed_add_ons=[CROSSWORD],
    )  # fmt: skip
    # Removed the same day: 15.0410… rounded down = 15.04 credited, kept as balance (nothing else to pay).
    assert wire(removed) == ("0.00", "15.04", "0.00", "15.04")
    assert removed.paid.amount == Decimal("37.60")


def test_a_removal_never_credits_more_than_the_unused_paid_value():
    # Bought with 100 % off: nothing was paid, so removing the add-on credits nothing.
    paid = purchase_paid_period(charged=Decimal("0.00"), start=d(2025, 1, 1), interval=(12, "months"), currency=GBP)
    removed = quote_change(
        paid=paid, at=d(2025, 2, 1), currency=GBP, current_offer=DIGITAL_ANNUAL, removed_add_ons=[CROSSWORD]
    )
    assert wire(removed) == ("0.00", "0.00", "0.00", "0.00")


def test_apply_balance():
    assert apply_balance(Decimal("29.99"), Decimal("45.01"), GBP) == (Decimal("0.00"), Decimal("15.02"))
    assert apply_balance(Decimal("29.99"), Decimal("7.61"), GBP) == (Decimal("22.38"), Decimal("0.00"))
    assert apply_balance(Decimal("0"), Decimal("0"), "JPY") == (Decimal("0"), Decimal("0"))
    with pytest.raises(ValueError):
        apply_balance(Decimal("-1.00"), Decimal("5.00"), GBP)


def test_credit_is_zero_once_the_period_has_ended_and_never_above_the_amount():
    args = {"paid_amount": Decimal("75.00"), "paid_from": d(2025, 1, 1), "period_end": d(2026, 1, 1)}
    assert unused_credit(**args, at=d(2026, 1, 1), currency=GBP) == Decimal("0.00")
    assert unused_credit(**args, at=d(2027, 3, 1), currency=GBP) == Decimal("0.00")
    assert unused_credit(**args, at=d(2024, 6, 1), currency=GBP) == Decimal("75.00")
    # Dec 31: 1/365 of 75.00 = 0.2054… → 0.20.
    assert unused_credit(**args, at=d(2025, 12, 31, 23), currency=GBP) == Decimal("0.20")


def test_first_period_charges_say_what_they_cover():
    charges = first_period_charges([DIGITAL_ANNUAL, CROSSWORD], start=d(2025, 1, 1), currency=GBP)
    assert [charge.to_wire() for charge in charges] == [
        {
            "description": "Digital annual",
            "periodStart": "2025-01-01T00:00:00.000Z",
            "periodEnd": "2026-01-01T00:00:00.000Z",
            "amount": "75.00",
        },
        {
            "description": "Crossword",
            "periodStart": "2025-01-01T00:00:00.000Z",
            "periodEnd": "2025-02-01T00:00:00.000Z",
            "amount": "2.50",
        },
    ]


@given(
    amount=st.integers(min_value=0, max_value=10**9),
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=6),
    currency=st.sampled_from(["GBP", "JPY", "KWD"]),
)
@settings(derandomize=True, database=None, max_examples=200, deadline=None)
def test_split_amount_adds_up(amount, weights, currency):
    total = _amount(amount, currency)
    shares = split_amount(total, [Decimal(weight) for weight in weights], currency)
    assert sum(shares, Decimal(0)) == total
    assert all(share >= 0 and _is_quantized(share, currency) for share in shares)


@given(
    due=st.integers(min_value=0, max_value=10**7),
    balance=st.integers(min_value=0, max_value=10**7),
    currency=st.sampled_from(["GBP", "JPY", "KWD"]),
)
@settings(derandomize=True, database=None, max_examples=200, deadline=None)
def test_apply_balance_conserves_money(due, balance, currency):
    due_amount, balance_amount = _amount(due, currency), _amount(balance, currency)
    still_due, left = apply_balance(due_amount, balance_amount, currency)
    assert still_due >= 0 and left >= 0
    assert due_amount - still_due == balance_amount - left
    assert still_due == 0 or left == 0


# --- The ledger, driven at random -------------------------------------------------------------


def _amount(minor: int, currency: str) -> Decimal:
    return quantize(Decimal(minor).scaleb(-minor_units(currency)), currency)


def _is_quantized(amount: Decimal, currency: str) -> bool:
    exponent = amount.as_tuple().exponent
    return amount == quantize(amount, currency) and exponent == -minor_units(currency)


def _pct(value: str) -> Discount:
    return Discount(type="percentage", value=Decimal(value))


def exact_unused(amount: Decimal, paid_from: datetime, period_end: datetime, at: datetime) -> Fraction:
    """The ledger's own reckoning of the unused part of what was paid, as an exact fraction."""
    total = (period_end.date() - paid_from.date()).days
    if total <= 0:
        return Fraction(0)
    left = min(max((period_end.date() - at.date()).days, 0), total)
    return Fraction(amount) * left / total


SCHEDULES = [
    # (price schedule builder from two amounts, term length, term type)
    (lambda a, b: [recurring(a)], 12, "months"),  # monthly on a 12-month term
    (lambda a, b: [recurring(a)], 1, "months"),  # monthly on a monthly term
    (lambda a, b: [recurring(a, 1, "years")], 12, "months"),  # yearly
    (
        lambda a, b: [recurring(a, 52, "weeks", count=1), recurring(b, 4, "weeks", delay=52, delay_unit="weeks")],
        12,
        "months",
    ),  # the Digital annual shape
    (lambda a, b: [recurring(a, 4, "weeks")], 12, "months"),  # every 4 weeks
    (lambda a, b: [recurring(a, 1, "weeks")], 3, "months"),  # weekly
    (lambda a, b: [one_time(a)], 2, "years"),  # once for a two-year term
    (lambda a, b: [one_time(b), recurring(a, 3, "months")], 12, "months"),  # setup fee, then quarterly
]
ADD_ON_SCHEDULES = [
    (lambda a: [recurring(a)], 12, "months"),
    (lambda a: [recurring(a, 1, "years")], 12, "months"),
    (lambda a: [recurring(a, 1, "weeks")], 12, "months"),
]

amounts = st.integers(min_value=0, max_value=60_000)  # in minor units
plan_specs = st.lists(st.tuples(st.integers(0, len(SCHEDULES) - 1), amounts, amounts), min_size=3, max_size=5)
add_on_specs = st.lists(st.tuples(st.integers(0, len(ADD_ON_SCHEDULES) - 1), amounts), min_size=1, max_size=3)
discounts = st.one_of(
    st.none(),
    st.integers(0, 100).map(lambda pct: Discount(type="percentage", value=Decimal(pct))),
    st.integers(0, 10_000).map(lambda minor: Discount(type="amount", value=Decimal(minor).scaleb(-2))),
)
instants = st.builds(
    lambda days, minutes: d(2024, 1, 1) + timedelta(days=days, minutes=minutes),
    st.integers(0, 1500),
    st.integers(0, 24 * 60 - 1),
)


@dataclass
class Held:
    """The ledger: everything about the customer's money the invariants speak of."""

    received: Decimal  # money taken from the customer (card payments), ever
    balance: Decimal  # credit kept for later charges
    paid: PaidPeriod  # the record returned by the code under test
    amount: Decimal  # the ledger's own reckoning of what the current record holds (from the cash flows)
    consumed: Fraction  # received - unused paid value - balance: the service used up; never goes down


class SubscriptionMoney(RuleBasedStateMachine):
    """One subscription's money under random events; the invariants are checked after every step."""

    @initialize(
        currency=st.sampled_from(["GBP", "JPY", "KWD"]),
        plans=plan_specs,
        add_ons=add_on_specs,
        plan=st.integers(0, 4),
        quantity=st.integers(1, 3),
        bought_add_ons=st.sets(st.integers(0, 2), max_size=2),
        discount=discounts,
        start=instants,
    )
    def purchase(self, currency, plans, add_ons, plan, quantity, bought_add_ons, discount, start):
        self.currency = currency
        self.catalog = []
        for index, (schedule, first, second) in enumerate(plans):
            build, length, unit = SCHEDULES[schedule]
            price = build(str(_amount(first, currency)), str(_amount(second, currency)))
            self.catalog.append(snapshot(f"plan-{index}", f"Plan {index}", price, length, unit))
        self.add_on_catalog = []
        for index, (schedule, first) in enumerate(add_ons):
            build, length, unit = ADD_ON_SCHEDULES[schedule]
            self.add_on_catalog.append(
                snapshot(f"add-on-{index}", f"Add-on {index}", build(str(_amount(first, currency))), length, unit)
            )
        self.now = start
        self.offer = Line.from_snapshot(self.catalog[plan % len(self.catalog)], quantity)
        self.add_ons = {
            i: Line.from_snapshot(self.add_on_catalog[i]) for i in bought_add_ons if i < len(self.add_on_catalog)
        }
        self.pending: Line | None = None

        lines = [(line.price, line.quantity, line.offer_id) for line in [self.offer, *self.add_ons.values()]]
        totals = order_totals(lines, currency, discount=discount)
        assert totals.due_today >= 0
        assert _is_quantized(totals.total, currency)
        paid = purchase_paid_period(charged=totals.total, start=start, interval=self.offer.interval, currency=currency)
        assert paid.period_end == add_interval(start, *self.offer.interval)
        zero = quantize(Decimal(0), currency)
        self.ledger = Held(received=totals.total, balance=zero, paid=paid, amount=totals.total, consumed=Fraction(0))
        self.check_record()

    # --- helpers ---

    def unused_now(self) -> Fraction:
        paid = self.ledger.paid
        return exact_unused(self.ledger.amount, paid.paid_from, paid.period_end, self.now)

    def check_record(self) -> None:
        ledger = self.ledger
        assert ledger.paid.amount == ledger.amount, "the record holds exactly what the cash flows put in it"
        assert _is_quantized(ledger.paid.amount, self.currency)
        assert _is_quantized(ledger.balance, self.currency)
        assert ledger.balance >= 0 and ledger.paid.amount >= 0
        # No value is created: what the customer holds (unused paid value + balance) came from payments.
        assert ledger.paid.amount + ledger.balance <= ledger.received

    def settle(self, *, credit: Decimal, due: Decimal, balance: Decimal, new_amount: Decimal, paid: PaidPeriod):
        """Move the ledger through one event at `now`, asserting the money invariants."""
        ledger = self.ledger
        for amount in (credit, due, balance, new_amount):
            assert _is_quantized(amount, self.currency), amount
        unused = self.unused_now()
        assert 0 <= credit <= unused, "a credit never exceeds the unused part of what was charged for the term"
        assert credit <= ledger.received, "no credit above the money received"
        assert due >= 0 and balance >= 0
        received = ledger.received + due
        # After the event the new record is all unused (it starts now); the service used up can only grow.
        consumed = Fraction(received) - Fraction(new_amount) - Fraction(balance)
        before = Fraction(ledger.received) - unused - Fraction(ledger.balance)
        assert consumed >= before, "an event never gives back service already used"
        assert consumed >= ledger.consumed
        self.ledger = Held(received=received, balance=balance, paid=paid, amount=new_amount, consumed=consumed)
        self.check_record()

    # --- time ---

    @rule(days=st.integers(0, 400), minutes=st.integers(0, 24 * 60 - 1))
    def time_passes(self, days, minutes):
        self.now += timedelta(days=days, minutes=minutes)

    @rule(late_days=st.integers(0, 3))
    def until_the_period_ends(self, late_days):
        self.now = max(self.now, self.ledger.paid.period_end + timedelta(days=late_days))

    # --- events ---

    @rule(at_period_end=st.booleans(), discount=st.one_of(st.none(), st.integers(0, 100)))
    def renew(self, at_period_end, discount):
        if at_period_end:
            self.now = max(self.now, self.ledger.paid.period_end)
        if self.pending is not None:  # a downgrade takes effect with the renewal
            self.offer, self.pending = self.pending, None
        lines = [(line.price, line.quantity, line.offer_id) for line in [self.offer, *self.add_ons.values()]]
        promo = None if discount is None else _pct(str(discount))
        charge = order_totals(lines, self.currency, discount=promo).total
        early = self.ledger.paid.period_end > self.now
        renewal = quote_renewal(
            paid=self.ledger.paid, charge=charge, interval=self.offer.interval, at=self.now,
            currency=self.currency, balance=self.ledger.balance,
        )  # fmt: skip
        assert renewal.charge == charge
        assert renewal.due_today + renewal.balance_applied == charge, "the balance is used first"
        assert renewal.balance == self.ledger.balance - renewal.balance_applied
        start = self.ledger.paid.period_end if early else self.now
        end = add_interval(start, *self.offer.interval)
        assert (renewal.paid.period_start, renewal.paid.period_end) == (start, end), "a renewal starts a new term"
        assert renewal.carried == 0 or early
        self.settle(
            credit=renewal.carried,
            due=renewal.due_today,
            balance=renewal.balance,
            new_amount=renewal.carried + charge,
            paid=renewal.paid,
        )

    @precondition(lambda self: self.pending is None)
    @rule(plan=st.integers(0, 4), quantity=st.integers(1, 3), discount=discounts)
    def change_offer(self, plan, quantity, discount):
        """An upgrade today: co-termed on the same billing interval, a new period on another."""
        new = Line.from_snapshot(self.catalog[plan % len(self.catalog)], quantity)
        paid, balance = self.ledger.paid, self.ledger.balance
        change = quote_change(
            paid=paid, at=self.now, currency=self.currency, current_offer=self.offer, new_offer=new,
            kept_add_ons=list(self.add_ons.values()), balance=balance, discount=discount,
        )  # fmt: skip
        expect_new_period = self.now >= paid.period_end or not same_interval(self.offer.interval, new.interval)
        assert change.new_period == expect_new_period
        if expect_new_period:
            assert (change.paid.period_start, change.paid.period_end) == (
                self.now,
                add_interval(self.now, *new.interval),
            )
            assert change.charges[0].amount == quantize(new.period_price(), self.currency), "the first period in full"
        else:
            assert (change.paid.period_start, change.paid.period_end) == (paid.period_start, paid.period_end)
        self.check_change(change, kept=Decimal(0))
        self.offer = new

    @precondition(lambda self: self.pending is None)
    @rule(plan=st.integers(0, 4), quantity=st.integers(1, 3))
    def downgrade(self, plan, quantity):
        """Ordered now, effective at the end of the period: no money moves now."""
        new = Line.from_snapshot(self.catalog[plan % len(self.catalog)], quantity)
        quote = quote_downgrade(
            new_price=new.price, term_end=self.ledger.paid.period_end, currency=self.currency, new_quantity=quantity
        )
        assert (quote.credit, quote.charge, quote.due_today) == (0, 0, 0)
        self.pending = new

    @precondition(lambda self: self.pending is None)
    @rule(index=st.integers(0, 2), discount=discounts)
    def add_add_on(self, index, discount):
        if index >= len(self.add_on_catalog) or index in self.add_ons:
            return
        add_on = Line.from_snapshot(self.add_on_catalog[index])
        paid = self.ledger.paid
        change = quote_change(
            paid=paid, at=self.now, currency=self.currency, current_offer=self.offer,
            kept_add_ons=list(self.add_ons.values()), added_add_ons=[add_on], balance=self.ledger.balance,
            discount=discount,
        )  # fmt: skip
        assert change.credit == 0 and not change.new_period
        assert (change.paid.period_start, change.paid.period_end) == (paid.period_start, paid.period_end)
        self.check_change(change, kept=paid.credit(self.now, self.currency))
        self.add_ons[index] = add_on

    @precondition(lambda self: self.pending is None and bool(self.add_ons))
    @rule(data=st.data())
    def remove_add_on(self, data):
        index = data.draw(st.sampled_from(sorted(self.add_ons)))
        removed = self.add_ons.pop(index)
        paid = self.ledger.paid
        change = quote_change(
            paid=paid, at=self.now, currency=self.currency, current_offer=self.offer,
            kept_add_ons=list(self.add_ons.values()), removed_add_ons=[removed], balance=self.ledger.balance,
        )  # fmt: skip
        value = co_term_value(removed, period_start=paid.period_start, period_end=paid.period_end, at=self.now)
        assert change.credit <= value, "a removal credits no more than the add-on's unused value"
        assert change.charges == () and change.due_today == 0
        self.check_change(change, kept=paid.credit(self.now, self.currency) - change.credit)

    def check_change(self, change, *, kept: Decimal) -> None:
        currency = self.currency
        amounts = [change.subtotal, change.discount, change.credit, change.total, change.balance_applied]
        amounts += [change.next_charge_amount, *(charge.amount for charge in change.charges)]
        assert all(_is_quantized(amount, currency) and amount >= 0 for amount in amounts)
        assert change.subtotal == sum((charge.amount for charge in change.charges), Decimal(0))
        assert change.discount <= change.subtotal
        assert change.total == max(change.subtotal - change.discount - change.credit, 0)
        assert change.due_today == change.total - change.balance_applied
        assert change.balance_applied <= self.ledger.balance
        if change.total > 0:
            assert change.balance == self.ledger.balance - change.balance_applied
        else:
            leftover = change.credit - (change.subtotal - change.discount)
            assert change.balance == self.ledger.balance + leftover, "credit left over is kept as balance"
        assert change.paid.paid_from == self.now
        self.settle(
            credit=change.credit,
            due=change.due_today,
            balance=change.balance,
            new_amount=kept + change.subtotal - change.discount,
            paid=change.paid,
        )

    @invariant()
    def money_holds(self):
        ledger = self.ledger
        # Time passing only uses service up.
        unused = self.unused_now()
        assert 0 <= unused <= ledger.amount
        consumed = Fraction(ledger.received) - unused - Fraction(ledger.balance)
        assert consumed >= ledger.consumed >= 0
        # Whatever the customer could still be credited now stays within the money received.
        assert ledger.paid.credit(self.now, self.currency) + ledger.balance <= ledger.received


SubscriptionMoney.TestCase.settings = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    stateful_step_count=30,
    suppress_health_check=[HealthCheck.too_slow],
)
test_subscription_money = SubscriptionMoney.TestCase
