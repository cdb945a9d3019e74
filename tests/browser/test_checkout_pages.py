"""A customer on the hosted checkout pages, in Chromium: recovery link, promo code, a mistake in the
details and its fix, the order, the confirmation; an expired link; the keyboard alone."""

from __future__ import annotations

import time
from unittest import mock

import pytest

from baskets.links import LinkKind, link_token, recovery_link
from baskets.models import Basket, BasketStatus, PromoRedemption
from tests.factories import INTRO_THEN_RECURRING, BasketFactory, OfferFactory, OrderItemFactory, PromoCodeFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def basket() -> Basket:
    weekly = OfferFactory(name="The Weekly", path="/offers/weekly", charges=INTRO_THEN_RECURRING)
    basket = BasketFactory(email="")
    OrderItemFactory(basket=basket, offer=weekly)
    return basket


def test_a_customer_recovers_the_basket_applies_a_code_fixes_a_mistake_and_orders(browser, basket):
    from playwright.sync_api import expect

    PromoCodeFactory(code="WELCOME20", description="20% off for new readers")
    page = browser.page

    response = page.goto(browser.url(recovery_link(basket)))

    assert response.status == 200
    assert page.url == browser.url("/checkout/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.get_by_role("heading", level=1)).to_have_text("Your basket")
    expect(page.get_by_role("row", name="The Weekly")).to_contain_text("£75.00 for 52 weeks, then £31.96 every 4 weeks")

    # A code that does not exist is refused, with the reason at the field.
    page.get_by_label("Promo code").fill("NOPE")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#id_code_error")).to_have_text("Error: There is no such promo code.")
    expect(page.get_by_label("Promo code")).to_have_attribute("aria-invalid", "true")
    browser.shot("checkout-promo-refused")

    page.get_by_label("Promo code").fill("welcome20")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("status").first).to_have_text("Promo code WELCOME20 applied.")
    expect(page.locator(".totals dt:text-is('Discount') + dd")).to_have_text("£15.00")
    expect(page.locator(".totals dt:text-is('Due today') + dd")).to_have_text("£60.00")

    # One mistake in the details: the e-mail.
    page.get_by_label("Email address").fill("ada@example")
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Lovelace")
    browser.shot("checkout", docs=True)
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_role("alert").first).to_contain_text("There is a problem with your details")
    expect(page.locator("#id_email_error")).to_have_text("Error: Enter an email address like name@example.com.")
    expect(page.get_by_label("Email address")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("First name")).to_have_value("Ada")
    browser.shot("checkout-details-error", docs=True)
    basket.refresh_from_db()
    assert basket.status == BasketStatus.ACTIVE

    page.get_by_label("Email address").fill("ada@example.com")
    page.get_by_role("button", name="Place order").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for your order")
    assert page.url == browser.url("/checkout/confirmation")
    expect(page.locator("main")).to_contain_text(f"order-{basket.id}")
    expect(page.locator("main")).to_contain_text("WELCOME20")
    browser.shot("confirmation", docs=True)
    basket.refresh_from_db()
    assert basket.status == BasketStatus.COMPLETED
    assert (basket.email, basket.first_name, basket.last_name) == ("ada@example.com", "Ada", "Lovelace")
    assert PromoRedemption.objects.get(basket=basket).promo_code.code == "WELCOME20"
    assert browser.csp_violations() == []


def test_an_expired_link_shows_the_error_page(browser, basket):
    from playwright.sync_api import expect

    # Signed 31 days ago: links live 30.
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 31 * 24 * 3600):
        token = link_token(basket, LinkKind.RECOVER)
    page = browser.page

    response = page.goto(browser.url(f"/api/checkout/recover?basketId={basket.public_id}&recover={token}"))

    assert response.status == 400
    expect(page.get_by_role("heading", level=1)).to_have_text("This link cannot be used")
    expect(page.locator("main")).to_contain_text("This link has expired.")
    expect(page.locator("code")).to_have_text("link_expired")
    assert "limio_state" not in {cookie["name"] for cookie in browser.context.cookies()}
    browser.shot("link-error", docs=True)
    assert browser.csp_violations() == []


