"""reCAPTCHA verification: django-recaptcha's client patched, so no network."""

import io
import json
from urllib.error import URLError

import pytest
from django.test import RequestFactory

from checkout_project.api import recaptcha
from checkout_project.api.errors import UpstreamUnavailable

GOOGLE = "checkout_project.api.recaptcha.DjangoRecaptchaVerifier"


@pytest.fixture
def google(settings, monkeypatch):
    settings.RECAPTCHA_ENABLED = True
    settings.RECAPTCHA_VERIFIER = GOOGLE
    settings.RECAPTCHA_PRIVATE_KEY = "private"
    settings.RECAPTCHA_MIN_SCORE = None
    sent = {}

    def answer(payload=None, error=None, raw=None):
        def fake_request(params):
            sent["params"] = params.decode()
            if error is not None:
                raise error
            return io.BytesIO(raw if raw is not None else json.dumps(payload).encode())

        monkeypatch.setattr("django_recaptcha.client.recaptcha_request", fake_request)
        return sent

    return answer


def request_with(token=None, **meta):
    headers = {"HTTP_X_LIMIO_RECAPTCHA": token} if token is not None else {}
    return RequestFactory().post("/api/checkout/subscription", REMOTE_ADDR="203.0.113.9", **headers, **meta)


def test_valid_token_passes_and_sends_the_client_ip(google):
    sent = google({"success": True})
    recaptcha.verify_request(request_with("tok"))
    assert "response=tok" in sent["params"]
    assert "remoteip=203.0.113.9" in sent["params"]
    assert "secret=private" in sent["params"]


def test_invalid_token_is_400_recaptcha_invalid(google):
    google({"success": False, "error-codes": ["invalid-input-response"]})
    with pytest.raises(recaptcha.RecaptchaInvalid) as refused:
        recaptcha.verify_request(request_with("tok"))
    assert refused.value.status_code == 400
    assert refused.value.code == "recaptcha_invalid"
    assert refused.value.details == {"errorCodes": ["invalid-input-response"]}


@pytest.mark.parametrize("error", [TimeoutError("timed out"), URLError("no route"), ConnectionResetError()])
def test_unreachable_service_is_502(google, error):
    google(error=error)
    with pytest.raises(UpstreamUnavailable) as refused:
        recaptcha.verify_request(request_with("tok"))
    assert refused.value.status_code == 502
    assert refused.value.code == "upstream_unavailable"


@pytest.mark.parametrize("raw", [b"<html>oops</html>", b"{}", b'{"success": "yes"}', b"[]"])
def test_nonsense_answer_is_502(google, raw):
    google(raw=raw)
    with pytest.raises(UpstreamUnavailable):
        recaptcha.verify_request(request_with("tok"))


def test_missing_header_is_400_recaptcha_required(google):
    sent = google({"success": True})
    with pytest.raises(recaptcha.RecaptchaRequired) as refused:
        recaptcha.verify_request(request_with())
    assert refused.value.code == "recaptcha_required"
    assert sent == {}


@pytest.mark.parametrize(("score", "passes"), [(0.9, True), (0.5, True), (0.3, False)])
def test_v3_score_threshold(google, settings, score, passes):
    settings.RECAPTCHA_MIN_SCORE = 0.5
    google({"success": True, "score": score, "action": "checkout"})
    if passes:
        recaptcha.verify_request(request_with("tok"))
    else:
        with pytest.raises(recaptcha.RecaptchaInvalid):
            recaptcha.verify_request(request_with("tok"))


def test_v3_threshold_without_score_is_502(google, settings):
    settings.RECAPTCHA_MIN_SCORE = 0.5
    google({"success": True})
    with pytest.raises(UpstreamUnavailable):
        recaptcha.verify_request(request_with("tok"))


def test_switched_off_checks_nothing(google, settings):
    settings.RECAPTCHA_ENABLED = False
    sent = google({"success": False})
    recaptcha.verify_request(request_with())
    assert sent == {}


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "198.51.100.1", "203.0.113.9"),
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "6.6.6.6, 198.51.100.1", "198.51.100.1"),
        (2, "6.6.6.6, 198.51.100.1, 192.0.2.7", "198.51.100.1"),
        (2, "198.51.100.1", "203.0.113.9"),
    ],
)
def test_client_ip_trusts_only_the_configured_proxies(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    assert recaptcha.client_ip(request_with("tok", HTTP_X_FORWARDED_FOR=forwarded)) == expected


@pytest.mark.parametrize(
    ("token", "error"),
    [("pass-1", None), ("nope", recaptcha.RecaptchaInvalid), ("unavailable", UpstreamUnavailable)],
)
def test_offline_verifier(settings, token, error):
    settings.RECAPTCHA_ENABLED = True
    settings.RECAPTCHA_VERIFIER = "checkout_project.api.recaptcha.OfflineRecaptchaVerifier"
    if error is None:
        recaptcha.verify_request(request_with(token))
    else:
        with pytest.raises(error):
            recaptcha.verify_request(request_with(token))
