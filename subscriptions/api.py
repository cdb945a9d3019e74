"""The catalog for integrators (API.md §6, beyond Limio): `GET /api/catalog/offers`.

Published offers with what a client needs to build a basket (ids, versions, price schedules,
limits, what each upgrades or downgrades to and the add-ons it sells), keyset-paged like the
abandoned feed and ETag-cached. A partner token reads only the offers its organisation may sell
(partners registers that restriction in subscriptions.hooks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from checkout_project.api.actions import Call, api_action
from checkout_project.api.auth import PARTNER_SCOPE
from checkout_project.api.headers import body_etag, if_none_match_matches
from checkout_project.api.openapi import responses
from checkout_project.api.viewsets import ScopedViewSet
from subscriptions import selectors

# --- Input -------------------------------------------------------------------------------------


class CatalogQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=50, help_text="Offers per page")
    queryMore = serializers.CharField(
        max_length=1000, required=False, help_text="The cursor of the previous page's `queryMore`, unchanged"
    )


# --- Output (rendering, and its documentation) ---------------------------------------------------


def catalog_offer_to_wire(entry: selectors.CatalogOffer) -> dict[str, Any]:
    offer = entry.offer
    snapshot = offer.snapshot
    return {
        "id": offer.pk,
        "version": offer.version,
        "path": offer.path,
        "name": offer.name,
        "type": offer.type,
        "products": snapshot.get("products", []),
        "price": snapshot.get("price", []),
        "term": snapshot.get("term", {}),
        "maxQuantity": offer.max_quantity,
        "upgradeOffers": entry.upgrade_offer_ids,
        "downgradeOffers": entry.downgrade_offer_ids,
        "crossSellAddOns": entry.cross_sell_add_on_ids,
    }


class CatalogProductSerializer(serializers.Serializer):
    path = serializers.CharField()
    productCode = serializers.CharField()
    name = serializers.CharField()


class CatalogChargeSerializer(serializers.Serializer):
    name = serializers.CharField(allow_blank=True)
    amount = serializers.DecimalField(max_digits=12, decimal_places=3, coerce_to_string=True)
    currency = serializers.CharField()
    type = serializers.ChoiceField(choices=["recurring", "one_time"])
    repeatInterval = serializers.IntegerField(allow_null=True)
    repeatIntervalType = serializers.CharField(allow_null=True)
    repeatCount = serializers.IntegerField(allow_null=True)
    delayInterval = serializers.IntegerField()
    delayIntervalType = serializers.CharField()


class CatalogTermSerializer(serializers.Serializer):
    length = serializers.IntegerField(min_value=1)
    type = serializers.ChoiceField(choices=["months", "years"])


class CatalogOfferSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="40 hex characters; what an order item's `offer.id` names")
    version = serializers.CharField(help_text="Hash of the priced content; changes with price, products or term")
    path = serializers.CharField()
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=["offer", "add_on"])
    products = CatalogProductSerializer(many=True)
    price = CatalogChargeSerializer(many=True, help_text="The price schedule, in order")
    term = CatalogTermSerializer()
    maxQuantity = serializers.IntegerField(help_text="The most of this offer one basket holds, summed over its items")
    upgradeOffers = serializers.ListField(
        child=serializers.CharField(), help_text="Ids of the offers it upgrades to, sorted; only offers listed here"
    )
    downgradeOffers = serializers.ListField(
        child=serializers.CharField(), help_text="Ids of the offers it downgrades to, sorted; only offers listed here"
    )
    crossSellAddOns = serializers.ListField(
        child=serializers.CharField(),
        help_text="Ids of the add-ons sold with it (an add-on item's `parentId` is an item of this offer), sorted",
    )


class CatalogResponse(serializers.Serializer):
    items = CatalogOfferSerializer(many=True)
    queryMore = serializers.CharField(required=False, help_text="Absent on the last page")


@dataclass(frozen=True)
class CatalogRead:
    """A catalog page and the request's If-None-Match verdict is made against."""

    page: selectors.CatalogPage
    request: Any


