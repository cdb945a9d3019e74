"""The hosted checkout pages (API.md §5, §9): promo codes, customer details, completion, confirmation,
subscription changes, reCAPTCHA, CSP. Without a browser; tests/browser/ drives the same pages in Chromium.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone
from django.utils.csp import build_policy

from baskets.api.landing_state import landing_state_value
from baskets.models import Basket, BasketEvent, BasketStatus, Payment, PromoRedemption
from baskets.pages import CONTENT_SECURITY_POLICY
from subscriptions.models import Customer, Subscription
from tests.conftest import bearer
from tests.factories import (
    BasketFactory,
    OfferFactory,
    OrderItemFactory,
    PromoCodeFactory,
    SubscriptionFactory,
    subscription_add_on,
)
from tests.pages import CHECKOUT_DETAILS

pytestmark = pytest.mark.django_db


def page_text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def state(basket: Basket) -> tuple:
    basket.refresh_from_db()
    return basket.status, basket.version, basket.promo_code_id, basket.email, BasketEvent.objects.count()


# --- The page ----------------------------------------------------------------------------------------


def test_the_page_shows_items_schedule_in_words_and_totals(customer_client):
    response = customer_client.get("/checkout/")

    assert response.status_code == 200
    page = page_text(response)
    assert "<h1>Your basket</h1>" in page
    assert "The Weekly" in page
    assert "£75.00 for 52 weeks, then £31.96 every 4 weeks" in page
    assert "<dt>Subtotal</dt><dd>£75.00</dd>" in page
    assert "<dt>Discount</dt><dd>£0.00</dd>" in page
    assert "<dt>Total</dt><dd>£75.00</dd>" in page
    assert '<label for="id_code">Promo code</label>' in page
    assert '<label for="id_email">Email address</label>' in page
    assert 'action="/checkout/order"' in page


def test_the_pages_send_the_strict_csp_and_carry_no_inline_script_or_style(customer_client):
    response = customer_client.get("/checkout/")

    policy = response["Content-Security-Policy"]
    assert policy == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "form-action 'self'" in policy
    assert "unsafe-inline" not in policy
    page = response.content.decode()
    assert "<script" not in page
    assert "<style" not in page
    assert "style=" not in page
    assert '<link rel="stylesheet" href="/static/checkout/checkout.css">' in page
    assert customer_client.get("/static/checkout/checkout.css").status_code == 200


@pytest.mark.parametrize("path", ["/checkout/", "/checkout/confirmation"])
def test_without_a_signed_cookie_there_is_no_basket(client, basket, path):
    client.cookies["limio_state"] = basket.public_id  # a bare id is no credential on the hosted pages

    response = client.get(path)

    assert response.status_code == 404
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "<h1>No basket found</h1>" in response.content.decode()


@pytest.mark.parametrize(
    "path, data",
    [
        ("/checkout/promo-code", {"code": "ANY"}),
        ("/checkout/promo-code/remove", {}),
        ("/checkout/order", CHECKOUT_DETAILS),
    ],
)
def test_posts_without_a_signed_cookie_change_nothing(client, basket, path, data):
    before = state(basket)
    client.cookies["limio_state"] = "forged"

    response = client.post(path, data)

    assert response.status_code == 404
    assert state(basket) == before


def test_posts_need_the_csrf_token(basket):
    browser = Client(enforce_csrf_checks=True)
    browser.cookies["limio_state"] = landing_state_value(basket)
    before = state(basket)

    response = browser.post("/checkout/order", CHECKOUT_DETAILS)

    assert response.status_code == 403
    assert state(basket) == before


def test_the_forms_are_labelled_and_get_only_pages_refuse_posts(customer_client):
    assert customer_client.post("/checkout/").status_code == 405
    assert customer_client.get("/checkout/order").status_code == 405
    page = customer_client.get("/checkout/").content.decode()
    for field in ("email", "first_name", "last_name", "company_name", "phone", "code"):
        assert f'<label for="id_{field}">' in page
        assert f'id="id_{field}"' in page


# --- Promo codes -------------------------------------------------------------------------------------


def test_applying_a_promo_code_redirects_back_with_the_discount(customer_client, basket):
    PromoCodeFactory(code="SAVE20")

    response = customer_client.post("/checkout/promo-code", {"code": " save20 "})

    assert response.status_code == 302
    assert response["Location"] == "/checkout/"
    basket.refresh_from_db()
    assert basket.promo_code.code == "SAVE20"
    assert basket.version == 2
    assert list(BasketEvent.objects.values_list("kind", "data")) == [
        ("promo_code_applied", {"code": "SAVE20", "replaced": None})
    ]
    page = page_text(customer_client.get("/checkout/"))
    assert "Promo code SAVE20 applied." in page  # the notice, once
    assert "Promo code <strong>SAVE20</strong> applied: 20% off." in page
    assert "<dt>Discount</dt><dd>£15.00</dd>" in page
    assert "<dt>Total</dt><dd>£60.00</dd>" in page
    assert "Promo code SAVE20 applied." not in page_text(customer_client.get("/checkout/"))


@pytest.mark.parametrize(
    "promo, message",
    [
        (None, "There is no such promo code."),
        ({"active": False}, "This promo code is not active."),
        ({"expires_at": datetime(2020, 1, 1, tzinfo=UTC)}, "This promo code has expired."),
        ({"available_quantity": 1, "redeemed_count": 1}, "This promo code has been used as many times as it may be."),
    ],
)
def test_a_refused_code_shows_why_at_the_field_and_changes_nothing(customer_client, basket, promo, message):
    if promo is not None:
        PromoCodeFactory(code="SAVE20", **promo)
    before = state(basket)

    response = customer_client.post("/checkout/promo-code", {"code": "SAVE20"})

    assert response.status_code == 400
    page = page_text(response)
    error = '<p class="field-error" id="id_code_error" role="alert"><span class="visually-hidden">Error:</span>'
    assert f"{error} {message}</p>" in page
    assert 'aria-invalid="true" aria-describedby="id_code_error" id="id_code"' in page
    assert 'value="SAVE20"' in page
    assert state(basket) == before


def test_an_empty_code_is_a_field_error(customer_client, basket):
    response = customer_client.post("/checkout/promo-code", {"code": ""})

    assert response.status_code == 400
    assert "Enter a promo code." in page_text(response)


def test_removing_the_promo_code(customer_client, basket):
    basket.promo_code = PromoCodeFactory(code="SAVE20")
    basket.save()

    response = customer_client.post("/checkout/promo-code/remove")

    assert response.status_code == 302
    basket.refresh_from_db()
    assert basket.promo_code is None
    assert basket.version == 2
    assert list(BasketEvent.objects.values_list("kind", "data")) == [("promo_code_removed", {"code": "SAVE20"})]
    page = page_text(customer_client.get("/checkout/"))
    assert "Promo code removed." in page
    assert "<dt>Discount</dt><dd>£0.00</dd>" in page


def test_removing_when_there_is_no_code_changes_nothing(customer_client, basket):
    before = state(basket)

    assert customer_client.post("/checkout/promo-code/remove").status_code == 302

    assert state(basket) == before


# --- Placing the order -------------------------------------------------------------------------------


def test_details_with_mistakes_show_field_errors_and_change_nothing(customer_client, basket):
    before = state(basket)

    response = customer_client.post(
        "/checkout/order", {**CHECKOUT_DETAILS, "email": "grace@", "last_name": "", "phone": "x"}
    )

    assert response.status_code == 400
    page = page_text(response)
    assert "There is a problem with your details" in page
    assert '<a href="#id_email">Enter an email address like name@example.com.</a>' in page
    assert 'id="id_email_error"><span class="visually-hidden">Error:</span> Enter an email address' in page
    assert 'value="grace@"' in page
    assert 'aria-invalid="true" aria-describedby="id_email_error" id="id_email"' in page
    assert "Enter your last name." in page
    assert "Enter a phone number using digits" in page
    assert 'aria-invalid="true"' not in page.split('id="id_first_name"')[0].rsplit("<input", 1)[-1]
    assert state(basket) == before


def test_placing_the_order_completes_the_basket_through_the_order_service(customer_client, basket, weekly):
    basket.promo_code = PromoCodeFactory(code="SAVE20", available_quantity=5)
    basket.save()

    response = customer_client.post("/checkout/order", CHECKOUT_DETAILS)

    assert response.status_code == 302
    assert response["Location"] == "/checkout/confirmation"
    basket.refresh_from_db()
    assert basket.status == BasketStatus.COMPLETED
    assert (basket.email, basket.first_name, basket.last_name, basket.phone) == (
        "grace@example.com", "Grace", "Hopper", "+44 20 7946 0000",
    )  # fmt: skip
    customer = Customer.objects.get(email="grace@example.com")
    assert basket.customer == customer
    assert list(Subscription.objects.filter(customer=customer).values_list("offer_id", flat=True)) == [weekly.id]
    payment = Payment.objects.get(basket=basket)
    assert (payment.gateway, payment.amount) == ("manual", Decimal("60.00"))
    assert PromoRedemption.objects.get(basket=basket).amount == Decimal("15.00")
    assert basket.promo_code.redeemed_count == 1
    assert BasketEvent.objects.filter(basket=basket).values_list("kind", flat=True).last() == "completed"

    confirmation = customer_client.get("/checkout/confirmation")
    assert confirmation.status_code == 200
    assert confirmation["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    page = page_text(confirmation)
    assert '<h1 id="confirmation-title">Thank you for your order</h1>' in page
    assert f"order-{basket.id}" in page
    assert "grace@example.com" in page
    assert "£75.00 for 52 weeks, then £31.96 every 4 weeks" in page
    assert "<dt>Due today</dt><dd>£60.00</dd>" in page
    # The manual gateway took no money, and the page says so (API.md §10).
    assert (
        '<p class="no-payment-taken" role="note">No payment taken: this order is to be paid outside this service.</p>'
        in page
    )
    # The checkout page now says it is done and offers no forms.
    done = page_text(customer_client.get("/checkout/"))
    assert "This order has been completed." in done
    assert 'action="/checkout/order"' not in done


def test_placing_the_order_twice_shows_the_confirmation_again(customer_client, basket):
    assert customer_client.post("/checkout/order", CHECKOUT_DETAILS).status_code == 302

    again = customer_client.post("/checkout/order", CHECKOUT_DETAILS)

    assert again.status_code == 302
    assert again["Location"] == "/checkout/confirmation"
    assert Payment.objects.count() == 1
    assert BasketEvent.objects.filter(kind="completed").count() == 1


def test_the_confirmation_waits_for_the_order(customer_client):
    response = customer_client.get("/checkout/confirmation")

    assert response.status_code == 302
    assert response["Location"] == "/checkout/"


def test_an_expired_basket_cannot_be_ordered(customer_client, basket):
    Basket.objects.filter(pk=basket.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    before = state(basket)

    response = customer_client.post("/checkout/order", CHECKOUT_DETAILS)

    assert response.status_code == 410
    page = page_text(response)
    assert "This basket has expired." in page
    assert 'action="/checkout/order"' not in page
    assert state(basket) == before


def test_a_code_used_up_meanwhile_stops_the_order_with_a_message(customer_client, basket):
    promo = PromoCodeFactory(code="LAST", available_quantity=1)
    basket.promo_code = promo
    basket.save()
    PromoCode = type(promo)
    PromoCode.objects.filter(pk=promo.pk).update(redeemed_count=1)  # another order took the last one

    response = customer_client.post("/checkout/order", CHECKOUT_DETAILS)

    assert response.status_code == 400
    assert "We could not place your order" in page_text(response)
    assert "This promo code has been used as many times as it may be." in page_text(response)
    basket.refresh_from_db()
    assert basket.status == BasketStatus.ACTIVE


# --- reCAPTCHA ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token, message",
    [
        ("", "Please confirm you are not a robot."),
        ("fail-token", "We could not confirm you are not a robot. Please try again."),
        ("unavailable-token", "We could not check the reCAPTCHA just now. Please try again in a moment."),
    ],
)
def test_the_order_is_verified_with_recaptcha_on_the_server(customer_client, basket, token, message):
    before = state(basket)

    response = customer_client.post("/checkout/order", {**CHECKOUT_DETAILS, "recaptcha": token})

    assert response.status_code == 400
    assert message in page_text(response)
    assert state(basket) == before


def test_the_offline_verifier_fills_in_its_token(customer_client):
    page = customer_client.get("/checkout/").content.decode()
    assert '<input type="hidden" name="recaptcha" value="pass-offline-checkout-page" id="id_recaptcha">' in page


@override_settings(RECAPTCHA_ENABLED=False)
def test_without_recaptcha_no_token_is_asked(customer_client, basket):
    page = customer_client.get("/checkout/").content.decode()
    assert "recaptcha" not in page

    response = customer_client.post("/checkout/order", {k: v for k, v in CHECKOUT_DETAILS.items() if k != "recaptcha"})

    assert response.status_code == 302


@override_settings(
    RECAPTCHA_VERIFIER="checkout_project.api.recaptcha.DjangoRecaptchaVerifier", RECAPTCHA_PUBLIC_KEY="site-key-1"
)
def test_with_google_the_page_shows_django_recaptchas_widget_without_inline_script(customer_client):
    page = customer_client.get("/checkout/").content.decode()

    assert '<script src="https://www.google.com/recaptcha/api.js" async defer></script>' in page
    assert 'class="g-recaptcha"' in page
    assert 'data-sitekey="site-key-1"' in page
    assert "Confirm you are not a robot" in page
    assert "<script>" not in page
    assert page.count("<script") == 1


# --- Subscription changes ----------------------------------------------------------------------------

NOW = datetime(2025, 7, 2, 12, tzinfo=UTC)


def monthly(amount: str):
    return [{"name": "Monthly", "amount": amount, "repeat_interval": 1, "repeat_interval_type": "months"}]


@pytest.fixture
def change(monkeypatch, api_client, client, customer, customer_token):
    """A customer's update basket (built through the API) and the browser holding its cookie."""
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    current = OfferFactory(name="Standard", path="/offers/standard", charges=monthly("10.00"))
    upgrade = OfferFactory(name="Premium", path="/offers/premium", charges=monthly("20.00"))
    downgrade = OfferFactory(name="Lite", path="/offers/lite", charges=monthly("5.00"))
    archive = OfferFactory(name="Archive", path="/offers/archive", type="add_on", charges=monthly("2.50"))
    current.upgrade_offers.add(upgrade)
    current.downgrade_offers.add(downgrade)
    current.cross_sell_add_ons.add(archive)
    downgrade.cross_sell_add_ons.add(archive)
    subscription = SubscriptionFactory(
        customer=customer, offer=current, term_start=datetime(2025, 1, 1, tzinfo=UTC),
        term_end=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    subscription_add_on(subscription, archive)
    pass_header = {"HTTP_X_LIMIO_RECAPTCHA": "pass-token"}
    body = {"order": {"order_type": "update_subscription", "forSubscription": {"id": subscription.public_id}}}
    response = api_client.post(
        "/api/checkout/subscription", body, format="json", **bearer(customer_token), **pass_header
    )
    assert response.status_code == 200, response.json()
    client.cookies["limio_state"] = response.cookies["limio_state"].value

    def choose(offer):
        answer = api_client.put(
            "/api/checkout/subscription",
            {"order": {"orderItems": [{"orderItemActionType": "add", "offer": {"id": offer.id}}]}},
            format="json", **bearer(customer_token), **pass_header,
        )  # fmt: skip
        assert answer.status_code == 200, answer.json()
        return answer.json()["order"]["totals"]

    return {"client": client, "subscription": subscription, "upgrade": upgrade, "downgrade": downgrade,
            "choose": choose}  # fmt: skip


def test_an_upgrade_shows_the_current_plan_the_change_and_what_is_due_today(change):
    totals = change["choose"](change["upgrade"])

    response = change["client"].get("/checkout/")

    assert response.status_code == 200
    page = page_text(response)
    assert "<h1>Change your subscription</h1>" in page
    assert "<dt>Plan</dt><dd>Standard</dd>" in page
    assert "<dt>Price</dt><dd>£10.00 every 1 month</dd>" in page
    assert "<dt>Add-ons</dt><dd>Archive</dd>" in page
    assert "<dt>Current term ends</dt><dd>1 January 2026</dd>" in page
    assert "Add: Premium</th> <td>£20.00 every 1 month</td> <td>today</td>" in page
    assert "Remove: Standard</th>" in page
    assert f'<dt class="totals__due">Due today</dt><dd class="totals__due">£{totals["dueToday"]}</dd>' in page
    # Premium from today, less the unused Standard and the Archive add-on Premium does not sell.
    assert "Remove add-on: Archive</th>" in page
    assert totals["dueToday"] == "45.13"
    assert 'action="/checkout/promo-code"' not in page  # update baskets take no promo code
    assert "Confirm change" in page
    # Above the button: what is due today and what the new plan charges after it.
    assert f'<p class="pay-box__due"><span>Due today</span> <strong>£{totals["dueToday"]}</strong></p>' in page
    assert '<p class="pay-box__terms">then £20.00 every month until you cancel.</p>' in page


def test_a_downgrade_takes_effect_at_the_term_end_and_nothing_is_due_today(change):
    change["choose"](change["downgrade"])

    page = page_text(change["client"].get("/checkout/"))

    assert 'Add: Lite</th> <td>£5.00 every 1 month</td> <td>1 January 2026</td> <td class="num">£0.00</td>' in page
    assert '<dd class="totals__due">£0.00</dd>' in page
    assert "<dt>Next payment</dt><dd>£7.50 on 1 January 2026</dd>" in page


def test_confirming_a_change_applies_it_through_the_order_service(change, customer):
    change["choose"](change["upgrade"])
    details = {**CHECKOUT_DETAILS, "email": customer.email, "first_name": "Ada", "last_name": "Lovelace"}

    response = change["client"].post("/checkout/order", details)

    assert response.status_code == 302
    subscription = change["subscription"]
    subscription.refresh_from_db()
    assert subscription.offer_id == change["upgrade"].id
    basket = Basket.objects.get(for_subscription=subscription)
    assert basket.status == BasketStatus.COMPLETED
    page = page_text(change["client"].get("/checkout/confirmation"))
    assert "Your change is confirmed" in page
    assert "Add: Premium" in page


# --- Query counts and the other paths' policies ------------------------------------------------------


def test_the_checkout_page_reads_a_fixed_number_of_queries(client, django_assert_num_queries, weekly):
    counts = []
    for size in (1, 20):
        basket = BasketFactory()
        for position in range(size):
            OrderItemFactory(basket=basket, offer=weekly, position=position)
        client.cookies["limio_state"] = landing_state_value(basket)
        with django_assert_num_queries(2) as captured:
            response = client.get("/checkout/")
        assert response.status_code == 200
        assert response.content.decode().count(weekly.name) >= size  # every item is on the page
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1]


