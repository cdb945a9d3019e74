"""Hosted pages (API.md §5): the recovery and assisted link handlers and the checkout page.

Plain Django views, not API actions: a customer follows these from an e-mail in a browser, so
they take no OAuth token and answer HTML (a redirect or a page), never the API's JSON errors.
The signed `limio_state` cookie is the customer's credential for their own basket here.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from baskets import selectors, services
from baskets.api.render import order_to_wire
from baskets.landing_state import basket_id_from_signed_cookie, parse_basket_id, set_landing_state
from baskets.links import TOKEN_PARAMETERS, LinkKind, LinkRefusal, LinkRefused
from baskets.models import BasketStatus
from subscriptions.pricing import format_amount, schedule_in_words

# The pages load nothing but themselves: no scripts at all, no inline styles, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def hosted_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """GET only, never cached (the answers carry a customer's basket or cookie), CSP on."""

    @require_GET
    @never_cache
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response

    return wrapped


def _link_error(request: HttpRequest, refused: LinkRefused) -> HttpResponse:
    gone = refused.status_code == 410
    context = {
        "title": "This basket is no longer available" if gone else "This link cannot be used",
        "message": refused.message,
        "code": refused.code,
    }
    return render(request, "checkout/link_error.html", context, status=refused.status_code)


def _follow_link(request: HttpRequest, kind: LinkKind) -> HttpResponse:
    # `basket=` is the parameter an older Limio sample uses.
    raw_basket_id = request.GET.get("basketId") or request.GET.get("basket")
    basket_id = parse_basket_id(raw_basket_id)
    try:
        if raw_basket_id and basket_id is None:
            raise LinkRefused.for_refusal(LinkRefusal.FORGED)
        basket = services.basket_follow_link(
            kind=kind, basket_id=basket_id, token=request.GET.get(TOKEN_PARAMETERS[kind])
        )
    except LinkRefused as refused:
        return _link_error(request, refused)
    response = HttpResponseRedirect(settings.CHECKOUT_PAGE_URL)
    set_landing_state(response, basket)
    return response


@hosted_page
def recovery_link(request: HttpRequest) -> HttpResponse:
    """GET /api/checkout/recover?basketId=…&recover=…"""
    return _follow_link(request, LinkKind.RECOVER)


@hosted_page
def assisted_link(request: HttpRequest) -> HttpResponse:
    """GET /api/checkout/assisted?basketId=…&cl=…"""
    return _follow_link(request, LinkKind.ASSISTED)


@hosted_page
def checkout_page(request: HttpRequest) -> HttpResponse:
    """The landing-state basket: its items, their price schedules in words, the totals.

    Minimal for now: the customer-details form, promo code field and order submission come
    with the hosted checkout UI.
    """
    basket = selectors.basket_for_checkout_page(basket_id_from_signed_cookie(request.COOKIES))
    if basket is None:
        return render(request, "checkout/checkout.html", {"basket": None}, status=404)
    order = order_to_wire(basket, list(basket.items.all()))
    currency = basket.currency
    items = [
        {
            "name": item["offer"]["name"],
            "quantity": item["quantity"],
            "is_add_on": item["type"] == "add_on",
            "removed": item.get("orderItemActionType") == "remove",
            "schedule": schedule_in_words(item["price"], currency) if item["price"] else "",
        }
        for item in order["orderItems"]
    ]
    totals = order["totals"]
    context = {
        "basket": basket,
        "order": order,
        "items": items,
        "totals": {
            name: format_amount(totals[name], currency)
            for name in ("subtotal", "discount", "total", "dueToday")
            if currency
        },
        "completed": basket.status == BasketStatus.COMPLETED,
        "expired": basket.status == BasketStatus.EXPIRED
        or (basket.status == BasketStatus.ACTIVE and basket.expires_at <= timezone.now()),
    }
    return render(request, "checkout/checkout.html", context)
