"""POST /api/partner/checkout/validate/{id} (API.md §8): every finding, the id rules, query counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from baskets.models import Basket, BasketEvent, BasketStatus
from partners.models import PartnerEligibleOffer
from subscriptions import services as catalog_services
from subscriptions.models import Charge, Offer, Product
from tests.conftest import bearer
from tests.factories import BasketFactory, OfferFactory, OrderItemFactory, ProductFactory, PromoCodeFactory
from tests.partners.conftest import partner_basket
from tests.statements import assert_flat, max_data_statements

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


def validate(api_client, token, basket_id):
    return api_client.post(f"/api/partner/checkout/validate/{basket_id}", **bearer(token))


@pytest.fixture
def basket(token, offer):
    return partner_basket(token, offer, created=NOW)


def test_a_valid_basket(api_client, token, basket, offer):
    response = validate(api_client, token, basket.public_id)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"id", "checkout"}
    assert body["id"] == basket.public_id
    checkout = body["checkout"]
    assert set(checkout) == {"order", "valid", "blockedProducts", "errors"}
    assert (checkout["valid"], checkout["blockedProducts"], checkout["errors"]) == (True, [], [])
    assert checkout["order"]["checkoutId"] == basket.public_id
    assert [item["offer"]["id"] for item in checkout["order"]["orderItems"]] == [offer.id]
    assert checkout["order"]["totals"]["total"] == "12.99"
    assert response["ETag"] == '"1"'


def test_validate_changes_nothing(api_client, token, basket):
    response = validate(api_client, token, basket.public_id)

    assert response.status_code == 200, response.json()
    assert response.json()["checkout"]["valid"] is True

    basket.refresh_from_db()
    assert (basket.version, basket.status, basket.updated) == (1, "active", NOW)
    assert not BasketEvent.objects.exists()


# --- One test per finding ------------------------------------------------------------------------


def findings(response) -> list[dict]:
    assert response.status_code == 200, response.json()
    assert response.json()["checkout"]["valid"] is False
    return response.json()["checkout"]["errors"]


def test_expired_basket(api_client, token, basket):
    Basket.objects.filter(pk=basket.pk).update(expires_at=NOW - timedelta(seconds=1))

    assert findings(validate(api_client, token, basket.public_id)) == [
        {"code": "basket_expired", "message": "This basket has expired."}
    ]


def test_basket_marked_expired(api_client, token, basket):
    Basket.objects.filter(pk=basket.pk).update(status=BasketStatus.EXPIRED)

    assert findings(validate(api_client, token, basket.public_id)) == [
        {"code": "basket_expired", "message": "This basket has expired."}
    ]


def test_completed_basket(api_client, token, basket):
    Basket.objects.filter(pk=basket.pk).update(status=BasketStatus.COMPLETED, completed_at=NOW)

    assert findings(validate(api_client, token, basket.public_id)) == [
        {"code": "basket_completed", "message": "This basket has already been completed."}
    ]


def test_offer_unpublished(api_client, token, basket, offer):
    Offer.objects.filter(pk=offer.pk).update(published=False)

    assert findings(validate(api_client, token, basket.public_id)) == [
        {
            "code": "offer_not_found",
            "message": "This offer is no longer sold.",
            "orderItemId": str(basket.items.get().id),
        }
    ]


def test_offer_version_stale(api_client, token, basket, offer):
    Offer.objects.filter(pk=offer.pk).update(term_length=24)
    catalog_services.offer_refresh_version(offer=Offer.objects.get(pk=offer.pk))

    assert findings(validate(api_client, token, basket.public_id)) == [
        {"code": "offer_version_stale", "message": "This offer's products or term changed since it was added.",
         "orderItemId": str(basket.items.get().id)}
    ]  # fmt: skip


def test_price_changed_since_added(api_client, token, basket, offer):
    Charge.objects.filter(offer=offer).update(amount="13.99")
    catalog_services.offer_refresh_version(offer=Offer.objects.get(pk=offer.pk))

    assert findings(validate(api_client, token, basket.public_id)) == [
        {"code": "price_changed", "message": "This offer's price changed since it was added.",
         "orderItemId": str(basket.items.get().id)}
    ]  # fmt: skip


def test_offer_no_longer_eligible(api_client, token, other_partner, basket, offer):
    PartnerEligibleOffer.objects.create(partner=other_partner, offer=offer)

    assert findings(validate(api_client, token, basket.public_id)) == [
        {"code": "offer_not_eligible", "message": "This offer is no longer sold through this partner.",
         "orderItemId": str(basket.items.get().id)}
    ]  # fmt: skip


def test_product_unavailable(api_client, token, basket, offer):
    product = offer.products.get()
    Product.objects.filter(pk=product.pk).update(available=False)
    item_id = str(basket.items.get().id)

    response = validate(api_client, token, basket.public_id)

    assert findings(response) == [
        {"code": "product_unavailable", "message": f"Product {product.product_code} is not available.",
         "orderItemId": item_id}
    ]  # fmt: skip
    assert response.json()["checkout"]["blockedProducts"] == [
        {"orderItemId": item_id, "path": product.path, "productCode": product.product_code,
         "reason": "product_unavailable"}
    ]  # fmt: skip


def test_product_blocked_for_the_partner(api_client, partner, token):
    blocked = ProductFactory(product_code="ARCHIVE", path="/products/archive")
    basket = partner_basket(token, OfferFactory(products=[ProductFactory(), blocked]), created=NOW)
    partner.blocked_products.add(blocked)
    item_id = str(basket.items.get().id)

    response = validate(api_client, token, basket.public_id)

    assert findings(response) == [
        {"code": "product_blocked", "message": "Product ARCHIVE cannot be sold through this partner.",
         "orderItemId": item_id}
    ]  # fmt: skip
    assert response.json()["checkout"]["blockedProducts"] == [
        {"orderItemId": item_id, "path": "/products/archive", "productCode": "ARCHIVE", "reason": "product_blocked"}
    ]


def test_quantity_outside_the_offers_limits(api_client, token, basket, offer):
    Offer.objects.filter(pk=offer.pk).update(max_quantity=1)
    basket.items.update(quantity=3)

    assert findings(validate(api_client, token, basket.public_id)) == [
        {"code": "quantity_out_of_range", "message": "Quantity must be between 1 and 1 for this offer.",
         "orderItemId": str(basket.items.get().id)}
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "code", "message"),
    [
        ({"expires_at": NOW - timedelta(days=1)}, "promo_code_expired", "This promo code has expired."),
        ({"active": False}, "promo_code_inactive", "This promo code is not active."),
        (
            {"available_quantity": 1, "redeemed_count": 1},
            "promo_code_exhausted",
            "This promo code has been used as many times as it may be.",
        ),
    ],
)
def test_promo_code_no_longer_valid(api_client, token, basket, fields, code, message):
    promo = PromoCodeFactory(code="SPRING20")
    Basket.objects.filter(pk=basket.pk).update(promo_code=promo)
    type(promo).objects.filter(pk=promo.pk).update(**fields)

    assert findings(validate(api_client, token, basket.public_id)) == [{"code": code, "message": message}]


def test_an_empty_basket(api_client, token):
    basket = partner_basket(token, created=NOW)

    assert findings(validate(api_client, token, basket.public_id)) == [
        {"code": "basket_empty", "message": "The basket has no order items."}
    ]


def test_several_findings_are_all_reported_in_order(api_client, partner, token, offer):
    blocked = ProductFactory(product_code="ARCHIVE")
    other = OfferFactory(path="/offers/other", products=[blocked])
    basket = partner_basket(token, offer, other, created=NOW)
    partner.blocked_products.add(blocked)
    Offer.objects.filter(pk=offer.pk).update(published=False)
    Basket.objects.filter(pk=basket.pk).update(expires_at=NOW)

    codes = [finding["code"] for finding in findings(validate(api_client, token, basket.public_id))]

    assert codes == ["offer_not_found", "product_blocked", "basket_expired"]


# --- Which ids are accepted -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "basket_id",
    ["nope", "basket-short", "12345678-1234-4234-8234-123456789012", "basket-" + "a" * 37, "basket-a%20bcdefghij"
     "klmnopqrstuvwxyz0123456"],
)  # fmt: skip
def test_an_id_not_matching_the_pattern_is_400(api_client, token, basket_id):
    response = validate(api_client, token, basket_id)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_basket_id"


def test_an_id_matching_the_pattern_but_no_basket_is_404(api_client, token):
    for basket_id in ("basket-" + "z" * 32, "basket-00000000-0000-4000-8000-000000000000"):
        response = validate(api_client, token, basket_id)
        assert response.status_code == 404
        assert response.json()["code"] == "basket_not_found"


def test_another_partners_basket_and_a_public_basket_are_404(api_client, token, other_token, storefront_app, offer):
    others = partner_basket(other_token, offer)
    public = BasketFactory(application=storefront_app)
    OrderItemFactory(basket=public, offer=offer)

    for basket in (others, public):
        response = validate(api_client, token, basket.public_id)
        assert response.status_code == 404
        assert response.json() == {"message": "Basket not found.", "code": "basket_not_found"}


# --- Query count ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("token_cache_off")
@pytest.mark.django_db(transaction=True)
def test_validate_costs_at_most_10_queries_whatever_the_number_of_items(api_client, partner, token):
    # Outside the test transaction (no SAVEPOINTs counted), with a promo code, an eligibility list
    # and a blocked product, so every check reads what it reads.
    def basket_of(count):
        offers = [OfferFactory(path=f"/offers/q-{count}-{n}") for n in range(count)]
        PartnerEligibleOffer.objects.bulk_create(PartnerEligibleOffer(partner=partner, offer=o) for o in offers)
        basket = partner_basket(token, *offers, created=NOW)
        Basket.objects.filter(pk=basket.pk).update(promo_code=PromoCodeFactory(code=f"CODE{count}"))
        return basket

    partner.blocked_products.add(ProductFactory())
    small, big = basket_of(1), basket_of(25)
    with max_data_statements(10) as one:
        assert validate(api_client, token, small.public_id).json()["checkout"]["valid"] is True
    with max_data_statements(10) as many:
        response = validate(api_client, token, big.public_id)
    assert response.json()["checkout"]["valid"] is True
    assert len(response.json()["checkout"]["order"]["orderItems"]) == 25
    assert_flat(one, many)
