"""The operations settings read from the environment, and refuse nonsense at start-up."""

from __future__ import annotations

import ast
import logging
import os
import re
import runpy
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "checkout_project" / "settings.py"
OPERATIONS_VARIABLES = (
    "ALLOWED_HOSTS",
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
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
)


def load_settings(monkeypatch, **env) -> dict:
    """The settings module's names as a fresh process with this environment would see them."""
    monkeypatch.setenv("DJANGO_SECRET_KEY", "k" * 40 + "0123456789")
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
    # Shared by every worker and app server, made by `migrate`: no server to run besides the database.
    assert loaded["CACHES"]["default"]["BACKEND"] == "checkout_project.api.cache.DatabaseCache"
    assert loaded["CACHES"]["default"]["LOCATION"] == "checkout_cache"
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


# --- Every number is bounded ---------------------------------------------------------------------


def number_variables() -> list[str]:
    """Every variable settings.py reads with env_int or env_float (parsed, so a new one is covered)."""
    tree = ast.parse(SETTINGS_FILE.read_text(encoding="utf-8"))
    return sorted(
        {
            node.args[0].value
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"env_int", "env_float"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
        }
    )


def test_the_number_variables_are_found():
    assert {"BASKET_LIFETIME_DAYS", "LINK_LIFETIME_DAYS", "IDEMPOTENCY_KEY_LIFETIME_HOURS"} <= set(number_variables())
    assert len(number_variables()) >= 10


@pytest.mark.parametrize("name", number_variables())
@pytest.mark.parametrize("value", ["-5", "99999999999", "1e400", "nan"])
def test_a_number_out_of_its_bounds_stops_the_start_naming_the_variable(monkeypatch, name, value):
    # Before: BASKET_LIFETIME_DAYS=-5 was accepted and 99999999999 died in timedelta with a bare OverflowError.
    with pytest.raises(ImproperlyConfigured, match=name):
        load_settings(monkeypatch, **{name: value})


@pytest.mark.parametrize(
    ("name", "value", "setting", "expected"),
    [
        ("BASKET_LIFETIME_DAYS", "1", "BASKET_LIFETIME", timedelta(days=1)),
        ("BASKET_LIFETIME_DAYS", "3650", "BASKET_LIFETIME", timedelta(days=3650)),
        ("LINK_LIFETIME_DAYS", "7", "LINK_LIFETIME", timedelta(days=7)),
        ("IDEMPOTENCY_KEY_LIFETIME_HOURS", "48", "IDEMPOTENCY_KEY_LIFETIME", timedelta(hours=48)),
        ("DATABASE_CONN_MAX_AGE", "0", "DATABASE_CONN_MAX_AGE", 0),
        ("RECAPTCHA_MIN_SCORE", "1", "RECAPTCHA_MIN_SCORE", 1.0),
        ("TRUSTED_PROXY_COUNT", "2", "TRUSTED_PROXY_COUNT", 2),
    ],
)
def test_numbers_within_their_bounds_are_read(monkeypatch, name, value, setting, expected):
    assert load_settings(monkeypatch, **{name: value})[setting] == expected


@pytest.mark.parametrize("rate", ["0/min", "1234567890/min"])
def test_a_rate_allowing_nothing_or_absurdly_much_stops_the_start(monkeypatch, rate):
    with pytest.raises(ImproperlyConfigured, match="THROTTLE_RATE_ANONYMOUS"):
        load_settings(monkeypatch, THROTTLE_RATE_ANONYMOUS=rate)


# --- The secret key -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["x", "short-but-not-empty", "k" * 49, "ab" * 30])
def test_a_weak_secret_key_stops_the_start_with_debug_off(monkeypatch, key):
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY must be at least 50 random characters"):
        load_settings(monkeypatch, DJANGO_SECRET_KEY=key)


def test_a_long_secret_key_starts_and_debug_takes_any(monkeypatch):
    key = "0123456789abcdefghij" * 3
    assert load_settings(monkeypatch, DJANGO_SECRET_KEY=key)["SECRET_KEY"] == key
    assert load_settings(monkeypatch, DJANGO_SECRET_KEY="x", DJANGO_DEBUG="1")["SECRET_KEY"] == "x"


