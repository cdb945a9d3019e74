"""The hosted checkout page takes a card (API.md §5, §10): Stripe.js and its CSP when the gateway is
Stripe, the amount due today, the renewal terms and the merchant above the button on every gateway,
"no payment taken" and no script at all with the manual gateway; declines and 3-D Secure.
Without a browser; tests/browser/test_card_payments.py pays in Chromium against localstripe.
"""

from __future__ import annotations

import re

import pytest
from django.utils.csp import CSP, build_policy

from baskets.models import BasketEvent, BasketStatus, Payment
from baskets.pages import CONTENT_SECURITY_POLICY, HOSTED_PAGE_CSP, renewal_terms
from subscriptions.models import Customer, Subscription
from tests.pages import CHECKOUT_DETAILS

pytestmark = pytest.mark.django_db


@pytest.fixture
def stripe_page(settings):
    """The page as configured for Stripe (no server needed to render it)."""
    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_page"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_page"
    settings.STRIPE_JS_URL = "https://js.stripe.com/v3/"
    settings.STRIPE_API_BASE = ""
    settings.MERCHANT_NAME = "The Daily Planet Ltd"
    return settings


def page_text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def written(basket) -> tuple:
    basket.refresh_from_db()
    return (
        basket.status,
        basket.version,
        basket.email,
        Payment.objects.count(),
        Subscription.objects.count(),
        Customer.objects.count(),
        BasketEvent.objects.count(),
    )


# --- The words above the button ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "words"),
    [
        (
            [{"type": "recurring", "amount": "9.99", "repeatInterval": 1, "repeatIntervalType": "months"}],
            "then £9.99 every month until you cancel",
        ),
        (
            [
                {
                    "type": "recurring",
                    "amount": "75.00",
                    "repeatInterval": 52,
                    "repeatIntervalType": "weeks",
                    "repeatCount": 1,
                },
                {"type": "recurring", "amount": "31.96", "repeatInterval": 4, "repeatIntervalType": "weeks"},
            ],
            "then £31.96 every 4 weeks until you cancel",
        ),
        (
            [
                {
                    "type": "recurring",
                    "amount": "1.00",
                    "repeatInterval": 1,
                    "repeatIntervalType": "months",
                    "repeatCount": 3,
                },
                {"type": "recurring", "amount": "120.00", "repeatInterval": 1, "repeatIntervalType": "years"},
            ],
            "then £1.00 every month, 2 more times, then £120.00 every year until you cancel",
        ),
        ([{"type": "one_off", "amount": "5.00"}], ""),
    ],
)
def test_renewal_terms_say_what_follows_todays_payment(price, words):
    assert renewal_terms(price, "GBP") == words


def test_with_the_manual_gateway_the_page_says_no_payment_taken_and_has_no_script(customer_client, settings):
    settings.MERCHANT_NAME = "The Daily Planet Ltd"

    response = customer_client.get("/checkout/")

    assert response.status_code == 200
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    page = page_text(response)
    pay_box = page[
        page.index('<div class="pay-box"') : page.index('<button type="submit" class="button button--primary">')
    ]
    assert '<p class="pay-box__due"><span>Due today</span> <strong>£75.00</strong></p>' in pay_box
    assert '<p class="pay-box__terms">then £31.96 every 4 weeks until you cancel.</p>' in pay_box
    assert '<p class="pay-box__merchant">You are paying The Daily Planet Ltd.</p>' in pay_box
    assert (
        '<p class="no-payment-taken" role="note">No payment taken: this order is to be paid outside this service.</p>'
        in pay_box
    )
    assert "<script" not in page
    assert "card-element" not in page
    assert "data-stripe-key" not in page


def test_the_manual_page_still_places_the_order_without_javascript(customer_client, basket):
    response = customer_client.post("/checkout/order", CHECKOUT_DETAILS)

    assert response.status_code == 302
    basket.refresh_from_db()
    assert basket.status == BasketStatus.COMPLETED
    assert Payment.objects.get(basket=basket).gateway == "manual"


def test_without_a_merchant_name_the_page_names_none(customer_client, settings):
    settings.MERCHANT_NAME = ""

    page = page_text(customer_client.get("/checkout/"))

    assert "pay-box__merchant" not in page
    assert "You are paying" not in page


# --- Stripe: the script, the card element, the policy ---------------------------------------------


