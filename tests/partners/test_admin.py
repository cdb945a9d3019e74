"""The partner admin: organisations with their clients, eligible offers, blocked products and
subscriptions; offers list their eligible partners; baskets show their partner."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from partners.models import Partner, PartnerClient, PartnerEligibleOffer, PartnerSubscription
from tests.factories import (
    ApplicationFactory,
    BasketFactory,
    OfferFactory,
    ProductFactory,
    SubscriptionFactory,
    UserFactory,
)
from tests.partners.conftest import partner_basket

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def inline_form(prefix: str, rows: list[dict], initial: int = 0) -> dict:
    data = {f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}  # fmt: skip
    for index, row in enumerate(rows):
        data.update({f"{prefix}-{index}-{key}": value for key, value in row.items()})
    return data


def test_a_partner_is_created_with_a_client_an_eligible_offer_a_blocked_product_and_a_subscription(staff_client, offer):
    application = ApplicationFactory()
    product = ProductFactory()
    subscription = SubscriptionFactory(offer=offer)
    data = {
        "name": "Acme Reseller", "slug": "acme", "active": "on", "contact_name": "Wile E.",
        "contact_email": "wile@acme.example", "blocked_products": [str(product.pk)],
        **inline_form("clients", [{"application": str(application.pk)}]),
        **inline_form("offer_eligibilities", [{"offer": offer.pk}]),
        **inline_form("subscription_links", [{"subscription": str(subscription.pk)}]),
    }  # fmt: skip

    response = staff_client.post(reverse("admin:partners_partner_add"), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    partner = Partner.objects.get(slug="acme")
    assert (partner.name, partner.active, partner.contact_name) == ("Acme Reseller", True, "Wile E.")
    assert PartnerClient.objects.get().application == application
    assert list(partner.eligible_offers.all()) == [offer]
    assert list(offer.eligible_partners.all()) == [partner]
    assert list(partner.blocked_products.all()) == [product]
    assert PartnerSubscription.objects.get().subscription == subscription


def test_a_client_belongs_to_at_most_one_partner(staff_client, partner, other_partner):
    application = ApplicationFactory()
    PartnerClient.objects.create(partner=partner, application=application)
    data = {"name": other_partner.name, "slug": other_partner.slug, "active": "on",
            **inline_form("clients", [{"application": str(application.pk)}]),
            **inline_form("offer_eligibilities", []), **inline_form("subscription_links", [])}  # fmt: skip

    response = staff_client.post(reverse("admin:partners_partner_change", args=[other_partner.pk]), data)

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert PartnerClient.objects.get().partner == partner


def test_the_offer_page_lists_its_eligible_partners(staff_client, partner, offer):
    PartnerEligibleOffer.objects.create(partner=partner, offer=offer)

    response = staff_client.get(reverse("admin:subscriptions_offer_change", args=[offer.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Eligible partners" in page
    assert "Acme Reseller" in page


class ResultRows(HTMLParser):
    """The rows of an admin changelist's result table: per row, each cell's text by its field name
    (the `field-<name>` class the admin gives every cell)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self._in_table = self._in_body = False
        self._cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table" and attributes.get("id") == "result_list":
            self._in_table = True
        elif self._in_table and tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr" and self._cell is None:
            self.rows.append({})
        elif self._in_body and tag in {"td", "th"} and self.rows:
            classes = (attributes.get("class") or "").split()
            fields = [name.removeprefix("field-") for name in classes if name.startswith("field-")]
            self._cell = fields[0] if fields else ""
            self.rows[-1][self._cell] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_table = self._in_body = False
        elif tag in {"td", "th"}:
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._in_body and self._cell is not None and self.rows:
            self.rows[-1][self._cell] += data.strip()


def result_rows(response) -> list[dict[str, str]]:
    parser = ResultRows()
    parser.feed(response.content.decode())
    return parser.rows


def test_the_basket_list_shows_the_partner(staff_client, token, offer):
    basket = partner_basket(token, offer)
    other = BasketFactory()  # no partner

    response = staff_client.get(reverse("admin:baskets_basket_changelist"))

    assert response.status_code == 200
    # The "Source / partner" column: the partner's name, else the order's source.
    origins = {row["reference"]: row["origin"] for row in result_rows(response)}
    assert origins == {basket.id.hex[:8]: "Acme Reseller", other.id.hex[:8]: other.source or "—"}


def test_the_add_on_page_lists_its_eligible_partners(staff_client, partner):
    add_on = OfferFactory(type="add_on", path="/offers/an-add-on")
    PartnerEligibleOffer.objects.create(partner=partner, offer=add_on)

    response = staff_client.get(reverse("admin:subscriptions_addon_change", args=[add_on.pk]))

    assert response.status_code == 200
    assert "Acme Reseller" in response.content.decode()
