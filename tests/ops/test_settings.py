"""The operations settings read from the environment, and refuse nonsense at start-up."""

from __future__ import annotations

import logging
import runpy
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "checkout_project" / "settings.py"
OPERATIONS_VARIABLES = (
    "CACHE_URL",
    "DATABASE_URL",
    "DATABASE_REPLICA_URL",
    "DATABASE_PREPARED_STATEMENTS",
    "LOG_FORMAT",
    "LOG_LEVEL",
    "RECAPTCHA_MIN_SCORE",
    "DJANGO_DEBUG",
    "THROTTLE_ENABLED",
    "TRUSTED_PROXY_COUNT",
)


def load_settings(monkeypatch, **env) -> dict:
    """The settings module's names as a fresh process with this environment would see them."""
    monkeypatch.setenv("DJANGO_SECRET_KEY", "x")
    monkeypatch.setenv("RECAPTCHA_ENABLED", "0")
    for name in OPERATIONS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS_FILE))


def test_the_defaults(monkeypatch):
    loaded = load_settings(monkeypatch)

    assert loaded["THROTTLE_ENABLED"] is True
    assert loaded["THROTTLE_RATES"] == {
        "checkout": "3000/min",
        "checkout:admin": "600/min",
        "baskets:read": "600/min",
        "partner": "1200/min",
        "anonymous": "60/min",
        "customer": "300/min",
    }
    assert loaded["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    assert loaded["LOG_FORMAT"] == "json"
    assert loaded["TRUSTED_PROXY_COUNT"] == 0
    assert loaded["MIDDLEWARE"][0] == "checkout_project.middleware.RequestLogMiddleware"


def test_rates_switch_and_proxies_come_from_the_environment(monkeypatch):
    loaded = load_settings(
        monkeypatch, THROTTLE_RATE_CHECKOUT="42/min", THROTTLE_RATE_ANONYMOUS="5/s", THROTTLE_ENABLED="0",
        TRUSTED_PROXY_COUNT="1",
    )  # fmt: skip

    assert loaded["THROTTLE_RATES"]["checkout"] == "42/min"
    assert loaded["THROTTLE_RATES"]["anonymous"] == "5/s"
    assert loaded["THROTTLE_ENABLED"] is False
    # One proxy count for reCAPTCHA, throttling and logs.
    assert loaded["TRUSTED_PROXY_COUNT"] == 1


def test_redis_when_cache_url_says_so(monkeypatch):
    loaded = load_settings(monkeypatch, CACHE_URL="redis://cache.internal:6379/1")

    assert loaded["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert loaded["CACHES"]["default"]["LOCATION"] == "redis://cache.internal:6379/1"
    assert loaded["CACHES"]["default"]["OPTIONS"] == {"socket_connect_timeout": 2, "socket_timeout": 2}


def test_postgresql_prepares_statements_unless_told_not_to(monkeypatch):
    primary, replica = "postgres://app@db1:5432/checkout", "postgres://app@db2:5432/checkout"

    loaded = load_settings(monkeypatch, DATABASE_URL=primary, DATABASE_REPLICA_URL=replica)

    for alias in ("default", "replica"):
        options = loaded["DATABASES"][alias]["OPTIONS"]
        assert (options["server_side_binding"], options["prepare_threshold"]) == (True, 5)
    assert loaded["DATABASES"]["replica"]["HOST"] == "db2"
    assert loaded["ABANDONED_FEED_DATABASE"] == "replica"

    loaded = load_settings(monkeypatch, DATABASE_URL=primary, DATABASE_PREPARED_STATEMENTS="0")
    assert "server_side_binding" not in loaded["DATABASES"]["default"].get("OPTIONS", {})
    assert "replica" not in loaded["DATABASES"]
    assert loaded["ABANDONED_FEED_DATABASE"] == "default"


def test_sqlite_has_no_postgresql_options(monkeypatch):
    loaded = load_settings(monkeypatch)

    assert "server_side_binding" not in loaded["DATABASES"]["default"]["OPTIONS"]


def test_text_logs_in_debug_unless_told_otherwise(monkeypatch):
    assert load_settings(monkeypatch, DJANGO_DEBUG="1")["LOG_FORMAT"] == "text"
    assert load_settings(monkeypatch, DJANGO_DEBUG="1", LOG_FORMAT="json")["LOG_FORMAT"] == "json"
    assert load_settings(monkeypatch, LOG_FORMAT="text")["LOG_FORMAT"] == "text"


def test_the_text_format_carries_the_request_id(monkeypatch):
    logging_settings = load_settings(monkeypatch, LOG_FORMAT="text")["LOGGING"]
    formatter = logging.Formatter(logging_settings["formatters"]["text"]["format"])
    record = logging.makeLogRecord({"name": "checkout.requests", "msg": "GET /x 200 1.0ms", "levelname": "INFO"})
    record.request_id = "r-9"

    assert formatter.format(record).endswith("INFO checkout.requests [r-9] GET /x 200 1.0ms")


@pytest.mark.parametrize(
    "env",
    [
        {"THROTTLE_RATE_PARTNER": "lots"},
        {"THROTTLE_RATE_CHECKOUT": "600/fortnight"},
        {"CACHE_URL": "memcached://x:11211"},
        {"LOG_FORMAT": "xml"},
        {"LOG_LEVEL": "LOUD"},
        {"RECAPTCHA_MIN_SCORE": "abc"},
        {"BASKET_LIFETIME_DAYS": "two weeks"},
    ],
)
def test_nonsense_is_refused_at_start_up_naming_the_variable(monkeypatch, env):
    (name,) = env
    with pytest.raises(ImproperlyConfigured, match=name):
        load_settings(monkeypatch, **env)


def test_a_recaptcha_score_and_a_log_level_are_read(monkeypatch):
    settings = load_settings(monkeypatch, RECAPTCHA_MIN_SCORE="0.5", LOG_LEVEL="WARNING")
    assert settings["RECAPTCHA_MIN_SCORE"] == 0.5
    assert settings["LOGGING"]["root"]["level"] == "WARNING"


def test_basket_max_items_defaults_to_fifty_and_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("BASKET_MAX_ITEMS", raising=False)
    assert load_settings(monkeypatch)["BASKET_MAX_ITEMS"] == 50
    assert load_settings(monkeypatch, BASKET_MAX_ITEMS="10")["BASKET_MAX_ITEMS"] == 10


@pytest.mark.parametrize("value", ["0", "-1", "1001", "many"])
def test_basket_max_items_must_be_a_bounded_positive_integer(monkeypatch, value):
    with pytest.raises(ImproperlyConfigured, match="BASKET_MAX_ITEMS"):
        load_settings(monkeypatch, BASKET_MAX_ITEMS=value)
