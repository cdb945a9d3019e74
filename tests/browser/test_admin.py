"""Staff in the admin, in Chromium: log in, filter abandoned baskets by date, copy a recovery link,
revoke it with the admin action, and see the old link fail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from baskets.models import BasketEvent, BasketStatus
from tests.factories import BasketFactory, CustomerFactory, OfferFactory, OrderItemFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"


def made_on(day: int, **fields):
    created = datetime(2025, 3, day, 9, 30, tzinfo=UTC)
    return BasketFactory(created=created, updated=created, expires_at=timezone.now() + timedelta(days=7), **fields)


def test_staff_filter_copy_and_revoke_a_recovery_link(browser):
    from playwright.sync_api import expect

    UserFactory(username="staff", is_staff=True, is_superuser=True)
    offer = OfferFactory(name="Digital monthly", path="/offers/digital-monthly")
    early = made_on(2, email="early@example.com")
    wanted = made_on(12, email="ada@example.com", first_name="Ada", customer=CustomerFactory(email="ada@example.com"))
    OrderItemFactory(basket=wanted, offer=offer, quantity=2)
    BasketEvent.objects.create(basket=wanted, kind="created", version=1)
    made_on(14, email="done@example.com", status=BasketStatus.COMPLETED)
    made_on(20, email="late@example.com")
    page = browser.page
    browser.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=browser.base_url)

    page.goto(browser.url("/admin/baskets/basket/"))
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Select basket to view")

    # Abandoned baskets created from 10 to 15 March: the completed one on the 14th is not abandoned.
    page.get_by_role("link", name="Not completed (active or expired)").click()
    page.get_by_label("From", exact=True).fill("2025-03-10")
    page.get_by_label("To", exact=True).fill("2025-03-15")
    page.get_by_role("form", name="Filter by created").get_by_role("button", name="Filter").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ada@example.com")
    assert "abandoned=open" in page.url and "created__date__gte=2025-03-10" in page.url
    browser.shot("admin-basket-list-test")

    page.get_by_role("link", name=wanted.id.hex[:8]).click()
    link_text = page.locator("#recovery-link").inner_text()
    copy = page.get_by_role("button", name="Copy").first
    assert copy.get_attribute("data-link") == link_text
    assert link_text.startswith(f"{browser.base_url}/api/checkout/recover?basketId={wanted.public_id}&recover=")
    expect(page.locator("#assisted-link")).to_contain_text("/api/checkout/assisted?")
    copy.click()
    expect(page.locator(".basket-link-status").first).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == link_text
    browser.shot("admin-basket-detail-test", full_page=False)

    # The link works until it is revoked.
    customer = browser.context.new_page()
    assert customer.goto(link_text).status == 200
    customer.close()

    page.go_back()
    page.locator(f"input.action-select[value='{wanted.pk}']").check()
    page.get_by_role("combobox", name="Action").select_option(label="Revoke the links of the selected baskets")
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".messagelist")).to_contain_text("Revoked the links of 1 basket(s)")

    refused = browser.context.new_page()
    response = refused.goto(link_text)
    assert response.status == 400
    expect(refused.get_by_role("heading", level=1)).to_have_text("This link cannot be used")
    expect(refused.locator("main")).to_contain_text("This link has been withdrawn.")
    browser.shot("link-revoked", page=refused)
    assert BasketEvent.objects.filter(basket=wanted, kind="links_revoked", staff_user__username="staff").exists()
    assert early.events.count() == 0
    assert browser.csp_violations() == []
