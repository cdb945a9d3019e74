"""The staff half of abandoned-basket recovery (issue 15): the basket list's columns and filters,
the detail page's totals, items, links and timeline, the send actions, the bulk send's status
page, and the recovery dashboard with its chart."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.contrib.admin import helpers
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from baskets.models import Basket, BasketEvent, BasketStatus, EmailSuppression, RecoveryEmail, RecoveryStatus
from baskets.selectors.recovery import abandoned_for_recovery
from baskets.selectors.recovery_report import (
    DASHBOARD_CACHE_KEY,
    DASHBOARD_MAX_AGE,
    item_summary,
    recovery_dashboard,
    recovery_dashboard_snapshot,
)
from partners.models import Partner
from tests.factories import BasketFactory, CustomerFactory, OrderItemFactory, PromoCodeFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:baskets_basket_changelist")
DASHBOARD = reverse("admin:baskets_basket_recovery_dashboard")


def change_url(basket: Basket) -> str:
    return reverse("admin:baskets_basket_change", args=[basket.pk])


def send_url(basket: Basket) -> str:
    return reverse("admin:baskets_basket_send_recovery_email", args=[basket.pk])


@pytest.fixture(autouse=True)
def no_dashboard_snapshot():
    """The dashboard's snapshot lives in the (per-process) cache: none from another test."""
    cache.delete(DASHBOARD_CACHE_KEY)


@pytest.fixture
def staff():
    return UserFactory(is_staff=True, is_superuser=True, email="ada@shop.example")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def idle(hours: float, **fields) -> Basket:
    """A basket whose last activity was `hours` ago."""
    updated = timezone.now() - timedelta(hours=hours)
    fields.setdefault("created", updated - timedelta(minutes=5))
    return BasketFactory(updated=updated, **fields)


def listed(response) -> list[Basket]:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def row_of(page: str, basket: Basket) -> str:
    """The changelist row (its HTML) of `basket`."""
    match = re.search(rf'<tr>(?:(?!</tr>).)*value="{basket.pk}"(?:(?!</tr>).)*</tr>', page, re.S)
    assert match, f"no row for {basket.public_id}"
    return match.group(0)


# --- The list ---------------------------------------------------------------------------------------


def test_a_row_reads_at_a_glance(staff_client, offer, add_on):
    partner = Partner.objects.create(name="Acme Reseller", slug="acme")
    basket = idle(3, first_name="Ada", last_name="Lovelace", email="ada@example.com", total=Decimal("17.99"),
                  partner=partner, recovery_status=RecoveryStatus.EMAILED, recovery_emails_sent=2)  # fmt: skip
    main = OrderItemFactory(basket=basket, offer=offer)
    OrderItemFactory(basket=basket, offer=add_on, parent=main, position=1)

    row = row_of(staff_client.get(CHANGELIST).content.decode(), basket)

    assert f'<span class="basket-ref" title="{basket.public_id}">{basket.id.hex[:8]}</span>' in row
    assert "Ada Lovelace<br><small>ada@example.com</small>" in row
    assert "£17.99" in row
    assert "Digital monthly + 1 more" in row
    assert ">3 h<" in row
    assert "Emailed 2 times" in row
    assert "Acme Reseller" in row
    assert str(basket.id) not in re.sub(r"<[^>]+>", " ", row)  # no UUID as a visible label


def test_a_row_says_why_the_last_email_was_not_sent(staff_client):
    basket = idle(3, email="gone@example.com", source="newsletter")
    RecoveryEmail.objects.create(
        basket=basket, step="1h", status=RecoveryEmail.Status.SKIPPED, reason="address unsubscribed"
    )

    row = row_of(staff_client.get(CHANGELIST).content.decode(), basket)

    assert "Not contacted" in row
    assert '<small class="recovery-problem">Last email not sent: address unsubscribed</small>' in row
    assert "newsletter" in row


@pytest.mark.parametrize(
    "status, sent, amount, text",
    [
        (RecoveryStatus.NOT_CONTACTED, 0, None, "Not contacted"),
        (RecoveryStatus.EMAILED, 1, None, "Emailed once"),
        (RecoveryStatus.OPENED, 1, None, "Link opened"),
        (RecoveryStatus.RECOVERED, 1, Decimal("62.00"), "Recovered, £62.00"),
    ],
)
def test_recovery_status_in_words(staff_client, status, sent, amount, text):
    basket = idle(2, recovery_status=status, recovery_emails_sent=sent, recovered_amount=amount)
    assert text in row_of(staff_client.get(CHANGELIST).content.decode(), basket)


