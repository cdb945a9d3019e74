"""`python manage.py backfill_basket_totals [--batch-size N] [--max-batches N] [--json]`: price old baskets.

`Basket.total` (what a basket is worth, for the admin's abandoned-basket list, filters and
dashboard) is written by every service that changes a basket; baskets written before it was kept
have none. This prices them from their items and promo code (baskets.selectors.basket_quote), in
batches of short transactions that skip rows in use. Run it once after upgrading; it is safe to
run again (it only touches baskets without a total) and on several hosts at once.
"""

from __future__ import annotations

from baskets.services.totals import basket_totals_backfill
from checkout_project.jobs import BatchJobCommand


class Command(BatchJobCommand):
    help = "Write the total of baskets that have none (safe to re-run and to run on several hosts at once)."

    def run(self, batch_size: int, max_batches: int) -> dict[str, int]:
        return {"priced_baskets": self.drain(lambda: basket_totals_backfill(batch_size=batch_size), max_batches)}

    def summary(self, counts: dict[str, int]) -> str:
        return f"Wrote the total of {counts['priced_baskets']} basket(s)."
