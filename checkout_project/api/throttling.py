"""Request rates per OAuth application and scope (API.md §1: 429 with Retry-After), and per
client IP (and basket) for the form posts of the plain Django pages (`throttle_posts`).

Counters live in Django's cache (THROTTLE_CACHE), which every worker and app server shares: by
default the database cache (checkout_project.api.cache: one upsert per counter), or Redis when
CACHE_URL points at one (its atomic `add`/`incr`). Each (scope, caller) pair gets a fixed window
of the rate's period, counted atomically, so concurrent requests on several servers never lose
a count (a list-of-timestamps sliding log would). The price of fixed windows: a client can send
up to twice the rate across a window boundary.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle

from checkout_project.api.cache import DatabaseCache
from checkout_project.api.client_ip import client_ip

logger = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
CUSTOMER = "customer"
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'600/min' -> (600, 60). The period is s, m, h or d, or any word starting with one."""
    try:
        count, period = rate.split("/")
        return int(count), _PERIODS[period.strip()[0].lower()]
    except (ValueError, KeyError, IndexError) as exc:
        raise ImproperlyConfigured(f"Throttle rate {rate!r} is not like '600/min'.") from exc


def window_wait(scope: str, caller: str, rate: str, now: float) -> float | None:
    """Count one request of `caller` in `scope`'s current window; None within `rate`, else the wait.

    The wait is the seconds until the window ends. Raises RedisError when the cache is unreachable.
    """
    limit, period = parse_rate(rate)
    if count_request(f"throttle:{scope}:{caller}:{period}", period, now) <= limit:
        return None
    return window_ends(period, now) - now


def window_ends(period: int, now: float) -> int:
    """When the fixed window of `period` seconds that `now` falls in ends (a Unix time)."""
    return (int(now // period) + 1) * period


def count_request(key: str, period: int, now: float) -> int:
    """Count one more request in the counter `key`'s current window of `period` seconds; the count so far."""
    cache = caches[settings.THROTTLE_CACHE]
    if isinstance(cache, DatabaseCache):
        # One row per counter, reset when a new window opens: one statement per check.
        return cache.count(key, window_ends=window_ends(period, now), now=now)
    # One key per window. It outlives its window a little so a slow clock on another server
    # still counts into it.
    key = f"{key}:{int(now // period)}"
    if cache.add(key, 1, timeout=period + 5):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr: this request opens the window again
        cache.add(key, 1, timeout=period + 5)
        return 1


def retry_after(wait: float) -> int:
    # Whole seconds, at least 1: Retry-After is an integer and "0" would invite an instant retry.
    return max(1, math.ceil(wait))


class ApplicationRateThrottle(BaseThrottle):
    """Counts requests per (required scope, OAuth application); per client IP without a token.

    A token's requests count against the rate of the scope the action requires
    (`THROTTLE_RATES["checkout"]` for initiate, ...). A customer token's requests also count
    per user against `THROTTLE_RATES["customer"]`, so one customer cannot use up the allowance
    of every customer of the same application. Requests without a valid token count against
    `THROTTLE_RATES["anonymous"]` per client IP.
    """

    timer = staticmethod(time.time)

    def __init__(self) -> None:
        self._wait: float | None = None

    def scope_and_caller(self, request, view) -> tuple[str, str]:
        application_id = getattr(request.auth, "application_id", None)
        if application_id is None:
            return ANONYMOUS, f"ip:{(client_ip(request) or 'unknown')}"
        return getattr(view, "required_scope", None) or ANONYMOUS, f"app:{application_id}"

    def counters(self, request, view) -> list[tuple[str, str]]:
        """The (scope, caller) counters a request counts against, in order: a customer's own first,
        so the requests refused for exceeding it do not eat into its application's allowance."""
        user_id = getattr(request.auth, "user_id", None)
        own = [(CUSTOMER, f"user:{user_id}")] if user_id is not None else []
        return [*own, self.scope_and_caller(request, view)]

    def allow_request(self, request, view) -> bool:
        if not settings.THROTTLE_ENABLED:
            return True
        now = self.timer()
        for scope, caller in self.counters(request, view):
            try:
                rate = settings.THROTTLE_RATES[scope]
            except KeyError as exc:
                raise ImproperlyConfigured(f"THROTTLE_RATES has no rate for scope {scope!r}.") from exc
            try:
                self._wait = window_wait(scope, caller, rate, now)
            except RedisError as exc:
                # Throttling protects the service; an unreachable cache must not take the API down with it.
                logger.warning("throttling skipped: cache unavailable (%s)", exc.__class__.__name__)
                return True
            if self._wait is not None:
                return False
        return True

    def wait(self) -> float | None:
        return None if self._wait is None else retry_after(self._wait)


# --- Plain Django pages -----------------------------------------------------------------------------


def client_ip_caller(request: HttpRequest) -> str:
    return f"ip:{client_ip(request) or 'unknown'}"


class PageRateThrottle:
    """Rates for the form posts of plain Django views: the hosted checkout pages, the login forms.

    Each post counts once against `THROTTLE_PAGE_RATES[scope]` per client IP, and against the
    rate of every further (scope, caller) pair the view names (the hosted pages: per basket).
    The same fixed windows and cache as the API's throttle; GETs are never counted.
    """

    timer = staticmethod(time.time)

    @classmethod
    def wait(cls, counters: Iterable[tuple[str, str]]) -> float | None:
        """Count the request against each (scope, caller); None when all allow it, else the longest wait."""
        now = cls.timer()
        waits = []
        for scope, caller in counters:
            try:
                rate = settings.THROTTLE_PAGE_RATES[scope]
            except KeyError as exc:
                raise ImproperlyConfigured(f"THROTTLE_PAGE_RATES has no rate for {scope!r}.") from exc
            wait = window_wait(f"page:{scope}", caller, rate, now)
            if wait is not None:
                waits.append(wait)
        return max(waits) if waits else None


# What the decorated view answers: HttpResponse for our pages, HttpResponseBase for a class-based view's as_view().
_Response = TypeVar("_Response", bound=HttpResponseBase)


def throttle_posts(
    scope: str,
    *,
    more: Callable[[HttpRequest], Iterable[tuple[str, str]]] | None = None,
    refuse: Callable[[HttpRequest, int], HttpResponse] | None = None,
) -> Callable[[Callable[..., _Response]], Callable[..., _Response | HttpResponse]]:
    """Limit a plain view's POSTs per client IP (`scope`) and per the pairs `more(request)` names.

    A refused post reaches no view code (it changes nothing) and gets 429 with Retry-After:
    `refuse(request, seconds)`, by default a small HTML page, never the API's JSON. Off with
    THROTTLE_ENABLED; an unreachable cache lets posts through, as on the API.
    """
    refusal = refuse or too_many_requests

    def decorate(view: Callable[..., _Response]) -> Callable[..., _Response | HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> _Response | HttpResponse:
            if request.method == "POST" and settings.THROTTLE_ENABLED:
                counters = [(scope, client_ip_caller(request)), *(more(request) if more is not None else ())]
                try:
                    wait = PageRateThrottle.wait(counters)
                except RedisError as exc:
                    logger.warning("throttling skipped: cache unavailable (%s)", exc.__class__.__name__)
                    wait = None
                if wait is not None:
                    return refusal(request, retry_after(wait))
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def too_many_requests(request: HttpRequest, seconds: int) -> HttpResponse:
    response = render(request, "checkout/too_many_requests.html", {"retry_after": seconds}, status=429)
    response["Retry-After"] = str(seconds)
    add_never_cache_headers(response)
    return response
