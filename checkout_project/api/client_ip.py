"""The client's IP address as seen through the trusted proxies in front of the app servers."""

from django.conf import settings


def client_ip(request) -> str | None:
    """REMOTE_ADDR, or with N trusted proxies in front the Nth address from the right of X-Forwarded-For.

    Only the addresses the trusted proxies appended are believed: anything further left was
    written by the client and can be forged.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")
