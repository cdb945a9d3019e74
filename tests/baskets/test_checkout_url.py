"""`checkoutUrl` on the initiate responses (API.md §4): a storefront hands its customer to the hosted page.

The link is a signed recovery-kind link, absolute (the customer's browser comes from the
storefront's origin), opening the hosted checkout page on exactly that basket, and revoked with the
basket's other links.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from baskets import services
from baskets.links import LinkKind, verify_link_token
from baskets.models import Basket, BasketEvent
from checkout_project.api.actor import Actor
from tests.conftest import bearer
from tests.factories import OfferFactory, UserFactory, partner_token

pytestmark = pytest.mark.django_db


def initiate(api_client, token, offer, path="/api/checkout/initiate", **extra):
    body = {"order": {"orderItems": [{"offer": {"id": offer.id}, "quantity": 2}]}}
    response = api_client.post(path, body, format="json", **bearer(token), **extra)
    assert response.status_code == 200, response.json()
    return response


def open_in_a_browser(url: str) -> tuple[Client, object]:
    """A fresh browser (no cookies of the API caller) follows the link; returns it and the answer."""
    browser = Client()
    return browser, browser.get(url)


def test_initiate_answers_a_signed_absolute_link_to_the_hosted_checkout_page(api_client, storefront_token, offer):
    response = initiate(api_client, storefront_token, offer)

    basket = Basket.objects.get()
    url = response.json()["checkoutUrl"]
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "testserver", "/api/checkout/recover")
    query = {name: values[0] for name, values in parse_qs(parts.query, strict_parsing=True).items()}
    assert set(query) == {"basketId", "recover"}
    assert query["basketId"] == basket.public_id
    token = query["recover"]
    assert verify_link_token(token, kind=LinkKind.RECOVER, basket_id=basket.id, link_nonce=basket.link_nonce) is None


def test_the_link_opens_the_hosted_page_on_that_basket(api_client, storefront_token, offer):
    other_offer = OfferFactory(name="Weekend print", path="/offers/weekend-print")
    initiate(api_client, storefront_token, other_offer)  # another basket of the same storefront
    api_client.cookies.clear()
    response = initiate(api_client, storefront_token, offer)
    basket = Basket.objects.get(pk=response.json()["id"].removeprefix("basket-"))

    browser, followed = open_in_a_browser(response.json()["checkoutUrl"])

    assert followed.status_code == 302
    assert followed["Location"] == "/checkout/"
    page = browser.get("/checkout/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<h1>Your basket</h1>" in html
    assert "Digital monthly" in html
    assert "Weekend print" not in html
    assert "<dt>Total</dt><dd>£25.98</dd>" in html  # 2 x 12.99
    assert list(BasketEvent.objects.filter(basket=basket).values_list("kind", flat=True)) == ["created", "recovered"]


def test_the_link_follows_the_host_and_scheme_the_caller_reached(api_client, storefront_token, offer, settings):
    settings.ALLOWED_HOSTS = ["checkout.example.com"]
    response = initiate(api_client, storefront_token, offer, HTTP_HOST="checkout.example.com", secure=True)

    assert response.json()["checkoutUrl"].startswith("https://checkout.example.com/api/checkout/recover?basketId=")


def test_revoking_the_baskets_links_revokes_the_checkout_url(api_client, storefront_token, offer):
    response = initiate(api_client, storefront_token, offer)
    basket = Basket.objects.get()
    services.basket_revoke_links(actor=Actor(user=UserFactory(is_staff=True), is_staff=True), basket_id=basket.id)
    events_before = BasketEvent.objects.count()

    browser, followed = open_in_a_browser(response.json()["checkoutUrl"])

    assert followed.status_code == 400
    assert "link_revoked" in followed.content.decode()
    assert "limio_state" not in followed.cookies
    assert browser.get("/checkout/").status_code == 404  # no basket for this browser
    assert BasketEvent.objects.count() == events_before


def test_replacing_the_landing_basket_gives_a_link_to_the_same_basket(api_client, storefront_token, offer):
    first = initiate(api_client, storefront_token, offer).json()
    second = initiate(api_client, storefront_token, OfferFactory(name="Weekend print", path="/offers/weekend")).json()

    assert second["id"] == first["id"]  # the cookie's basket, its items replaced
    browser, followed = open_in_a_browser(second["checkoutUrl"])
    assert followed.status_code == 302
    assert "Weekend print" in browser.get("/checkout/").content.decode()


def test_an_idempotent_replay_answers_the_same_link(api_client, storefront_token, offer):
    first = initiate(api_client, storefront_token, offer, HTTP_IDEMPOTENCY_KEY="storefront-1")
    api_client.cookies.clear()
    replay = initiate(api_client, storefront_token, offer, HTTP_IDEMPOTENCY_KEY="storefront-1")

    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["checkoutUrl"] == first.json()["checkoutUrl"]
    assert Basket.objects.count() == 1


def test_the_partner_initiate_answers_a_link_to_the_partners_basket(api_client, offer):
    token = partner_token()
    response = initiate(api_client, token, offer, path="/api/partner/checkout/initiate")
    basket = Basket.objects.get()
    assert basket.partner_id == token.application.partner_client.partner_id

    url = response.json()["checkoutUrl"]
    assert url.startswith(f"http://testserver/api/checkout/recover?basketId={basket.public_id}&recover=")
    browser, followed = open_in_a_browser(url)
    assert followed.status_code == 302
    html = browser.get("/checkout/").content.decode()
    assert "Digital monthly" in html

    services.basket_revoke_links(actor=Actor(user=UserFactory(is_staff=True), is_staff=True), basket_id=basket.id)
    assert Client().get(url).status_code == 400


def test_the_update_response_carries_no_checkout_url(api_client, storefront_token, offer):
    """Only initiate makes the link (an update keeps the one initiate gave)."""
    initiate(api_client, storefront_token, offer)
    item_id = str(Basket.objects.get().items.get().id)
    body = {"order": {"orderItems": [{"orderItemActionType": "update", "id": item_id, "quantity": 1}]}}

    response = api_client.put("/api/checkout/update", body, format="json", **bearer(storefront_token))

    assert response.status_code == 200, response.json()
    assert "checkoutUrl" not in response.json()


def test_the_schema_documents_checkout_url_on_both_initiates(client):
    import yaml

    schema = yaml.safe_load(client.get("/api/schema/").content)
    for path in ("/api/checkout/initiate", "/api/partner/checkout/initiate"):
        reference = schema["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        component = schema["components"]["schemas"][reference.rpartition("/")[2]]
        assert "checkoutUrl" in component["required"], path
        assert component["properties"]["checkoutUrl"]["format"] == "uri"