def test_item_summary():
    assert item_summary([]) == "No items"


@pytest.fixture
def recovery_baskets():
    return {
        "fresh": idle(0.5, email="fresh@example.com", total=Decimal("12.99")),
        "idle": idle(2, email="idle@example.com", total=Decimal("12.99")),
        "big": idle(30, email="big@example.com", total=Decimal("120.00"), recovery_status=RecoveryStatus.EMAILED),
        "opened": idle(5, total=Decimal("40.00"), recovery_status=RecoveryStatus.OPENED),
        "over": idle(30, status=BasketStatus.EXPIRED, total=Decimal("50.00")),
        "recovered": idle(
            1,
            status=BasketStatus.COMPLETED,
            total=Decimal("62.00"),
            recovery_status=RecoveryStatus.RECOVERED,
            recovered_amount=Decimal("62.00"),
        ),
    }


@pytest.mark.parametrize(
    "query, expected",
    [
        # abandoned_for_recovery: open, idle for ABANDONED_AFTER_MINUTES (60); newest activity first here.
        ({"abandoned": "yes", "o": "-5"}, ["idle", "opened", "big"]),
        ({"abandoned": "yes", "recovery": "emailed"}, ["big"]),
        ({"recovery": "recovered"}, ["recovered"]),
        ({"recovery": "opened"}, ["opened"]),
        ({"abandoned": "yes", "total__gte": "40", "o": "-5"}, ["opened", "big"]),
        ({"total__gte": "40", "total__lte": "62", "o": "-5"}, ["recovered", "opened", "over"]),
        ({"total__gte": "40", "total__lte": "61.99", "o": "-5"}, ["opened", "over"]),
        ({"abandoned": "yes", "total__lte": "12.99", "o": "-5"}, ["idle"]),
    ],
)
def test_filters_by_abandonment_recovery_status_and_value(staff_client, recovery_baskets, query, expected):
    assert listed(staff_client.get(CHANGELIST, query)) == [recovery_baskets[name] for name in expected]


def test_the_skipped_filter(staff_client, recovery_baskets):
    RecoveryEmail.objects.create(basket=recovery_baskets["idle"], status=RecoveryEmail.Status.SKIPPED, reason="x")
    assert listed(staff_client.get(CHANGELIST, {"recovery": "skipped"})) == [recovery_baskets["idle"]]


def test_the_value_filter_is_a_form_and_refuses_a_non_number(staff_client, recovery_baskets):
    page = staff_client.get(CHANGELIST, {"abandoned": "yes", "total__gte": "40"}).content.decode()
    assert '<input type="number" id="filter-total__gte" name="total__gte" value="40" step="0.01" min="0">' in page
    assert '<input type="hidden" name="abandoned" value="yes">' in page

    response = staff_client.get(CHANGELIST, {"total__gte": "lots"})
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_the_list_reads_no_query_per_row(staff_client, offer, add_on):
    partners = [Partner.objects.create(name=f"Partner {n}", slug=f"p-{n}") for n in range(3)]

    def make(count):
        for n in range(count):
            basket = idle(2, partner=partners[n % 3], customer=CustomerFactory(), email=f"b{n}@example.com",
                          total=Decimal("10.00"))  # fmt: skip
            main = OrderItemFactory(basket=basket, offer=offer)
            OrderItemFactory(basket=basket, offer=add_on, parent=main, position=1)
            RecoveryEmail.objects.create(basket=basket, status=RecoveryEmail.Status.SKIPPED, reason="no email address")

    def queries():
        with CaptureQueriesContext(connection) as captured:
            shown = listed(staff_client.get(CHANGELIST, {"abandoned": "yes"}))
        return len(captured.captured_queries), len(shown)

    make(2)
    small, shown = queries()
    make(18)
    big, shown_big = queries()
    assert (shown, shown_big) == (2, 20)
    assert big == small


def test_the_csv_export_carries_value_and_recovery_status(staff_client):
    basket = idle(3, total=Decimal("25.98"), recovery_status=RecoveryStatus.EMAILED, recovery_emails_sent=1)

    response = staff_client.post(
        CHANGELIST, {"action": "export_abandoned_csv", helpers.ACTION_CHECKBOX_NAME: [str(basket.pk)]}
    )

    (row,) = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert (row["total"], row["currency"], row["recovery_status"], row["recovery_emails_sent"]) == (
        "25.98", "GBP", "emailed", "1",
    )  # fmt: skip
    assert row["recovered_amount"] == ""


