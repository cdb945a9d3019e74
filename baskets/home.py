"""The start page at `/`: where to go (the admin, the API docs, a demo checkout)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from baskets.links import recovery_link
from baskets.models import Basket, BasketStatus
from baskets.pages import hosted_page

# seed_demo's baskets (checkout_project/management/demo_baskets.py).
DEMO_SOURCE = "demo"


@require_GET
@hosted_page
def home_page(request: HttpRequest) -> HttpResponse:
    """Links to the admin and the API docs, and the recovery link of the most recent open demo
    basket (none before seed_demo ran): one query."""
    demo = (
        Basket.objects.filter(source=DEMO_SOURCE, status=BasketStatus.ACTIVE, expires_at__gt=timezone.now())
        .order_by("-updated")
        .first()
    )
    return render(request, "home.html", {"demo_checkout_url": recovery_link(demo) if demo is not None else ""})
