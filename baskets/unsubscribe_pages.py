"""The unsubscribe page of recovery emails (docs/recovery.md): /email/unsubscribe/<token>.

The token is the address, signed (baskets.recovery_mail.unsubscribe_token): it unsubscribes that
address and no other, and a tampered one is refused (400). GET asks for confirmation (a link
scanner or a preview must not unsubscribe anyone); POST unsubscribes, from the page's button or
from a mail client's one-click unsubscribe (RFC 8058: `List-Unsubscribe=One-Click` posted to the
List-Unsubscribe address, without our CSRF token, hence csrf_exempt: the signed token is the
credential and unsubscribing is all it can do).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from baskets import services
from baskets.pages import hosted_page
from baskets.recovery_mail import parse_unsubscribe_token
from checkout_project.api.throttling import throttle_posts


def _masked(address: str) -> str:
    """ "a…@example.com": enough for its owner to recognise, little for anyone else."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}…@{domain}"


@csrf_exempt
@throttle_posts("pages")
@require_http_methods(["GET", "POST"])
@hosted_page
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    address = parse_unsubscribe_token(token)
    if address is None:
        context = {
            "title": "This link cannot be used",
            "message": "This unsubscribe link is not valid. Please use the whole link from the email.",
        }
        return render(request, "emails/unsubscribe.html", {**context, "invalid": True}, status=400)
    context = {"address": _masked(address), "merchant": settings.MERCHANT_NAME or "us"}
    if request.method == "POST":
        services.email_unsubscribe(address=address)
        return render(request, "emails/unsubscribe.html", {**context, "done": True})
    return render(request, "emails/unsubscribe.html", context)