# --- The detail page --------------------------------------------------------------------------------


def test_the_detail_page_shows_totals_items_links_and_a_readable_timeline(staff_client, staff, offer, add_on):
    promo = PromoCodeFactory(code="SPRING20")
    basket = idle(3, email="grace@example.com", promo_code=promo, customer=CustomerFactory())
    main = OrderItemFactory(basket=basket, offer=offer)
    OrderItemFactory(basket=basket, offer=add_on, parent=main, position=1, quantity=2)
    sent_at = timezone.now() - timedelta(hours=2)
    opened_at = sent_at + timedelta(hours=2)
    BasketEvent.objects.create(basket=basket, kind="created", version=1, application=basket.application)
    sent = BasketEvent.objects.create(
        basket=basket, kind="recovery_email_sent", version=1, staff_user=staff,
        data={"recoveryEmail": "x", "step": "", "sentBy": "ada@shop.example", "to": "grace@example.com"},
    )  # fmt: skip
    opened = BasketEvent.objects.create(basket=basket, kind="recovery_email_opened", version=1, data={"step": ""})
    completed = BasketEvent.objects.create(
        basket=basket, kind="completed", version=2, data={"totals": {"total": "62.00", "currency": "GBP"}}
    )
    BasketEvent.objects.filter(pk=sent.pk).update(created=sent_at)
    BasketEvent.objects.filter(pk=opened.pk).update(created=opened_at)
    BasketEvent.objects.filter(pk=completed.pk).update(created=opened_at + timedelta(minutes=5))
    RecoveryEmail.objects.create(
        basket=basket, step="24h", status=RecoveryEmail.Status.SKIPPED, reason="basket completed"
    )

    response = staff_client.get(change_url(basket))

    assert response.status_code == 200
    assert response.context["basket_totals"] == [
        ("Subtotal", "£17.99"), ("Discount", "-£3.60"), ("Total", "£14.39"), ("Due today", "£14.39"),
    ]  # fmt: skip
    lines = response.context["basket_lines"]
    assert [(line["name"], line["quantity"], line["amount"]) for line in lines] == [
        ("Digital monthly", 1, "£12.99"), ("Crossword", 2, "£5.00"),
    ]  # fmt: skip
    texts = [entry.text for entry in response.context["basket_timeline"]]
    assert "Recovery email sent by ada@shop.example to grace@example.com" in texts
    assert "Recovery email opened (its link followed) · 2 h after it was sent" in texts
    assert "Completed, £62.00" in texts
    assert "Recovery email not sent: basket completed" in texts
    page = response.content.decode()
    assert "For the customer who left this basket" in page
    assert "it is not a recovery" in page  # the assisted link's explanation
    assert "offer_snapshot" not in page and offer.version not in page  # no JSON, no offer hashes
    assert 'id="send-recovery-email"' in page


def test_a_finished_basket_has_no_send_button(staff_client):
    basket = idle(3, status=BasketStatus.COMPLETED, email="x@example.com")
    assert 'id="send-recovery-email"' not in staff_client.get(change_url(basket)).content.decode()


# --- Sending -------------------------------------------------------------------------------------------


def test_send_one_recovery_email_from_the_detail_page(staff_client, staff, django_capture_on_commit_callbacks):
    basket = idle(3, email="grace@example.com")

    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post(send_url(basket))

    assert response.status_code == 302
    assert response["Location"] == change_url(basket)
    email = RecoveryEmail.objects.get(basket=basket)
    assert (email.status, email.sent_by, email.to_email, email.step) == ("queued", staff, "grace@example.com", "")
    assert len(callbacks) == 1  # the send task is enqueued once the transaction commits
    notes = [str(m) for m in staff_client.get(change_url(basket)).context["messages"]]
    assert notes == ["Recovery email to grace@example.com queued: it is sent in the background."]


def test_staff_see_why_an_email_was_skipped(staff_client):
    EmailSuppression.objects.create(email="gone@example.com")
    basket = idle(3, email="gone@example.com")

    staff_client.post(send_url(basket))

    email = RecoveryEmail.objects.get(basket=basket)
    assert (email.status, email.reason) == ("skipped", "address unsubscribed")
    page = staff_client.get(change_url(basket))
    assert [str(m) for m in page.context["messages"]] == ["No recovery email sent: address unsubscribed"]
    assert "Recovery email not sent by ada@shop.example: address unsubscribed" in page.content.decode()