def catalog_page_response(read: CatalogRead) -> Response:
    """The page with a strong ETag of its content; 304 (no body) when If-None-Match names it."""
    body: dict[str, Any] = {"items": [catalog_offer_to_wire(entry) for entry in read.page.offers]}
    if read.page.next_cursor is not None:
        body["queryMore"] = read.page.next_cursor.encode()
    etag = body_etag(body)
    response = Response(status=304) if if_none_match_matches(read.request, etag) else Response(body)
    response["ETag"] = etag
    # What a token reads depends on the token (a partner's eligible offers): never from a shared cache.
    response["Cache-Control"] = "private, no-cache"
    response["Vary"] = "Authorization"
    return response


# --- Views ---------------------------------------------------------------------------------------


class CatalogViewSet(ScopedViewSet):
    """The published catalog, for integrators building baskets."""

    schema_tags = ["Catalog"]
    required_scope = "checkout"
    also_accepted_scopes: tuple[str, ...] = ()  # set per action; checked by HasRequiredScope

    @extend_schema(
        operation_id="catalog_offers",
        summary="List the published offers and add-ons",
        description="Published offers and add-ons by path, keyset-paged like the abandoned feed: pass a page's "
        "`queryMore` back unchanged for the next one (absent on the last page; a cursor this API did not issue "
        "is 400 invalid_cursor). A partner token (scope `partner`) reads only the offers its organisation may "
        "sell: those listing it or no partner, with no product blocked for it. Every answer carries an `ETag`; "
        "send it back in `If-None-Match` and an unchanged page answers 304 with no body.",
        parameters=[
            OpenApiParameter(
                "ETag",
                str,
                OpenApiParameter.HEADER,
                response=[200, 304],
                description='The page\'s version, e.g. "9f2c…": send it back as If-None-Match.',
            ),
            OpenApiParameter(
                "If-None-Match",
                str,
                OpenApiParameter.HEADER,
                description="An ETag of this page read before: 304 with no body while the page is unchanged.",
            ),
        ],
        examples=[
            OpenApiExample(
                "A page of the catalog",
                response_only=True,
                value={
                    "items": [
                        {
                            "id": "3f2a9c1e0b7d4e5f6a7b8c9d0e1f2a3b4c5d6e7f",
                            "version": "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0",
                            "path": "/offers/digital-monthly",
                            "name": "Digital monthly",
                            "type": "offer",
                            "products": [{"path": "/products/digital", "productCode": "DIGITAL", "name": "Digital"}],
                            "price": [
                                {
                                    "name": "Monthly",
                                    "amount": "12.990",
                                    "currency": "GBP",
                                    "type": "recurring",
                                    "repeatInterval": 1,
                                    "repeatIntervalType": "months",
                                    "repeatCount": None,
                                    "delayInterval": 0,
                                    "delayIntervalType": "months",
                                }
                            ],
                            "term": {"length": 1, "type": "months"},
                            "maxQuantity": 1,
                            "upgradeOffers": ["9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d"],
                            "downgradeOffers": [],
                            "crossSellAddOns": ["0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6"],
                        }
                    ],
                    "queryMore": "eyJ2IjoiMSIsImMiOiIvb2ZmZXJzL2RpZ2l0YWwtbW9udGhseSJ9",
                },
            )
        ],
        responses={
            **responses(200, CatalogResponse, 400, 401, 403, 429),
            304: OpenApiResponse(description="Not modified: the page is still the one `If-None-Match` names"),
        },
    )
    @api_action(
        methods=["get"],
        url_path="offers",
        also_accepted_scopes=(PARTNER_SCOPE,),
        query=CatalogQuerySerializer,
        render=catalog_page_response,
    )
    def offers(self, call: Call) -> CatalogRead:
        cursor = call.data.get("queryMore")
        page = selectors.catalog_offers(
            actor=call.actor,
            limit=call.data["limit"],
            cursor=selectors.CatalogCursor.decode(cursor) if cursor else None,
        )
        return CatalogRead(page=page, request=call.request)
