"""Recovery and email settings: their defaults, and a bad value stops start-up naming the variable."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.ops.test_settings import load_settings

RECOVERY_VARIABLES = (
    "ABANDONED_AFTER_MINUTES", "RECOVERY_EMAIL_SCHEDULE", "SITE_URL", "EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT",
    "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD", "EMAIL_USE_TLS", "EMAIL_USE_SSL", "EMAIL_TIMEOUT_SECONDS",
    "DEFAULT_FROM_EMAIL", "BASKET_LIFETIME_DAYS", "MERCHANT_NAME",
)  # fmt: skip


def recovery_settings(monkeypatch, **env) -> dict:
    for name in RECOVERY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return load_settings(monkeypatch, **env)


def test_the_defaults_in_production(monkeypatch):
    loaded = recovery_settings(monkeypatch)

    assert loaded["ABANDONED_AFTER_MINUTES"] == 60
    assert loaded["RECOVERY_EMAIL_SCHEDULE"] == [("1h", timedelta(hours=1)), ("24h", timedelta(hours=24))]
    assert loaded["SITE_URL"] == ""
    assert loaded["MAILERS"] == {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": "localhost", "port": 25, "username": "", "password": "", "use_tls": False, "use_ssl": False,
                "timeout": 10,
            },
        }
    }  # fmt: skip
    assert loaded["DEFAULT_FROM_EMAIL"] == "noreply@localhost"
    # Django 6.1's deprecated EMAIL_* settings may not be set beside MAILERS.
    assert not {"EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_TIMEOUT", "EMAIL_USE_TLS"} & set(loaded)


def test_the_default_schedule_leaves_out_a_step_a_one_day_lifetime_leaves_no_time_for(monkeypatch):
    loaded = recovery_settings(monkeypatch, BASKET_LIFETIME_DAYS="1")

    assert loaded["RECOVERY_EMAIL_SCHEDULE"] == [("1h", timedelta(hours=1))]


def test_development_prints_emails_and_links_to_the_local_server(monkeypatch):
    loaded = recovery_settings(monkeypatch, DJANGO_DEBUG="1")

    assert loaded["MAILERS"] == {
        "default": {"BACKEND": "django.core.mail.backends.console.EmailBackend", "OPTIONS": {}}
    }
    assert loaded["SITE_URL"] == "http://127.0.0.1:8000"


def test_everything_from_the_environment(monkeypatch):
    loaded = recovery_settings(
        monkeypatch, ABANDONED_AFTER_MINUTES="30", RECOVERY_EMAIL_SCHEDULE="45m, 6h,2d", SITE_URL="https://shop.example/",
        EMAIL_BACKEND="smtp", EMAIL_HOST="smtp.example.com", EMAIL_PORT="587", EMAIL_HOST_USER="apikey",
        EMAIL_HOST_PASSWORD="secret", EMAIL_USE_TLS="yes", EMAIL_TIMEOUT_SECONDS="5",
        DEFAULT_FROM_EMAIL="The Daily <shop@example.com>",
    )  # fmt: skip

    assert loaded["ABANDONED_AFTER_MINUTES"] == 30
    assert loaded["RECOVERY_EMAIL_SCHEDULE"] == [
        ("45m", timedelta(minutes=45)), ("6h", timedelta(hours=6)), ("2d", timedelta(days=2)),
    ]  # fmt: skip
    assert loaded["SITE_URL"] == "https://shop.example"
    assert loaded["MAILERS"]["default"]["OPTIONS"] == {
        "host": "smtp.example.com", "port": 587, "username": "apikey", "password": "secret", "use_tls": True,
        "use_ssl": False, "timeout": 5,
    }  # fmt: skip
    assert loaded["DEFAULT_FROM_EMAIL"] == loaded["SERVER_EMAIL"] == "The Daily <shop@example.com>"


def test_a_provider_backend_by_dotted_path_and_the_schedule_switched_off(monkeypatch):
    loaded = recovery_settings(
        monkeypatch, EMAIL_BACKEND="anymail.backends.postmark.EmailBackend", RECOVERY_EMAIL_SCHEDULE="off"
    )

    assert loaded["MAILERS"] == {"default": {"BACKEND": "anymail.backends.postmark.EmailBackend", "OPTIONS": {}}}
    assert loaded["RECOVERY_EMAIL_SCHEDULE"] == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ABANDONED_AFTER_MINUTES": "0"}, "ABANDONED_AFTER_MINUTES must be from 1"),
        ({"ABANDONED_AFTER_MINUTES": "an hour"}, "ABANDONED_AFTER_MINUTES must be an integer"),
        ({"RECOVERY_EMAIL_SCHEDULE": "1 hour"}, "RECOVERY_EMAIL_SCHEDULE must look like '1h,24h'"),
        ({"RECOVERY_EMAIL_SCHEDULE": "1h,,24h"}, "RECOVERY_EMAIL_SCHEDULE must look like '1h,24h'"),
        ({"RECOVERY_EMAIL_SCHEDULE": "24h,1h"}, "RECOVERY_EMAIL_SCHEDULE: each step must come after"),
        ({"RECOVERY_EMAIL_SCHEDULE": "1h,1h"}, "RECOVERY_EMAIL_SCHEDULE: each step must come after"),
        ({"RECOVERY_EMAIL_SCHEDULE": "30m,24h"}, "RECOVERY_EMAIL_SCHEDULE: step 30m comes before a basket counts"),
        ({"RECOVERY_EMAIL_SCHEDULE": "1h,20d"}, "RECOVERY_EMAIL_SCHEDULE: step 20d comes after a basket's lifetime"),
        ({"SITE_URL": "shop.example"}, "SITE_URL must be an http(s) URL"),
        ({"EMAIL_BACKEND": "sendgrid please"}, "EMAIL_BACKEND must be one of console, smtp, locmem, dummy"),
        ({"EMAIL_HOST": "smtp example com"}, "EMAIL_HOST must be a host name"),
        ({"EMAIL_PORT": "0"}, "EMAIL_PORT must be from 1 to 65535"),
        ({"EMAIL_PORT": "smtp"}, "EMAIL_PORT must be an integer"),
        ({"EMAIL_USE_TLS": "maybe"}, "EMAIL_USE_TLS must be 1 or 0"),
        ({"EMAIL_USE_TLS": "1", "EMAIL_USE_SSL": "1"}, "EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on"),
        ({"EMAIL_TIMEOUT_SECONDS": "0"}, "EMAIL_TIMEOUT_SECONDS must be from 1 to 120"),
        ({"DEFAULT_FROM_EMAIL": "the shop"}, "DEFAULT_FROM_EMAIL must be an address"),
        ({"DEFAULT_FROM_EMAIL": "Shop <shop>"}, "DEFAULT_FROM_EMAIL must be an address"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(monkeypatch, env, message):
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        recovery_settings(monkeypatch, **env)


def test_check_deploy_warns_without_site_url(settings):
    from baskets.checks import site_url_check

    settings.SITE_URL = ""
    [warning] = site_url_check()
    assert (warning.id, warning.msg) == (
        "baskets.W001",
        "SITE_URL is not set: recovery emails cannot link to the basket and fail.",
    )
    settings.SITE_URL = "https://checkout.example.com"
    assert site_url_check() == []
