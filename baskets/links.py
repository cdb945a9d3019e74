"""Recovery and assisted-checkout links (API.md §5): signed, time-stamped, salted per kind.

A token is `signing.dumps({"b": <basket uuid>, "n": <link nonce>})` under a salt of its own
kind, so a recovery token is no assisted token and neither is a landing-state cookie. The
nonce ties every link to the basket's current `link_nonce`: giving the basket a new nonce
(baskets.services.links.basket_revoke_links) revokes all links issued before, however young.

A link never outlives its basket (API.md §5). A link is valid LINK_LIFETIME (30 days) from when it
is issued, but no later than its basket's `expires_at`: its time stamp is dated back when the
basket ends sooner, so the reads that show links (the abandoned feed, served from a replica; the
admin) write nothing. The baskets made to be handed over by a link (assisted and renewal baskets,
POST /admin/...) are created to live as long as a link (basket_lifetime_with_links), and
baskets.services.links.basket_extend_for_links extends an existing basket before a link to it is
sent (a recovery e-mail): their links get their whole 30 days.
"""

from __future__ import annotations

import enum
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.utils import timezone

from baskets.errors import BasketCodes
from baskets.models import Basket
from checkout_project.api.errors import ApplicationError


class LinkKind(enum.StrEnum):
    RECOVER = "recover"
    ASSISTED = "assisted"


_SALTS = {LinkKind.RECOVER: "baskets.links.recover", LinkKind.ASSISTED: "baskets.links.assisted"}
# The handler path and the query parameter carrying the token, per kind.
LINK_PATHS = {LinkKind.RECOVER: "/api/checkout/recover", LinkKind.ASSISTED: "/api/checkout/assisted"}
TOKEN_PARAMETERS = {LinkKind.RECOVER: "recover", LinkKind.ASSISTED: "cl"}
# The basket event each visit writes.
VISIT_EVENTS = {LinkKind.RECOVER: "recovered", LinkKind.ASSISTED: "assisted"}


class LinkRefusal(enum.StrEnum):
    """Why a link was refused; the value is its code in baskets' registry, shown to support staff."""

    MISSING = BasketCodes.LINK_INCOMPLETE
    FORGED = BasketCodes.LINK_INVALID
    EXPIRED = BasketCodes.LINK_EXPIRED
    REVOKED = BasketCodes.LINK_REVOKED
    WRONG_KIND = BasketCodes.LINK_WRONG_KIND
    WRONG_BASKET = BasketCodes.LINK_WRONG_BASKET


_REFUSAL_MESSAGES = {
    LinkRefusal.MISSING: "This link is incomplete. Please open the whole link from your e-mail.",
    LinkRefusal.FORGED: "This link is not valid.",
    LinkRefusal.EXPIRED: "This link has expired.",
    LinkRefusal.REVOKED: "This link has been withdrawn.",
    LinkRefusal.WRONG_KIND: "This link is not valid.",
    LinkRefusal.WRONG_BASKET: "This link is not valid.",
}


class LinkRefused(ApplicationError):
    """A link that does not open its basket: 400 for the token, 410 for a basket that is over.

    The link handlers answer it with an HTML page, never the API's JSON error shape.
    """

    @classmethod
    def for_refusal(cls, refusal: LinkRefusal) -> LinkRefused:
        return cls(_REFUSAL_MESSAGES[refusal], code=refusal.value, status=400)

    @classmethod
    def revoked(cls) -> LinkRefused:
        """A landing state issued under links staff have since revoked: gone (410)."""
        refusal = LinkRefusal.REVOKED
        return cls(_REFUSAL_MESSAGES[refusal], code=refusal.value, status=410)


def basket_lifetime_with_links(now: datetime) -> datetime:
    """When a basket created `now` to be handed over by a link ends: not before the link does."""
    return now + max(settings.BASKET_LIFETIME, settings.LINK_LIFETIME)


