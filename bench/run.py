"""The benchmark, in one command: `python bench/run.py` (or `make bench`).

1. creates and migrates the PostgreSQL database BENCH_DATABASE_URL
   (default postgres://postgres@127.0.0.1:5432/checkout_bench);
2. seeds the demo catalog and credentials (`seed_demo --json`) and tops the benchmark's baskets
   up to --baskets (`seed_bench_baskets`; a million the first time, about a minute and a half,
   nothing on later runs), analyzes the basket tables and writes the server's dirty pages
   (CHECKPOINT) so that earlier work's checkpoint does not fall inside the measurement;
3. starts gunicorn with gunicorn.conf.py (2 workers per core), throttling off, the offline
   reCAPTCHA verifier, WARNING logs and the floor endpoint on;
4. waits for /readyz, gets client tokens from /oauth2/token, and runs bench/driver.py: the floor,
   then the acquisition, subscription-change and abandoned-feed flows, --duration seconds each
   with --users virtual customers;
5. prints one JSON document (and writes it to --output), and stops gunicorn, whatever happened.

Not part of the test suite (pytest collects tests/ only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import driver  # noqa: E402
from bench.server_cpu import ServerCPU  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/checkout_bench"
DEEP_PAGES = 5000


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def server_env(database_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DATABASE_URL=database_url,
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=os.environ.get("BENCH_SECRET_KEY", "benchmark-only-secret-key-not-for-production-0123456789"),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        THROTTLE_ENABLED="0",
        RECAPTCHA_ENABLED="1",
        RECAPTCHA_VERIFIER="offline",
        LOG_FORMAT="json",
        LOG_LEVEL="WARNING",
        BENCH_ENDPOINTS="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(app: Path, env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(app / "manage.py"), *args], env=env, cwd=app, check=True, capture_output=True, text=True
    )
    return result.stdout


def create_database(database_url: str) -> None:
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            log(f"creating database {name}")
            connection.execute(f'CREATE DATABASE "{name}"')


def analyze(database_url: str) -> None:
    """Fresh planner statistics for the basket tables, as autovacuum keeps them in production.

    The seeded million baskets have no application, and the baskets earlier runs created (a few
    thousand, all the storefront's) stay below autovacuum's re-analyze threshold (10 % of the
    table): with statistics saying every basket has a NULL application, PostgreSQL picks the
    application_id index over the primary key for the update's row lock (`application_id = …
    AND id = …`) and filters through every storefront basket of earlier runs.
    """
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("ANALYZE baskets_basket")
        connection.execute("ANALYZE baskets_orderitem")


def checkpoint(database_url: str) -> None:
    """Write every dirty page of the PostgreSQL server now, before the measurement.

    Seeding, or whatever else the server did before (a test suite creating and dropping its
    databases), leaves dirty pages that the next checkpoint writes and syncs; falling inside a
    measured slice, its sync phase stalls commits for seconds and shows as tail latency of
    whichever flow runs then. A checkpoint the run itself causes is still measured. Needs a
    superuser or the pg_checkpoint role; without either, the run goes on and says so.
    """
    import psycopg

    try:
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        log("no CHECKPOINT before the run: the database user may not (superuser or pg_checkpoint)")


def deep_cursor(database_url: str, page_size: int) -> tuple[str, str]:
    """The cursor of the page DEEP_PAGES pages into the feed (what a client would hold there) and a basket id."""
    import base64

    import psycopg

    offset = DEEP_PAGES * page_size - 1
    with psycopg.connect(database_url) as connection:
        created, basket_id = connection.execute(
            "SELECT created, id FROM baskets_basket WHERE status <> 'completed' ORDER BY created, id OFFSET %s LIMIT 1",
            (offset,),
        ).fetchone()
    payload = {"v": "1", "c": str(basket_id), "r": created.isoformat().replace("+00:00", "Z")}
    cursor = base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()
    return cursor, f"basket-{basket_id}"


def client_token(http: httpx.Client, client: dict[str, str]) -> str:
    response = http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": client["scope"]},
        auth=(client["client_id"], client["client_secret"]),
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["access_token"]


@dataclass
class Prepared:
    """A migrated, seeded benchmark database and what the flows need from it."""

    demo: dict[str, Any]
    deep_cursor: str
    ping_basket: str
    seed_seconds: float


def prepare(
    app: Path, env: dict[str, str], database_url: str, *, baskets: int, page_size: int, flush: bool = True
) -> Prepared:
    """Steps 1 and 2: create and migrate the database, seed the demo data and the feed's baskets."""
    create_database(database_url)
    log("migrating")
    manage(app, env, "migrate", "--no-input")
    demo = json.loads(manage(app, env, "seed_demo", "--json"))
    log(f"seeding baskets up to {baskets}")
    started = time.monotonic()
    manage(app, env, "seed_bench_baskets", "--count", str(baskets))
    seed_seconds = round(time.monotonic() - started, 1)
    analyze(database_url)
    if flush:
        checkpoint(database_url)
    cursor, ping_basket = deep_cursor(database_url, page_size)
    return Prepared(demo, cursor, ping_basket, seed_seconds)


def driver_config(prepared: Prepared, http: httpx.Client, **settings: Any) -> driver.Config:
    """The driver's configuration: tokens from /oauth2/token (through `http`) and the seeded data."""
    clients = prepared.demo["clients"]
    return driver.Config(
        storefront_token=client_token(http, clients["storefront"]),
        backoffice_token=client_token(http, clients["backoffice"]),
        customer_token=prepared.demo["customer"]["access_token"],
        subscription_id=prepared.demo["customer"]["subscription"]["id"],
        offers={offer["path"]: offer for offer in prepared.demo["offers"]},
        promo_code="SPRING20",
        deep_cursor=prepared.deep_cursor,
        ping_cookie=prepared.ping_basket,
        **settings,
    )


def wait_ready(base_url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode} before it was ready")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("gunicorn was not ready in time")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    log("stopping gunicorn")
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration, ValueError):
        memory_kb = 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=16, help="concurrent virtual customers (default 16)")
    parser.add_argument("--duration", type=float, default=30, help="measured seconds per flow (default 30)")
    parser.add_argument("--warmup", type=float, default=3, help="unmeasured seconds before each flow (default 3)")
    parser.add_argument(
        "--rounds", type=int, default=5, help="slices each flow's duration is measured in, flows in turn (default 5)"
    )
    parser.add_argument("--baskets", type=int, default=1_000_000, help="baskets in the feed (default 1,000,000)")
    parser.add_argument("--page-size", type=int, default=50, help="abandoned feed page size (default 50)")
    parser.add_argument(
        "--no-checkpoint",
        action="store_true",
        help="leave the server's dirty pages to its next checkpoint (to see what that does to the tail)",
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (default: gunicorn.conf.py's)")
    parser.add_argument("--flows", default="floor,acquisition,subscription,abandoned")
    parser.add_argument("--output", default=str(ROOT / "bench" / "last-run.json"))
    parser.add_argument(
        "--app",
        type=Path,
        default=ROOT,
        help="the checkout whose server is measured (default: this one; bench/compare.py measures another)",
    )
    args = parser.parse_args()
    app = args.app.resolve()

    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    env = server_env(database_url)
    prepared = prepare(
        app, env, database_url, baskets=args.baskets, page_size=args.page_size, flush=not args.no_checkpoint
    )

    base_url = f"http://127.0.0.1:{args.port}"
    server_environment = {**env, "GUNICORN_BIND": f"127.0.0.1:{args.port}"}
    if args.workers:
        server_environment["GUNICORN_WORKERS"] = str(args.workers)
    log("starting gunicorn")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "checkout_project.wsgi", "-c", str(app / "gunicorn.conf.py")],
        cwd=app,
        env=server_environment,
        start_new_session=True,  # its own process group: stop() ends the master and its workers
    )
    server_cpu: ServerCPU | None = None
    try:
        wait_ready(base_url, server)
        server_cpu = ServerCPU(server.pid, database_url)
        with httpx.Client(base_url=base_url) as http:
            config = driver_config(
                prepared,
                http,
                base_url=base_url,
                users=args.users,
                duration=args.duration,
                warmup=args.warmup,
                page_size=args.page_size,
                server_cpu=server_cpu.sample,
            )
        phases = [name.strip() for name in args.flows.split(",") if name.strip()]
        log(f"running {', '.join(phases)}: {args.users} users, {args.duration:g} s each in {args.rounds} rounds")
        results = asyncio.run(driver.run_all(config, phases, rounds=max(1, args.rounds)))
    finally:
        if server_cpu is not None:
            server_cpu.close()
        stop(server)

    workers = int(server_environment.get("GUNICORN_WORKERS", 2 * (os.cpu_count() or 1)))
    report: dict[str, Any] = {
        "machine": machine(),
        "server": {
            "app": str(app),
            "gunicorn_workers": workers,
            "database": urlsplit(database_url).path.lstrip("/"),
            "cpu_measured": "gunicorn master and workers + PostgreSQL client backends of this database (/proc)",
        },
        "settings": {
            "users": args.users,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": max(1, args.rounds),
            "baskets": args.baskets,
            "page_size": args.page_size,
            "deep_page": DEEP_PAGES,
            "seed_seconds": prepared.seed_seconds,
        },
        "results": results,
    }
    if {"floor", "acquisition", "subscription", "abandoned"} <= set(results):
        report["ratios"] = driver.ratios(results)
    document = json.dumps(report, indent=2)
    Path(args.output).write_text(document + "\n")
    print(document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
