"""One structured log line per request, tied together by a request id; the admin's query guard."""

from __future__ import annotations

import logging
import re
import time
import uuid

from django.core.exceptions import BadRequest
from django.urls import reverse

from checkout_project.api.client_ip import client_ip
from checkout_project.logging import request_id_var

logger = logging.getLogger("checkout.requests")

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept only when it cannot smuggle anything into a log line or a header.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Load balancer probes: logged only when they fail, or they drown every other line.
PROBE_PATHS = frozenset({"/healthz", "/readyz"})


def request_id_from(request) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    return incoming if _SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


class RequestLogMiddleware:
    """Assigns the request id (X-Request-ID in and out) and logs the request when it is answered.

    Goes first in MIDDLEWARE so the duration covers every other middleware and the id is on
    every response, errors included.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_from(request)
        request.request_id = request_id
        context = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            response[REQUEST_ID_HEADER] = request_id
            if request.path not in PROBE_PATHS or response.status_code >= 400:
                self.log(request, response, duration_ms)
            return response
        finally:
            request_id_var.reset(context)

    def log(self, request, response, duration_ms: float) -> None:
        # DRF puts the bearer token on the underlying request once the view has authenticated it.
        token = getattr(request, "auth", None)
        application = getattr(token, "application", None)
        logger.info(
            "%s %s %s %.1fms",
            request.method,
            request.path,
            response.status_code,
            duration_ms,
            extra={
                "request_id": request.request_id,
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "application_id": getattr(application, "pk", None),
                "client_id": getattr(application, "client_id", None),
                "remote_addr": client_ip(request),
            },
        )


class AdminQueryNulGuardMiddleware:
    """A query string with a NUL character under the admin answers 400 before any view runs.

    The admin's list filters, search box, date drill-down and autocomplete put query values
    straight into querysets, and PostgreSQL refuses a NUL in a string (a 500 on every list). One
    guard here covers every ModelAdmin, today's and tomorrow's, instead of each filtering its own.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(admin_prefix()) and any(
            "\x00" in text for key, values in request.GET.lists() for text in [key, *values]
        ):
            raise BadRequest("NUL character in the query string.")
        return self.get_response(request)


def admin_prefix() -> str:
    """Where the admin site is mounted (`/admin/`)."""
    return reverse("admin:index")
