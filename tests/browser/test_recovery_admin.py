"""Abandoned-basket recovery in Chromium (issue 15): staff filter the abandoned baskets, send a
recovery email from the basket's page, the email (Django's locmem backend) holds the link, the
customer follows it and completes the order, and the dashboard counts the recovery.

Also refreshes the README's admin screenshots from seed_demo's data (DOCS_SCREENSHOTS=1), not
from this test's rows.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone

from baskets.models import Basket, BasketStatus, RecoveryEmail, RecoveryStatus
from baskets.selectors.recovery_report import DASHBOARD_CACHE_KEY
from tests.factories import BasketFactory, OfferFactory, OrderItemFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"


@pytest.fixture
def mail_in_process(settings, live_server):
    """Emails go to mail.outbox; the send task runs as soon as the request's transaction commits
    (the immediate task backend, in the live server's thread); links point at the live server."""
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    settings.SITE_URL = live_server.url
    mail.outbox = []
    cache.delete(DASHBOARD_CACHE_KEY)  # the dashboard's snapshot: none from another test
    return mail.outbox


def log_in(browser, username: str, password: str) -> None:
    page = browser.page
    page.goto(browser.url("/admin/"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_staff_send_a_recovery_email_and_the_dashboard_counts_the_recovery(browser, mail_in_process):
    from playwright.sync_api import expect

    UserFactory(username="staff", email="ada@shop.example", is_staff=True, is_superuser=True)
    offer = OfferFactory(name="Digital monthly", path="/offers/digital-monthly")
    now = timezone.now()
    wanted = BasketFactory(
        email="grace@example.com", first_name="Grace", last_name="Hopper", total=Decimal("12.99"),
        created=now - timedelta(hours=3), updated=now - timedelta(hours=3),
    )  # fmt: skip
    OrderItemFactory(basket=wanted, offer=offer)
    fresh = BasketFactory(email="fresh@example.com", total=Decimal("12.99"))  # active a moment ago: not abandoned
    OrderItemFactory(basket=fresh, offer=offer)
    page = browser.page

    log_in(browser, "staff", PASSWORD)
    expect(page.locator("#recovery-home")).to_contain_text("Abandoned-basket recovery")
    page.get_by_role("link", name="Abandoned baskets").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Grace Hopper")
    expect(rows.first).to_contain_text("£12.99")
    expect(rows.first).to_contain_text("Not contacted")
    # No horizontal scrolling at 1280 px: neither the page nor the table in its box.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.evaluate("(r => r.scrollWidth <= r.clientWidth)(document.querySelector('#changelist .results'))")
    page.get_by_role("combobox", name="Action").select_option(label="Send a recovery email to the selected baskets")

    page.get_by_role("link", name=wanted.id.hex[:8]).click()
    expect(page.locator("#basket-totals")).to_contain_text("£12.99")
    page.get_by_role("button", name="Send recovery email").click()
    expect(page.locator(".messagelist")).to_contain_text("Recovery email to grace@example.com queued")
    expect(page.locator("#basket-recovery-status")).to_have_text("Emailed once")
    expect(page.locator("#basket-timeline")).to_contain_text("Recovery email sent by ada@shop.example")

    [message] = mail_in_process
    assert message.to == ["grace@example.com"]
    link = re.search(rf"{re.escape(browser.base_url)}/api/checkout/recover\?\S+", message.body).group(0)
    assert f"basketId={wanted.public_id}" in link

    customer = browser.context.new_page()
    customer.goto(link)
    customer.get_by_label("First name").fill("Grace")
    customer.get_by_label("Last name").fill("Hopper")
    customer.get_by_role("button", name="Place order").click()
    expect(customer.get_by_role("heading", level=1)).to_have_text("Thank you for your order")
    customer.close()
    wanted.refresh_from_db()
    assert (wanted.status, wanted.recovery_status, wanted.recovered_amount) == (
        BasketStatus.COMPLETED, RecoveryStatus.RECOVERED, Decimal("12.99"),
    )  # fmt: skip
    assert RecoveryEmail.objects.get(basket=wanted).opened_at is not None

    page.goto(browser.url("/admin/baskets/basket/recovery-dashboard/"))
    last_day = page.locator("#recovery-figures tbody tr").first
    expect(last_day).to_contain_text("Last 24 hours")
    cells = last_day.locator("td").all_inner_texts()
    # abandoned, value, emails sent, contacted, opened, recovered, recovered value, rate
    assert cells == ["0", "—", "1", "1", "1", "1", "£12.99", "100.0%"]
    expect(page.locator("svg.recovery-chart")).to_be_visible()
    assert browser.csp_violations() == []


def test_docs_screenshots_from_the_demo_data(browser):
    """The README's admin screenshots, from seed_demo's staff user and baskets."""
    from playwright.sync_api import expect

    from checkout_project.management.commands.seed_demo import seed_demo

    cache.delete(DASHBOARD_CACHE_KEY)
    data, _ = seed_demo()
    call_command("seed_demo")  # idempotent: the second run changes nothing
    assert Basket.objects.filter(source="demo").count() == 16
    page = browser.page
    log_in(browser, data["staff"]["username"], data["staff"]["password"])
    browser.shot("admin-index", docs=True)

    page.goto(browser.url("/admin/baskets/basket/?abandoned=yes"))
    expect(page.locator("#result_list tbody tr").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.evaluate("(r => r.scrollWidth <= r.clientWidth)(document.querySelector('#changelist .results'))")
    browser.shot("admin-basket-list", docs=True)

    knuth = Basket.objects.get(source="demo", email="don.knuth@example.com")
    page.goto(browser.url(f"/admin/baskets/basket/{knuth.pk}/change/"))
    expect(page.locator("#basket-timeline")).to_contain_text("Recovery email opened")
    browser.shot("admin-basket-detail", docs=True)

    page.goto(browser.url("/admin/baskets/basket/recovery-dashboard/"))
    expect(page.locator("svg.recovery-chart")).to_be_visible()
    browser.shot("admin-recovery-dashboard", docs=True)

    page.goto(browser.url("/"))
    browser.shot("start-page", docs=True)
    assert browser.csp_violations() == []