def test_sending_needs_a_post_and_the_change_permission(client):
    basket = idle(3, email="grace@example.com")
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_basket"))
    client.force_login(viewer)

    assert client.get(send_url(basket)).status_code == 405
    assert client.post(send_url(basket)).status_code == 403
    assert 'id="send-recovery-email"' not in client.get(change_url(basket)).content.decode()
    assert not RecoveryEmail.objects.exists()


# The worker closes its database connection when it is done: outside a wrapping test transaction.
@pytest.mark.django_db(transaction=True)
def test_the_bulk_action_runs_in_the_background_and_reports_counts(staff_client, settings, offer):
    settings.SITE_URL = "https://shop.example"
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    mail.outbox = []
    EmailSuppression.objects.create(email="gone@example.com")
    ok = idle(3, email="grace@example.com")
    gone = idle(3, email="gone@example.com")
    nobody = idle(3)
    for basket in (ok, gone, nobody):
        OrderItemFactory(basket=basket, offer=offer)

    response = staff_client.post(
        CHANGELIST,
        {"action": "send_recovery_emails", helpers.ACTION_CHECKBOX_NAME: [str(b.pk) for b in (ok, gone, nobody)]},
        follow=True,
    )

    (note,) = [str(m) for m in response.context["messages"]]
    assert note.startswith("Sending recovery emails for 3 basket(s) in the background")
    assert not RecoveryEmail.objects.exists()  # nothing done in the request
    status_url = re.search(r'href="([^"]+)"', note).group(1)
    assert "Still running" in staff_client.get(status_url).content.decode()

    call_command("db_worker", "--batch", "--no-startup-delay")  # the worker, as on any host

    page = staff_client.get(status_url).content.decode()
    assert "Done: 3 basket(s), 1 email(s) queued." in page
    assert "<td>Address unsubscribed</td><td>1</td>" in page
    assert "<td>No email address</td><td>1</td>" in page
    # The worker also sent the queued email.
    assert RecoveryEmail.objects.get(basket=ok).status == RecoveryEmail.Status.SENT
    assert [message.to for message in mail.outbox] == [["grace@example.com"]]


def test_view_only_staff_cannot_send_in_bulk(client):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_basket"))
    client.force_login(viewer)
    basket = idle(3, email="grace@example.com")

    choices = [value for value, _ in client.get(CHANGELIST).context["action_form"].fields["action"].choices]
    client.post(CHANGELIST, {"action": "send_recovery_emails", helpers.ACTION_CHECKBOX_NAME: [str(basket.pk)]})

    assert "send_recovery_emails" not in choices
    assert not RecoveryEmail.objects.exists()


# --- The dashboard ---------------------------------------------------------------------------------------


def test_the_dashboard_counts_by_window(recovery_baskets):
    now = timezone.now()
    old = idle(10 * 24, email="old@example.com", total=Decimal("8.00"))
    for basket, days in ((recovery_baskets["big"], 1), (recovery_baskets["opened"], 0), (old, 9)):
        email = RecoveryEmail.objects.create(basket=basket, status=RecoveryEmail.Status.SENT, to_email="x@example.com")
        RecoveryEmail.objects.filter(pk=email.pk).update(created=now - timedelta(days=days, hours=1))

    dashboard = recovery_dashboard(now)

    day, week, month = dashboard.windows
    assert (day.abandoned, day.abandoned_value) == (2, {"GBP": Decimal("52.99")})  # idle, opened
    assert (week.abandoned, week.abandoned_value) == (3, {"GBP": Decimal("172.99")})  # and big
    assert (month.abandoned, month.abandoned_value) == (4, {"GBP": Decimal("180.99")})  # and old
    assert (day.emails_sent, week.emails_sent, month.emails_sent) == (1, 2, 3)
    assert (day.contacted, day.opened, day.recovered) == (2, 2, 1)  # opened, recovered
    assert day.recovered_value == {"GBP": Decimal("62.00")}
    assert (week.contacted, week.opened, week.recovered) == (3, 2, 1)
    assert week.recovery_rate == Decimal("33.3")
    assert len(dashboard.days) == 30
    assert sum(d.abandoned for d in dashboard.days) == 4
    assert sum(d.recovered for d in dashboard.days) == 1


