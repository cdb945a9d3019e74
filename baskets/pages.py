"""Hosted pages (API.md §5): the recovery and assisted link handlers, the checkout page, the
confirmation page and the link-error page.

Plain Django views, not API actions: a customer follows these from an e-mail in a browser, so
they take no OAuth token and answer HTML (a redirect or a page), never the API's JSON errors.
The signed `limio_state` cookie is the customer's credential for that one basket here: the page
reads, changes and completes only the basket it names, through the same services as the API, and
only while the cookie's link nonce is the basket's (revoking the links shuts the cookie out too).
Form posts are rate-limited per client IP and per basket (settings.THROTTLE_PAGE_RATES).

They work without JavaScript: plain forms posted with a CSRF token, each answered with a
redirect back to the page (Post/Redirect/Get) or, when refused, the page again with the errors.
The one exception is paying by card (PAYMENT_GATEWAY=stripe): Stripe.js, loaded from
STRIPE_JS_URL (the page's CSP lets in exactly that origin), collects the card, and the page's own
script (static/checkout/payment.js, no inline script) adds the PaymentMethod's id to the same
order form; a 3-D Secure check answers the page again with the client secret, the script runs
Stripe.js's check and posts the form again with the PaymentIntent's id.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.csp import CSP, build_policy
from django.views.decorators.cache import never_cache
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_GET, require_POST

from baskets import selectors, services
from baskets.api.landing_state import parse_basket_id, set_landing_state, signed_landing_state
from baskets.api.render import order_to_wire
from baskets.errors import (
    BasketCodes,
    BasketCompleted,
    BasketExpired,
    BasketInvalid,
    BasketNotFound,
    PaymentDeclined,
    PaymentRequiresAction,
    PromoCodeRefused,
)
from baskets.forms import CardPaymentForm, CustomerDetailsForm, PromoCodeForm, details_initial
from baskets.links import TOKEN_PARAMETERS, LinkKind, LinkRefusal, LinkRefused
from baskets.models import NO_PAYMENT_TAKEN, Basket, BasketStatus, OrderItem, OrderType, Payment, PromoRedemption
from baskets.recovery_mail import EMAIL_REFERENCE_PARAMETER
from checkout_project.api.actor import Actor
from checkout_project.api.errors import ApplicationError, require_get
from checkout_project.api.recaptcha import client_ip
from checkout_project.api.throttling import throttle_posts
from subscriptions.pricing import format_amount, schedule_in_words

# The project's policy (settings.SECURE_CSP: our own static files only, no inline scripts or
# styles) plus: forms post only to us.
HOSTED_PAGE_CSP: dict[str, list[str]] = {**settings.SECURE_CSP, "form-action": [CSP.SELF]}
CONTENT_SECURITY_POLICY = build_policy(HOSTED_PAGE_CSP)

# Who changes a basket from the hosted page: the holder of its signed cookie, no application.
PAGE_ACTOR = Actor()

# Stripe's API when STRIPE_API_BASE does not point elsewhere (where Stripe.js sends the card).
STRIPE_API_ORIGIN = "https://api.stripe.com"


def card_payments_on() -> bool:
    """Whether the configured gateway takes cards on the page (Stripe, with Stripe.js)."""
    configured = settings.PAYMENT_GATEWAYS.get(settings.PAYMENT_GATEWAY, settings.PAYMENT_GATEWAY)
    return configured == settings.PAYMENT_GATEWAYS["stripe"]


def no_payment_taken_on() -> bool:
    """Whether the configured gateway is the manual one, which takes no money."""
    configured = settings.PAYMENT_GATEWAYS.get(settings.PAYMENT_GATEWAY, settings.PAYMENT_GATEWAY)
    return configured == settings.PAYMENT_GATEWAYS["manual"]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def hosted_page_csp() -> dict[str, list[str]]:
    """HOSTED_PAGE_CSP, widened for Stripe.js when the page takes cards: its script, its card
    frame and its calls from exactly STRIPE_JS_URL's origin, and its calls to the Stripe API's
    origin (the same origin when both point at a local fake server). Nothing else."""
    if not card_payments_on():
        return HOSTED_PAGE_CSP
    stripe_js = _origin(settings.STRIPE_JS_URL)
    api = _origin(settings.STRIPE_API_BASE) if settings.STRIPE_API_BASE else STRIPE_API_ORIGIN
    policy = {directive: list(sources) for directive, sources in HOSTED_PAGE_CSP.items()}
    policy["script-src"].append(stripe_js)
    policy["frame-src"] = [*policy.get("frame-src", []), stripe_js]
    policy["connect-src"] += list(dict.fromkeys([stripe_js, api]))
    return policy


def hosted_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Never cached (the answers carry a customer's basket or cookie); the hosted pages' CSP
    (hosted_page_csp: it follows the gateway configured when the request is answered)."""

    @never_cache
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return csp_override(hosted_page_csp())(view)(request, *args, **kwargs)

    return wrapped


