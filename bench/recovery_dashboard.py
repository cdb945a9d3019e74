"""Time the admin's recovery dashboard over the benchmark's baskets (docs/admin.md).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/checkout_bench python manage.py seed_demo
    DATABASE_URL=... python manage.py seed_bench_baskets --count 1000000
    DATABASE_URL=... python bench/recovery_dashboard.py [--runs 7]

Prints, as JSON, the basket count and the median and worst time of the dashboard's reads
(baskets.selectors.recovery_report.recovery_dashboard: its three queries) and of the whole admin
page (GET /admin/baskets/basket/recovery-dashboard/ through Django's test client, as a superuser:
session, queries and template) counting afresh (`?refresh=1`) and from its snapshot (the cache,
at most a minute old), after one warm-up run of each. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "checkout_project.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from baskets.models import Basket
    from baskets.selectors.recovery_report import recovery_dashboard

    def timed(run) -> list[float]:
        run()  # warm-up
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            run()
            times.append((time.perf_counter() - started) * 1000)
        return times

    user, _ = get_user_model().objects.get_or_create(
        username="bench-dashboard", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)

    def page(query: str = "") -> None:
        response = client.get(f"/admin/baskets/basket/recovery-dashboard/{query}")
        assert response.status_code == 200, response.status_code

    reads = timed(recovery_dashboard)
    live_pages = timed(lambda: page("?refresh=1"))
    pages = timed(page)
    print(
        json.dumps(
            {
                "database": connection.vendor,
                "baskets": Basket.objects.count(),
                "runs": args.runs,
                "reads_ms": {"median": round(statistics.median(reads), 1), "max": round(max(reads), 1)},
                "page_counting_ms": {
                    "median": round(statistics.median(live_pages), 1),
                    "max": round(max(live_pages), 1),
                },
                "page_snapshot_ms": {"median": round(statistics.median(pages), 1), "max": round(max(pages), 1)},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
