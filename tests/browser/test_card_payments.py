"""A customer pays by card on the hosted checkout page, in Chromium, against localstripe (API.md §10):
Stripe.js (localstripe's fake, served from STRIPE_JS_URL) collects the card, the page posts the
PaymentMethod's id with the order, the server authorises, completes and captures. A declined card
shows the message and leaves the basket as it was; a card that needs 3-D Secure is confirmed on
the page and the order posted again with the PaymentIntent.

localstripe's fake Stripe.js (1.15.10) mounts a plain-input card element and implements
createToken, createSource, confirmCardSetup and confirmCardPayment (3-D Secure through a modal with
"Complete authentication"), but its `createPaymentMethod` is an empty stub, and localstripe accepts
POST /v1/payment_methods only with a secret key, where Stripe takes the publishable one. So the
test completes the fake where real Stripe.js would do the work: the script served at STRIPE_JS_URL
is localstripe's own with a `createPaymentMethod` appended that posts the element's card to
localstripe's /v1/payment_methods, and that one request is sent on with the secret key, as Stripe's
side of the wire. The page's own script is used as it is, with real Stripe.js's calls.
"""

from __future__ import annotations

import pytest

from baskets.links import recovery_link
from baskets.models import Basket, BasketStatus, Payment
from subscriptions.models import Subscription
from tests import stripe_server as server
from tests.factories import INTRO_THEN_RECURRING, BasketFactory, OfferFactory, OrderItemFactory

pytestmark = pytest.mark.django_db(transaction=True)

# Appended to localstripe's fake Stripe.js (see the module docstring): Stripe.js's createPaymentMethod.
CREATE_PAYMENT_METHOD = """
;(function () {
  var base = document.currentScript.src.replace(/\\/js\\.stripe\\.com\\/v3\\/$/, "");
  var fake = window.Stripe;
  window.Stripe = function (key) {
    var stripe = fake(key);
    stripe.createPaymentMethod = async function (data) {
      var card = data.card.value.card;
      var body = new URLSearchParams({
        type: "card",
        "card[number]": card.number,
        "card[exp_month]": card.exp_month,
        "card[exp_year]": card.exp_year,
        "card[cvc]": card.cvc,
      });
      var response = await fetch(base + "/v1/payment_methods", { method: "POST", body: body });
      var answer = await response.json();
      return response.ok ? { paymentMethod: answer } : { error: answer.error };
    };
    return stripe;
  };
})();
"""


@pytest.fixture
def card_page(browser, stripe_settings, stripe_server):
    """The browser, with the Stripe gateway on localstripe and its fake Stripe.js completed."""
    stripe_settings.MERCHANT_NAME = "The Daily Planet Ltd"

    def stripe_js(route):
        original = route.fetch()
        route.fulfill(response=original, body=original.text() + CREATE_PAYMENT_METHOD)

    def payment_methods(route):
        route.continue_(headers={**route.request.headers, "authorization": f"Bearer {server.SECRET_KEY}"})

    browser.page.route(stripe_settings.STRIPE_JS_URL, stripe_js)
    browser.page.route(f"{stripe_server}/v1/payment_methods", payment_methods)
    return browser


@pytest.fixture
def basket() -> Basket:
    weekly = OfferFactory(name="The Weekly", path="/offers/weekly", charges=INTRO_THEN_RECURRING)
    basket = BasketFactory(email="")
    OrderItemFactory(basket=basket, offer=weekly)
    return basket


# What sticks out of the screen or out of its panel (at a phone's width, a table or a field too wide).
OVERFLOWING = """() => [
  ...Array.from(document.querySelectorAll("body *")).filter(e => e.getBoundingClientRect().right > innerWidth),
  ...Array.from(document.querySelectorAll(".panel")).flatMap(panel => Array.from(panel.querySelectorAll("*"))
    .filter(e => e.getBoundingClientRect().right > panel.getBoundingClientRect().right + 0.5)),
].map(e => e.tagName.toLowerCase() + (e.className ? "." + e.className : ""))"""


def fill_details_and_card(page, number: str) -> None:
    page.get_by_label("Email address").fill("ada@example.com")
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Lovelace")
    card = page.locator("#card-element")
    card.locator("input[placeholder=number]").fill(number)
    card.locator("input[placeholder=exp_month]").fill("12")
    card.locator("input[placeholder=exp_year]").fill("34")
    card.locator("input[placeholder=cvc]").fill("123")
    card.locator("input[placeholder=postal_code]").fill("N1 9GU")


