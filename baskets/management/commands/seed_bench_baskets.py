"""`python manage.py seed_bench_baskets --count 1000000`: many abandoned-looking baskets, fast (PostgreSQL).

For the benchmark's abandoned-feed paging (bench/). One `INSERT ... SELECT FROM generate_series`
per batch writes the baskets server-side (no rows cross the wire), then one more writes an order
item for each. Idempotent: the baskets it wrote are marked `source = 'bench'`, and a second run
only tops them up to `--count`. About a minute per million rows on a small machine.

Baskets are spread evenly over the 60 days before the first run (oldest first), 1 in 10 is
completed (the feed skips those), half have an e-mail, the ones older than the basket lifetime
are `expired`. Each has one order item: the first published offer of the catalog (run
`seed_demo` first), and that offer's price as its `total`. For the recovery dashboard (issue 15):
1 in 20 baskets was emailed, 1 in 40 opened its link, 1 in 30 (completed ones) was recovered, each
contacted basket with its sent RecoveryEmail.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from baskets.models import Basket, OrderItem, RecoveryEmail
from subscriptions import pricing
from subscriptions.models import Offer
from subscriptions.selectors import first_published_offer

SOURCE = "bench"
SPREAD = timedelta(days=60)

# SQL for each basket column; `n` is the basket's number (1-based), `:start`/`:step` place it in time.
BASKET_COLUMNS = {
    "id": "gen_random_uuid()",
    "status": "CASE WHEN n % 10 = 0 THEN 'completed' WHEN %(start)s + n * %(step)s < %(expired_before)s "
    "THEN 'expired' ELSE 'active' END",
    "order_type": "'new'",
    "version": "1",
    "created": "%(start)s + n * %(step)s",
    "updated": "%(start)s + n * %(step)s",
    "expires_at": "%(start)s + n * %(step)s + %(lifetime)s",
    "completed_at": "CASE WHEN n % 10 = 0 THEN %(start)s + n * %(step)s + interval '1 hour' END",
    "created_by_customer_token": "false",
    "email": "CASE WHEN n % 2 = 0 THEN 'bench' || n || '@example.com' ELSE '' END",
    "first_name": "'Bench'",
    "last_name": "'Customer ' || n",
    "currency": "'GBP'",
    "source": f"'{SOURCE}'",
    "tracking": "jsonb_build_object('campaign', 'bench', 'n', n)",
    "custom_fields": "'{}'::jsonb",
    "entry": "'{}'::jsonb",
    "link_nonce": "substr(md5(n::text), 1, 16)",
    # What it is worth and where its recovery stands (issue 15's admin list and dashboard): 1 in 20
    # emailed, 1 in 40 opened, 1 in 30 recovered (those are completed ones).
    "total": "%(total)s",
    "recovery_status": "CASE WHEN n % 30 = 0 THEN 'recovered' WHEN n % 40 = 3 THEN 'opened' "
    "WHEN n % 20 = 1 THEN 'emailed' ELSE 'not_contacted' END",
    "recovery_emails_sent": "CASE WHEN n % 30 = 0 OR n % 40 = 3 OR n % 20 = 1 THEN 1 ELSE 0 END",
    "recovery_last_emailed_at": "CASE WHEN n % 30 = 0 OR n % 40 = 3 OR n % 20 = 1 "
    "THEN %(start)s + n * %(step)s + interval '1 hour' END",
    "recovery_opened_at": "CASE WHEN n % 30 = 0 OR n % 40 = 3 THEN %(start)s + n * %(step)s + interval '2 hours' END",
    "recovered_at": "CASE WHEN n % 30 = 0 THEN %(start)s + n * %(step)s + interval '1 hour' END",
    "recovered_amount": "CASE WHEN n % 30 = 0 THEN %(total)s END",
}


class Command(BaseCommand):
    help = "Top up the benchmark's baskets (source='bench') to --count, in bulk (PostgreSQL only)."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, default=1_000_000)
        parser.add_argument("--batch-size", type=int, default=250_000)

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError("seed_bench_baskets needs PostgreSQL (generate_series); set DATABASE_URL.")
        count, batch_size = options["count"], options["batch_size"]
        offer = first_published_offer()
        if offer is None:
            raise CommandError("No published offer: run `manage.py seed_demo` first.")
        existing = Basket.objects.filter(source=SOURCE).count()
        if existing >= count:
            self.stdout.write(f"{existing} bench baskets already; nothing to do.")
            return
        first_created = Basket.objects.filter(source=SOURCE).order_by("created").values_list("created", flat=True)
        start = first_created.first() or timezone.now() - SPREAD
        step = SPREAD / count
        started = time.monotonic()
        done = existing
        while done < count:
            upto = min(done + batch_size, count)
            self.insert_batch(first=done + 1, last=upto, start=start, step=step, offer=offer)
            done = upto
            self.stdout.write(f"  {done} / {count} baskets ({time.monotonic() - started:.0f} s)")
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Basket._meta.db_table}")
            cursor.execute(f"ANALYZE {OrderItem._meta.db_table}")
            cursor.execute(f"ANALYZE {RecoveryEmail._meta.db_table}")
        self.stdout.write(f"{count - existing} bench baskets written in {time.monotonic() - started:.0f} s.")

    @transaction.atomic
    def insert_batch(self, *, first: int, last: int, start, step: timedelta, offer: Offer) -> None:
        params: dict[str, Any] = {
            "start": start,
            "step": step,
            "lifetime": settings.BASKET_LIFETIME,
            "expired_before": timezone.now() - settings.BASKET_LIFETIME,
            "first": first,
            "last": last,
            "total": pricing.first_period_amount(offer.snapshot.get("price", [])),
        }
        columns, values = [], []
        for field in Basket._meta.concrete_fields:
            column = field.column
            assert column is not None  # a concrete field has a column
            columns.append(connection.ops.quote_name(column))
            if column in BASKET_COLUMNS:
                values.append(BASKET_COLUMNS[column])
            elif field.null:
                values.append("NULL")
            else:  # a column added since this command was written: its model default
                params[column] = field.get_db_prep_save(field.get_default(), connection)
                values.append(f"%({column})s")
        basket_table = connection.ops.quote_name(Basket._meta.db_table)
        item_table = connection.ops.quote_name(OrderItem._meta.db_table)
        # `%` of the modulo must survive psycopg's parameter formatting.
        select = ", ".join(values).replace(" % ", " %% ")
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {basket_table} ({', '.join(columns)}) "
                f"SELECT {select} FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS n",
                params,
            )
            cursor.execute(
                f"INSERT INTO {item_table} (id, basket_id, position, type, offer_id, offer_version, offer_snapshot,"
                " quantity, action_type, automatic, created) "
                "SELECT gen_random_uuid(), b.id, 0, %(type)s, %(offer)s, %(version)s, %(snapshot)s::jsonb,"
                " 1, '', false, b.created "
                f"FROM {basket_table} b WHERE b.source = %(source)s "
                f"AND NOT EXISTS (SELECT 1 FROM {item_table} i WHERE i.basket_id = b.id) "
                "AND b.created >= %(from)s",
                {
                    "type": offer.type,
                    "offer": offer.pk,
                    "version": offer.version,
                    "snapshot": json.dumps(offer.snapshot),
                    "source": SOURCE,
                    "from": start + step * first,
                },
            )
            # The recovery email of each contacted basket of the batch (the dashboard's "emails sent").
            email_table = connection.ops.quote_name(RecoveryEmail._meta.db_table)
            cursor.execute(
                f"INSERT INTO {email_table} (id, basket_id, step, status, reason, to_email, attempts, created,"
                " sent_at, opened_at) "
                "SELECT gen_random_uuid(), b.id, '1h', 'sent', '', b.email, 1, b.recovery_last_emailed_at,"
                " b.recovery_last_emailed_at, b.recovery_opened_at "
                f"FROM {basket_table} b WHERE b.source = %(source)s AND b.recovery_emails_sent > 0 "
                f"AND NOT EXISTS (SELECT 1 FROM {email_table} e WHERE e.basket_id = b.id) "
                "AND b.created >= %(from)s",
                {"source": SOURCE, "from": start + step * first},
            )
