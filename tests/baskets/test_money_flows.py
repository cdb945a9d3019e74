"""Issue 13's cases through the API: credits come from what was actually charged (API.md §6, §10).

The figures are those of tests/subscriptions/test_money_invariants.py (worked out there by hand),
now reached by buying with POST /api/order, changing with …/checkout/subscription and renewing
with a renewal basket, and stored on the subscription (its paid record) and the customer (balance).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from oauth2_provider.models import AccessToken

from baskets.models import Basket, BasketStatus, Payment
from subscriptions.models import Customer, Subscription
from tests.conftest import bearer
from tests.factories import INTRO_THEN_RECURRING, BasketFactory, OfferFactory, OrderItemFactory, PromoCodeFactory
from tests.subscription_flows import PASS, change_basket

pytestmark = pytest.mark.django_db


def page_text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def d(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock(d(2025, 1, 1))
    monkeypatch.setattr(timezone, "now", lambda: clock.now)
    return clock


@pytest.fixture
def premium():
    return OfferFactory(
        name="Premium",
        path="/offers/premium",
        charges=[{"name": "Monthly", "amount": "29.99", "repeat_interval": 1, "repeat_interval_type": "months"}],
    )


@pytest.fixture
def digital_annual(premium):
    offer = OfferFactory(name="Digital annual", path="/offers/digital-annual", charges=INTRO_THEN_RECURRING)
    offer.upgrade_offers.add(premium)
    return offer


def keep_tokens_valid() -> None:
    """The clock moves years ahead: the test's tokens stay valid."""
    AccessToken.objects.update(expires=d(2100, 1, 1))


def order(api_client, token, basket) -> dict:
    keep_tokens_valid()
    response = api_client.post("/api/order", {"checkoutId": basket.public_id}, format="json", **bearer(token))
    assert response.status_code == 200, response.json()
    return response.json()


def buy(api_client, storefront_app, storefront_token, customer, offer, *, promo_code=None) -> Subscription:
    """Buy `offer` as `customer` through POST /api/order: one subscription."""
    basket = BasketFactory(application=storefront_app, email=customer.email, promo_code=promo_code)
    OrderItemFactory(basket=basket, offer=offer, position=0)
    order(api_client, storefront_token, basket)
    return Subscription.objects.get(customer=customer)


def renew(api_client, backoffice_token, subscription) -> dict:
    keep_tokens_valid()
    initiated = api_client.post(
        "/api/admin/checkout/initiate/renew", {"subscriptionId": subscription.public_id}, format="json",
        **bearer(backoffice_token),
    )  # fmt: skip
    assert initiated.status_code == 200, initiated.json()
    basket = Basket.objects.get(pk=initiated.json()["id"].removeprefix("basket-"))
    return order(api_client, backoffice_token, basket)


def upgrade_totals(api_client, customer_token, subscription, offer) -> tuple[Basket, dict]:
    keep_tokens_valid()
    basket = change_basket(api_client, customer_token, subscription, offer)
    read = api_client.get("/api/checkout/subscription", **bearer(customer_token), **PASS)
    assert read.status_code == 200, read.json()
    return basket, read.json()["order"]["totals"]


def paid(subscription: Subscription) -> tuple:
    subscription.refresh_from_db()
    return subscription.paid_amount, subscription.paid_from, subscription.period_start, subscription.period_end


def test_a_purchase_records_what_was_charged(
    api_client, clock, storefront_app, storefront_token, customer, digital_annual
):
    subscription = buy(api_client, storefront_app, storefront_token, customer, digital_annual)

    assert Payment.objects.get().amount == Decimal("75.00")
    assert paid(subscription) == (Decimal("75.00"), d(2025, 1, 1), d(2025, 1, 1), d(2026, 1, 1))


