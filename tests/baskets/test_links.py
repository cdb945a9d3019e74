"""Recovery and assisted links (API.md §5): the handlers, tampering, revocation, the checkout page."""

from __future__ import annotations

import time
from datetime import timedelta
from unittest import mock
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core import signing
from django.test import override_settings
from django.utils import timezone

from baskets import services
from baskets.api.landing_state import basket_id_from_cookie, landing_state_value, signed_landing_state
from baskets.errors import BasketNotFound
from baskets.links import LinkKind, LinkRefusal, link_path, link_token, verify_link_token
from baskets.models import Basket, BasketEvent
from baskets.pages import CONTENT_SECURITY_POLICY
from checkout_project.api.actor import Actor
from subscriptions.models import Subscription, SubscriptionAddOn
from tests.conftest import bearer
from tests.factories import (
    BasketFactory,
    CustomerFactory,
    OrderItemFactory,
    PromoCodeFactory,
    SubscriptionFactory,
    UserFactory,
)
from tests.pages import CHECKOUT_DETAILS

pytestmark = pytest.mark.django_db

RECOVER, ASSISTED = LinkKind.RECOVER, LinkKind.ASSISTED
HTML = "text/html; charset=utf-8"
DAY = 24 * 3600


@pytest.fixture
def basket(offer):
    basket = BasketFactory(customer=CustomerFactory(), email="ada@example.com")
    OrderItemFactory(basket=basket, offer=offer, quantity=2)
    BasketEvent.objects.create(basket=basket, kind="created", version=1)
    return basket


def snapshot(basket: Basket) -> tuple:
    """Everything a refused link must leave alone."""
    basket.refresh_from_db()
    events = list(BasketEvent.objects.filter(basket=basket).values_list("kind", "version"))
    return basket.status, basket.version, basket.updated, basket.link_nonce, events


def parameters(link: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(link).query, strict_parsing=True).items()}


def url(kind: LinkKind, **query: str) -> str:
    return f"/api/checkout/{kind.value}?{urlencode(query)}"


def link_token_made_at(basket: Basket, kind: LinkKind, seconds_ago: int) -> str:
    with mock.patch("django.core.signing.time.time", return_value=time.time() - seconds_ago):
        return link_token(basket, kind)


# --- Valid links ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind, event", [(RECOVER, "recovered"), (ASSISTED, "assisted")])
def test_a_valid_link_sets_the_landing_state_and_redirects_to_the_checkout_page(client, basket, kind, event):
    before = snapshot(basket)

    response = client.get(link_path(basket, kind))

    assert response.status_code == 302
    assert response["Location"] == "/checkout/"
    cookie = response.cookies["limio_state"]
    assert basket_id_from_cookie({"limio_state": cookie.value}) == basket.id
    assert cookie.value == landing_state_value(basket)  # signed, not the bare id
    assert (cookie["httponly"], cookie["samesite"], cookie["path"]) == (True, "Lax", "/")
    assert 14 * DAY - 60 <= int(cookie["max-age"]) <= 14 * DAY
    assert "no-store" in response["Cache-Control"]
    # A visit is recorded and changes nothing else.
    status, version, updated, nonce, events = snapshot(basket)
    assert (status, version, updated, nonce) == before[:4]
    assert events == [*before[4], (event, 1)]
    visit = BasketEvent.objects.get(kind=event)
    assert (visit.application, visit.customer, visit.staff_user, visit.data) == (None, None, None, {"link": kind})


def test_the_link_parameters_are_the_contracts(basket):
    assert urlsplit(link_path(basket, RECOVER)).path == "/api/checkout/recover"
    assert sorted(parameters(link_path(basket, RECOVER))) == ["basketId", "recover"]
    assert urlsplit(link_path(basket, ASSISTED)).path == "/api/checkout/assisted"
    assert sorted(parameters(link_path(basket, ASSISTED))) == ["basketId", "cl"]
    assert parameters(link_path(basket, RECOVER))["basketId"] == basket.public_id


