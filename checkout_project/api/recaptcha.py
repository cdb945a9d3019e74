"""reCAPTCHA verification of the `X-Limio-Recaptcha` header (API.md §6).

One interface, two implementations: django-recaptcha's client for real, and an offline verifier
for development and tests. `RECAPTCHA_VERIFIER` picks one; `RECAPTCHA_ENABLED` switches it off.
"""

from __future__ import annotations

import logging
from typing import Protocol
from urllib.error import URLError

from django.conf import settings
from django.utils.module_loading import import_string

from checkout_project.api.client_ip import client_ip
from checkout_project.api.errors import ApiCodes, ApplicationError, UpstreamUnavailable

HEADER = "X-Limio-Recaptcha"
logger = logging.getLogger(__name__)


class RecaptchaRequired(ApplicationError):
    code: str = ApiCodes.RECAPTCHA_REQUIRED


class RecaptchaInvalid(ApplicationError):
    code: str = ApiCodes.RECAPTCHA_INVALID


class RecaptchaVerifier(Protocol):
    def verify(self, token: str, remote_ip: str | None) -> None:
        """Return when the token is valid; raise RecaptchaInvalid or UpstreamUnavailable."""


class DjangoRecaptchaVerifier:
    """Asks Google's siteverify through django-recaptcha's client (timeout from settings)."""

    def verify(self, token: str, remote_ip: str | None) -> None:
        from django_recaptcha import client

        try:
            result = client.submit(token, settings.RECAPTCHA_PRIVATE_KEY, remote_ip)
        except (URLError, TimeoutError, OSError) as exc:
            logger.warning("reCAPTCHA verification unreachable: %s", exc)
            raise UpstreamUnavailable("reCAPTCHA verification is unavailable; try again.") from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # JSON nonsense, missing "success"
            logger.warning("reCAPTCHA verification answered nonsense: %s", exc)
            raise UpstreamUnavailable("reCAPTCHA verification answered something unexpected.") from exc
        if not isinstance(result.is_valid, bool):
            raise UpstreamUnavailable("reCAPTCHA verification answered something unexpected.")
        if not result.is_valid:
            raise RecaptchaInvalid("reCAPTCHA verification failed.", details={"errorCodes": list(result.error_codes)})
        min_score = settings.RECAPTCHA_MIN_SCORE
        if min_score is not None:
            score = result.extra_data.get("score")
            if not isinstance(score, (int, float)):
                raise UpstreamUnavailable("reCAPTCHA v3 verification answered without a score.")
            if score < min_score:
                raise RecaptchaInvalid("reCAPTCHA score too low.", details={"score": score})


class OfflineRecaptchaVerifier:
    """For development and tests, no network: tokens starting "pass" pass, "unavailable" → 502."""

    def verify(self, token: str, remote_ip: str | None) -> None:
        if token.startswith("unavailable"):
            raise UpstreamUnavailable("reCAPTCHA verification is unavailable; try again.")
        if not token.startswith("pass"):
            raise RecaptchaInvalid("reCAPTCHA verification failed.", details={"errorCodes": ["invalid-input-response"]})


def get_verifier() -> RecaptchaVerifier:
    return import_string(settings.RECAPTCHA_VERIFIER)()


def verify_request(request) -> None:
    """Checks the request's reCAPTCHA header; does nothing when reCAPTCHA is switched off."""
    if not settings.RECAPTCHA_ENABLED:
        return
    token = request.headers.get(HEADER, "").strip()
    if not token:
        raise RecaptchaRequired(f"The {HEADER} header is required.")
    if len(token) > 4096:
        raise RecaptchaInvalid("reCAPTCHA token too long.")
    get_verifier().verify(token, client_ip(request))


__all__ = ["HEADER", "DjangoRecaptchaVerifier", "OfflineRecaptchaVerifier", "verify_request"]