def test_a_purchase_with_a_promo_code_records_the_discounted_amount(
    api_client, clock, storefront_app, storefront_token, customer, digital_annual, premium, customer_token
):
    promo = PromoCodeFactory(code="SPRING20", discount_type="percentage", percentage=Decimal(20))
    subscription = buy(api_client, storefront_app, storefront_token, customer, digital_annual, promo_code=promo)

    assert paid(subscription)[0] == Decimal("60.00")  # 75.00 - 20 %
    _, totals = upgrade_totals(api_client, customer_token, subscription, premium)
    # Not 75.00: 60.00 was received. Premium's first month from it, 30.01 kept as balance.
    assert (totals["credit"], totals["dueToday"], totals["balance"]) == ("60.00", "0.00", "30.01")


def test_an_immediate_upgrade_credits_at_most_what_was_paid(
    api_client, clock, storefront_app, storefront_token, customer, customer_token, digital_annual, premium
):
    subscription = buy(api_client, storefront_app, storefront_token, customer, digital_annual)
    clock.now = d(2025, 1, 1, 0, 10)

    basket, totals = upgrade_totals(api_client, customer_token, subscription, premium)

    # Issue 13 credited 106.96 against the 75.00 received. Now: the whole 75.00, never more;
    # Premium is monthly, Digital annual yearly: a new monthly period starts now, its 29.99 is paid
    # from the credit and 45.01 is kept as the customer's balance.
    assert (totals["subtotal"], totals["credit"], totals["total"], totals["dueToday"]) == (
        "29.99", "75.00", "0.00", "0.00",
    )  # fmt: skip
    assert (totals["balance"], totals["balanceApplied"]) == ("45.01", "0.00")
    assert totals["charges"] == [
        {
            "description": "Premium",
            "periodStart": "2025-01-01T00:10:00.000Z",
            "periodEnd": "2025-02-01T00:10:00.000Z",
            "amount": "29.99",
        }
    ]
    assert totals["nextChargeDate"] == "2025-02-01T00:10:00.000Z"
    assert totals["nextChargeAmount"] == "29.99"

    body = order(api_client, customer_token, basket)

    assert body["order"]["totals"]["dueToday"] == "0.00"
    assert Payment.objects.filter(basket=basket).get().amount == Decimal("0.00")
    # The new billing cycle: the term starts now and ends with the first monthly period.
    subscription.refresh_from_db()
    assert (subscription.offer, subscription.term_start, subscription.term_end) == (
        premium, d(2025, 1, 1, 0, 10), d(2025, 2, 1, 0, 10),
    )  # fmt: skip
    assert paid(subscription) == (Decimal("29.99"), d(2025, 1, 1, 0, 10), d(2025, 1, 1, 0, 10), d(2025, 2, 1, 0, 10))
    assert Customer.objects.get(pk=customer.pk).balance == Decimal("45.01")


def test_after_two_renewals_the_credit_is_what_was_paid_for_the_current_term(
    api_client, clock, storefront_app, storefront_token, backoffice_token, customer, customer_token, digital_annual,
    premium,
):  # fmt: skip
    subscription = buy(api_client, storefront_app, storefront_token, customer, digital_annual)
    for year in (2026, 2027):
        clock.now = d(year, 1, 1)
        body = renew(api_client, backoffice_token, subscription)
        assert body["payment"]["amount"] == "75.00"
        # A renewal starts a new term: the start moves too.
        subscription.refresh_from_db()
        assert (subscription.term_start, subscription.term_end) == (d(year, 1, 1), d(year + 1, 1, 1))
    assert paid(subscription) == (Decimal("75.00"), d(2027, 1, 1), d(2027, 1, 1), d(2028, 1, 1))

    _, totals = upgrade_totals(api_client, customer_token, subscription, premium)

    # The issue credited 937.92 against 225.00 received; now the 75.00 paid for the current term.
    assert (totals["credit"], totals["dueToday"], totals["balance"]) == ("75.00", "0.00", "45.01")


