"""Request rates per OAuth application and scope (API.md §1: 429 with Retry-After).

Counters live in Django's cache: per process with the default LocMemCache, shared by every
app server when CACHE_URL points at Redis. Each (scope, caller) pair gets a fixed window of
the rate's period, counted with the cache's atomic `add`/`incr`, so concurrent requests on
several servers never lose a count (a list-of-timestamps sliding log would). The price of
fixed windows: a client can send up to twice the rate across a window boundary.
"""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle

from checkout_project.api.client_ip import client_ip

logger = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'600/min' -> (600, 60). The period is s, m, h or d, or any word starting with one."""
    try:
        count, period = rate.split("/")
        return int(count), _PERIODS[period.strip()[0].lower()]
    except (ValueError, KeyError, IndexError) as exc:
        raise ImproperlyConfigured(f"Throttle rate {rate!r} is not like '600/min'.") from exc


class ApplicationRateThrottle(BaseThrottle):
    """Counts requests per (required scope, OAuth application); per client IP without a token.

    A token's requests count against the rate of the scope the action requires
    (`THROTTLE_RATES["checkout"]` for initiate, ...). Requests without a valid token count
    against `THROTTLE_RATES["anonymous"]` per client IP.
    """

    timer = staticmethod(time.time)

    def __init__(self) -> None:
        self._wait: float | None = None

    def scope_and_caller(self, request, view) -> tuple[str, str]:
        application_id = getattr(request.auth, "application_id", None)
        if application_id is None:
            return ANONYMOUS, f"ip:{(client_ip(request) or 'unknown')}"
        return getattr(view, "required_scope", None) or ANONYMOUS, f"app:{application_id}"

    def allow_request(self, request, view) -> bool:
        if not settings.THROTTLE_ENABLED:
            return True
        scope, caller = self.scope_and_caller(request, view)
        try:
            rate = settings.THROTTLE_RATES[scope]
        except KeyError as exc:
            raise ImproperlyConfigured(f"THROTTLE_RATES has no rate for scope {scope!r}.") from exc
        limit, period = parse_rate(rate)
        now = self.timer()
        window = int(now // period)
        key = f"throttle:{scope}:{caller}:{period}:{window}"
        try:
            count = self.count(key, period)
        except RedisError as exc:
            # Throttling protects the service; an unreachable cache must not take the API down with it.
            logger.warning("throttling skipped: cache unavailable (%s)", exc.__class__.__name__)
            return True
        if count <= limit:
            return True
        self._wait = (window + 1) * period - now
        return False

    @staticmethod
    def count(key: str, period: int) -> int:
        """Count one more request in the window `key`; the count so far."""
        cache = caches[settings.THROTTLE_CACHE]
        # The key outlives its window a little so a slow clock on another server still counts into it.
        if cache.add(key, 1, timeout=period + 5):
            return 1
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr: this request opens the window again
            cache.add(key, 1, timeout=period + 5)
            return 1

    def wait(self) -> float | None:
        # Whole seconds, at least 1: Retry-After is an integer and "0" would invite an instant retry.
        return None if self._wait is None else max(1, math.ceil(self._wait))