# --- Links ----------------------------------------------------------------------------------------


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
            kind=kind,
            basket_id=basket_id,
            token=request.GET.get(TOKEN_PARAMETERS[kind]),
            email_reference=request.GET.get(EMAIL_REFERENCE_PARAMETER),
        )
    except LinkRefused as refused:
        return _link_error(request, refused)
    response = HttpResponseRedirect(settings.CHECKOUT_PAGE_URL)
    set_landing_state(response, basket)
    return response


@require_get
@hosted_page
def recovery_link(request: HttpRequest) -> HttpResponse:
    """GET /api/checkout/recover?basketId=…&recover=…"""
    return _follow_link(request, LinkKind.RECOVER)


@require_get
@hosted_page
def assisted_link(request: HttpRequest) -> HttpResponse:
    """GET /api/checkout/assisted?basketId=…&cl=…"""
    return _follow_link(request, LinkKind.ASSISTED)


# --- The checkout page ----------------------------------------------------------------------------


def landing_basket_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Calls `view(request, basket)` with the basket of the signed landing-state cookie.

    Without a signed cookie naming a basket, or with one signed before cookies carried the link
    nonce (it cannot show whether its link was revoked since), the "no basket" page (404). With
    a nonce that is no longer the basket's (its links were revoked), the link-error page (410).
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        state = signed_landing_state(request.COOKIES)
        if state is None or state.link_nonce is None:
            return _no_basket(request)
        basket = selectors.basket_for_checkout_page(state.basket_id)
        if basket is None:
            return _no_basket(request)
        if basket.link_nonce != state.link_nonce:
            return _link_error(request, LinkRefused.revoked())
        return view(request, basket, *args, **kwargs)

    return wrapped


def _basket_counter(request: HttpRequest) -> list[tuple[str, str]]:
    """The per-basket counter of a post: the basket a signed cookie names (unsigned ones count per IP only)."""
    state = signed_landing_state(request.COOKIES)
    return [("pages:basket", f"basket:{state.basket_id}")] if state is not None else []


# Form posts: per client IP and per basket (settings.THROTTLE_PAGE_RATES); refused before any read.
throttled_form = throttle_posts("pages", more=_basket_counter)


def _is_over(basket: Basket) -> bool:
    return basket.status == BasketStatus.EXPIRED or (
        basket.status == BasketStatus.ACTIVE and basket.expires_at <= timezone.now()
    )


def _no_basket(request: HttpRequest) -> HttpResponse:
    return render(request, "checkout/checkout.html", {"basket": None}, status=404)


def _date(moment) -> str:
    return f"{moment:%-d %B %Y}" if moment is not None else ""


def _every(count: int, unit: str) -> str:
    """ "month", "4 weeks": the interval of a recurring charge, as in "every month"."""
    singular = unit[:-1] if unit.endswith("s") else unit
    return singular if count == 1 else f"{count} {unit}"


def renewal_terms(price: list[dict[str, Any]], currency: str) -> str:
    """What an offer charges after today's payment, in words, e.g. "then £31.96 every 4 weeks
    until you cancel" after "£75.00 for 52 weeks"; "" when nothing follows (a one-off charge).

    Today's payment is the first charge's first period; the words say what comes after it."""
    later: list[str] = []
    for index, charge in enumerate(price):
        amount = format_amount(charge["amount"], currency)
        if charge["type"] != "recurring":
            if index > 0:
                later.append(f"{amount} once")
            continue
        every = _every(charge.get("repeatInterval") or 1, charge.get("repeatIntervalType") or "months")
        count = charge.get("repeatCount")
        if count is None:
            later.append(f"{amount} every {every} until you cancel")
            continue
        remaining = count - 1 if index == 0 else count
        if remaining == 1:
            later.append(f"{amount} for one more {every}" if index == 0 else f"{amount} for {every}")
        elif remaining > 1:
            later.append(f"{amount} every {every}, {remaining} {'more ' if index == 0 else ''}times")
    return "then " + ", then ".join(later) if later else ""


