"""The benchmark's floor (bench/): a minimal authenticated endpoint doing one primary-key read.

Served only when BENCH_ENDPOINTS=1 (off by default, never in production): it goes through the
same middleware, OAuth token check, scope check, throttle and error handler as every API
endpoint, then reads one basket row by primary key. What the real endpoints cost on top of it is
the price of their own work.
"""

from __future__ import annotations

from rest_framework.decorators import action
from rest_framework.response import Response

from baskets.api.landing_state import basket_id_from_cookie
from baskets.models import Basket
from checkout_project.api.viewsets import ScopedViewSet


class BenchViewSet(ScopedViewSet):
    schema_tags = ["Benchmark"]

    @action(detail=False, methods=["get"], url_path="ping", required_scope="checkout")
    def ping(self, request):
        basket_id = basket_id_from_cookie(request.COOKIES)
        version = Basket.objects.filter(pk=basket_id).values_list("version", flat=True).first() if basket_id else None
        return Response({"ok": True, "found": version is not None})
