"""GET /api/catalog/offers (API.md §6, beyond Limio): the published catalog for integrators.

Shape, paging (`limit` / `queryMore` like the abandoned feed), ETag / If-None-Match, a partner's
eligible offers, and the auth matrix (no token, wrong scope, another tenant, right scope).
"""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from partners.models import PartnerEligibleOffer
from subscriptions import services as catalog_services
from subscriptions.models import Charge, Offer
from tests.conftest import bearer
from tests.factories import (
    INTRO_THEN_RECURRING,
    AccessTokenFactory,
    ApplicationFactory,
    OfferFactory,
    PartnerFactory,
    ProductFactory,
    partner_token,
)

pytestmark = pytest.mark.django_db

URL = "/api/catalog/offers"


def read(api_client, token=None, **query):
    auth = bearer(token) if token is not None else {}
    return api_client.get(URL, query, **auth)


def ids(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [offer["id"] for offer in response.json()["items"]]


def cursor(payload: object) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


@pytest.fixture
def catalog():
    """Monthly upgrades to annual; annual downgrades to monthly; both sell the crossword; a draft
    offer nobody may read (also not as an upgrade)."""
    digital = ProductFactory(path="/products/digital", product_code="DIGITAL", name="Digital access")
    monthly = OfferFactory(name="Digital monthly", path="/offers/b-monthly", products=[digital])
    annual = OfferFactory(
        name="Digital annual", path="/offers/a-annual", products=[digital], charges=INTRO_THEN_RECURRING,
        max_quantity=3,
    )  # fmt: skip
    crossword = OfferFactory(name="Crossword", path="/offers/c-crossword", type="add_on", max_quantity=1)
    draft = OfferFactory(name="Draft", path="/offers/d-draft", published=False)
    monthly.upgrade_offers.add(annual, draft)
    annual.downgrade_offers.add(monthly)
    monthly.cross_sell_add_ons.add(crossword)
    annual.cross_sell_add_ons.add(crossword)
    return {"monthly": monthly, "annual": annual, "crossword": crossword, "draft": draft}


# --- Shape -------------------------------------------------------------------------------------


def test_lists_the_published_offers_by_path_with_what_a_basket_needs(api_client, storefront_token, catalog):
    response = read(api_client, storefront_token)

    assert response.status_code == 200, response.json()
    body = response.json()
    annual, monthly, crossword = catalog["annual"], catalog["monthly"], catalog["crossword"]
    assert [offer["id"] for offer in body["items"]] == [annual.id, monthly.id, crossword.id]
    assert "queryMore" not in body
    assert body["items"][0] == {
        "id": annual.id,
        "version": annual.version,
        "path": "/offers/a-annual",
        "name": "Digital annual",
        "type": "offer",
        "products": [{"path": "/products/digital", "productCode": "DIGITAL", "name": "Digital access"}],
        "price": [
            {
                "name": "Introductory year",
                "amount": "75.00",
                "currency": "GBP",
                "type": "recurring",
                "repeatInterval": 52,
                "repeatIntervalType": "weeks",
                "repeatCount": 1,
                "delayInterval": 0,
                "delayIntervalType": "months",
            },
            {
                "name": "Every 4 weeks",
                "amount": "31.96",
                "currency": "GBP",
                "type": "recurring",
                "repeatInterval": 4,
                "repeatIntervalType": "weeks",
                "repeatCount": None,
                "delayInterval": 52,
                "delayIntervalType": "weeks",
            },
        ],
        "term": {"length": 12, "type": "months"},
        "maxQuantity": 3,
        "upgradeOffers": [],
        "downgradeOffers": [monthly.id],
        "crossSellAddOns": [crossword.id],
    }
    # The draft offer is neither listed nor named as an upgrade.
    assert body["items"][1]["upgradeOffers"] == [annual.id]
    assert body["items"][1]["crossSellAddOns"] == [crossword.id]
    assert body["items"][2]["type"] == "add_on"
    assert body["items"][2]["maxQuantity"] == 1


def test_the_version_listed_is_the_one_initiate_accepts(api_client, storefront_token, catalog):
    listed = read(api_client, storefront_token).json()["items"][0]
    body = {"order": {"orderItems": [{"offer": {"id": listed["id"], "version": listed["version"]}}]}}

    response = api_client.post("/api/checkout/initiate", body, format="json", **bearer(storefront_token))

    assert response.status_code == 200, response.json()
    assert response.json()["order"]["orderItems"][0]["offer"]["version"] == listed["version"]


# --- Paging ------------------------------------------------------------------------------------


def test_pages_follow_query_more_to_the_last_page(api_client, storefront_token):
    offers = [OfferFactory(path=f"/offers/page-{n:02d}") for n in range(7)]

    seen, pages, query = [], 0, {"limit": 3}
    while True:
        response = read(api_client, storefront_token, **query)
        seen += ids(response)
        pages += 1
        if "queryMore" not in response.json():
            break
        query = {"limit": 3, "queryMore": response.json()["queryMore"]}

    assert pages == 3
    assert seen == [offer.id for offer in offers]


def test_the_default_page_is_50(api_client, storefront_token):
    for n in range(51):
        OfferFactory(path=f"/offers/many-{n:02d}")

    response = read(api_client, storefront_token)

    assert len(ids(response)) == 50
    assert "queryMore" in response.json()


@pytest.mark.parametrize(
    "value",
    [
        "not base64!",
        base64.b64encode(b"not json").decode(),
        cursor({"v": "2", "p": "/offers/x"}),
        cursor({"v": "1"}),
        cursor({"v": "1", "p": 7}),
        cursor({"v": "1", "p": ""}),
        cursor({"v": "1", "p": "/offers/\x00"}),
        base64.b64encode(b'{"v": "1", "p": "\\ud800"}').decode(),
        cursor(["v", "1"]),
    ],
)
def test_a_cursor_this_api_did_not_issue_is_400(api_client, storefront_token, catalog, value):
    response = read(api_client, storefront_token, queryMore=value)

    assert response.status_code == 400
    assert response.json() == {"message": "queryMore is not a cursor this API issued.", "code": "invalid_cursor"}


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "ten"])
def test_a_limit_out_of_range_is_400(api_client, storefront_token, limit):
    response = read(api_client, storefront_token, limit=limit)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert set(response.json()["details"]) == {"limit"}