def _pay_box(*, basket: Basket, due_today: str, terms: list[tuple[str, str]], client_secret: str = "") -> dict:
    """What the page shows above the button on every gateway (the amount due today, the renewal
    terms, whom the customer pays) and what its script needs when the page takes a card."""
    card = card_payments_on()
    return {
        "due_today": due_today,
        "terms": [{"name": name, "words": words} for name, words in terms if words],
        "merchant": settings.MERCHANT_NAME,
        "card": card,
        "no_payment_taken": NO_PAYMENT_TAKEN if no_payment_taken_on() else "",
        "stripe_js_url": settings.STRIPE_JS_URL if card else "",
        "stripe_key": settings.STRIPE_PUBLISHABLE_KEY if card else "",
        "client_secret": client_secret if card else "",
    }


def _new_order_context(basket: Basket, items: list[OrderItem], quote: selectors.BasketQuote) -> dict[str, Any]:
    order = order_to_wire(basket, items, quote)
    currency = basket.currency
    rows = [
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
    promo = order["promoCode"]
    return {
        "order": order,
        "items": rows,
        "totals": {
            name: format_amount(totals[name], currency) for name in ("subtotal", "discount", "total", "dueToday")
        }
        if currency
        else {},
        "promo": promo,
        "promo_discount": _promo_terms(promo) if promo else "",
        "renewal_terms": [
            (item["offer"]["name"], renewal_terms(item["price"], currency))
            for item in order["orderItems"]
            if item["price"] and currency and item.get("orderItemActionType") != "remove"
        ],
    }


def _promo_terms(promo: dict[str, Any]) -> str:
    terms = promo["discount"]
    if terms["type"] == "percentage":
        off = f"{terms['percentage'].removesuffix('.00')}% off"
    else:
        off = f"{format_amount(terms['amount'], terms['currency'])} off"
    if promo["durationLength"]:
        unit = promo["durationType"] or "months"
        return f"{off} for {promo['durationLength']} {unit[:-1] if promo['durationLength'] == 1 else unit}"
    return off


def _change_context(state: services.SubscriptionCheckout) -> dict[str, Any]:
    """An update basket: the current plan, the change with its effective date, what is due today."""
    subscription = state.subscription
    currency = subscription.offer.currency
    current_price = subscription.offer.snapshot.get("price", [])
    changes = []
    for item in state.items:
        quote = state.quote.change_quotes.get(item.id)
        effective = item.effective_date or (quote.effective_at if quote else None)
        changes.append(
            {
                "action": "Remove" if item.action_type == OrderItem.ActionType.REMOVE else "Add",
                "name": item.offer_snapshot.get("name", item.offer_id),
                "is_add_on": item.type == OrderItem.Type.ADD_ON,
                "quantity": item.quantity,
                "automatic": item.automatic,
                "schedule": schedule_in_words(item.offer_snapshot.get("price", []), currency),
                "effective": "today"
                if effective is not None and effective <= timezone.now()
                else _date(effective) or "today",
                "due_today": format_amount(quote.due_today, currency) if quote else format_amount("0", currency),
            }
        )
    totals = state.change_totals
    return {
        "subscription": subscription,
        "current_plan": {
            "name": subscription.offer.name,
            "quantity": subscription.quantity,
            "schedule": schedule_in_words(current_price, currency),
            "term_end": _date(subscription.term_end),
            "add_ons": [offer.name for offer, _quantity in state.subscription_add_ons],
        },
        "changes": changes,
        "renewal_terms": [
            (
                item.offer_snapshot.get("name", item.offer_id),
                renewal_terms(item.offer_snapshot.get("price", []), currency),
            )
            for item in state.items
            if item.action_type != OrderItem.ActionType.REMOVE
        ],
        "change_totals": {
            "charge": format_amount(totals.charge, currency),
            "credit": format_amount(totals.credit, currency),
            "due_today": format_amount(totals.due_today, currency),
            "next_charge": format_amount(totals.next_charge_amount, currency),
            "next_charge_at": _date(totals.next_charge_at),
            # What each amount pays for, and the balance (issue 13: a change says what it charges for).
            "charges": [
                {
                    "description": charge.description,
                    "period_start": _date(charge.period_start),
                    "period_end": _date(charge.period_end),
                    "amount": format_amount(charge.amount, currency),
                }
                for charge in (totals.settlement.charges if totals.settlement else ())
            ],
            "balance_applied": format_amount(totals.settlement.balance_applied, currency)
            if totals.settlement and totals.settlement.balance_applied
            else "",
            "balance": format_amount(totals.settlement.balance, currency)
            if totals.settlement and totals.settlement.balance
            else "",
        },
    }


def _render_checkout(
    request: HttpRequest,
    basket: Basket,
    *,
    details_form: CustomerDetailsForm | None = None,
    promo_form: PromoCodeForm | None = None,
    order_error: str | None = None,
    order_findings: list[str] | None = None,
    client_secret: str = "",
    status: int = 200,
) -> HttpResponse:
    items = list(basket.items.all())
    update_basket = basket.order_type == OrderType.UPDATE_SUBSCRIPTION
    completed = basket.status == BasketStatus.COMPLETED
    over = _is_over(basket)
    context: dict[str, Any] = {
        "basket": basket,
        "update_basket": update_basket,
        "completed": completed,
        "expired": over,
        "open": not completed and not over,
        "promo_form": promo_form or PromoCodeForm(),
        "details_form": details_form
        or CustomerDetailsForm(initial=details_initial(basket), remote_ip=client_ip(request)),
        "order_error": order_error,
        "order_findings": order_findings or [],
    }
    if update_basket and basket.for_subscription_id is not None and not completed:
        context.update(_change_context(services.subscription_checkout_quote(basket=basket, items=items)))
    else:
        # A completed change is shown as its order lines: its subscription has moved on since.
        quote = selectors.basket_quote(basket, items, now=timezone.now())
        context.update(_new_order_context(basket, items, quote))
    context["pay"] = _pay_box(
        basket=basket,
        due_today=context["change_totals"]["due_today"]
        if "change_totals" in context
        else context["totals"].get("dueToday", ""),
        terms=context.get("renewal_terms", []),
        client_secret=client_secret,
    )
    return render(request, "checkout/checkout.html", context, status=status)


@require_GET
@hosted_page
@landing_basket_page
def checkout_page(request: HttpRequest, basket: Basket) -> HttpResponse:
    """GET /checkout/: the landing-state basket, its promo code field and the customer-details form."""
    return _render_checkout(request, basket)


def _checkout_redirect(request: HttpRequest, notice: str | None = None) -> HttpResponse:
    if notice:
        # Read back by the next GET of the page (a signed cookie: customers have no session).
        messages.success(request, notice)
    return redirect("checkout-page")


@require_POST
@hosted_page
@throttled_form
@landing_basket_page
def apply_promo_code(request: HttpRequest, basket: Basket) -> HttpResponse:
    """POST /checkout/promo-code: apply a code through baskets.services, as the API does."""
    form = PromoCodeForm(request.POST)
    if not form.is_valid():
        return _render_checkout(request, basket, promo_form=form, status=400)
    code = selectors.normalise_promo_code(form.cleaned_data["code"])
    try:
        services.promo_code_apply(actor=PAGE_ACTOR, basket_id=basket.id, code=code)
    except PromoCodeRefused as refused:
        form.add_error("code", refused.message)
        return _render_checkout(request, basket, promo_form=form, status=400)
    except (BasketCompleted, BasketExpired, BasketNotFound):
        return _checkout_redirect(request)
    return _checkout_redirect(request, f"Promo code {code} applied.")


@require_POST
@hosted_page
@throttled_form
@landing_basket_page
def remove_promo_code(request: HttpRequest, basket: Basket) -> HttpResponse:
    """POST /checkout/promo-code/remove: take the code off the basket."""
    try:
        services.promo_code_remove(actor=PAGE_ACTOR, basket_id=basket.id)
    except (BasketCompleted, BasketExpired, BasketNotFound):
        return _checkout_redirect(request)
    return _checkout_redirect(request, "Promo code removed.")


CARD_DECLINED = "Your card was declined. No order was placed and nothing was charged: try another card."
CARD_NEEDS_AUTHENTICATION = "Your bank asks you to confirm this payment. Follow its steps to place your order."
CARD_REQUIRED = "Enter your card details to pay for your order."
CARD_NOT_READ = "We could not read your card details. Please enter them again."


@require_POST
@hosted_page
@throttled_form
@landing_basket_page
def place_order(request: HttpRequest, basket: Basket) -> HttpResponse:
    """POST /checkout/order: complete the basket through baskets.services.basket_complete.

    The same completion as POST /api/order: re-validation, promo redemption, subscriptions,
    payment (the card's PaymentMethod or confirmed PaymentIntent, CardPaymentForm). Completing
    twice shows the confirmation again (a double-clicked button). A declined card (402) shows the
    page again with the message, the basket as it was; 3-D Secure (402) shows it with the client
    secret for the page's script.
    """
    form = CustomerDetailsForm(request.POST, remote_ip=client_ip(request))
    card = CardPaymentForm(request.POST)
    if not form.is_valid() or not card.is_valid():
        return _render_checkout(
            request,
            basket,
            details_form=form,
            order_error=None if card.is_valid() else CARD_NOT_READ,
            status=400,
        )
    try:
        # The signed cookie names this basket and no other: the customer may complete it.
        services.basket_complete(
            actor=PAGE_ACTOR,
            basket_id=basket.id,
            any_basket=True,
            customer_details=form.customer_details(),
            payment=card.payment(),
            link_nonce=basket.link_nonce,  # the cookie's (landing_basket_page): revoked meanwhile stops it
        )
    except PaymentDeclined:
        # Nothing was written (baskets.services): the same basket, the details kept, another card.
        return _render_checkout(request, basket, details_form=form, order_error=CARD_DECLINED, status=402)
    except PaymentRequiresAction as action:
        # The page's script runs the bank's check (Stripe.js) with the secret, then posts again.
        return _render_checkout(
            request,
            basket,
            details_form=form,
            order_error=CARD_NEEDS_AUTHENTICATION,
            client_secret=(action.details or {}).get("clientSecret", ""),
            status=402,
        )
    except BasketCompleted:
        return redirect("checkout-confirmation")
    except BasketInvalid as invalid:
        findings = [finding["message"] for finding in (invalid.details or {}).get("findings", [])]
        return _render_checkout(
            request,
            selectors.basket_for_checkout_page(basket.id) or basket,
            details_form=form,
            order_error="We could not place your order:",
            order_findings=findings,
            status=invalid.status_code,
        )
    except LinkRefused as refused:
        return _link_error(request, refused)
    except PromoCodeRefused as refused:
        # Used up by other orders since it was applied: the customer can remove it and go on.
        return _render_checkout(
            request,
            basket,
            details_form=form,
            order_error="We could not place your order:",
            order_findings=[refused.message, "Remove the promo code to order without it."],
            status=400,
        )
    except ApplicationError as error:
        if error.code == BasketCodes.PAYMENT_METHOD_REQUIRED:
            return _render_checkout(request, basket, details_form=form, order_error=CARD_REQUIRED, status=400)
        # Expired (410), a subscription locked or changed meanwhile (423, 409), the gateway (502).
        fresh = selectors.basket_for_checkout_page(basket.id) or basket
        return _render_checkout(request, fresh, details_form=form, order_error=error.message, status=error.status_code)
    return redirect("checkout-confirmation")


@require_GET
@hosted_page
@landing_basket_page
def confirmation_page(request: HttpRequest, basket: Basket) -> HttpResponse:
    """GET /checkout/confirmation: what was ordered, once the basket is completed."""
    if basket.status != BasketStatus.COMPLETED:
        return redirect("checkout-page")
    items = list(basket.items.all())
    context: dict[str, Any] = {
        "basket": basket,
        "order_reference": f"{services.ORDER_ID_PREFIX}{basket.id}",
        "update_basket": basket.order_type == OrderType.UPDATE_SUBSCRIPTION,
        "completed_on": _date(basket.completed_at),
        "items": [
            {
                "name": item.offer_snapshot.get("name", item.offer_id),
                "quantity": item.quantity,
                "is_add_on": item.type == OrderItem.Type.ADD_ON,
                "removed": item.action_type == OrderItem.ActionType.REMOVE,
                "schedule": schedule_in_words(item.offer_snapshot.get("price", []), basket.currency or "GBP"),
                "effective": _date(item.effective_date),
            }
            for item in items
        ],
    }
    redemption = PromoRedemption.objects.filter(basket=basket).select_related("promo_code").first()
    if redemption is not None:
        context["redemption"] = redemption
        context["redemption_amount"] = format_amount(redemption.amount, redemption.currency or basket.currency or "GBP")
    payment = Payment.objects.filter(basket=basket).first()
    if payment is not None:
        context["payment"] = payment
        context["payment_amount"] = format_amount(payment.amount, payment.currency or basket.currency or "GBP")
        if payment.no_payment_taken:
            context["no_payment_taken"] = NO_PAYMENT_TAKEN
    return render(request, "checkout/confirmation.html", context)
