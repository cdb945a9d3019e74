"""Profile mode: `python bench/profile.py [--flow acquisition] [--seconds 20]`.

Runs one flow of bench/driver.py in this process, one virtual customer at a time, calling the
WSGI application directly (no gunicorn, no sockets) against the benchmark's database (prepared
as bench/run.py prepares it: BENCH_DATABASE_URL), with the server's settings, under
pyinstrument (a sampling profiler), and prints:

- per step, the application's CPU per request (`time.process_time()` around the WSGI call), and
  the PostgreSQL backends' CPU per request over the whole run (from /proc);
- the top costs by module: the sampled time spent in each module's own code (its self time),
  only while the application handles a request (the driver and httpx are left out). Ours are
  named by file, libraries by their first --depth package levels (django.db.models.sql, ...).
  Time waiting for PostgreSQL's answers shows as psycopg's waiting module.

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import sysconfig
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import partial, wraps
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import driver, run  # noqa: E402
from bench.server_cpu import ServerCPU, cpu_seconds  # noqa: E402

STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()


def module_of(file_path: str | None, depth: int) -> str:
    """A sampled frame's module: ours by path, a library by its first `depth` package levels."""
    if not file_path or file_path.startswith("<"):
        return file_path or "<unknown>"
    path = Path(file_path)
    parts = path.with_suffix("").parts
    if "site-packages" in parts:
        dotted = parts[parts.index("site-packages") + 1 :]
        return ".".join(dotted[:depth])
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        pass
    try:
        return "stdlib:" + ".".join(path.resolve().with_suffix("").relative_to(STDLIB).parts[:depth])
    except ValueError:
        return file_path


def self_times(frame: Any, depth: int, totals: dict[str, float], parent: str = "<root>") -> None:
    """Adds each frame's own time to its module; pyinstrument's synthetic frames ("[self]", a
    C function's time) count for the module that called them."""
    module = parent if frame.is_synthetic or frame.file_path is None else module_of(frame.file_path, depth)
    totals[module] += frame.total_self_time
    for child in frame.children:
        self_times(child, depth, totals, module)


