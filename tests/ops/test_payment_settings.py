"""The payment settings: PAYMENT_GATEWAY by name or dotted path; Stripe refuses to start without its keys."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.ops.test_settings import load_settings

PAYMENT_VARIABLES = (
    "PAYMENT_GATEWAY", "STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE",
    "STRIPE_JS_URL", "STRIPE_TIMEOUT_SECONDS", "STRIPE_MAX_NETWORK_RETRIES", "MERCHANT_NAME",
)  # fmt: skip


def payment_settings(monkeypatch, **env) -> dict:
    for name in PAYMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return load_settings(monkeypatch, **env)


def test_manual_is_the_default(monkeypatch):
    loaded = payment_settings(monkeypatch)

    assert loaded["PAYMENT_GATEWAY"] == "baskets.payments.ManualPaymentGateway"
    assert (loaded["STRIPE_JS_URL"], loaded["STRIPE_API_BASE"], loaded["MERCHANT_NAME"]) == (
        "https://js.stripe.com/v3/", "", "",
    )  # fmt: skip
    assert loaded["TASKS"] == {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    assert "django_tasks_db" in loaded["INSTALLED_APPS"]


def test_stripe_with_its_keys(monkeypatch):
    loaded = payment_settings(
        monkeypatch, PAYMENT_GATEWAY="stripe", STRIPE_SECRET_KEY="sk_test_1", STRIPE_PUBLISHABLE_KEY="pk_test_1",
        STRIPE_WEBHOOK_SECRET="whsec_1", STRIPE_API_BASE="http://127.0.0.1:8420/", MERCHANT_NAME="The Daily",
    )  # fmt: skip

    assert loaded["PAYMENT_GATEWAY"] == "baskets.payments.stripe_gateway.StripePaymentGateway"
    assert (loaded["STRIPE_API_BASE"], loaded["MERCHANT_NAME"]) == ("http://127.0.0.1:8420", "The Daily")


def test_a_dotted_path_is_kept(monkeypatch):
    assert payment_settings(monkeypatch, PAYMENT_GATEWAY="tests.payments.AssertingGateway")["PAYMENT_GATEWAY"] == (
        "tests.payments.AssertingGateway"
    )


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"PAYMENT_GATEWAY": "stripe"}, "STRIPE_SECRET_KEY"),
        ({"PAYMENT_GATEWAY": "stripe", "STRIPE_SECRET_KEY": "sk_test_1", "STRIPE_PUBLISHABLE_KEY": "pk_test_1"},
         "STRIPE_WEBHOOK_SECRET"),
        ({"PAYMENT_GATEWAY": "paypal"}, "PAYMENT_GATEWAY"),
        ({"STRIPE_SECRET_KEY": "pk_test_wrong"}, "STRIPE_SECRET_KEY"),
        ({"STRIPE_PUBLISHABLE_KEY": "sk_test_wrong"}, "STRIPE_PUBLISHABLE_KEY"),
        ({"STRIPE_API_BASE": "localhost:8420"}, "STRIPE_API_BASE"),
        ({"STRIPE_JS_URL": "javascript:alert(1)"}, "STRIPE_JS_URL"),
        ({"STRIPE_TIMEOUT_SECONDS": "0"}, "STRIPE_TIMEOUT_SECONDS"),
    ],
)  # fmt: skip
def test_stripe_refuses_to_start_without_its_keys_or_with_nonsense(monkeypatch, env, match):
    with pytest.raises(ImproperlyConfigured, match=match):
        payment_settings(monkeypatch, **env)


def test_in_debug_the_webhook_secret_may_wait(monkeypatch):
    loaded = payment_settings(
        monkeypatch, DJANGO_DEBUG="1", PAYMENT_GATEWAY="stripe", STRIPE_SECRET_KEY="sk_test_1",
        STRIPE_PUBLISHABLE_KEY="pk_test_1",
    )  # fmt: skip
    assert loaded["STRIPE_WEBHOOK_SECRET"] == ""
