"""POST /oauth2/token under attack (issue 14): each request hashes a client secret, so it is
rate-limited per client IP and per client id (429, Retry-After, the OAuth error shape), and a
made-up client id costs the same one hash as a real client's wrong secret."""

from __future__ import annotations

import base64

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core.cache import caches
from django.test import Client
from oauth2_provider.models import AccessToken

from checkout_project.api.throttling import PageRateThrottle
from tests.factories import ApplicationFactory

pytestmark = pytest.mark.django_db

SECRET = "s3cret-for-tests"
# 20 seconds into a minute: the current window ends in 40 seconds.
FROZEN_NOW = 1_700_000_000.0 - (1_700_000_000 % 60) + 20


def basic(client_id: str, secret: str) -> dict[str, str]:
    credentials = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {credentials}"}


def token_request(client_id: str, secret: str, *, ip: str = "127.0.0.1", url: str = "/oauth2/token", how="body"):
    data = {"grant_type": "client_credentials", "scope": "checkout"}
    extra = {"REMOTE_ADDR": ip}
    if how == "body":
        data |= {"client_id": client_id, "client_secret": secret}
    else:
        extra |= basic(client_id, secret)
    return Client().post(url, data, **extra)


@pytest.fixture
def throttled(settings, monkeypatch):
    settings.THROTTLE_ENABLED = True
    settings.THROTTLE_PAGE_RATES = {**settings.THROTTLE_PAGE_RATES, "token": "4/min", "token:client": "3/min"}
    monkeypatch.setattr(PageRateThrottle, "timer", staticmethod(lambda: FROZEN_NOW))
    caches["default"].clear()
    return settings


def assert_slowed_down(response, seconds: int = 40) -> None:
    assert response.status_code == 429
    assert response["Retry-After"] == str(seconds)
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    assert response.json() == {
        "error": "slow_down",
        "error_description": f"Too many token requests; try again in {seconds} seconds.",
    }


# --- Rate limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/oauth2/token", "/oauth2/token/"])
def test_guesses_over_the_client_id_rate_get_429_and_the_right_secret_gets_no_token(throttled, url):
    application = ApplicationFactory()
    guesses = [token_request(application.client_id, f"guess-{n}", ip=f"198.51.100.{n}", url=url) for n in range(3)]

    refused = token_request(application.client_id, SECRET, ip="198.51.100.9", url=url)

    assert [guess.status_code for guess in guesses] == [401, 401, 401]
    assert_slowed_down(refused)
    assert not AccessToken.objects.exists()
    # Another client is not affected.
    assert token_request(ApplicationFactory().client_id, SECRET, ip="198.51.100.9").status_code == 200


def test_basic_and_body_credentials_count_against_the_same_client_id(throttled):
    application = ApplicationFactory()
    answers = [
        token_request(application.client_id, "wrong", ip="198.51.100.1", how="basic"),
        token_request(application.client_id, "wrong", ip="198.51.100.2", how="body"),
        token_request(application.client_id, "wrong", ip="198.51.100.3", how="basic"),
        token_request(application.client_id, SECRET, ip="198.51.100.4", how="body"),
    ]

    assert [answer.status_code for answer in answers] == [401, 401, 401, 429]


def test_guesses_from_one_ip_over_its_rate_get_429_whatever_the_client_id(throttled):
    application = ApplicationFactory()
    guesses = [token_request(f"made-up-{n}", "guess", ip="203.0.113.5") for n in range(4)]

    refused = token_request(application.client_id, SECRET, ip="203.0.113.5")
    other_ip = token_request(application.client_id, SECRET, ip="203.0.113.6")

    assert [guess.status_code for guess in guesses] == [401, 401, 401, 401]
    assert_slowed_down(refused)
    assert other_ip.status_code == 200
    assert AccessToken.objects.count() == 1


def test_a_refused_token_request_hashes_nothing(throttled, monkeypatch):
    application = ApplicationFactory()
    for n in range(3):
        token_request(application.client_id, f"guess-{n}")
    calls = spy_on_the_hasher(monkeypatch)

    assert token_request(application.client_id, "guess-4").status_code == 429
    assert calls == []


def test_token_requests_under_the_rates_work(throttled):
    application = ApplicationFactory()

    answers = [token_request(application.client_id, SECRET).status_code for _ in range(3)]

    assert answers == [200, 200, 200]


def test_throttling_off_lets_every_token_request_through(throttled):
    throttled.THROTTLE_ENABLED = False
    application = ApplicationFactory()

    assert {token_request(application.client_id, "wrong").status_code for _ in range(8)} == {401}


def test_the_token_rates_come_from_the_environment(monkeypatch):
    from tests.ops.test_settings import load_settings

    monkeypatch.delenv("THROTTLE_RATE_TOKEN", raising=False)
    monkeypatch.delenv("THROTTLE_RATE_TOKEN_CLIENT", raising=False)
    defaults = load_settings(monkeypatch)["THROTTLE_PAGE_RATES"]
    assert (defaults["token"], defaults["token:client"]) == ("30/min", "30/min")
    loaded = load_settings(monkeypatch, THROTTLE_RATE_TOKEN="100/hour", THROTTLE_RATE_TOKEN_CLIENT="5/min")
    assert (loaded["THROTTLE_PAGE_RATES"]["token"], loaded["THROTTLE_PAGE_RATES"]["token:client"]) == (
        "100/hour",
        "5/min",
    )


# --- An unknown client costs one hash, as a known one does ----------------------------------------


def spy_on_the_hasher(monkeypatch) -> list[str]:
    """The test settings' hasher (MD5), recording every secret it hashes."""
    calls: list[str] = []
    encode = MD5PasswordHasher.encode

    def recording_encode(self, password, salt):
        calls.append(password)
        return encode(self, password, salt)

    monkeypatch.setattr(MD5PasswordHasher, "encode", recording_encode)
    return calls


@pytest.mark.parametrize("how", ["body", "basic"])
def test_a_wrong_secret_of_a_known_client_is_hashed_once(monkeypatch, how):
    application = ApplicationFactory()
    calls = spy_on_the_hasher(monkeypatch)

    response = token_request(application.client_id, "wrong-secret", how=how)

    assert response.status_code == 401
    assert calls == ["wrong-secret"]


@pytest.mark.parametrize("how", ["body", "basic"])
def test_an_unknown_client_id_costs_one_hash_too(monkeypatch, how):
    ApplicationFactory()
    calls = spy_on_the_hasher(monkeypatch)

    response = token_request("no-such-client", "wrong-secret", how=how)

    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}
    assert calls == ["wrong-secret"]


@pytest.mark.parametrize(
    ("client_id", "secret", "how"),
    [("no-such\x00client", "wrong", "body"), ("no-such\x00client", "wrong", "basic"), ("a-client", "x\x00", "body")],
)
def test_a_nul_in_the_credentials_is_an_oauth_400_not_a_500(client_id, secret, how):
    # Before: DOT looked the client id up and PostgreSQL refused the NUL (a 500).
    response = token_request(client_id, secret, how=how)

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": "A parameter contains a NUL character."}
    assert not AccessToken.objects.exists()


def test_the_right_secret_is_hashed_once(monkeypatch):
    application = ApplicationFactory()
    calls = spy_on_the_hasher(monkeypatch)

    assert token_request(application.client_id, SECRET).status_code == 200
    assert calls == [SECRET]
