"""Throttling per OAuth application and scope: 429 with Retry-After and the error shape (API.md §1);
the form posts of the hosted checkout pages and the login forms: per client IP and per basket, 429 pages."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import get_resolver
from rest_framework.test import APIClient

from baskets.api.landing_state import landing_state_value
from baskets.models import Basket, BasketEvent, BasketStatus
from baskets.pages import CONTENT_SECURITY_POLICY
from checkout_project.api.throttling import ApplicationRateThrottle, PageRateThrottle, parse_rate
from tests.conftest import bearer
from tests.factories import (
    AccessTokenFactory,
    ApplicationFactory,
    BasketFactory,
    CustomerFactory,
    OrderItemFactory,
    PromoCodeFactory,
    UserFactory,
)
from tests.ops.test_settings import load_settings
from tests.pages import CHECKOUT_DETAILS

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
    monkeypatch.setattr(PageRateThrottle, "timer", staticmethod(clock))
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
        "customer": "10/min",
    }
    settings.THROTTLE_PAGE_RATES = {"pages": "5/min", "pages:basket": "3/min", "login": "3/min"}
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


def test_one_customer_cannot_use_up_its_applications_allowance(api_client, throttled, storefront_app, customer_token):
    # The customer's own rate (here 2) is spent before the storefront's (3), and its refused
    # requests do not count against the storefront: another customer still gets through.
    throttled.THROTTLE_RATES = {**throttled.THROTTLE_RATES, "customer": "2/min"}
    other = AccessTokenFactory(application=storefront_app, user=CustomerFactory().user, scope="checkout")

    answers = [api_client.put("/api/checkout/update", {}, format="json", **bearer(customer_token)) for _ in range(3)]
    others = api_client.put("/api/checkout/update", {}, format="json", **bearer(other))

    assert [answer.status_code != 429 for answer in answers] == [True, True, False]
    assert answers[2].json() == throttled_body(40)
    assert others.status_code != 429


def test_each_scope_has_its_own_counter_and_rate(api_client, throttled):
    token = reader_token("back office")
    for _ in range(3):
        assert api_client.get(ABANDONED, **bearer(token)).status_code == 200
    assert api_client.get(ABANDONED, **bearer(token)).status_code == 429

    # checkout:admin allows 5 a minute and has counted nothing yet.
    renew = [
        api_client.post("/api/admin/checkout/initiate/renew", {}, format="json", **bearer(token)) for _ in range(6)
    ]

    assert [answer.status_code for answer in renew] == [400, 400, 400, 400, 400, 429]


def test_the_counter_starts_again_in_the_next_window(api_client, throttled, clock):
    token = reader_token("feed reader")
    for _ in range(3):
        assert api_client.get(ABANDONED, **bearer(token)).status_code == 200
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
        assert api_client.get(ABANDONED, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 401
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


def use_an_unreachable_cache(settings) -> None:
    """Throttle counters in a Redis nothing listens on: port 1 refuses at once (no network needed)."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "unreachable": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        },
    }
    settings.THROTTLE_CACHE = "unreachable"


def test_an_unreachable_cache_lets_requests_through(api_client, throttled, caplog):
    use_an_unreachable_cache(throttled)
    token = reader_token("feed reader")

    answers = [api_client.get(ABANDONED, **bearer(token)).status_code for _ in range(5)]

    assert answers == [200] * 5
    assert "throttling skipped: cache unavailable (ConnectionError)" in caplog.text


# --- The hosted checkout pages' form posts and the login forms ----------------------------------------

PASSWORD = "correct horse battery staple"


def page_basket(offer):
    basket = BasketFactory()
    OrderItemFactory(basket=basket, offer=offer)
    return basket


def holder(basket, ip: str = "127.0.0.1") -> Client:
    """A browser holding the basket's landing-state cookie, from `ip`."""
    browser = Client(REMOTE_ADDR=ip)
    browser.cookies["limio_state"] = landing_state_value(basket)
    return browser


def basket_state(basket) -> tuple:
    basket.refresh_from_db()
    return basket.status, basket.version, basket.promo_code_id, BasketEvent.objects.filter(basket=basket).count()


def assert_too_many(response, seconds: int) -> None:
    assert response.status_code == 429
    assert response["Retry-After"] == str(seconds)
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert page.startswith("<!DOCTYPE html>")
    assert '<h1 id="error-title">Too many attempts</h1>' in page
    assert f"Please wait {seconds} seconds and try again." in page
    assert "<script" not in page


