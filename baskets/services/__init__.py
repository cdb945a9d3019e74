"""Every basket write (and the reads that belong to one use case), one module per concern:

- lifecycle: the checks every write makes, events, status transitions, expiry;
- acquisition: `new` baskets (initiate, assisted initiate, item actions) and the offer checks;
- subscription_change: update-subscription baskets (initiate, read, change, quote, apply);
- renewal: `renew` baskets (staff build one; completing it renews the term);
- promo_codes: applying, removing and redeeming promo codes;
- links: following, recording and revoking recovery and assisted links;
- completion: basket_complete, the one way an order is placed and paid;
- recovery: recovery emails (queue one, in bulk, on the schedule; send; attribution; unsubscribe).

Each service owns its transaction and locks the basket row it changes. The names below are the
package's interface: `from baskets import services; services.basket_initiate(...)`.
"""

from baskets.services.acquisition import (
    CUSTOMER_DETAIL_FIELDS,
    BasketChange,
    OfferPolicy,
    basket_apply_actions,
    basket_initiate,
    basket_initiate_for_customer,
)
from baskets.services.completion import ORDER_ID_PREFIX, CompletedOrder, basket_complete
from baskets.services.lifecycle import (
    basket_check_version,
    basket_ensure_mutable,
    basket_expire,
    basket_expire_overdue,
    basket_record_event,
    basket_transition,
)
from baskets.services.links import basket_follow_link, basket_record_link_visit, basket_revoke_links
from baskets.services.promo_codes import (
    promo_code_apply,
    promo_code_get_or_create,
    promo_code_redeem,
    promo_code_remove,
)
from baskets.services.recovery import (
    BulkSummary,
    SkipReason,
    email_unsubscribe,
    recovery_email_queue,
    recovery_email_send,
    recovery_emails_queue_bulk,
    recovery_emails_retry_due,
    recovery_schedule_run,
)
from baskets.services.renewal import RenewalBasket, basket_initiate_renewal
from baskets.services.subscription_change import (
    SubscriptionCheckout,
    subscription_checkout_apply_actions,
    subscription_checkout_get,
    subscription_checkout_initiate,
    subscription_checkout_quote,
)

__all__ = [
    "CUSTOMER_DETAIL_FIELDS",
    "ORDER_ID_PREFIX",
    "BasketChange",
    "BulkSummary",
    "CompletedOrder",
    "OfferPolicy",
    "RenewalBasket",
    "SkipReason",
    "SubscriptionCheckout",
    "basket_apply_actions",
    "basket_check_version",
    "basket_complete",
    "basket_ensure_mutable",
    "basket_expire",
    "basket_expire_overdue",
    "basket_follow_link",
    "basket_initiate",
    "basket_initiate_for_customer",
    "basket_initiate_renewal",
    "basket_record_event",
    "basket_record_link_visit",
    "basket_revoke_links",
    "basket_transition",
    "email_unsubscribe",
    "promo_code_apply",
    "promo_code_get_or_create",
    "promo_code_redeem",
    "promo_code_remove",
    "recovery_email_queue",
    "recovery_email_send",
    "recovery_emails_queue_bulk",
    "recovery_emails_retry_due",
    "recovery_schedule_run",
    "subscription_checkout_apply_actions",
    "subscription_checkout_get",
    "subscription_checkout_initiate",
    "subscription_checkout_quote",
]
