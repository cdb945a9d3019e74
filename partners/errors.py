"""Partner error codes (stable, snake_case)."""


class PartnerCodes:
    OFFER_NOT_ELIGIBLE = "offer_not_eligible"
    PRODUCT_BLOCKED = "product_blocked"
    PARTNER_TOKEN_REQUIRED = "partner_token_required"
    INVALID_BASKET_ID = "invalid_basket_id"
