"""Recovery emails as messages: their signed references and unsubscribe tokens, and the message
itself (templates/emails/recovery.html and .txt, with List-Unsubscribe headers).

Two tokens, each under a salt of its own (so neither is a recovery link's token, nor the other):

- the email reference (`re=` on the recovery link in an email): names the RecoveryEmail whose
  link was followed, for attribution. It opens nothing by itself: the recovery token next to it
  does, and a reference that fails its signature is ignored;
- the unsubscribe token: the address, signed. Whoever holds it can unsubscribe that address and
  no other; it does not expire (an unsubscribe link must keep working).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from email.utils import formataddr, parseaddr
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from baskets.links import recovery_link
from baskets.models import Basket, OrderItem, RecoveryEmail
from baskets.selectors import BasketQuote
from subscriptions.pricing import format_amount, schedule_in_words

EMAIL_REFERENCE_SALT = "baskets.recovery.email"
UNSUBSCRIBE_SALT = "baskets.recovery.unsubscribe"
# The recovery link's extra query parameter carrying the email reference.
EMAIL_REFERENCE_PARAMETER = "re"


class SiteUrlMissing(Exception):
    """SITE_URL is not set: an email's links cannot be made absolute."""


def email_reference(recovery_email_id: uuid.UUID) -> str:
    """`<email id>:<signature>`: deterministic (no timestamp: the link never expires by itself)."""
    return signing.Signer(salt=EMAIL_REFERENCE_SALT).sign(recovery_email_id.hex)


def parse_email_reference(value: str | None) -> uuid.UUID | None:
    """The RecoveryEmail id a reference names; None for a missing, forged or malformed one."""
    if not value:
        return None
    try:
        return uuid.UUID(hex=signing.Signer(salt=EMAIL_REFERENCE_SALT).unsign(value))
    except (signing.BadSignature, ValueError):
        return None


def unsubscribe_token(address: str) -> str:
    return signing.dumps(address.strip().lower(), salt=UNSUBSCRIBE_SALT)


def parse_unsubscribe_token(token: str) -> str | None:
    """The address an unsubscribe token was issued for; None when it is not one we signed."""
    try:
        payload = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    return payload if isinstance(payload, str) and "@" in payload else None


def absolute(path: str) -> str:
    if not settings.SITE_URL:
        raise SiteUrlMissing("SITE_URL is not set")
    return f"{settings.SITE_URL}{path}"


def email_recovery_link(basket: Basket, recovery_email_id: uuid.UUID) -> str:
    """The basket's recovery link, absolute, carrying the email's reference."""
    query = urlencode({EMAIL_REFERENCE_PARAMETER: email_reference(recovery_email_id)})
    return absolute(f"{recovery_link(basket)}&{query}")


def unsubscribe_url(address: str) -> str:
    return absolute(reverse("recovery-unsubscribe", kwargs={"token": unsubscribe_token(address)}))


def _from_address() -> str:
    """DEFAULT_FROM_EMAIL, named after the merchant when it carries no name of its own."""
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    if not name and settings.MERCHANT_NAME:
        return formataddr((settings.MERCHANT_NAME, address))
    return settings.DEFAULT_FROM_EMAIL


def recovery_message_context(
    *, recovery_email: RecoveryEmail, basket: Basket, items: Sequence[OrderItem], quote: BasketQuote
) -> dict[str, Any]:
    currency = basket.currency or quote.currency
    rows = [
        {
            "name": item.offer_snapshot.get("name", item.offer_id),
            "quantity": item.quantity,
            "is_add_on": item.type == OrderItem.Type.ADD_ON,
            "schedule": schedule_in_words(item.offer_snapshot.get("price", []), currency) if currency else "",
        }
        for item in items
        if item.action_type != OrderItem.ActionType.REMOVE
    ]
    totals = quote.totals.to_wire()
    money = {
        name: format_amount(totals[name], currency)
        for name in ("subtotal", "discount", "total", "dueToday")
        if currency and name in totals
    }
    return {
        "merchant": settings.MERCHANT_NAME,
        "first_name": basket.first_name,
        "items": rows,
        "totals": money,
        "has_discount": quote.promo_code is not None and quote.promo_code.amount > 0,
        "promo_code": basket.promo_code.code if basket.promo_code is not None else "",
        "recovery_url": email_recovery_link(basket, recovery_email.id),
        "unsubscribe_url": unsubscribe_url(recovery_email.to_email),
    }


def recovery_subject() -> str:
    merchant = settings.MERCHANT_NAME
    return f"Your {merchant} basket is waiting for you" if merchant else "Your basket is waiting for you"


def recovery_message(
    *, recovery_email: RecoveryEmail, basket: Basket, items: Sequence[OrderItem], quote: BasketQuote
) -> EmailMultiAlternatives:
    """The email, plain text with an HTML alternative, and one-click unsubscribe (RFC 8058) headers.

    Raises SiteUrlMissing when SITE_URL is not set."""
    context = recovery_message_context(recovery_email=recovery_email, basket=basket, items=items, quote=quote)
    message = EmailMultiAlternatives(
        subject=recovery_subject(),
        body=render_to_string("emails/recovery.txt", context),
        from_email=_from_address(),
        to=[recovery_email.to_email],
        headers={
            "List-Unsubscribe": f"<{context['unsubscribe_url']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            # Automated mail: no out-of-office replies (RFC 3834).
            "Auto-Submitted": "auto-generated",
            "X-Recovery-Email": str(recovery_email.id),
        },
    )
    message.attach_alternative(render_to_string("emails/recovery.html", context), "text/html")
    return message