def test_basket_is_an_alias_of_basket_id(client, basket):
    token = link_token(basket, RECOVER)

    response = client.get(url(RECOVER, basket=basket.public_id, recover=token))

    assert response.status_code == 302
    assert basket_id_from_cookie({"limio_state": response.cookies["limio_state"].value}) == basket.id
    assert BasketEvent.objects.filter(kind="recovered").count() == 1


def test_the_checkout_page_url_is_a_setting(client, basket):
    with override_settings(CHECKOUT_PAGE_URL="https://shop.example.com/checkout"):
        response = client.get(link_path(basket, RECOVER))
    assert response.status_code == 302
    assert response["Location"] == "https://shop.example.com/checkout"


def test_a_link_29_days_old_still_works(client, basket):
    token = link_token_made_at(basket, RECOVER, seconds_ago=29 * DAY)
    response = client.get(url(RECOVER, basketId=basket.public_id, recover=token))
    assert response.status_code == 302


def test_each_visit_is_recorded(client, basket):
    link = link_path(basket, RECOVER)
    assert client.get(link).status_code == 302
    assert client.get(link).status_code == 302
    assert BasketEvent.objects.filter(basket=basket, kind="recovered").count() == 2


# --- Refused links: 400 -------------------------------------------------------------------------


def assert_refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == HTML
    assert not response.cookies
    assert "Location" not in response
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    page = response.content.decode()
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in page
    assert "<script" not in page
    assert f"<code>{code}</code>" in page


def tampered_urls(basket: Basket, other: Basket) -> dict[str, tuple[str, str]]:
    recover = link_token(basket, RECOVER)
    assisted = link_token(basket, ASSISTED)
    return {
        # A token of one basket presented for another.
        "changed basket id": (url(RECOVER, basketId=other.public_id, recover=recover), LinkRefusal.WRONG_BASKET),
        "changed basket id, assisted": (url(ASSISTED, basketId=other.public_id, cl=assisted), LinkRefusal.WRONG_BASKET),
        # A token of one kind used as the other.
        "recover token as cl": (url(ASSISTED, basketId=basket.public_id, cl=recover), LinkRefusal.WRONG_KIND),
        "cl token as recover": (url(RECOVER, basketId=basket.public_id, recover=assisted), LinkRefusal.WRONG_KIND),
        # A landing-state cookie value is no link token either.
        "cookie as token": (
            url(RECOVER, basketId=basket.public_id, recover=landing_state_value(basket)),
            LinkRefusal.FORGED,
        ),
        "truncated signature": (url(RECOVER, basketId=basket.public_id, recover=recover[:-4]), LinkRefusal.FORGED),
        "no signature": (
            url(RECOVER, basketId=basket.public_id, recover=recover.rsplit(":", 1)[0]),
            LinkRefusal.FORGED,
        ),
        "changed payload": (
            url(RECOVER, basketId=basket.public_id, recover="x" + recover[1:]),
            LinkRefusal.FORGED,
        ),
        "made-up token": (url(RECOVER, basketId=basket.public_id, recover="hello:world:sig"), LinkRefusal.FORGED),
        "malformed basket id": (url(RECOVER, basketId="basket-nope", recover=recover), LinkRefusal.FORGED),
        "missing token": (url(RECOVER, basketId=basket.public_id), LinkRefusal.MISSING),
        "empty token": (url(ASSISTED, basketId=basket.public_id, cl=""), LinkRefusal.MISSING),
        "missing basket id": (url(RECOVER, recover=recover), LinkRefusal.MISSING),
        "no parameters": ("/api/checkout/assisted", LinkRefusal.MISSING),
        "basket id in the wrong parameter": (url(RECOVER, id=basket.public_id, recover=recover), LinkRefusal.MISSING),
    }


TAMPERINGS = [
    "changed basket id",
    "changed basket id, assisted",
    "recover token as cl",
    "cl token as recover",
    "cookie as token",
    "truncated signature",
    "no signature",
    "changed payload",
    "made-up token",
    "malformed basket id",
    "missing token",
    "empty token",
    "missing basket id",
    "no parameters",
    "basket id in the wrong parameter",
]


