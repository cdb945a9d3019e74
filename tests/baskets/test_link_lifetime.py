"""A basket lives at least as long as its links (API.md §5).

Links are valid LINK_LIFETIME (30 days), baskets BASKET_LIFETIME (14 days). The baskets made to be
handed over by a link (POST /admin/checkout/initiate and .../initiate/renew) are created to live
as long as their links; basket_extend_for_links extends an existing basket before a link to it is
sent; any other link (the abandoned feed's, the admin's) is dated to end with its basket, so no
link ever outlives its basket and the reads that show links write nothing.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from io import StringIO
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.utils import timezone

from baskets import services
from baskets.links import LinkKind, LinkRefusal, link_expires_at, link_path, verify_link_token
from baskets.models import Basket, BasketEvent, BasketStatus
from checkout_project.api.actor import Actor
from tests.conftest import bearer
from tests.factories import BasketFactory, CustomerFactory, OrderItemFactory, SubscriptionFactory, UserFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@contextmanager
def clock_at(moment: datetime):
    """Both clocks at `moment`: Django's (baskets, jobs) and the signing one (link time stamps and ages)."""
    with (
        mock.patch.object(timezone, "now", return_value=moment),
        mock.patch("django.core.signing.time.time", return_value=moment.timestamp()),
    ):
        yield


def expire_baskets() -> str:
    out = StringIO()
    call_command("expire_baskets", stdout=out)
    return out.getvalue().strip()


def visit(client, link: str):
    return client.get(link)


def token_of(link: str) -> str:
    query = parse_qs(urlsplit(link).query)
    return (query.get("recover") or query["cl"])[0]


def admin_initiate(api_client, backoffice_token, offer, customer=None):
    body = {"order": {"orderItems": [{"offer": {"id": offer.id}}]}}
    if customer is not None:
        body["customer"] = {"id": customer.public_id}
    response = api_client.post("/api/admin/checkout/initiate", body, format="json", **bearer(backoffice_token))
    assert response.status_code == 200, response.json()
    return response.json()


def test_an_assisted_basket_lives_as_long_as_its_links(api_client, backoffice_token, offer, client):
    """The report's case: a link handed over at creation, opened on day 15, answered 410."""
    created = timezone.now()
    with clock_at(created):
        body = admin_initiate(api_client, backoffice_token, offer, customer=CustomerFactory())
    basket = Basket.objects.get()
    assert basket.expires_at == created + timedelta(days=30)
    assert body.keys() >= {"recoveryLink", "assistedCheckoutLink"}

    with clock_at(created + 15 * DAY):
        assert expire_baskets().startswith("Expired 0 basket(s)")
        recovered = visit(client, body["recoveryLink"])
        assisted = visit(client, body["assistedCheckoutLink"])

    assert (recovered.status_code, assisted.status_code) == (302, 302)
    basket.refresh_from_db()
    assert basket.status == BasketStatus.ACTIVE


def test_the_expiry_job_expires_it_when_its_links_end(api_client, backoffice_token, offer, client):
    created = timezone.now()
    with clock_at(created):
        body = admin_initiate(api_client, backoffice_token, offer)

    with clock_at(created + 29 * DAY):
        assert expire_baskets().startswith("Expired 0 basket(s)")
        assert visit(client, body["recoveryLink"]).status_code == 302
    with clock_at(created + 30 * DAY + timedelta(seconds=1)):
        assert expire_baskets().startswith("Expired 1 basket(s)")
        refused = visit(client, body["recoveryLink"])

    assert refused.status_code == 410
    assert Basket.objects.get().status == BasketStatus.EXPIRED


def test_a_renewal_basket_lives_as_long_as_its_links(api_client, backoffice_token, offer, client):
    subscription = SubscriptionFactory(offer=offer)
    created = timezone.now()
    with clock_at(created):
        response = api_client.post(
            "/api/admin/checkout/initiate/renew",
            {"subscriptionId": subscription.public_id},
            format="json",
            **bearer(backoffice_token),
        )
    assert response.status_code == 200, response.json()
    assert response.json()["order"]["expiresAt"] == (created + 30 * DAY).astimezone(UTC).isoformat(
        timespec="milliseconds"
    ).replace("+00:00", "Z")

    with clock_at(created + 20 * DAY):
        assert expire_baskets().startswith("Expired 0 basket(s)")
        assert visit(client, response.json()["recoveryLink"]).status_code == 302


