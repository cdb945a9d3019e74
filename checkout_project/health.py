"""Load balancer probes: /healthz (the process answers) and /readyz (it can reach the database)."""

from __future__ import annotations

import logging

from django.db import Error as DatabaseError
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


@never_cache
@require_safe
def healthz(request):
    """Liveness: answers without touching the database, so a database outage does not restart workers."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request):
    """Readiness: 503 while `SELECT 1` fails, so the load balancer sends traffic elsewhere."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("readiness check: database unavailable: %s", exc.__class__.__name__, exc_info=True)
        return JsonResponse({"status": "unavailable", "database": exc.__class__.__name__}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})
