"""Subscription change baskets built the way a subscriber builds them: through the API."""

from datetime import UTC, datetime

from baskets.models import Basket
from subscriptions.models import Subscription
from tests.conftest import bearer
from tests.factories import SubscriptionFactory, subscription_add_on

URL = "/api/checkout/subscription"
PASS = {"HTTP_X_LIMIO_RECAPTCHA": "pass-token"}  # the offline reCAPTCHA verifier passes "pass…"


def change_basket(client, token, subscription, offer) -> Basket:
    """An update basket for `subscription` adding `offer` (POST then PUT …/checkout/subscription)."""
    body = {"order": {"order_type": "update_subscription", "forSubscription": {"id": subscription.public_id}}}
    initiated = client.post(URL, body, format="json", **bearer(token), **PASS)
    assert initiated.status_code == 200, initiated.json()
    actions = [{"orderItemActionType": "add", "offer": {"id": offer.id}}]
    changed = client.put(URL, {"order": {"orderItems": actions}}, format="json", **bearer(token), **PASS)
    assert changed.status_code == 200, changed.json()
    return Basket.objects.get(pk=initiated.json()["id"].removeprefix("basket-"))


def subscription_of_2025(customer, offer, add_on) -> Subscription:
    """A subscription to `offer` for the calendar year 2025, holding one `add_on`."""
    subscription = SubscriptionFactory(
        customer=customer,
        offer=offer,
        term_start=datetime(2025, 1, 1, tzinfo=UTC),
        term_end=datetime(2026, 1, 1, tzinfo=UTC),
    )
    subscription_add_on(subscription, add_on)
    return subscription