def test_the_admin_sends_the_project_policy(admin_client):
    response = admin_client.get("/admin/")

    assert response.status_code == 200
    assert response["Content-Security-Policy"] == build_policy(settings.SECURE_CSP)
    assert "unsafe-inline" not in response["Content-Security-Policy"]


def test_only_the_api_docs_relax_the_policy_for_swagger_ui(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self' 'unsafe-inline'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in client.get("/api/schema/")["Content-Security-Policy"]


def test_google_recaptcha_adds_its_sources_to_the_policy(monkeypatch):
    import runpy
    from pathlib import Path

    settings_file = Path(__file__).resolve().parents[2] / "checkout_project" / "settings.py"
    monkeypatch.setenv("DJANGO_SECRET_KEY", "k" * 40 + "0123456789")

    def policy(**env):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(settings_file))["SECURE_CSP"]

    off = policy(RECAPTCHA_ENABLED="0")
    assert off["script-src"] == ["'self'"]
    assert "frame-src" not in off
    google = policy(RECAPTCHA_ENABLED="1", RECAPTCHA_VERIFIER="google", RECAPTCHA_PRIVATE_KEY="k")
    assert google["script-src"] == ["'self'", "https://www.google.com/recaptcha/", "https://www.gstatic.com/recaptcha/"]
    assert google["frame-src"] == ["https://www.google.com/recaptcha/", "https://recaptcha.google.com/recaptcha/"]