def test_after_two_early_renewals_the_credit_never_exceeds_what_was_received(
    api_client, clock, storefront_app, storefront_token, backoffice_token, customer, customer_token, digital_annual,
    premium,
):  # fmt: skip
    subscription = buy(api_client, storefront_app, storefront_token, customer, digital_annual)
    clock.now = d(2025, 1, 1, 12)
    for _ in range(2):
        renew(api_client, backoffice_token, subscription)
    received = sum(Payment.objects.values_list("amount", flat=True), Decimal(0))
    assert received == Decimal("225.00")
    subscription.refresh_from_db()
    assert (subscription.term_start, subscription.term_end) == (d(2027, 1, 1), d(2028, 1, 1))

    _, totals = upgrade_totals(api_client, customer_token, subscription, premium)

    # All three paid years unused: 225.00, everything received (the issue: 937.92).
    assert (totals["credit"], totals["dueToday"], totals["balance"]) == ("225.00", "0.00", "195.01")
    assert Decimal(totals["credit"]) <= received


def test_annual_to_monthly_names_the_period_and_the_balance_pays_the_renewal(
    api_client, clock, storefront_app, storefront_token, backoffice_token, customer, customer_token, digital_annual,
    premium,
):  # fmt: skip
    subscription = buy(api_client, storefront_app, storefront_token, customer, digital_annual)
    clock.now = d(2025, 7, 2)

    basket, totals = upgrade_totals(api_client, customer_token, subscription, premium)

    # Jul 2 → Jan 1 is 183 of 365 days: 75.00 * 183/365 = 37.6027… → 37.60 (credits round down).
    # Premium's first month, Jul 2 → Aug 2, is paid from it; 7.61 is kept. Not issue 13's 330.30
    # for eleven months up to the old term end.
    assert totals["charges"] == [
        {
            "description": "Premium",
            "periodStart": "2025-07-02T00:00:00.000Z",
            "periodEnd": "2025-08-02T00:00:00.000Z",
            "amount": "29.99",
        }
    ]
    assert (totals["credit"], totals["dueToday"], totals["balance"]) == ("37.60", "0.00", "7.61")
    order(api_client, customer_token, basket)
    assert Customer.objects.get(pk=customer.pk).balance == Decimal("7.61")

    # Aug 2: the 29.99 renewal uses the 7.61 first: 22.38 due, nothing left.
    clock.now = d(2025, 8, 2)
    body = renew(api_client, backoffice_token, subscription)

    assert body["payment"]["amount"] == "22.38"
    assert Customer.objects.get(pk=customer.pk).balance == Decimal("0.00")
    assert paid(subscription)[0] == Decimal("29.99")
    assert Basket.objects.filter(status=BasketStatus.COMPLETED).count() == 3


def test_the_hosted_page_names_the_period_a_change_charges_for(
    api_client, client, clock, storefront_app, storefront_token, customer, customer_token, digital_annual, premium
):
    subscription = buy(api_client, storefront_app, storefront_token, customer, digital_annual)
    clock.now = d(2025, 7, 2)
    keep_tokens_valid()
    body = {"order": {"order_type": "update_subscription", "forSubscription": {"id": subscription.public_id}}}
    initiated = api_client.post("/api/checkout/subscription", body, format="json", **bearer(customer_token), **PASS)
    assert initiated.status_code == 200, initiated.json()
    client.cookies["limio_state"] = initiated.cookies["limio_state"].value
    actions = [{"orderItemActionType": "add", "offer": {"id": premium.id}}]
    changed = api_client.put(
        "/api/checkout/subscription", {"order": {"orderItems": actions}}, format="json", **bearer(customer_token),
        **PASS,
    )  # fmt: skip
    assert changed.status_code == 200, changed.json()

    page = page_text(client.get("/checkout/"))

    assert "<dt>Premium, 2 July 2025 to 2 August 2025</dt><dd>£29.99</dd>" in page
    assert "<dt>Credit for your current plan</dt><dd>£37.60</dd>" in page
    assert '<dd class="totals__due">£0.00</dd>' in page
    assert "<dt>Credit kept as your balance</dt><dd>£7.61</dd>" in page