@pytest.mark.parametrize("case", TAMPERINGS)
def test_a_tampered_link_is_refused_and_changes_nothing(client, basket, offer, case):
    other = BasketFactory(customer=CustomerFactory())
    target, code = tampered_urls(basket, other)[case]
    before, other_before = snapshot(basket), snapshot(other)

    response = client.get(target)

    assert_refused(response, 400, code)
    assert "This link" in response.content.decode()
    assert snapshot(basket) == before
    assert snapshot(other) == other_before


def test_an_expired_link_is_refused(client, basket):
    token = link_token_made_at(basket, RECOVER, seconds_ago=30 * DAY + 60)
    before = snapshot(basket)

    response = client.get(url(RECOVER, basketId=basket.public_id, recover=token))

    assert_refused(response, 400, "link_expired")
    assert "This link has expired." in response.content.decode()
    assert snapshot(basket) == before


def test_the_link_lifetime_is_a_setting(client, basket):
    token = link_token_made_at(basket, ASSISTED, seconds_ago=2 * DAY)
    before = snapshot(basket)

    with override_settings(LINK_LIFETIME=timedelta(days=1)):
        response = client.get(url(ASSISTED, basketId=basket.public_id, cl=token))

    assert_refused(response, 400, "link_expired")
    assert snapshot(basket) == before


def test_an_expired_forgery_is_reported_as_forged(basket):
    token = link_token_made_at(basket, RECOVER, seconds_ago=60 * DAY)
    verdict = verify_link_token(token[:-2], kind=RECOVER, basket_id=basket.id, link_nonce=basket.link_nonce)
    assert verdict == LinkRefusal.FORGED


@pytest.mark.parametrize("kind", [RECOVER, ASSISTED])
def test_revoking_refuses_every_earlier_link_and_later_links_work(client, basket, kind):
    old_links = [link_path(basket, kind), link_path(basket, kind)]
    staff = UserFactory(is_staff=True)

    revoked = services.basket_revoke_links(actor=Actor(user=staff, is_staff=True), basket_id=basket.id)

    event = BasketEvent.objects.get(kind="links_revoked")
    assert (event.staff_user, event.version) == (staff, 1)
    assert revoked.version == 1  # the order did not change, so neither does its ETag
    before = snapshot(basket)
    for old in old_links:
        assert_refused(client.get(old), 400, "link_revoked")
    assert snapshot(basket) == before
    assert client.get(link_path(revoked, kind)).status_code == 302


def test_revoking_an_unknown_basket_is_404():
    with pytest.raises(BasketNotFound):
        services.basket_revoke_links(actor=Actor(), basket_id=BasketFactory.build().id)
    assert BasketEvent.objects.count() == 0


# --- Refused links: 410 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state, code, message",
    [
        ({"status": "completed", "completed_at": timezone.now()}, "basket_completed", "already been completed"),
        ({"status": "expired"}, "basket_expired", "This basket has expired."),
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "basket_expired", "This basket has expired."),
    ],
    ids=["completed", "expired", "lifetime over"],
)
@pytest.mark.parametrize("kind", [RECOVER, ASSISTED])
def test_a_link_to_a_basket_that_is_over_is_410(client, basket, kind, state, code, message):
    link = link_path(basket, kind)
    Basket.objects.filter(pk=basket.pk).update(**state)
    before = snapshot(basket)

    response = client.get(link)

    assert_refused(response, 410, code)
    assert message in response.content.decode()
    assert snapshot(basket) == before


def test_a_link_to_a_deleted_basket_is_410(client, basket):
    link = link_path(basket, RECOVER)
    basket.delete()

    response = client.get(link)

    assert_refused(response, 410, "basket_not_found")
    assert BasketEvent.objects.count() == 0


