"""Throttling per OAuth application and scope: 429 with Retry-After and the error shape (API.md §1)."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.urls import get_resolver
from rest_framework.test import APIClient

from baskets.models import Basket
from checkout_project.api.throttling import ApplicationRateThrottle, parse_rate
from tests.conftest import bearer
from tests.factories import AccessTokenFactory, ApplicationFactory

pytestmark = pytest.mark.django_db

ABANDONED = "/api/checkout/abandoned"
INITIATE = "/api/checkout/initiate"
# 20 seconds into a minute: the current window ends in 40 seconds.
FROZEN_NOW = 1_700_000_000.0 - (1_700_000_000 % 60) + 20


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock(FROZEN_NOW)
    monkeypatch.setattr(ApplicationRateThrottle, "timer", staticmethod(clock))
    return clock


@pytest.fixture
def throttled(settings, clock):
    """Throttling on, with small rates, fresh counters and a frozen clock."""
    settings.THROTTLE_ENABLED = True
    settings.THROTTLE_RATES = {
        "checkout": "3/min",
        "checkout:admin": "5/min",
        "baskets:read": "3/min",
        "partner": "3/min",
        "anonymous": "2/min",
    }
    caches["default"].clear()
    yield settings
    caches["default"].clear()


def reader_token(name: str):
    app = ApplicationFactory(name=name, scopes="baskets:read checkout:admin")
    return AccessTokenFactory(application=app, scope="baskets:read checkout:admin")


def throttled_body(seconds: int) -> dict:
    return {"message": f"Request was throttled. Expected available in {seconds} seconds.", "code": "throttled"}


def test_a_burst_over_the_rate_gets_429_with_retry_after_and_another_application_is_not_affected(api_client, throttled):
    token, other = reader_token("feed reader"), reader_token("other feed reader")

    answers = [api_client.get(ABANDONED, **bearer(token)) for _ in range(4)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert answers[3]["Retry-After"] == "40"
    assert answers[3].json() == throttled_body(40)
    assert answers[3]["Content-Type"] == "application/json"
    assert api_client.get(ABANDONED, **bearer(other)).status_code == 200


def test_a_throttled_initiate_creates_nothing(throttled, storefront_token, offer):
    order = {"orderItems": [{"offer": {"id": offer.id}}]}

    # A fresh client each time: no landing-state cookie, so every accepted request creates a basket.
    answers = [
        APIClient().post(INITIATE, {"order": order}, format="json", **bearer(storefront_token)) for _ in range(4)
    ]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert answers[3].json() == throttled_body(40)
    assert Basket.objects.count() == 3


def test_customer_tokens_of_one_application_share_its_counter(api_client, throttled, storefront_token, customer_token):
    # Both tokens belong to the storefront application: the rate is per application, not per token.
    for token in (storefront_token, customer_token, storefront_token):
        assert api_client.put("/api/checkout/update", {}, format="json", **bearer(token)).status_code != 429

    answer = api_client.put("/api/checkout/update", {}, format="json", **bearer(customer_token))

    assert answer.status_code == 429


def test_each_scope_has_its_own_counter_and_rate(api_client, throttled):
    token = reader_token("back office")
    for _ in range(3):
        api_client.get(ABANDONED, **bearer(token))
    assert api_client.get(ABANDONED, **bearer(token)).status_code == 429

    # checkout:admin allows 5 a minute and has counted nothing yet.
    renew = [
        api_client.post("/api/admin/checkout/initiate/renew", {}, format="json", **bearer(token)) for _ in range(6)
    ]

    assert [answer.status_code for answer in renew] == [400, 400, 400, 400, 400, 429]


def test_the_counter_starts_again_in_the_next_window(api_client, throttled, clock):
    token = reader_token("feed reader")
    for _ in range(3):
        api_client.get(ABANDONED, **bearer(token))
    assert api_client.get(ABANDONED, **bearer(token)).status_code == 429

    clock.now += 40

    assert api_client.get(ABANDONED, **bearer(token)).status_code == 200


def test_requests_without_a_valid_token_are_throttled_per_client_ip_before_the_401(api_client, throttled):
    no_token = [api_client.get(ABANDONED) for _ in range(2)]
    bad_token = api_client.get(ABANDONED, HTTP_AUTHORIZATION="Bearer not-a-token")
    other_ip = api_client.get(ABANDONED, REMOTE_ADDR="203.0.113.9")

    assert [answer.status_code for answer in no_token] == [401, 401]
    assert bad_token.status_code == 429
    assert bad_token["Retry-After"] == "40"
    assert bad_token.json() == throttled_body(40)
    assert other_ip.status_code == 401


def test_the_client_ip_comes_from_x_forwarded_for_only_behind_trusted_proxies(api_client, throttled):
    throttled.TRUSTED_PROXY_COUNT = 1
    for _ in range(2):
        api_client.get(ABANDONED, HTTP_X_FORWARDED_FOR="198.51.100.1")
    # A client cannot reset its counter by adding its own X-Forwarded-For entries on the left.
    spoofed = api_client.get(ABANDONED, HTTP_X_FORWARDED_FOR="10.0.0.1, 198.51.100.1")
    other_client = api_client.get(ABANDONED, HTTP_X_FORWARDED_FOR="198.51.100.2")

    assert spoofed.status_code == 429
    assert other_client.status_code == 401


def test_a_token_without_the_scope_counts_against_that_scope(api_client, throttled, storefront_token):
    answers = [api_client.get(ABANDONED, **bearer(storefront_token)) for _ in range(4)]

    assert [answer.status_code for answer in answers] == [403, 403, 403, 429]


def test_throttling_off_lets_every_request_through(api_client, throttled):
    throttled.THROTTLE_ENABLED = False
    token = reader_token("feed reader")

    assert {api_client.get(ABANDONED, **bearer(token)).status_code for _ in range(10)} == {200}


def test_probes_are_never_throttled(api_client, throttled):
    assert {api_client.get("/healthz").status_code for _ in range(10)} == {200}


def test_every_scope_an_action_requires_has_a_rate(settings):
    required = set()
    for pattern in get_resolver().url_patterns:
        for sub in getattr(pattern, "url_patterns", []):
            scope = getattr(sub.callback, "initkwargs", {}).get("required_scope")
            if scope:
                required.add(scope)

    assert required >= {"checkout", "checkout:admin", "baskets:read"}
    assert required <= set(settings.THROTTLE_RATES)
    assert set(settings.OAUTH_SCOPES) - {"introspection"} <= set(settings.THROTTLE_RATES)


@pytest.mark.parametrize(
    ("rate", "parsed"), [("600/min", (600, 60)), ("10/s", (10, 1)), ("5/hour", (5, 3600)), ("1/day", (1, 86400))]
)
def test_parse_rate(rate, parsed):
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["600", "600/fortnight", "many/min", "600/"])
def test_parse_rate_refuses_nonsense(rate):
    with pytest.raises(ImproperlyConfigured):
        parse_rate(rate)


def test_an_unreachable_cache_lets_requests_through(api_client, throttled, caplog):
    # Nothing listens on port 1: redis-py's connection is refused at once (no network needed).
    throttled.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "unreachable": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        },
    }
    throttled.THROTTLE_CACHE = "unreachable"
    token = reader_token("feed reader")

    answers = [api_client.get(ABANDONED, **bearer(token)).status_code for _ in range(5)]

    assert answers == [200] * 5
    assert "throttling skipped: cache unavailable (ConnectionError)" in caplog.text