# --- ETag ----------------------------------------------------------------------------------------


def test_an_unchanged_page_answers_304_to_its_etag(api_client, storefront_token, catalog):
    first = read(api_client, storefront_token)
    etag = first["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) == 34
    assert first["Cache-Control"] == "private, no-cache"

    again = api_client.get(URL, **bearer(storefront_token), HTTP_IF_NONE_MATCH=etag)

    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    for header in (f'"other", {etag}', f"W/{etag}", "*"):
        assert api_client.get(URL, **bearer(storefront_token), HTTP_IF_NONE_MATCH=header).status_code == 304
    for header in ('"other"', "garbage", etag.strip('"')):
        response = api_client.get(URL, **bearer(storefront_token), HTTP_IF_NONE_MATCH=header)
        assert response.status_code == 200
        assert response.json() == first.json()


@pytest.mark.parametrize("change", ["price", "relation", "unpublish", "new offer"])
def test_a_change_of_the_catalog_changes_the_etag(api_client, storefront_token, catalog, change):
    etag = read(api_client, storefront_token)["ETag"]
    annual = catalog["annual"]
    if change == "price":
        Charge.objects.filter(offer=annual, position=1).update(amount="29.99")
        catalog_services.offer_refresh_version(offer=Offer.objects.get(pk=annual.pk))
    elif change == "relation":
        annual.cross_sell_add_ons.remove(catalog["crossword"])
    elif change == "unpublish":
        Offer.objects.filter(pk=annual.pk).update(published=False)
    else:
        OfferFactory(path="/offers/e-new")

    response = api_client.get(URL, **bearer(storefront_token), HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 200
    assert response["ETag"] != etag


def test_each_page_has_its_own_etag(api_client, storefront_token, catalog):
    first = read(api_client, storefront_token, limit=1)
    second = read(api_client, storefront_token, limit=1, queryMore=first.json()["queryMore"])

    assert first["ETag"] != second["ETag"]
    response = api_client.get(
        URL, {"limit": 1}, **bearer(storefront_token), HTTP_IF_NONE_MATCH=second["ETag"]
    )  # the other page's tag does not match this one
    assert response.status_code == 200


# --- Partners ----------------------------------------------------------------------------------


@pytest.fixture
def partners(catalog):
    """Acme may sell the annual offer (listed for Acme only); Globex may not sell the crossword's
    product; every other offer lists no partner, so both may sell it."""
    acme, globex = PartnerFactory(name="Acme", slug="acme"), PartnerFactory(name="Globex", slug="globex")
    PartnerEligibleOffer.objects.create(partner=acme, offer=catalog["annual"])
    globex.blocked_products.add(*catalog["crossword"].products.all())
    return {"acme": partner_token(acme), "globex": partner_token(globex)}


def test_a_partner_reads_only_the_offers_it_may_sell(api_client, catalog, partners):
    acme = read(api_client, partners["acme"]).json()["items"]
    globex = read(api_client, partners["globex"]).json()["items"]

    assert [offer["id"] for offer in acme] == [catalog["annual"].id, catalog["monthly"].id, catalog["crossword"].id]
    assert [offer["id"] for offer in globex] == [catalog["monthly"].id]
    # What Globex may not sell is not named as an upgrade or add-on either.
    assert globex[0]["upgradeOffers"] == []
    assert globex[0]["crossSellAddOns"] == []
    assert acme[1]["upgradeOffers"] == [catalog["annual"].id]


def test_partners_and_storefronts_get_different_etags_for_different_lists(
    api_client, storefront_token, catalog, partners
):
    storefront = read(api_client, storefront_token)
    globex = api_client.get(URL, **bearer(partners["globex"]), HTTP_IF_NONE_MATCH=storefront["ETag"])

    assert globex.status_code == 200
    assert globex["ETag"] != storefront["ETag"]


# --- Auth matrix -------------------------------------------------------------------------------


def catalog_rows() -> list[tuple]:
    return list(Offer.objects.order_by("path").values_list("id", "version", "published"))


def test_without_a_token_401(api_client, catalog):
    before = catalog_rows()

    response = read(api_client)

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized", "code": "unauthorized"}
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert catalog_rows() == before


def test_an_unknown_token_401(api_client, catalog):
    response = api_client.get(URL, HTTP_AUTHORIZATION="Bearer not-a-token")

    assert response.status_code == 401


@pytest.mark.parametrize("scope", ["baskets:read", "checkout:admin", "introspection"])
def test_a_token_without_checkout_or_partner_403(api_client, catalog, scope):
    app = ApplicationFactory(scopes=scope)
    before = catalog_rows()

    response = read(api_client, AccessTokenFactory(application=app, scope=scope))

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert response.json()["message"] == "This endpoint needs the 'checkout' or 'partner' scope."
    assert catalog_rows() == before


def test_partner_scope_on_a_client_of_no_partner_403(api_client, catalog):
    """`partner` is only ever a partner organisation's: another client's token carrying it reads nothing."""
    app = ApplicationFactory(scopes="checkout")

    response = read(api_client, AccessTokenFactory(application=app, scope="partner"))

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"  # `partner` counts only for a partner's client


def test_a_partner_client_token_reads_as_its_partner_whatever_other_scopes_it_carries(api_client, catalog, partners):
    """A partner client's token that somehow carries `checkout` is still read as the partner's (no
    way round the eligibility), and without `partner` it is refused."""
    application = partners["globex"].application
    as_checkout = read(api_client, AccessTokenFactory(application=application, scope="checkout"))
    assert as_checkout.status_code == 403
    both = read(api_client, AccessTokenFactory(application=application, scope="partner checkout"))
    assert ids(both) == [catalog["monthly"].id]


def test_an_inactive_partners_token_401(api_client, catalog, partners):
    partner = partners["acme"].application.partner_client.partner
    partner.active = False
    partner.save()

    assert read(api_client, partners["acme"]).status_code == 401


def test_a_customer_token_reads_the_catalog(api_client, customer_token, catalog):
    assert ids(read(api_client, customer_token)) == [
        catalog["annual"].id,
        catalog["monthly"].id,
        catalog["crossword"].id,
    ]


def test_the_catalog_answers_get_only(api_client, storefront_token, catalog):
    before = catalog_rows()

    response = api_client.post(URL, {}, format="json", **bearer(storefront_token))

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert catalog_rows() == before


# --- Partner endpoints are unchanged by the catalog accepting partner tokens --------------------


def test_partner_tokens_still_get_403_on_public_endpoints_and_others_on_partner_ones(
    api_client, storefront_token, partners
):
    body = {"order": {"orderItems": [{"offer": {"id": "0" * 40}}]}}
    refused = api_client.post("/api/checkout/initiate", body, format="json", **bearer(partners["acme"]))
    assert refused.status_code == 403
    assert refused.json()["message"] == "A partner organisation's token can only be used on the partner endpoints."
    refused = api_client.post("/api/partner/checkout/initiate", body, format="json", **bearer(storefront_token))
    assert refused.status_code == 403
    assert refused.json()["message"] == "Partner endpoints need a token of a partner organisation's client."


# --- OpenAPI -----------------------------------------------------------------------------------


def test_the_schema_documents_the_catalog(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    operation = schema["paths"]["/api/catalog/offers"]["get"]

    assert operation["operationId"] == "catalog_offers"
    assert operation["security"] == [{"oauth2": ["checkout"]}, {"oauth2": ["partner"]}]
    assert {"200", "304", "400", "401", "403"} <= set(operation["responses"])
    assert {parameter["name"] for parameter in operation["parameters"]} >= {"limit", "queryMore"}
    reference = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = schema["components"]["schemas"][reference.rpartition("/")[2]]
    item = schema["components"]["schemas"][page["properties"]["items"]["items"]["$ref"].rpartition("/")[2]]
    assert set(item["properties"]) == {
        "id", "version", "path", "name", "type", "products", "price", "term", "maxQuantity",
        "upgradeOffers", "downgradeOffers", "crossSellAddOns",
    }  # fmt: skip