@pytest.mark.parametrize("kind", [RECOVER, ASSISTED])
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_links_answer_get_only_with_the_api_error_shape(client, basket, kind, method):
    before = snapshot(basket)

    response = getattr(client, method)(link_path(basket, kind))

    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response["Allow"] == "GET, HEAD"
    assert response.json() == {"message": f'Method "{method.upper()}" not allowed.', "code": "method_not_allowed"}
    assert snapshot(basket) == before


def test_links_need_no_token_and_ignore_one(client, basket):
    response = client.get(link_path(basket, RECOVER), HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 302


# --- Links in API responses ---------------------------------------------------------------------


def test_every_abandoned_item_carries_a_working_recovery_link(api_client, client, backoffice_token, offer):
    baskets = [BasketFactory(created=timezone.now() - timedelta(minutes=n)) for n in (3, 2, 1)]
    for basket in baskets:
        OrderItemFactory(basket=basket, offer=offer)

    response = api_client.get("/api/checkout/abandoned", **bearer(backoffice_token))

    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["id"] for item in items] == [basket.public_id for basket in baskets]
    for item, basket in zip(items, baskets, strict=True):
        link = item["recoveryLink"]
        assert urlsplit(link).path == "/api/checkout/recover"
        assert parameters(link)["basketId"] == basket.public_id
        followed = client.get(link)
        assert followed.status_code == 302
        assert basket_id_from_cookie({"limio_state": followed.cookies["limio_state"].value}) == basket.id
    assert BasketEvent.objects.filter(kind="recovered").count() == 3


@pytest.mark.usefixtures("token_cache_off")
def test_recovery_links_cost_the_abandoned_page_no_query(
    api_client, backoffice_token, offer, django_assert_num_queries
):
    def page_queries(count: int) -> int:
        for n in range(count):
            basket = BasketFactory(customer=CustomerFactory() if n % 2 else None)
            OrderItemFactory(basket=basket, offer=offer)
        with django_assert_num_queries(3) as captured:  # the token, the baskets, their items
            response = api_client.get("/api/checkout/abandoned", {"limit": 1000}, **bearer(backoffice_token))
        assert response.status_code == 200
        assert all(item["recoveryLink"] for item in response.json()["items"])
        return len(captured.captured_queries)

    assert page_queries(2) == page_queries(40)