def test_a_customer_pays_by_card_and_the_payment_is_captured(card_page, basket, stripe_client):
    from playwright.sync_api import expect

    page = card_page.page
    response = page.goto(card_page.url(recovery_link(basket)))

    assert response.status == 200
    assert "script-src 'self' http://127.0.0.1:" in response.headers["content-security-policy"]
    box = page.locator("#pay-box")
    expect(box.locator(".pay-box__due")).to_have_text("Due today £75.00")
    expect(box.locator(".pay-box__terms")).to_have_text("then £31.96 every 4 weeks until you cancel.")
    expect(box.locator(".pay-box__merchant")).to_have_text("You are paying The Daily Planet Ltd.")
    expect(box).not_to_contain_text("No payment taken")
    fill_details_and_card(page, server.CARD_OK)
    card_page.shot("checkout-card")
    page.get_by_role("button", name="Place order").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for your order")
    basket.refresh_from_db()
    assert (basket.status, basket.email) == (BasketStatus.COMPLETED, "ada@example.com")
    payment = Payment.objects.get(basket=basket)
    assert (payment.gateway, payment.status, str(payment.amount), payment.currency) == (
        "stripe", "captured", "75.00", "GBP",
    )  # fmt: skip
    intent = stripe_client.v1.payment_intents.retrieve(payment.gateway_reference)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 7500, "gbp")
    assert intent.metadata["basket_id"] == basket.public_id
    assert Subscription.objects.filter(customer=basket.customer).count() == 1
    assert card_page.csp_violations() == []


def test_a_declined_card_shows_the_message_and_the_basket_stays_as_it_was(card_page, basket):
    from playwright.sync_api import expect

    version = basket.version
    page = card_page.page
    page.goto(card_page.url(recovery_link(basket)))
    fill_details_and_card(page, server.CARD_DECLINED_ON_CHARGE)
    page.get_by_role("button", name="Place order").click()

    expect(page.get_by_role("alert").first).to_contain_text(
        "Your card was declined. No order was placed and nothing was charged: try another card."
    )
    expect(page.get_by_label("First name")).to_have_value("Ada")
    card_page.shot("checkout-card-declined")
    basket.refresh_from_db()
    assert (basket.status, basket.version, basket.email, basket.customer_id) == (BasketStatus.ACTIVE, version, "", None)
    assert not Payment.objects.filter(basket=basket).exists()
    assert not Subscription.objects.exists()
    assert card_page.csp_violations() == []


def test_a_card_that_needs_3d_secure_is_confirmed_on_the_page(card_page, basket):
    from playwright.sync_api import expect

    page = card_page.page
    page.goto(card_page.url(recovery_link(basket)))
    fill_details_and_card(page, server.CARD_NEEDS_3DS)
    page.get_by_role("button", name="Place order").click()

    # The server answers 402 payment_requires_action; Stripe.js (the fake's modal) runs the check.
    expect(page.get_by_role("alert").first).to_contain_text("Your bank asks you to confirm this payment.")
    page.get_by_role("button", name="Complete authentication").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for your order")
    basket.refresh_from_db()
    assert basket.status == BasketStatus.COMPLETED
    payment = Payment.objects.get(basket=basket)
    assert (payment.gateway, payment.status, str(payment.amount)) == ("stripe", "captured", "75.00")
    assert card_page.csp_violations() == []


def test_on_a_phone_the_terms_and_the_card_field_fit_above_the_button(card_page, basket):
    from playwright.sync_api import expect

    page = card_page.page
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(card_page.url(recovery_link(basket)))

    box = page.locator("#pay-box")
    expect(box.locator(".pay-box__terms")).to_have_text("then £31.96 every 4 weeks until you cancel.")
    expect(page.locator("#card-element input[placeholder=number]")).to_be_visible()
    # Nothing wider than the screen, and the amount, the terms and the merchant come before the button.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert page.evaluate(OVERFLOWING) == []
    button = page.get_by_role("button", name="Place order").bounding_box()
    for part in (".pay-box__due", ".pay-box__terms", ".pay-box__merchant"):
        shown = box.locator(part).bounding_box()
        assert shown["x"] >= 0 and shown["x"] + shown["width"] <= 360
        assert shown["y"] + shown["height"] <= button["y"]
    card_page.shot("checkout-card-mobile")
    assert card_page.csp_violations() == []


def test_with_the_manual_gateway_the_page_orders_with_javascript_off(browser, basket, settings):
    from playwright.sync_api import expect

    settings.MERCHANT_NAME = "The Daily Planet Ltd"
    context = browser.context.browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        page.goto(browser.url(recovery_link(basket)))
        box = page.locator("#pay-box")
        expect(box.locator(".pay-box__due")).to_have_text("Due today £75.00")
        expect(box.locator(".no-payment-taken")).to_have_text(
            "No payment taken: this order is to be paid outside this service."
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        assert page.evaluate(OVERFLOWING) == []
        assert page.locator("script").count() == 0
        page.get_by_label("Email address").fill("ada@example.com")
        page.get_by_label("First name").fill("Ada")
        page.get_by_label("Last name").fill("Lovelace")
        page.get_by_role("button", name="Place order").click()

        expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for your order")
    finally:
        context.close()
    basket.refresh_from_db()
    assert basket.status == BasketStatus.COMPLETED
    assert Payment.objects.get(basket=basket).gateway == "manual"