def test_the_dashboard_counts_abandoned_baskets_as_the_recovery_emails_do():
    """The dashboard spells abandoned_for_recovery out (lifetime as a bucket, not in WHERE, so
    PostgreSQL reads its covering index): both agree, per window, value, currency and day."""
    now = timezone.now()
    alive = now + timedelta(days=1)
    counted = [
        idle(3, total=Decimal("5.00"), expires_at=alive),
        idle(30, total=Decimal("7.00"), currency="EUR", expires_at=alive),
        idle(24 * 6, total=Decimal("11.00"), expires_at=alive),
        idle(24 * 20, total=None, expires_at=alive),
    ]
    idle(0.5, total=Decimal("100.00"))  # active within the hour: not abandoned yet
    idle(5, total=Decimal("100.00"), expires_at=now - timedelta(hours=1))  # its lifetime is over
    idle(5, total=Decimal("100.00"), status=BasketStatus.EXPIRED)
    idle(5, total=Decimal("100.00"), status=BasketStatus.COMPLETED)
    idle(24 * 31, total=Decimal("100.00"))  # before the 30 days

    dashboard = recovery_dashboard(now)

    day, week, month = dashboard.windows
    in_month = abandoned_for_recovery(now=now).filter(updated__gte=now - timedelta(days=30))
    assert sorted(in_month.values_list("pk", flat=True)) == sorted(b.pk for b in counted)
    assert (day.abandoned, day.abandoned_value) == (1, {"GBP": Decimal("5.00")})
    assert (week.abandoned, week.abandoned_value) == (3, {"GBP": Decimal("16.00"), "EUR": Decimal("7.00")})
    assert (month.abandoned, month.abandoned_value) == (4, {"GBP": Decimal("16.00"), "EUR": Decimal("7.00")})
    by_day = {d.day: d.abandoned for d in dashboard.days}
    for basket in counted:
        by_day[Basket.objects.get(pk=basket.pk).updated.astimezone(UTC).date()] -= 1
    assert set(by_day.values()) == {0}


def test_the_dashboard_page_draws_its_chart_inline_in_a_fixed_number_of_queries(staff_client, recovery_baskets):
    with CaptureQueriesContext(connection) as captured:
        response = staff_client.get(DASHBOARD, {"refresh": "1"})
    few = len(captured.captured_queries)
    for n in range(10):
        idle(2 + n, total=Decimal("1.00"), recovery_status=RecoveryStatus.EMAILED)
    with CaptureQueriesContext(connection) as captured:
        staff_client.get(DASHBOARD, {"refresh": "1"})

    assert len(captured.captured_queries) == few
    page = response.content.decode()
    assert response.status_code == 200
    assert '<svg class="recovery-chart"' in page
    assert "<script" not in page.split('id="content-main"')[1]
    assert "http" not in page.split("<svg")[1].split("</svg>")[0].replace("http://www.w3.org/2000/svg", "")
    assert "Last 24 hours" in page and "Last 7 days" in page and "Last 30 days" in page


def test_the_admin_index_links_the_dashboard_and_the_abandoned_list(staff_client):
    page = staff_client.get(reverse("admin:index")).content.decode()
    assert f'href="{DASHBOARD}"' in page
    assert f'href="{CHANGELIST}?abandoned=yes"' in page


def test_the_dashboard_needs_the_view_permission(client):
    client.force_login(UserFactory(is_staff=True))
    assert client.get(DASHBOARD).status_code == 403


def test_the_dashboard_serves_a_snapshot_for_a_minute(recovery_baskets, django_assert_num_queries, settings):
    # An in-memory cache here, so the counts below are the dashboard's own statements, not those of
    # the default database cache (one per get or set) that holds the snapshot in production.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    now = timezone.now()
    with django_assert_num_queries(3):
        first = recovery_dashboard_snapshot(now=now)
    idle(2, total=Decimal("5.00"))  # a new abandoned basket: not in the snapshot yet

    with django_assert_num_queries(0):
        again = recovery_dashboard_snapshot(now=now + DASHBOARD_MAX_AGE - timedelta(seconds=1))
    assert again.windows[0].abandoned == first.windows[0].abandoned == 2

    with django_assert_num_queries(3):
        later = recovery_dashboard_snapshot(now=now + DASHBOARD_MAX_AGE)
    assert later.windows[0].abandoned == 3
    with django_assert_num_queries(3):
        recovery_dashboard_snapshot(refresh=True, now=later.now)


def test_the_dashboard_page_says_when_it_was_counted(staff_client):
    page = staff_client.get(DASHBOARD).content.decode()
    assert 'id="dashboard-as-of">Figures as of' in page
    assert '<a href="?refresh=1">Count again now</a>' in page