def test_with_stripe_the_page_loads_stripe_js_and_widens_the_csp_to_exactly_its_origin(customer_client, stripe_page):
    response = customer_client.get("/checkout/")

    assert response.status_code == 200
    expected = {
        **HOSTED_PAGE_CSP,
        "script-src": [CSP.SELF, "https://js.stripe.com"],
        "frame-src": ["https://js.stripe.com"],
        "connect-src": [CSP.SELF, "https://js.stripe.com", "https://api.stripe.com"],
    }
    assert response["Content-Security-Policy"] == build_policy(expected)
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    page = page_text(response)
    # Two scripts, both from files (the policy refuses inline ones): Stripe.js, then ours.
    assert re.findall(r"<script[^>]*>", page) == [
        '<script src="https://js.stripe.com/v3/" defer>',
        '<script src="/static/checkout/payment.js" defer>',
    ]
    assert re.findall(r"<script[^>]*>(.*?)</script>", page) == ["", ""]
    assert 'id="order-form" data-stripe-key="pk_test_page">' in page
    assert "data-client-secret" not in page
    assert '<div id="card-element" class="card-element"></div>' in page
    assert '<input type="hidden" name="payment_method_id" id="id_payment_method_id">' in page
    assert '<p class="pay-box__due"><span>Due today</span> <strong>£75.00</strong></p>' in page
    assert '<p class="pay-box__terms">then £31.96 every 4 weeks until you cancel.</p>' in page
    assert '<p class="pay-box__merchant">You are paying The Daily Planet Ltd.</p>' in page
    assert "No payment taken" not in page
    assert customer_client.get("/static/checkout/payment.js").status_code == 200


def test_a_local_stripe_server_is_the_one_origin_let_in(customer_client, stripe_page):
    stripe_page.STRIPE_JS_URL = "http://127.0.0.1:8420/js.stripe.com/v3/"
    stripe_page.STRIPE_API_BASE = "http://127.0.0.1:8420"

    policy = customer_client.get("/checkout/")["Content-Security-Policy"]

    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self' http://127.0.0.1:8420"
    assert directives["frame-src"] == "http://127.0.0.1:8420"
    assert directives["connect-src"] == "'self' http://127.0.0.1:8420"
    assert "js.stripe.com" not in policy
    assert "api.stripe.com" not in policy


def test_the_policy_goes_back_when_the_gateway_is_manual_again(customer_client, stripe_page):
    assert "js.stripe.com" in customer_client.get("/checkout/")["Content-Security-Policy"]
    stripe_page.PAYMENT_GATEWAY = "manual"

    assert customer_client.get("/checkout/")["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    "fields",
    [
        {"payment_method_id": "card_4242"},
        {"payment_method_id": "pm_1<script>"},
        {"payment_intent_id": "pm_123"},
        {"payment_intent_id": "pi_" + "x" * 300},
    ],
)
def test_a_malformed_card_id_is_refused_and_nothing_is_written(customer_client, basket, stripe_page, fields):
    before = written(basket)

    response = customer_client.post("/checkout/order", {**CHECKOUT_DETAILS, **fields})

    assert response.status_code == 400
    assert "We could not read your card details. Please enter them again." in page_text(response)
    assert written(basket) == before


# --- Stripe: the server's answers to the page, against localstripe ---------------------------------
# (transactional tests: basket_complete calls the gateway with no database transaction open)


def card(client, number: str) -> str:
    """A PaymentMethod, as the page's script has Stripe.js make it in the customer's browser."""
    method = client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )
    return method.id


@pytest.mark.django_db(transaction=True)
def test_a_declined_card_shows_the_page_again_with_the_message_and_nothing_is_written(
    customer_client, basket, stripe_client
):
    from tests.stripe_server import CARD_DECLINED_ON_CHARGE

    before = written(basket)

    response = customer_client.post(
        "/checkout/order", {**CHECKOUT_DETAILS, "payment_method_id": card(stripe_client, CARD_DECLINED_ON_CHARGE)}
    )

    assert response.status_code == 402
    page = page_text(response)
    assert "Your card was declined. No order was placed and nothing was charged: try another card." in page
    assert 'value="grace@example.com"' in page  # the details kept for the next card
    assert "data-client-secret" not in page
    assert written(basket) == before


@pytest.mark.django_db(transaction=True)
def test_a_card_needing_3d_secure_hands_the_page_its_client_secret(customer_client, basket, stripe_client):
    from tests.stripe_server import CARD_NEEDS_3DS

    before = written(basket)

    response = customer_client.post(
        "/checkout/order", {**CHECKOUT_DETAILS, "payment_method_id": card(stripe_client, CARD_NEEDS_3DS)}
    )

    assert response.status_code == 402
    page = page_text(response)
    assert "Your bank asks you to confirm this payment." in page
    secret = re.search(r'data-client-secret="(pi_\w+?)_secret_\w+"', page)
    assert secret is not None
    assert stripe_client.v1.payment_intents.retrieve(secret.group(1)).status == "requires_action"
    assert written(basket) == before


@pytest.mark.django_db(transaction=True)
def test_with_stripe_and_no_card_sent_the_page_asks_for_one(customer_client, basket, stripe_settings):
    before = written(basket)

    response = customer_client.post("/checkout/order", CHECKOUT_DETAILS)

    assert response.status_code == 400
    assert "Enter your card details to pay for your order." in page_text(response)
    assert written(basket) == before
