"""Every error code partners answers with (stable, snake_case wire values); no value is also in
checkout_project.api.errors.ApiCodes or baskets.errors.BasketCodes (tests/test_error_codes.py)."""

import enum


@enum.unique
class PartnerCodes(enum.StrEnum):
    OFFER_NOT_ELIGIBLE = "offer_not_eligible"
    PRODUCT_BLOCKED = "product_blocked"
    PARTNER_TOKEN_REQUIRED = "partner_token_required"
    INVALID_BASKET_ID = "invalid_basket_id"
