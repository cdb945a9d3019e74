"""Every non-trivial read of baskets, one module per concern:

- visibility: which baskets a caller may see; a basket with its items;
- abandoned: the abandoned feed (keyset cursor) and the staff CSV export;
- promo_codes: promo code lookups and why a code cannot discount a basket;
- quotes: what a basket costs, of any order type (basket_quote: its totals, its promo code's
  discount and schedule, a subscription change's quotes);
- limits: what a basket may hold (an offer's maxQuantity across it, BASKET_MAX_ITEMS);
- validation: the findings that stop a basket from completing;
- recovery: which baskets are abandoned (ABANDONED_AFTER_MINUTES), a bulk send's counts.

The names below are the package's interface; import them from `baskets.selectors`.
"""

from baskets.selectors.abandoned import (
    ABANDONED_EXPORT_COLUMNS,
    AbandonedPage,
    Cursor,
    abandoned_basket_export_rows,
    abandoned_baskets,
)
from baskets.selectors.limits import LimitExceeded, basket_limits_exceeded
from baskets.selectors.promo_codes import (
    normalise_promo_code,
    promo_code_by_code,
    promo_code_load_eligible_offers,
    promo_code_problem,
    promo_code_with_offers,
)
from baskets.selectors.quotes import (
    BasketQuote,
    PromoCodeQuote,
    SubscriptionChange,
    added_offer_item,
    basket_quote,
    is_deferred,
    order_lines,
    promo_code_discount,
)
from baskets.selectors.recovery import (
    BulkSendResult,
    abandoned_cutoff,
    abandoned_for_recovery,
    recovery_bulk_result,
)
from baskets.selectors.validation import (
    BASKET_CHECKS,
    BasketCheck,
    BasketValidation,
    Finding,
    basket_validation_findings,
    basket_validation_offer_annotations,
    check_limits,
    check_not_empty,
    check_offers,
    check_products,
    check_promo_code,
    check_renewal,
    configured_basket_checks,
)
from baskets.selectors.visibility import basket_for_checkout_page, basket_get_visible, basket_items, visible_baskets

__all__ = [
    "ABANDONED_EXPORT_COLUMNS",
    "BASKET_CHECKS",
    "AbandonedPage",
    "BasketCheck",
    "BasketQuote",
    "BasketValidation",
    "BulkSendResult",
    "Cursor",
    "Finding",
    "LimitExceeded",
    "PromoCodeQuote",
    "SubscriptionChange",
    "abandoned_basket_export_rows",
    "abandoned_baskets",
    "abandoned_cutoff",
    "abandoned_for_recovery",
    "added_offer_item",
    "basket_for_checkout_page",
    "basket_get_visible",
    "basket_items",
    "basket_limits_exceeded",
    "basket_quote",
    "basket_validation_findings",
    "basket_validation_offer_annotations",
    "check_limits",
    "check_not_empty",
    "check_offers",
    "check_products",
    "check_promo_code",
    "check_renewal",
    "configured_basket_checks",
    "is_deferred",
    "normalise_promo_code",
    "order_lines",
    "promo_code_by_code",
    "promo_code_discount",
    "promo_code_load_eligible_offers",
    "promo_code_problem",
    "promo_code_with_offers",
    "recovery_bulk_result",
    "visible_baskets",
]