def test_promo_code_guesses_over_the_basket_rate_get_429_and_change_nothing(throttled, offer):
    PromoCodeFactory(code="SAVE20")
    basket = page_basket(offer)
    browser = holder(basket)

    guesses = [browser.post("/checkout/promo-code", {"code": f"GUESS{n}"}) for n in range(3)]
    before = basket_state(basket)
    refused = browser.post("/checkout/promo-code", {"code": "SAVE20"})

    assert [answer.status_code for answer in guesses] == [400, 400, 400]  # under the rate: answered
    assert_too_many(refused, 40)
    assert refused["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert basket_state(basket) == before
    assert basket.promo_code_id is None
    # Reading the page is not limited.
    assert {browser.get("/checkout/").status_code for _ in range(10)} == {200}


def test_posts_under_the_rate_work(throttled, offer):
    PromoCodeFactory(code="SAVE20")
    basket = page_basket(offer)
    browser = holder(basket)

    applied = browser.post("/checkout/promo-code", {"code": "SAVE20"})
    removed = browser.post("/checkout/promo-code/remove")
    ordered = browser.post("/checkout/order", CHECKOUT_DETAILS)

    assert [applied.status_code, removed.status_code, ordered.status_code] == [302, 302, 302]
    basket.refresh_from_db()
    assert basket.status == BasketStatus.COMPLETED


def test_the_basket_rate_holds_across_client_ips(throttled, offer):
    basket = page_basket(offer)
    answers = [holder(basket, f"198.51.100.{n}").post("/checkout/promo-code", {"code": "GUESS"}) for n in range(4)]

    assert [answer.status_code for answer in answers] == [400, 400, 400, 429]


def test_the_ip_rate_holds_across_baskets_and_another_ip_is_not_affected(throttled, offer):
    baskets = [page_basket(offer) for _ in range(3)]
    answers = [holder(basket).post("/checkout/promo-code", {"code": "GUESS"}) for basket in baskets for _ in range(2)]
    other_ip = holder(baskets[2], "203.0.113.9").post("/checkout/promo-code", {"code": "GUESS"})

    assert [answer.status_code for answer in answers] == [400, 400, 400, 400, 400, 429]
    assert other_ip.status_code == 400


def test_posts_without_a_valid_cookie_count_per_ip(throttled, offer):
    browser = Client()
    browser.cookies["limio_state"] = "forged"

    answers = [browser.post("/checkout/order", CHECKOUT_DETAILS) for _ in range(6)]

    assert [answer.status_code for answer in answers] == [404] * 5 + [429]


def test_a_burst_of_orders_over_the_rate_completes_nothing(throttled, offer):
    basket = page_basket(offer)
    browser = holder(basket)
    mistakes = [browser.post("/checkout/order", {**CHECKOUT_DETAILS, "email": "grace@"}) for _ in range(3)]
    before = basket_state(basket)

    refused = browser.post("/checkout/order", CHECKOUT_DETAILS)

    assert [answer.status_code for answer in mistakes] == [400, 400, 400]
    assert_too_many(refused, 40)
    assert basket_state(basket) == before
    assert basket.status == BasketStatus.ACTIVE


def test_page_posts_work_again_in_the_next_window(throttled, clock, offer):
    browser = holder(page_basket(offer))
    for _ in range(3):
        browser.post("/checkout/promo-code/remove")
    assert browser.post("/checkout/promo-code/remove").status_code == 429

    clock.now += 40

    assert browser.post("/checkout/promo-code/remove").status_code == 302


def test_page_posts_count_the_client_ip_behind_trusted_proxies(throttled, offer):
    throttled.TRUSTED_PROXY_COUNT = 1
    baskets = [page_basket(offer) for _ in range(3)]
    for basket in baskets[:2]:
        for _ in range(2):
            holder(basket).post("/checkout/promo-code/remove", HTTP_X_FORWARDED_FOR="198.51.100.1")
    # Entries the client writes on the left do not make it another client.
    spoofed = holder(baskets[2]).post("/checkout/promo-code/remove", HTTP_X_FORWARDED_FOR="10.0.0.1, 198.51.100.1")
    burst_over = holder(baskets[2]).post("/checkout/promo-code/remove", HTTP_X_FORWARDED_FOR="198.51.100.1")
    other_client = holder(baskets[2]).post("/checkout/promo-code/remove", HTTP_X_FORWARDED_FOR="198.51.100.2")

    assert (spoofed.status_code, burst_over.status_code, other_client.status_code) == (302, 429, 302)


def test_throttling_off_lets_every_page_post_and_login_through(throttled, offer):
    throttled.THROTTLE_ENABLED = False
    browser = holder(page_basket(offer))
    user = UserFactory()

    guesses = {browser.post("/checkout/promo-code", {"code": "GUESS"}).status_code for _ in range(20)}
    logins = {
        Client().post("/accounts/login/", {"username": user.username, "password": "wrong"}).status_code
        for _ in range(20)
    }

    assert (guesses, logins) == ({400}, {200})


def test_password_guesses_over_the_rate_get_429_and_the_right_password_does_not_log_in(throttled):
    user = UserFactory()
    browser = Client()

    guesses = [browser.post("/accounts/login/", {"username": user.username, "password": f"guess{n}"}) for n in range(3)]
    refused = browser.post("/accounts/login/", {"username": user.username, "password": PASSWORD})

    assert [answer.status_code for answer in guesses] == [200, 200, 200]
    assert_too_many(refused, 40)
    assert SESSION_KEY not in browser.session
    # The form itself still shows; another client IP logs in.
    assert browser.get("/accounts/login/").status_code == 200
    other = Client(REMOTE_ADDR="203.0.113.9")
    assert other.post("/accounts/login/", {"username": user.username, "password": PASSWORD}).status_code == 302
    assert SESSION_KEY in other.session


def test_logging_in_under_the_rate_works(throttled):
    user = UserFactory()
    browser = Client()

    assert browser.post("/accounts/login/", {"username": user.username, "password": "wrong"}).status_code == 200
    assert browser.post("/accounts/login/", {"username": user.username, "password": PASSWORD}).status_code == 302
    assert browser.session[SESSION_KEY] == str(user.pk)


def test_the_admin_login_shares_the_login_counter(throttled):
    staff = UserFactory(is_staff=True, is_superuser=True)
    browser = Client()
    for _ in range(3):
        browser.post("/accounts/login/", {"username": staff.username, "password": "wrong"})

    refused = browser.post("/admin/login/", {"username": staff.username, "password": PASSWORD})

    assert_too_many(refused, 40)
    assert SESSION_KEY not in browser.session


def test_an_unreachable_cache_lets_page_posts_through(throttled, offer, caplog):
    use_an_unreachable_cache(throttled)
    browser = holder(page_basket(offer))

    answers = [browser.post("/checkout/promo-code/remove").status_code for _ in range(5)]

    assert answers == [302] * 5
    assert "throttling skipped: cache unavailable (ConnectionError)" in caplog.text


def test_the_page_rates_come_from_the_environment(monkeypatch):
    for name in ("THROTTLE_RATE_PAGES", "THROTTLE_RATE_PAGES_BASKET", "THROTTLE_RATE_LOGIN"):
        monkeypatch.delenv(name, raising=False)
    assert load_settings(monkeypatch)["THROTTLE_PAGE_RATES"] == {
        "pages": "30/min",
        "pages:basket": "10/min",
        "login": "10/min",
        "token": "30/min",  # POST /oauth2/token per client IP and per client id
        "token:client": "30/min",
    }
    loaded = load_settings(
        monkeypatch, THROTTLE_RATE_PAGES="100/hour", THROTTLE_RATE_PAGES_BASKET="5/min", THROTTLE_RATE_LOGIN="20/hour"
    )
    assert loaded["THROTTLE_PAGE_RATES"] == {
        "pages": "100/hour",
        "pages:basket": "5/min",
        "login": "20/hour",
        "token": "30/min",
        "token:client": "30/min",
    }


@pytest.mark.parametrize("name", ["THROTTLE_RATE_PAGES", "THROTTLE_RATE_PAGES_BASKET", "THROTTLE_RATE_LOGIN"])
def test_a_malformed_page_rate_stops_the_start(monkeypatch, name):
    with pytest.raises(ImproperlyConfigured, match=name):
        load_settings(monkeypatch, **{name: "lots"})
