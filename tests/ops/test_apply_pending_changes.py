"""`manage.py apply_pending_changes`: scheduled downgrades take effect on their date, once."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from baskets import services
from baskets.errors import SubscriptionChanged
from baskets.models import BasketStatus, Payment
from baskets.services import basket_initiate_renewal
from checkout_project.api.actor import Actor
from subscriptions.models import Subscription, SubscriptionAddOn
from subscriptions.pricing import add_interval
from tests.factories import ApplicationFactory, OfferFactory, SubscriptionFactory
from tests.threads import in_threads, row_locks_held

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("apply_pending_changes", *args, stdout=out)
    return out.getvalue().strip()


@pytest.fixture
def plans():
    current = OfferFactory(name="Standard", path="/offers/standard")
    lite = OfferFactory(name="Lite", path="/offers/lite", term_length=1, term_type="months")
    archive = OfferFactory(name="Archive", path="/offers/archive", type="add_on")
    puzzles = OfferFactory(name="Puzzles", path="/offers/puzzles", type="add_on")
    return {"current": current, "lite": lite, "archive": archive, "puzzles": puzzles}


def pending(plans, *, due_in: timedelta, status=Subscription.Status.ACTIVE, quantity: int = 1) -> Subscription:
    """A subscription on Standard with Archive and Puzzles, downgrading to Lite (dropping Archive)."""
    effective_at = timezone.now() + due_in
    subscription = SubscriptionFactory(
        offer=plans["current"],
        status=status,
        term_start=effective_at - timedelta(days=365),
        term_end=effective_at,
        pending_offer=plans["lite"],
        pending_change_at=effective_at,
        pending_change={
            "basket": "basket-x", "offer": {"id": plans["lite"].id}, "quantity": quantity,
            "removeAddOns": [plans["archive"].id],
        },
    )  # fmt: skip
    SubscriptionAddOn.objects.create(subscription=subscription, offer=plans["archive"])
    SubscriptionAddOn.objects.create(subscription=subscription, offer=plans["puzzles"])
    return subscription


def test_due_changes_take_effect_and_the_rest_wait(plans):
    due = [pending(plans, due_in=-timedelta(hours=n + 1), quantity=n + 1) for n in range(3)]
    future = pending(plans, due_in=timedelta(days=2))
    cancelled = pending(plans, due_in=-timedelta(days=1), status=Subscription.Status.CANCELLED)

    assert json.loads(run("--json", "--batch-size", "2")) == {"applied_pending_changes": 3}

    for n, subscription in enumerate(due):
        effective_at = subscription.pending_change_at
        subscription.refresh_from_db()
        assert (subscription.offer_id, subscription.quantity) == (plans["lite"].id, n + 1)
        assert (subscription.term_start, subscription.term_end) == (
            effective_at,
            add_interval(effective_at, 1, "months"),
        )
        assert (subscription.pending_offer_id, subscription.pending_change, subscription.pending_change_at) == (
            None, None, None,
        )  # fmt: skip
        assert list(subscription.add_ons.values_list("offer_id", flat=True)) == [plans["puzzles"].id]
    for untouched in (future, cancelled):
        before = untouched.pending_change_at
        untouched.refresh_from_db()
        assert (untouched.offer_id, untouched.pending_change_at) == (plans["current"].id, before)
        assert untouched.add_ons.count() == 2
    assert run() == "Applied 0 pending change(s)."


@pytest.mark.requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_apply_each_change_exactly_once(plans):
    subscriptions = [pending(plans, due_in=-timedelta(minutes=n + 1)) for n in range(20)]

    outputs = in_threads(2, lambda index: json.loads(run("--batch-size", "3", "--json")))

    assert sum(output["applied_pending_changes"] for output in outputs) == 20
    assert set(
        Subscription.objects.filter(pk__in=[s.pk for s in subscriptions]).values_list("offer_id", "pending_offer_id")
    ) == {(plans["lite"].id, None)}


@pytest.mark.requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_subscription_held_by_a_checkout_is_skipped_not_waited_for(plans):
    held_subscription, other = pending(plans, due_in=-timedelta(hours=1)), pending(plans, due_in=-timedelta(hours=2))
    with row_locks_held(Subscription.objects.filter(pk=held_subscription.pk)):
        output = in_threads(1, lambda index: json.loads(run("--json")))[0]

    assert output == {"applied_pending_changes": 1}
    assert Subscription.objects.get(pk=other.pk).offer_id == plans["lite"].id
    assert Subscription.objects.get(pk=held_subscription.pk).offer_id == plans["current"].id
    assert json.loads(run("--json")) == {"applied_pending_changes": 1}


def test_a_renewal_built_before_the_change_took_effect_is_409_not_a_move_back_to_the_old_plan(plans, monkeypatch):
    """The renewal basket (onto Standard) was built while the downgrade was still pending; the job
    ran before staff completed it: completing it refuses rather than moving the subscription back."""
    subscription = pending(plans, due_in=timedelta(hours=1))
    staff = Actor(application=ApplicationFactory(), is_staff=True)
    initiated = basket_initiate_renewal(actor=staff, subscription_id=subscription.pk)
    renewal = initiated.basket
    assert [item.offer_id for item in initiated.items] == [plans["current"].id]
    later = timezone.now() + timedelta(hours=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert run() == "Applied 1 pending change(s)."
    subscription.refresh_from_db()
    before = (subscription.offer_id, subscription.term_start, subscription.term_end)

    with pytest.raises(SubscriptionChanged) as refused:
        services.basket_complete(actor=staff, basket_id=renewal.id, any_basket=True)

    assert (refused.value.status_code, refused.value.code) == (409, "subscription_changed")
    subscription.refresh_from_db()
    assert (subscription.offer_id, subscription.term_start, subscription.term_end) == before
    assert before[0] == plans["lite"].id
    assert list(subscription.add_ons.values_list("offer_id", flat=True)) == [plans["puzzles"].id]
    assert Payment.objects.count() == 0
    renewal.refresh_from_db()
    assert (renewal.status, renewal.version) == (BasketStatus.ACTIVE, 1)
    assert list(renewal.events.values_list("kind", flat=True)) == ["created"]
