"""System checks of baskets' settings that cannot stop start-up (`manage.py check --deploy`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Warning


def site_url_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Recovery emails need absolute links: without SITE_URL each one fails with that reason."""
    if settings.SITE_URL:
        return []
    return [
        Warning(
            "SITE_URL is not set: recovery emails cannot link to the basket and fail.",
            hint="Set SITE_URL to the address customers reach this server at (https://checkout.example.com).",
            id="baskets.W001",
        )
    ]