def test_the_details_form_works_with_the_keyboard_alone(browser, basket):
    from playwright.sync_api import expect

    page = browser.page
    page.goto(browser.url(recovery_link(basket)))

    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "id_email":
            break
    assert page.evaluate("document.activeElement.id") == "id_email"
    page.keyboard.type("kit@example.com")
    for field, text in (("id_first_name", "Kit"), ("id_last_name", "Marlowe")):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == field
        page.keyboard.type(text)
    page.keyboard.press("Tab")  # company (optional)
    page.keyboard.press("Tab")  # phone (optional)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Place order"
    browser.shot("checkout-keyboard-focus")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for your order")
    basket.refresh_from_db()
    assert (basket.status, basket.email) == (BasketStatus.COMPLETED, "kit@example.com")


def test_the_api_docs_still_work_under_their_own_policy(browser):
    from playwright.sync_api import expect

    page = browser.page
    response = page.goto(browser.url("/api/docs/"))

    assert "'unsafe-inline'" in response.headers["content-security-policy"]
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Checkout & Baskets API")
    assert browser.csp_violations() == []


def test_a_subscriber_reviews_an_upgrade_and_confirms_it(browser, api_client, customer, customer_token, settings):
    """An update basket built over the API (as a storefront would), finished on the hosted page."""
    from playwright.sync_api import expect

    from baskets.api.landing_state import landing_state_value
    from subscriptions.models import Subscription
    from tests.conftest import bearer
    from tests.factories import SubscriptionFactory

    monthly = [{"name": "Monthly", "amount": "10.00", "repeat_interval": 1, "repeat_interval_type": "months"}]
    standard = OfferFactory(name="Standard", path="/offers/standard", charges=monthly)
    premium = OfferFactory(name="Premium", path="/offers/premium", charges=[{**monthly[0], "amount": "20.00"}])
    standard.upgrade_offers.add(premium)
    subscription = SubscriptionFactory(customer=customer, offer=standard)
    recaptcha = {"HTTP_X_LIMIO_RECAPTCHA": "pass-token"}
    body = {"order": {"order_type": "update_subscription", "forSubscription": {"id": subscription.public_id}}}
    assert api_client.post("/api/checkout/subscription", body, format="json", **bearer(customer_token),
                           **recaptcha).status_code == 200  # fmt: skip
    actions = {"order": {"orderItems": [{"orderItemActionType": "add", "offer": {"id": premium.id}}]}}
    quoted = api_client.put("/api/checkout/subscription", actions, format="json", **bearer(customer_token), **recaptcha)
    assert quoted.status_code == 200, quoted.json()
    due_today = quoted.json()["order"]["totals"]["dueToday"]
    basket = Basket.objects.get(for_subscription=subscription)
    browser.context.add_cookies(
        [{"name": settings.LANDING_STATE_COOKIE, "value": landing_state_value(basket), "url": browser.base_url}]
    )
    page = browser.page

    page.goto(browser.url("/checkout/"))

    expect(page.get_by_role("heading", level=1)).to_have_text("Change your subscription")
    expect(page.locator("main")).to_contain_text("Standard")
    expect(page.get_by_role("row", name="Add: Premium")).to_contain_text("£20.00 every 1 month")
    expect(page.get_by_role("row", name="Add: Premium")).to_contain_text("today")
    expect(page.locator(".totals dt:text-is('Due today') + dd")).to_have_text(f"£{due_today}")
    expect(page.get_by_label("Email address")).to_have_value(customer.email)
    browser.shot("subscription-change", docs=True)
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Lovelace")
    page.get_by_role("button", name="Confirm change").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Your change is confirmed")
    expect(page.locator("main")).to_contain_text("Add: Premium")
    basket.refresh_from_db()
    assert basket.status == BasketStatus.COMPLETED
    assert Subscription.objects.get(pk=subscription.pk).offer_id == premium.id
    assert browser.csp_violations() == []