def link_expires_at(basket: Basket, now: datetime | None = None) -> datetime:
    """When a link to `basket` issued `now` stops working: LINK_LIFETIME later, or with the basket."""
    return min((now or timezone.now()) + settings.LINK_LIFETIME, basket.expires_at)


class _DatedSigner(signing.TimestampSigner):
    """Django's TimestampSigner (the format signing.loads reads), stamping a given moment."""

    def __init__(self, *, stamped_at: datetime, salt: str) -> None:
        super().__init__(salt=salt)
        self.stamped_at = stamped_at

    def timestamp(self) -> str:
        # Rounded down to the second, as Django's own stamp: the link never ends after the basket.
        return signing.b62_encode(int(self.stamped_at.timestamp()))


def link_token(basket: Basket, kind: LinkKind, *, now: datetime | None = None) -> str:
    """A `kind` token for `basket`, stamped so that it expires at link_expires_at (`now`: the
    signing clock's, which also checks its age)."""
    now = now or datetime.fromtimestamp(time.time(), tz=UTC)
    stamped_at = link_expires_at(basket, now) - settings.LINK_LIFETIME
    payload = {"b": basket.id.hex, "n": basket.link_nonce}
    return _DatedSigner(stamped_at=stamped_at, salt=_SALTS[kind]).sign_object(payload)


def link_path(basket: Basket, kind: LinkKind) -> str:
    """`/api/checkout/recover?basketId=…&recover=…` or `/api/checkout/assisted?basketId=…&cl=…`."""
    query = urlencode({"basketId": basket.public_id, TOKEN_PARAMETERS[kind]: link_token(basket, kind)})
    return f"{LINK_PATHS[kind]}?{query}"


def recovery_link(basket: Basket) -> str:
    return link_path(basket, LinkKind.RECOVER)


def assisted_checkout_link(basket: Basket) -> str | None:
    """Only a basket with an identified owner (a customer) gets an assisted link."""
    return link_path(basket, LinkKind.ASSISTED) if basket.customer_id is not None else None


def basket_links(basket: Basket) -> dict[str, str]:
    """The links of a basket as response fields: `recoveryLink`, and `assistedCheckoutLink` when owned."""
    links = {"recoveryLink": recovery_link(basket)}
    assisted = assisted_checkout_link(basket)
    if assisted is not None:
        links["assistedCheckoutLink"] = assisted
    return links


def _payload(token: str, kind: LinkKind, *, max_age: Any) -> dict[str, Any]:
    payload = signing.loads(token, salt=_SALTS[kind], max_age=max_age)
    if not isinstance(payload, dict) or not isinstance(payload.get("b"), str) or not isinstance(payload.get("n"), str):
        raise signing.BadSignature("Not a link payload.")
    return payload


def verify_link_token(
    token: str | None, *, kind: LinkKind, basket_id: uuid.UUID | None, link_nonce: str | None = None
) -> LinkRefusal | None:
    """None when `token` is a live `kind` link for `basket_id` under `link_nonce`, else why not.

    Checks the signature before anything else, so an expired verdict is never given to a
    forged token. `link_nonce` is the basket's current nonce; None skips the revocation check
    (the caller has not loaded the basket yet).
    """
    if not token or basket_id is None:
        return LinkRefusal.MISSING
    try:
        payload = _payload(token, kind, max_age=settings.LINK_LIFETIME)
    except signing.SignatureExpired:
        return LinkRefusal.EXPIRED
    except signing.BadSignature:
        other = LinkKind.ASSISTED if kind == LinkKind.RECOVER else LinkKind.RECOVER
        try:
            _payload(token, other, max_age=None)
        except signing.BadSignature:
            return LinkRefusal.FORGED
        return LinkRefusal.WRONG_KIND
    if payload["b"] != basket_id.hex:
        return LinkRefusal.WRONG_BASKET
    if link_nonce is not None and payload["n"] != link_nonce:
        return LinkRefusal.REVOKED
    return None