# --- HTTPS behind a TLS proxy -------------------------------------------------------------------


def test_behind_a_tls_proxy_http_redirects_to_https_and_hsts_is_on(monkeypatch):
    loaded = load_settings(monkeypatch, SECURE_PROXY_SSL_HEADER="1")

    assert loaded["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert loaded["SECURE_SSL_REDIRECT"] is True
    assert loaded["SECURE_HSTS_SECONDS"] == 31536000
    assert loaded["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert loaded["SECURE_HSTS_PRELOAD"] is False
    # The balancer's probes come over plain http to the app server.
    assert loaded["SECURE_REDIRECT_EXEMPT"] == [r"^healthz$", r"^readyz$"]


def test_without_a_tls_proxy_nothing_redirects_and_each_switch_is_configurable(monkeypatch):
    plain = load_settings(monkeypatch)
    assert "SECURE_PROXY_SSL_HEADER" not in plain
    assert (plain["SECURE_SSL_REDIRECT"], plain["SECURE_HSTS_SECONDS"]) == (False, 0)

    tuned = load_settings(
        monkeypatch, SECURE_SSL_REDIRECT="1", SECURE_HSTS_SECONDS="600", SECURE_HSTS_INCLUDE_SUBDOMAINS="0",
        SECURE_HSTS_PRELOAD="1",
    )  # fmt: skip
    assert (tuned["SECURE_SSL_REDIRECT"], tuned["SECURE_HSTS_SECONDS"]) == (True, 600)
    assert (tuned["SECURE_HSTS_INCLUDE_SUBDOMAINS"], tuned["SECURE_HSTS_PRELOAD"]) == (False, True)
    assert (
        load_settings(monkeypatch, SECURE_PROXY_SSL_HEADER="1", SECURE_SSL_REDIRECT="0")["SECURE_SSL_REDIRECT"] is False
    )


PRODUCTION_ENVIRONMENT = {
    "DJANGO_SECRET_KEY": "production-like-key-" + "7f3a9c2e5b8d1f4a6c0e9b2d5f8a1c4e7b0d3f6a9c2e5b8d",
    "ALLOWED_HOSTS": "checkout.example.com",
    "SECURE_PROXY_SSL_HEADER": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "RECAPTCHA_PUBLIC_KEY": "site-key",
    "RECAPTCHA_PRIVATE_KEY": "secret-key",
    "SITE_URL": "https://checkout.example.com",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    """`manage.py <args>` with the production settings module and only `env` set of ours."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH"}
    }
    environment |= {"DJANGO_SETTINGS_MODULE": "checkout_project.settings", **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=SETTINGS_FILE.parents[1], env=environment,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_check_deploy_finds_nothing_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENVIRONMENT)

    assert result.returncode == 0, result.stdout + result.stderr
    # Silenced: only models.W040 (the covering indexes' INCLUDE, which SQLite leaves out), per model check.
    assert re.search(r"System check identified no issues \(\d+ silenced\)\.", result.stdout), result.stdout


def test_check_deploy_with_the_defaults_asks_only_for_the_preload_consent_and_the_site_url():
    left_out = {"SECURE_HSTS_PRELOAD", "SITE_URL"}
    environment = {name: value for name, value in PRODUCTION_ENVIRONMENT.items() if name not in left_out}

    result = manage("check", "--deploy", **environment)

    output = result.stdout + result.stderr  # a warning goes to stderr, the all-clear to stdout
    assert result.returncode == 0, output
    assert re.search(r"System check identified 2 issues \(\d+ silenced\)\.", output), output
    assert "(security.W021)" in output
    assert "(baskets.W001)" in output


def test_a_short_secret_key_stops_manage_py_naming_the_variable():
    result = manage("check", **{**PRODUCTION_ENVIRONMENT, "DJANGO_SECRET_KEY": "too-short-for-production"})

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be at least 50 random characters" in result.stderr


def test_only_the_covering_index_warning_is_silenced():
    from django.conf import settings

    assert settings.SILENCED_SYSTEM_CHECKS == ["models.W040"]