def test_the_renew_response_carries_both_links(api_client, client, backoffice_token, customer, offer, add_on):
    subscription = SubscriptionFactory(customer=customer, offer=offer)
    SubscriptionAddOn.objects.create(subscription=subscription, offer=add_on, quantity=1)

    response = api_client.post(
        "/api/admin/checkout/initiate/renew",
        {"subscriptionId": subscription.public_id},
        format="json",
        **bearer(backoffice_token),
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    basket = Basket.objects.get()
    assert parameters(body["recoveryLink"])["basketId"] == basket.public_id
    assert urlsplit(body["assistedCheckoutLink"]).path == "/api/checkout/assisted"
    token = parameters(body["assistedCheckoutLink"])["cl"]
    assert verify_link_token(token, kind=ASSISTED, basket_id=basket.id, link_nonce=basket.link_nonce) is None
    assert client.get(body["assistedCheckoutLink"]).status_code == 302


# --- The hosted checkout page -------------------------------------------------------------------


def test_the_checkout_page_shows_the_basket_of_the_link(client, basket, offer):
    assert client.get(link_path(basket, RECOVER)).status_code == 302  # the test client keeps the cookie

    response = client.get("/checkout/")

    assert response.status_code == 200
    assert response["Content-Type"] == HTML
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    page = response.content.decode()
    assert "<h1>Your basket</h1>" in page
    assert "Digital monthly" in page
    assert "£12.99 every 1 month" in page
    assert "<dt>Total</dt><dd>£25.98</dd>" in page
    assert "<script" not in page


@pytest.mark.parametrize(
    "cookie",
    [None, "garbage", "bare id", "another salt"],
)
def test_the_checkout_page_needs_a_signed_landing_state(client, basket, cookie):
    if cookie == "bare id":
        client.cookies["limio_state"] = basket.public_id  # basket ids travel in links: no credential
    elif cookie == "another salt":
        client.cookies["limio_state"] = link_token(basket, RECOVER)
    elif cookie is not None:
        client.cookies["limio_state"] = cookie

    response = client.get("/checkout/")

    assert response.status_code == 404
    assert response["Content-Type"] == HTML
    assert "<h1>No basket found</h1>" in response.content.decode()


def test_the_checkout_page_says_when_the_basket_is_completed(client, basket):
    Basket.objects.filter(pk=basket.pk).update(status="completed", completed_at=timezone.now())
    client.cookies["limio_state"] = landing_state_value(basket)

    response = client.get("/checkout/")

    assert response.status_code == 200
    assert "This order has been completed." in response.content.decode()


# --- Revoking the links shuts out the landing-state cookies they set ------------------------------

PAGE_POSTS = [
    ("/checkout/promo-code", {"code": "SAVE20"}),
    ("/checkout/promo-code/remove", {}),
    ("/checkout/order", CHECKOUT_DETAILS),
]


def revoke(basket: Basket) -> Basket:
    return services.basket_revoke_links(
        actor=Actor(user=UserFactory(is_staff=True), is_staff=True), basket_id=basket.id
    )


def old_format_value(basket: Basket) -> str:
    """`basket-<uuid>:<signature>`, as cookies were signed before they carried the link nonce."""
    return signing.Signer(salt="baskets.landing_state").sign(basket.public_id)


def test_the_cookie_carries_the_link_nonce_it_was_issued_under(client, basket):
    value = client.get(link_path(basket, RECOVER)).cookies["limio_state"].value

    public_id, link_nonce, _signature = value.split(":")
    assert (public_id, link_nonce) == (basket.public_id, basket.link_nonce)
    state = signed_landing_state({"limio_state": value})
    assert (state.basket_id, state.link_nonce) == (basket.id, basket.link_nonce)


@pytest.mark.parametrize("kind", [RECOVER, ASSISTED])
def test_after_revoking_the_cookie_an_old_link_set_opens_no_page_and_completes_nothing(client, basket, kind):
    PromoCodeFactory(code="SAVE20")
    assert client.get(link_path(basket, kind)).status_code == 302  # the test client keeps the cookie
    assert client.get("/checkout/").status_code == 200
    revoke(basket)
    before = snapshot(basket)

    for path in ("/checkout/", "/checkout/confirmation"):
        response = client.get(path)
        assert_refused(response, 410, "link_revoked")
        assert "This link has been withdrawn." in response.content.decode()
    for path, data in PAGE_POSTS:
        assert_refused(client.post(path, data), 410, "link_revoked")

    assert snapshot(basket) == before
    assert basket.status == "active"
    assert basket.promo_code_id is None


def test_links_revoked_while_the_customer_is_on_the_page_stop_the_order(client, basket, monkeypatch):
    # Revoked after the page checked the cookie and before the completion locked the basket: the
    # completion compares the nonce again under the lock.
    assert client.get(link_path(basket, RECOVER)).status_code == 302
    complete = services.basket_complete

    def revoked_meanwhile(**kwargs):
        revoke(basket)
        return complete(**kwargs)

    monkeypatch.setattr(services, "basket_complete", revoked_meanwhile)

    response = client.post("/checkout/order", CHECKOUT_DETAILS)

    assert_refused(response, 410, "link_revoked")
    basket.refresh_from_db()
    assert basket.status == "active"
    assert not Subscription.objects.exists()
    assert not BasketEvent.objects.filter(basket=basket, kind="completed").exists()


def test_a_fresh_link_after_revoking_opens_the_page_and_completes_the_order(client, basket):
    assert client.get(link_path(basket, RECOVER)).status_code == 302
    assert client.get("/checkout/").status_code == 200
    revoked = revoke(basket)
    assert client.get("/checkout/").status_code == 410

    followed = client.get(link_path(revoked, RECOVER))

    assert followed.status_code == 302
    assert followed.cookies["limio_state"].value == landing_state_value(revoked)
    assert client.get("/checkout/").status_code == 200
    assert client.post("/checkout/order", CHECKOUT_DETAILS).status_code == 302
    basket.refresh_from_db()
    assert basket.status == "completed"
    assert client.get("/checkout/confirmation").status_code == 200


def test_after_revoking_the_api_still_takes_the_cookie_under_its_ownership_rules(
    api_client, storefront_app, storefront_token, other_storefront_token, offer
):
    basket = BasketFactory(application=storefront_app)
    OrderItemFactory(basket=basket, offer=offer)
    api_client.cookies["limio_state"] = landing_state_value(basket)
    revoke(basket)
    add = {"orderItemActionType": "add", "offer": {"id": offer.id}}

    other = api_client.put(
        "/api/checkout/update", {"order": {"orderItems": [add]}}, format="json", **bearer(other_storefront_token)
    )
    owner = api_client.put(
        "/api/checkout/update", {"order": {"orderItems": [add]}}, format="json", **bearer(storefront_token)
    )

    assert other.status_code == 404  # not its basket: the API's 404, cookie or not (API.md §2, §3)
    assert owner.status_code == 200, owner.json()
    assert owner.json()["id"] == basket.public_id
    assert basket.items.count() == 2


@pytest.mark.parametrize("value", ["bare id", "old format"])
def test_a_bare_id_or_a_value_signed_without_the_nonce_works_on_the_api_and_not_on_the_pages(
    api_client, client, storefront_app, storefront_token, offer, value
):
    basket = BasketFactory(application=storefront_app)
    OrderItemFactory(basket=basket, offer=offer)
    cookie = basket.public_id if value == "bare id" else old_format_value(basket)
    api_client.cookies["limio_state"] = cookie
    client.cookies["limio_state"] = cookie
    add = {"orderItemActionType": "add", "offer": {"id": offer.id}}

    answer = api_client.put(
        "/api/checkout/update", {"order": {"orderItems": [add]}}, format="json", **bearer(storefront_token)
    )
    assert answer.status_code == 200, answer.json()
    assert basket_id_from_cookie({"limio_state": cookie}) == basket.id

    before = snapshot(basket)
    page = client.get("/checkout/")
    assert page.status_code == 404
    assert "<h1>No basket found</h1>" in page.content.decode()
    for path, data in PAGE_POSTS:
        assert client.post(path, data).status_code == 404
    assert snapshot(basket) == before


@pytest.mark.parametrize("tamper", ["current nonce", "another nonce", "no nonce", "empty nonce"])
def test_a_tampered_nonce_is_refused_by_the_pages_and_the_api(
    api_client, client, storefront_app, storefront_token, offer, tamper
):
    basket = BasketFactory(application=storefront_app)
    OrderItemFactory(basket=basket, offer=offer)
    public_id, old_nonce, signature = landing_state_value(basket).split(":")
    revoked = revoke(basket)
    nonce = {"current nonce": revoked.link_nonce, "another nonce": "A" * len(old_nonce), "empty nonce": ""}.get(tamper)
    cookie = f"{public_id}:{signature}" if nonce is None else f"{public_id}:{nonce}:{signature}"
    client.cookies["limio_state"] = cookie
    api_client.cookies["limio_state"] = cookie
    before = snapshot(basket)

    assert signed_landing_state({"limio_state": cookie}) is None
    assert basket_id_from_cookie({"limio_state": cookie}) is None
    assert client.get("/checkout/").status_code == 404
    assert client.post("/checkout/order", CHECKOUT_DETAILS).status_code == 404
    answer = api_client.put(
        "/api/checkout/update",
        {"order": {"orderItems": [{"orderItemActionType": "add", "offer": {"id": offer.id}}]}},
        format="json",
        **bearer(storefront_token),
    )
    assert answer.status_code == 404
    assert snapshot(basket) == before


def test_a_signed_value_with_an_empty_nonce_is_no_landing_state(basket):
    value = signing.Signer(salt="baskets.landing_state").sign(f"{basket.public_id}:")

    assert signed_landing_state({"limio_state": value}) is None
    assert basket_id_from_cookie({"limio_state": value}) is None