class InProcess(httpx.AsyncBaseTransport):
    """Hands each request to the WSGI application in this process, timing and profiling only that."""

    def __init__(self, application: Any, profiler: Any = None) -> None:
        self.wsgi = httpx.WSGITransport(app=application)
        self.profiler = profiler
        self.cpu: dict[str, list[float]] = defaultdict(list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        if self.profiler is not None:
            self.profiler.start()
        started = time.process_time()
        response = self.wsgi.handle_request(request)
        content = response.read()
        self.cpu[f"{request.method} {request.url.path}"].append(time.process_time() - started)
        if self.profiler is not None:
            self.profiler.stop()
        return httpx.Response(response.status_code, headers=response.headers, content=content)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flow", default="acquisition", choices=sorted(driver.FLOWS))
    parser.add_argument("--seconds", type=float, default=20, help="measured seconds (default 20)")
    parser.add_argument("--warmup", type=float, default=3, help="unmeasured seconds first (default 3)")
    parser.add_argument("--baskets", type=int, default=1_000_000, help="baskets in the feed (as bench/run.py)")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--depth", type=int, default=3, help="package levels a library's module is named by")
    parser.add_argument("--top", type=int, default=30, help="modules listed (default 30)")
    parser.add_argument("--interval", type=float, default=0.0002, help="sampling interval in seconds")
    parser.add_argument("--tree", type=Path, help="also write pyinstrument's call tree (text) to this file")
    parser.add_argument(
        "--each-middleware",
        type=int,
        metavar="ROUNDS",
        help="instead: the flow's CPU per request with every middleware, then without each one in turn, "
        "ROUNDS times interleaved (--seconds in all per variant); what each middleware costs",
    )
    parser.add_argument(
        "--drf-features",
        action="store_true",
        help="instead: the application CPU each DRF feature on the API path spends per request, timed inside it",
    )
    args = parser.parse_args()

    database_url = os.environ.get("BENCH_DATABASE_URL", run.DEFAULT_DATABASE_URL)
    env = run.server_env(database_url)
    prepared = run.prepare(ROOT, env, database_url, baskets=args.baskets, page_size=args.page_size)
    os.environ.clear()
    # The application runs synchronously inside the driver's event loop, one request at a time:
    # Django's guard against sync database calls from async code does not apply (documented).
    os.environ.update(env, DJANGO_SETTINGS_MODULE="checkout_project.settings", DJANGO_ALLOW_ASYNC_UNSAFE="true")

    from pyinstrument import Profiler

    from checkout_project.wsgi import application

    base_url = "http://127.0.0.1"  # an allowed host; nothing listens: the transport calls the app
    with httpx.Client(base_url=base_url, transport=httpx.WSGITransport(app=application)) as http:
        settings = dict(base_url=base_url, users=1, warmup=0.0, page_size=args.page_size)
        config = run.driver_config(prepared, http, duration=args.warmup, transport=InProcess(application), **settings)
    asyncio.run(driver.run_all(config, [args.flow]))

    if args.each_middleware:
        return each_middleware(config, args.flow, rounds=args.each_middleware, seconds=args.seconds)
    if args.drf_features:
        return drf_features(config, args.flow, seconds=args.seconds)

    # 1. Timed, not profiled: a profiler's own overhead would inflate every figure.
    timed = InProcess(application)
    config.transport, config.duration = timed, args.seconds
    database = ServerCPU(os.getpgid(0), database_url)
    backends_before = {pid: cpu_seconds(pid) for pid in database.backends()}
    results = asyncio.run(driver.run_all(config, [args.flow]))[args.flow]
    backends_after = {pid: cpu_seconds(pid) for pid in database.backends()}
    database.close()

    requests = sum(len(values) for values in timed.cpu.values())
    application_cpu = sum(sum(values) for values in timed.cpu.values())
    database_cpu = ServerCPU.spent(backends_before, backends_after)
    flows, seconds, errors = results["flows"], results["seconds"], results["errors"]
    print(f"{args.flow}: {flows} flows, {requests} requests in {seconds} s, errors {errors}")
    print(f"CPU per request: application {application_cpu * 1000 / requests:.2f} ms (process_time),"
          f" PostgreSQL {database_cpu * 1000 / requests:.2f} ms (/proc; 10 ms ticks over the run)")  # fmt: skip
    print("\nper step: requests, application CPU median / mean ms")
    for step, values in timed.cpu.items():
        median, mean = statistics.median(values) * 1000, statistics.fmean(values) * 1000
        print(f"  {step:45} {len(values):6} {median:7.2f} {mean:7.2f}")

    # 2. Profiled, as long again.
    profiler = Profiler(interval=args.interval, async_mode="disabled")
    config.transport = InProcess(application, profiler)
    asyncio.run(driver.run_all(config, [args.flow]))
    session = profiler.last_session
    totals: dict[str, float] = defaultdict(float)
    self_times(session.root_frame(), args.depth, totals)
    sampled = sum(totals.values())
    if args.tree:
        args.tree.write_text(profiler.output_text(unicode=True, show_all=False))
    per_request = application_cpu * 1000 / requests  # the timed pass's: shares are of this
    interval_ms = args.interval * 1000
    print(f"\ntop {args.top} modules by self time (sampled {sampled:.2f} s in requests, every {interval_ms:g} ms)")
    for name, seconds in sorted(totals.items(), key=lambda item: -item[1])[: args.top]:
        share = seconds / sampled
        print(f"  {share * 100:5.1f} %  ~{share * per_request:6.3f} ms/request  {name}")
    by_package: dict[str, float] = defaultdict(float)
    for name, seconds in totals.items():
        by_package[name.split(".")[0] if "/" not in name else "ours"] += seconds
    print("\nby package:", ", ".join(f"{name} {seconds / sampled * 100:.1f} %" for name, seconds in
                                     sorted(by_package.items(), key=lambda item: -item[1])[:12]))  # fmt: skip
    return 0


Variants = dict[str, Callable[[], AbstractContextManager[Any]]]


def each_variant(
    config: driver.Config, flow: str, variants: Variants, *, rounds: int, seconds: float
) -> tuple[dict[str, float], dict[str, str]]:
    """The flow's application CPU per request (ms, median of `rounds`) under each variant (a
    context manager changing the application; a handler is built inside it), the variants
    interleaved; and the variants whose flow failed, with the first error."""
    per_request: dict[str, list[float]] = defaultdict(list)
    failing: dict[str, str] = {}
    config.duration, config.warmup = seconds / rounds, 1.0  # each slice warms its new handler up first
    names = list(variants)
    for round_ in range(rounds):
        # Each round starts one variant later: none always runs first (or right after the same one).
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            variant = variants[name]
            with variant():
                transport = InProcess(application_handler())
                config.transport = transport
                result = asyncio.run(driver.run_all(config, [flow]))[flow]
            if result["errors"]:
                failing[name] = (result["error_samples"] or ["errors"])[0][:80]
            values = [value for values in transport.cpu.values() for value in values]
            per_request[name].append(sum(values) / len(values) * 1000)
    return {name: statistics.median(values) for name, values in per_request.items()}, failing


def print_variants(flow: str, rounds: int, seconds: float, medians: dict[str, float], failing: dict[str, str]) -> None:
    base_name, *others = medians
    base = medians[base_name]
    print(f"{flow}: application CPU per request, median of {rounds} rounds of {seconds / rounds:g} s")
    print(f"  {base_name:64} {base:6.3f} ms")
    for name in others:
        if name in failing:
            print(f"  {name:64} the flow fails: {failing[name]}")
            continue
        print(f"  {name:64} {medians[name]:6.3f} ms  ({medians[name] - base:+.3f} ms)")


def each_middleware(config: driver.Config, flow: str, *, rounds: int, seconds: float) -> int:
    """The flow with all of settings.MIDDLEWARE and without each one (the others need some:
    SessionMiddleware for AuthenticationMiddleware, and the flow then fails)."""
    from django.conf import settings
    from django.test import override_settings

    full = list(settings.MIDDLEWARE)
    variants: Variants = {
        "(all)": nullcontext,
        "(all, again: the noise)": nullcontext,
        **{f"without {name}": partial(override_settings, MIDDLEWARE=[m for m in full if m != name]) for name in full},
    }
    print_variants(flow, rounds, seconds, *each_variant(config, flow, variants, rounds=rounds, seconds=seconds))
    return 0


class FeatureTimer:
    """Application CPU spent inside chosen methods (`time.process_time()`), each counted once
    however deeply it recurses, per method; installed by wrapping the class attribute."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.originals: list[tuple[Any, str, Any]] = []

    def wrap(self, label: str, owner: Any, name: str) -> None:
        original = owner.__dict__[name]
        depth = 0

        @wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            nonlocal depth
            if depth:
                return original(*args, **kwargs)
            depth += 1
            started = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] += time.process_time() - started
                depth -= 1

        self.originals.append((owner, name, original))
        setattr(owner, name, timed)

    def unwrap(self) -> None:
        for owner, name, original in reversed(self.originals):
            setattr(owner, name, original)


def drf_features(config: driver.Config, flow: str, *, seconds: float) -> int:
    """The application CPU each DRF feature on the API path spends per API request, timed inside
    the feature itself (an A/B run per feature is noisier than most of them cost), with
    throttling on as in production (at rates the run cannot reach)."""
    from django.test import override_settings
    from rest_framework.serializers import BaseSerializer
    from rest_framework.views import APIView

    from checkout_project.api.auth import HasRequiredScope
    from checkout_project.api.parsers import JSONParser, JSONRenderer

    timer = FeatureTimer()
    features = [
        ("the DRF view in all (dispatch; rendering is after it)", APIView, "dispatch"),
        ("request wrapping (Request, parser/authenticator instances)", APIView, "initialize_request"),
        ("content negotiation", APIView, "perform_content_negotiation"),
        ("version determination", APIView, "determine_version"),
        ("authentication (the token check, token cache)", APIView, "perform_authentication"),
        ("throttling (database cache counter)", APIView, "check_throttles"),
        ("the scope check (permission class)", HasRequiredScope, "has_permission"),
        ("parsing the JSON body", JSONParser, "parse"),
        ("request validation (serializers' is_valid)", BaseSerializer, "is_valid"),
        ("finalize_response (renderer context, headers)", APIView, "finalize_response"),
        ("rendering the JSON response", JSONRenderer, "render"),
    ]
    for label, owner, name in features:
        timer.wrap(label, owner, name)
    transport = InProcess(application_handler())
    config.transport, config.duration, config.warmup = transport, seconds, 1.0
    rates = {scope: "1000000/min" for scope in ("checkout", "checkout:admin", "baskets:read", "partner", "anonymous",
                                                "customer")}  # fmt: skip
    try:
        with override_settings(THROTTLE_ENABLED=True, THROTTLE_RATES=rates):
            result = asyncio.run(driver.run_all(config, [flow]))[flow]
    finally:
        timer.unwrap()
    api = {step: values for step, values in transport.cpu.items() if " /api/" in step}
    requests = sum(len(values) for values in api.values())
    total = sum(sum(values) for values in api.values())
    # The warm-up's requests were timed too (the transport is the same): count them all.
    print(f"{flow}: {requests} API requests (errors {result['errors']}), application CPU "
          f"{total * 1000 / requests:.3f} ms per API request; throttling on")  # fmt: skip
    for label, _, _ in features:
        spent = timer.seconds[label]
        print(f"  {label:62} {spent * 1000 / requests:6.3f} ms  {spent / total * 100:5.1f} %")
    return 0


def application_handler() -> Any:
    from django.core.handlers.wsgi import WSGIHandler

    return WSGIHandler()


if __name__ == "__main__":
    sys.exit(main())
