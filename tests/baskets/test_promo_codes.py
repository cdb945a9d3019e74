"""POST /api/admin/v2/promo_code, the PromoCode model's constraints and its admin (API.md §7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from baskets.admin import PromoCodeForm
from baskets.models import Basket, BasketEvent, BasketStatus, PromoCode, PromoRedemption
from tests.conftest import bearer
from tests.factories import (
    AccessTokenFactory,
    ApplicationFactory,
    BasketFactory,
    OfferFactory,
    OrderItemFactory,
    PromoCodeFactory,
)

pytestmark = pytest.mark.django_db

URL = "/api/admin/v2/promo_code"
NOW = datetime(2025, 1, 31, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


@pytest.fixture
def basket(storefront_app, offer, add_on):
    """12.99 monthly with a 2.50 add-on twice: subtotal 17.99."""
    basket = BasketFactory(application=storefront_app, created=NOW, version=3)
    main = OrderItemFactory(basket=basket, offer=offer, position=0)
    OrderItemFactory(basket=basket, offer=add_on, position=1, parent=main, quantity=2)
    return basket


def apply(api_client, token, code, basket_id, **headers):
    return api_client.post(URL, {"code": code, "basketId": basket_id}, format="json", **bearer(token), **headers)


def state(basket: Basket) -> tuple:
    basket.refresh_from_db()
    return basket.version, basket.promo_code_id, basket.status, BasketEvent.objects.filter(basket=basket).count()


# --- Applying ------------------------------------------------------------------------------------


def test_percentage_on_the_whole_basket(api_client, backoffice_token, basket, offer, add_on):
    promo = PromoCodeFactory(code="SPRING20", description="20% off everything")

    response = apply(api_client, backoffice_token, "spring20", basket.public_id)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"id", "order"}
    assert body["id"] == basket.public_id
    assert response["ETag"] == '"4"'
    items = body["order"]["orderItems"]
    assert body["order"]["promoCode"] == {
        "code": "SPRING20",
        "description": "20% off everything",
        "discount": {"type": "percentage", "percentage": "20.00"},
        "applicationLevel": "wholeBasket",
        "discountedOrderItems": [items[0]["id"], items[1]["id"]],
        "durationLength": None,
        "durationType": None,
        "discountedUntil": None,
        "amount": "3.60",  # 17.99 * 20% = 3.598
        "currency": "GBP",
        "schedule": [],
    }
    assert body["order"]["totals"] == {
        "subtotal": "17.99", "discount": "3.60", "total": "14.39", "currency": "GBP", "dueToday": "14.39",
    }  # fmt: skip
    basket.refresh_from_db()
    assert (basket.promo_code, basket.version, basket.updated) == (promo, 4, NOW)
    event = BasketEvent.objects.get(basket=basket)
    assert (event.kind, event.version, event.application) == ("promo_code_applied", 4, backoffice_token.application)
    assert event.data == {"code": "SPRING20", "replaced": None}


def test_fixed_amount_on_selected_items_for_three_months(api_client, backoffice_token, basket, add_on):
    PromoCodeFactory(
        code="PUZZLE3",
        description="3.00 off the crossword for 3 months",
        discount_type="amount",
        percentage=None,
        amount=Decimal("3.00"),
        currency="GBP",
        application_level="selectedItems",
        eligible_offers=[add_on],
        duration_length=3,
        duration_type="months",
    )

    response = apply(api_client, backoffice_token, "PUZZLE3", basket.public_id)

    assert response.status_code == 200, response.json()
    order = response.json()["order"]
    promo = order["promoCode"]
    assert promo["discount"] == {"type": "amount", "amount": "3.00", "currency": "GBP"}
    assert promo["applicationLevel"] == "selectedItems"
    assert promo["discountedOrderItems"] == [order["orderItems"][1]["id"]]
    assert (promo["durationLength"], promo["durationType"]) == (3, "months")
    # Jan 31 + 3 months, clamped to the month's end.
    assert promo["discountedUntil"] == "2025-04-30T12:00:00.000Z"
    assert promo["amount"] == "3.00"  # of the add-on's 2 x 2.50 = 5.00
    assert promo["schedule"] == [
        {"date": "2025-01-31T12:00:00.000Z", "amount": "17.99", "discount": "3.00", "total": "14.99"},
        {"date": "2025-02-28T12:00:00.000Z", "amount": "17.99", "discount": "3.00", "total": "14.99"},
        {"date": "2025-03-31T12:00:00.000Z", "amount": "17.99", "discount": "3.00", "total": "14.99"},
    ]
    assert order["totals"]["discount"] == "3.00"
    assert order["totals"]["total"] == "14.99"


def test_percentage_on_selected_items_discounts_only_their_lines(api_client, backoffice_token, basket, offer):
    PromoCodeFactory(
        code="MAIN50", percentage=Decimal("50"), application_level="selectedItems", eligible_offers=[offer]
    )

    response = apply(api_client, backoffice_token, "MAIN50", basket.public_id)

    assert response.status_code == 200, response.json()
    assert response.json()["order"]["totals"]["discount"] == "6.50"  # 12.99 / 2 = 6.495 -> 6.50
    assert response.json()["order"]["totals"]["total"] == "11.49"


def test_a_new_code_replaces_the_old(api_client, backoffice_token, basket):
    first = PromoCodeFactory(code="FIRST10", percentage=Decimal("10"))
    second = PromoCodeFactory(code="SECOND20", percentage=Decimal("20"))
    assert apply(api_client, backoffice_token, "FIRST10", basket.public_id).status_code == 200

    response = apply(api_client, backoffice_token, "SECOND20", basket.public_id)

    assert response.status_code == 200, response.json()
    assert response.json()["order"]["promoCode"]["code"] == "SECOND20"
    assert response.json()["order"]["totals"]["discount"] == "3.60"
    basket.refresh_from_db()
    assert (basket.promo_code, basket.version) == (second, 5)
    assert list(BasketEvent.objects.filter(basket=basket).values_list("data", flat=True)) == [
        {"code": "FIRST10", "replaced": None},
        {"code": "SECOND20", "replaced": first.pk},
    ]


def test_reading_the_basket_elsewhere_shows_the_code(api_client, storefront_token, backoffice_token, basket, offer):
    PromoCodeFactory(code="SPRING20")
    assert apply(api_client, backoffice_token, "SPRING20", basket.public_id).status_code == 200
    api_client.cookies["limio_state"] = basket.public_id

    # The owner changes the basket: the discount follows the new items.
    response = api_client.put(
        "/api/checkout/update",
        {
            "order": {
                "orderItems": [{"orderItemActionType": "update", "id": str(basket.items.first().id), "quantity": 2}]
            }
        },
        format="json",
        **bearer(storefront_token),
    )

    assert response.status_code == 200, response.json()
    assert response.json()["order"]["promoCode"]["code"] == "SPRING20"
    # 2 x 12.99 + 5.00 = 30.98; 20% = 6.196 -> 6.20
    assert response.json()["order"]["totals"]["discount"] == "6.20"


# --- Refusals -------------------------------------------------------------------------------------


def _update_basket(storefront_app, offer):
    basket = BasketFactory(application=storefront_app, order_type="update_subscription")
    OrderItemFactory(basket=basket, offer=offer, action_type="add")
    return basket


REFUSALS = {
    "promo_code_unknown": lambda ctx: {"code": "NOSUCHCODE"},
    "promo_code_inactive": lambda ctx: {"promo": {"active": False}},
    "promo_code_not_started": lambda ctx: {"promo": {"starts_at": NOW + timedelta(seconds=1)}},
    "promo_code_expired": lambda ctx: {"promo": {"expires_at": NOW}},
    "promo_code_exhausted": lambda ctx: {"promo": {"available_quantity": 2, "redeemed_count": 2}},
    "promo_code_not_applicable/selected": lambda ctx: {
        "promo": {"application_level": "selectedItems"}, "eligible": [OfferFactory(path="/offers/elsewhere")]
    },
    "promo_code_not_applicable/currency": lambda ctx: {
        "promo": {"discount_type": "amount", "percentage": None, "amount": Decimal("5"), "currency": "EUR"}
    },
}  # fmt: skip


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusals_are_400_with_their_code_and_change_nothing(api_client, backoffice_token, basket, case):
    setup = REFUSALS[case](None)
    promo = PromoCodeFactory(code="TRYME", **setup.get("promo", {}), eligible_offers=setup.get("eligible"))
    previous = PromoCodeFactory(code="ALREADY")
    Basket.objects.filter(pk=basket.pk).update(promo_code=previous)
    before = state(basket)

    response = apply(api_client, backoffice_token, setup.get("code", "TRYME"), basket.public_id)

    assert response.status_code == 400, response.json()
    assert response.json()["code"] == case.split("/")[0]
    assert state(basket) == before
    promo.refresh_from_db()
    assert promo.redeemed_count == setup.get("promo", {}).get("redeemed_count", 0)


def test_exhaustion_is_reached_at_the_last_redemption(api_client, backoffice_token, storefront_token, offer):
    """Three redemptions allowed: the orders redeem them one by one; the third (the last) goes
    through, and then the code is refused, when applied and when an order that holds it completes."""
    promo = PromoCodeFactory(code="LASTONE", available_quantity=3)

    def basket_with_the_code(n: int) -> Basket:
        basket = BasketFactory(application=storefront_token.application, created=NOW, email=f"buyer{n}@example.com")
        OrderItemFactory(basket=basket, offer=offer)
        response = apply(api_client, backoffice_token, "LASTONE", basket.public_id)
        assert response.status_code == 200, response.json()
        return basket

    def order(basket: Basket):
        body = {"checkoutId": basket.public_id}
        return api_client.post("/api/order", body, format="json", **bearer(storefront_token))

    held_too_long = basket_with_the_code(0)  # applied while codes remain, completed after the last one
    for n in (1, 2, 3):
        response = order(basket_with_the_code(n))
        assert response.status_code == 200, (n, response.json())
        promo.refresh_from_db()
        assert promo.redeemed_count == n
    assert PromoRedemption.objects.filter(promo_code=promo).count() == 3

    late = BasketFactory(application=storefront_token.application, created=NOW)
    OrderItemFactory(basket=late, offer=offer)
    refused = apply(api_client, backoffice_token, "LASTONE", late.public_id)
    assert refused.status_code == 400, refused.json()
    assert refused.json()["code"] == "promo_code_exhausted"
    late.refresh_from_db()
    assert late.promo_code_id is None

    refused = order(held_too_long)
    assert refused.status_code == 400, refused.json()
    assert refused.json()["code"] == "promo_code_exhausted"
    held_too_long.refresh_from_db()
    assert held_too_long.status == BasketStatus.ACTIVE
    promo.refresh_from_db()
    assert promo.redeemed_count == 3
    assert PromoRedemption.objects.filter(promo_code=promo).count() == 3


def test_update_subscription_baskets_take_no_promo_code(api_client, backoffice_token, storefront_app, offer):
    basket = _update_basket(storefront_app, offer)
    PromoCodeFactory(code="SPRING20")

    response = apply(api_client, backoffice_token, "SPRING20", basket.public_id)

    assert response.status_code == 400
    assert response.json()["code"] == "promo_code_not_applicable"


@pytest.mark.parametrize(
    ("basket_id", "status", "code"),
    [
        ("basket-00000000-0000-4000-8000-000000000000", 404, "basket_not_found"),
        ("basket-not-a-uuid-at-all-but-long-enough-x", 404, "basket_not_found"),
        ("not-a-basket", 404, "basket_not_found"),
    ],
)
def test_unknown_or_malformed_basket_is_404(api_client, backoffice_token, basket_id, status, code):
    PromoCodeFactory(code="SPRING20")
    response = apply(api_client, backoffice_token, "SPRING20", basket_id)
    assert response.status_code == status
    assert response.json() == {"message": "Basket not found.", "code": code}


def test_completed_basket_is_409_and_expired_is_410(api_client, backoffice_token, basket, storefront_app):
    PromoCodeFactory(code="SPRING20")
    Basket.objects.filter(pk=basket.pk).update(status=BasketStatus.COMPLETED)
    expired = BasketFactory(application=storefront_app, expires_at=NOW)

    completed_response = apply(api_client, backoffice_token, "SPRING20", basket.public_id)
    expired_response = apply(api_client, backoffice_token, "SPRING20", expired.public_id)

    assert (completed_response.status_code, completed_response.json()["code"]) == (409, "basket_completed")
    assert (expired_response.status_code, expired_response.json()["code"]) == (410, "basket_expired")
    assert Basket.objects.filter(promo_code__isnull=False).count() == 0


@pytest.mark.parametrize(
    "body",
    [{}, {"code": "SPRING20"}, {"basketId": "basket-x"}, {"code": "", "basketId": "basket-x"}, {"code": ["A"]}],
)
def test_malformed_bodies_are_400(api_client, backoffice_token, body):
    response = api_client.post(URL, body, format="json", **bearer(backoffice_token))
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


# --- If-Match ------------------------------------------------------------------------------------


def test_if_match_with_a_stale_version_is_412_and_changes_nothing(api_client, backoffice_token, basket):
    promo = PromoCodeFactory(code="SPRING20")
    before = state(basket)

    response = apply(api_client, backoffice_token, "SPRING20", basket.public_id, HTTP_IF_MATCH='"2"')

    assert response.status_code == 412
    assert response.json() == {
        "message": "The basket changed since you read it (If-Match does not match its version).",
        "code": "precondition_failed",
        "details": {"currentVersion": 3},
    }
    assert state(basket) == before == (3, None, "active", 0)
    promo.refresh_from_db()
    assert promo.redeemed_count == 0


@pytest.mark.parametrize("if_match", ['"3"', 'W/"3"', "3", "*"])
def test_if_match_with_the_current_version_applies_the_code(api_client, backoffice_token, basket, if_match):
    promo = PromoCodeFactory(code="SPRING20")

    response = apply(api_client, backoffice_token, "SPRING20", basket.public_id, HTTP_IF_MATCH=if_match)

    assert response.status_code == 200, response.json()
    assert response["ETag"] == '"4"'
    assert response.json()["order"]["version"] == 4
    assert state(basket) == (4, promo.pk, "active", 1)


@pytest.mark.parametrize("if_match", ["abc", '"1.0"', "²", "-1", "9" * 5000])
def test_a_malformed_if_match_is_400_and_changes_nothing(api_client, backoffice_token, basket, if_match):
    PromoCodeFactory(code="SPRING20")
    before = state(basket)

    response = apply(api_client, backoffice_token, "SPRING20", basket.public_id, HTTP_IF_MATCH=if_match)

    assert response.status_code == 400
    assert response.json() == {"message": 'If-Match must be a basket version, e.g. "3".', "code": "invalid_if_match"}
    assert state(basket) == before


def test_a_stale_if_match_keeps_no_idempotency_key(api_client, backoffice_token, basket):
    promo = PromoCodeFactory(code="SPRING20")
    stale = apply(
        api_client, backoffice_token, "SPRING20", basket.public_id, HTTP_IF_MATCH='"2"', HTTP_IDEMPOTENCY_KEY="promo-1"
    )

    retry = apply(
        api_client, backoffice_token, "SPRING20", basket.public_id, HTTP_IF_MATCH='"3"', HTTP_IDEMPOTENCY_KEY="promo-1"
    )

    assert (stale.status_code, retry.status_code) == (412, 200)
    assert retry.get("Idempotent-Replayed") is None
    assert retry["ETag"] == '"4"'
    assert state(basket) == (4, promo.pk, "active", 1)


# --- Auth matrix ----------------------------------------------------------------------------------


@pytest.fixture
def tokens(storefront_token):
    admin_app = ApplicationFactory(scopes="checkout:admin")
    return {
        "none": None,
        "expired": AccessTokenFactory(
            application=admin_app, scope="checkout:admin", expires=timezone.now() - timedelta(seconds=1)
        ),
        "checkout_only": storefront_token,
        "right": AccessTokenFactory(application=admin_app, scope="checkout:admin"),
    }


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [("none", 401, "unauthorized"), ("expired", 401, "unauthorized"), ("checkout_only", 403, "insufficient_scope"),
     ("right", 200, None)],
)  # fmt: skip
def test_auth_matrix(api_client, tokens, basket, who, status, code):
    PromoCodeFactory(code="SPRING20")
    before = state(basket)
    token = tokens[who]

    response = api_client.post(
        URL, {"code": "SPRING20", "basketId": basket.public_id}, format="json", **(bearer(token) if token else {})
    )

    assert response.status_code == status, response.json()
    if code:
        assert response.json()["code"] == code
        assert state(basket) == before
        if status == 401:
            assert response["WWW-Authenticate"].startswith("Bearer")
    else:
        assert state(basket)[:2] == (before[0] + 1, PromoCode.objects.get().pk)


# --- The model and its admin ----------------------------------------------------------------------


def _promo(**fields):
    defaults = {"code": "CHECK", "discount_type": "percentage", "percentage": Decimal("10")}
    return PromoCode(**{**defaults, **fields})


@pytest.mark.parametrize(
    "fields",
    [
        {"code": "lower"},
        {"code": "WITH SPACE"},
        {"percentage": Decimal("100.01")},
        {"percentage": Decimal("-1")},
        {"percentage": None},
        {"amount": Decimal("1")},  # a percentage code with an amount
        {"discount_type": "amount", "percentage": None, "amount": Decimal("5"), "currency": ""},
        {"discount_type": "amount", "percentage": None, "amount": Decimal("-5"), "currency": "GBP"},
        {"duration_length": 3},
        {"duration_type": "months"},
        {"duration_length": 0, "duration_type": "months"},
        {"starts_at": NOW, "expires_at": NOW},
        {"available_quantity": 1, "redeemed_count": 2},
        {"application_level": "everything"},
    ],
)
def test_database_refuses_inconsistent_codes(fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        _promo(**fields).save()


def test_codes_are_unique_in_any_case():
    _promo(code="SPRING").save()
    with pytest.raises(IntegrityError), transaction.atomic():
        PromoCode.objects.bulk_create([_promo(code="SPRING")])
    assert PromoCode.objects.count() == 1


def test_admin_form_normalises_the_code_and_refuses_a_duplicate():
    data = {
        "code": "  summer10 ", "description": "", "active": "on", "application_level": "wholeBasket",
        "discount_type": "percentage", "percentage": "10", "currency": "", "duration_type": "",
    }  # fmt: skip
    form = PromoCodeForm(data=data)
    assert form.is_valid(), form.errors
    assert form.save().code == "SUMMER10"

    duplicate = PromoCodeForm(data={**data, "code": "Summer10"})
    assert not duplicate.is_valid()
    assert "This code exists already." in str(duplicate.errors)
    wrong = PromoCodeForm(data={**data, "code": "SUMMER-10"})
    assert not wrong.is_valid()
    assert "letters and digits" in str(wrong.errors)


def test_admin_lists_redemptions_used_of_available(admin_client):
    PromoCodeFactory(code="LIMITED", available_quantity=10, redeemed_count=3)
    PromoCodeFactory(code="OPEN")

    response = admin_client.get("/admin/baskets/promocode/")

    assert response.status_code == 200
    content = response.content.decode()
    assert "3 / 10" in content
    assert "0 / unlimited" in content
    assert (
        admin_client.get(f"/admin/baskets/promocode/{PromoCode.objects.get(code='LIMITED').pk}/change/").status_code
        == 200
    )