def test_a_link_to_a_14_day_basket_ends_with_the_basket(client, offer):
    """A link shown by a read (the feed, the admin) is dated to end with its basket: it never
    promises more than the basket has, and the reads write nothing."""
    created = timezone.now()
    with clock_at(created):
        basket = BasketFactory(created=created)
        OrderItemFactory(basket=basket, offer=offer)
    with clock_at(created + 10 * DAY):
        link = link_path(basket, LinkKind.RECOVER)
        assert link_expires_at(basket) == basket.expires_at

    with clock_at(created + 13 * DAY):
        assert visit(client, link).status_code == 302
    with clock_at(basket.expires_at + timedelta(seconds=1)):
        assert verify_link_token(token_of(link), kind=LinkKind.RECOVER, basket_id=basket.id) == LinkRefusal.EXPIRED
        refused = visit(client, link)

    # The basket is over: the link says so (410), as for any link to an expired basket.
    assert refused.status_code == 410
    assert "This basket has expired." in refused.content.decode()


def test_the_feed_links_never_outlive_their_baskets(api_client, backoffice_token):
    created = timezone.now()
    basket = BasketFactory(created=created)
    before = Basket.objects.values().get(pk=basket.pk)

    response = api_client.get("/api/checkout/abandoned", **bearer(backoffice_token))

    [item] = response.json()["items"]
    token = token_of(item["recoveryLink"])
    with mock.patch("django.core.signing.time.time", return_value=basket.expires_at.timestamp() - 1):
        assert verify_link_token(token, kind=LinkKind.RECOVER, basket_id=basket.id) is None
    with mock.patch("django.core.signing.time.time", return_value=basket.expires_at.timestamp() + 1):
        assert verify_link_token(token, kind=LinkKind.RECOVER, basket_id=basket.id) == LinkRefusal.EXPIRED
    assert Basket.objects.values().get(pk=basket.pk) == before  # the feed wrote nothing


# --- Extending a basket before a link to it is sent -------------------------------------------------


def test_extending_a_basket_makes_its_links_last_their_whole_lifetime(client, offer):
    created = timezone.now()
    basket = BasketFactory(created=created, version=3)
    OrderItemFactory(basket=basket, offer=offer)
    staff = UserFactory(is_staff=True)

    with clock_at(created + 10 * DAY):
        extended = services.basket_extend_for_links(actor=Actor(user=staff, is_staff=True), basket_id=basket.id)
        link = link_path(extended, LinkKind.RECOVER)

    assert extended.expires_at == created + 40 * DAY
    basket.refresh_from_db()
    assert (basket.expires_at, basket.version) == (created + 40 * DAY, 4)  # expiresAt changed: a new ETag
    event = BasketEvent.objects.get()
    assert (event.kind, event.version, event.staff_user) == ("lifetime_extended", 4, staff)
    with clock_at(created + 39 * DAY):
        assert expire_baskets().startswith("Expired 0 basket(s)")
        assert visit(client, link).status_code == 302


def test_extending_a_basket_that_lives_long_enough_changes_nothing(offer):
    basket = BasketFactory()
    services.basket_extend_for_links(actor=Actor(), basket_id=basket.id)
    basket.refresh_from_db()
    extended = (basket.expires_at, basket.version)

    services.basket_extend_for_links(actor=Actor(), basket_id=basket.id, now=timezone.now() - DAY)

    basket.refresh_from_db()
    assert (basket.expires_at, basket.version) == extended
    assert BasketEvent.objects.count() == 1


@pytest.mark.parametrize(
    "state",
    [
        {"status": BasketStatus.COMPLETED},
        {"status": BasketStatus.EXPIRED},
        {"expires_at": datetime(2020, 1, 1, tzinfo=UTC)},
    ],
    ids=["completed", "expired", "lifetime over"],
)
def test_a_basket_that_is_over_is_not_extended(state):
    basket = BasketFactory(**state)
    before = Basket.objects.values().get(pk=basket.pk)

    services.basket_extend_for_links(actor=Actor(), basket_id=basket.id)

    assert Basket.objects.values().get(pk=basket.pk) == before
    assert BasketEvent.objects.count() == 0


def test_signing_time_and_django_time_agree_in_the_tests():
    """clock_at moves both clocks: a guard for the tests above."""
    moment = datetime(2030, 1, 1, tzinfo=UTC)
    with clock_at(moment):
        assert timezone.now() == moment
        assert time.time() == moment.timestamp()
