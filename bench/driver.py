"""The load driver: N virtual customers (asyncio + httpx) replaying checkout flows for a bounded time.

Phases run one after the other against the same server, each with every virtual customer, so
each flow is measured alone and the ratios compare like with like; each flow's `duration`
seconds are taken in `rounds` slices in turn (floor, acquisition, subscription, abandoned, floor,
...), each after a short unmeasured warm-up, so that the machine's slow and fast spells fall on
every flow alike:

- floor: GET /api/_bench/ping, the minimal authenticated endpoint (token check + one
  primary-key read);
- acquisition: initiate with 1 item, add 2 items, change a quantity, remove an item, apply a
  promo code (staff token), read the basket (the hosted checkout page, GET /checkout/: the only
  read of an acquisition basket there is; it renders the basket with its totals);
- subscription: initiate an update basket (customer token), upgrade, add an add-on, read it
  (GET /api/checkout/subscription); never completed, so no pending change ever locks the
  subscription;
- abandoned: the first page of the feed, and a page 5,000 pages deep (a cursor built from the
  database beforehand), alternately.

A request is an error when it fails or answers another status than the step expects; a flow
stops at its first error. Every phase stops at its deadline: no new step starts after it, and
whatever is still in flight is cancelled a few seconds later (hard stop).
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

COOKIE = re.compile(r"limio_state=([^;]+)")
HARD_STOP_GRACE = 5.0


@dataclass
class Config:
    base_url: str
    users: int
    duration: float
    warmup: float
    storefront_token: str
    backoffice_token: str
    customer_token: str
    subscription_id: str
    offers: dict[str, dict[str, Any]]  # by path: {"id", "version"}
    promo_code: str
    deep_cursor: str
    page_size: int
    ping_cookie: str
    # {pid: CPU seconds} of the server's processes (bench/server_cpu.py), sampled around each slice.
    server_cpu: Callable[[], dict[int, float]] | None = None
    # Where requests go instead of base_url's socket (bench/profile.py calls the app in-process).
    transport: httpx.AsyncBaseTransport | None = None


@dataclass
class Recorder:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # When each request finished (wall clock, for setting the slowest against the server's logs).
    finished: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    error_samples: list[str] = field(default_factory=list)
    flows: int = 0
    requests: int = 0
    measuring: bool = False
    server_cpu_s: float | None = None

    def record(self, step: str, seconds: float, ok: bool, detail: str = "") -> None:
        if not self.measuring:
            return
        self.requests += 1
        self.latencies[step].append(seconds)
        self.finished[step].append(time.time())
        if not ok:
            self.errors[step] += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(f"{step}: {detail}"[:300])


class StepFailed(Exception):
    pass


async def call(
    client: httpx.AsyncClient, recorder: Recorder, step: str, method: str, url: str, *, expect: int = 200, **kwargs
) -> httpx.Response:
    started = time.perf_counter()
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        recorder.record(step, time.perf_counter() - started, False, f"{exc.__class__.__name__}: {exc}")
        raise StepFailed(step) from exc
    elapsed = time.perf_counter() - started
    ok = response.status_code == expect
    recorder.record(step, elapsed, ok, f"HTTP {response.status_code} {response.text[:200]}")
    if not ok:
        raise StepFailed(step)
    return response


def landing_state(response: httpx.Response) -> str:
    """The limio_state cookie from Set-Cookie (it is Secure, so httpx would not send it over http)."""
    for header in response.headers.get_list("set-cookie"):
        match = COOKIE.search(header)
        if match:
            return match.group(1)
    raise StepFailed("no limio_state cookie")


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


# --- Flows ------------------------------------------------------------------------------------


async def floor_flow(client: httpx.AsyncClient, config: Config, recorder: Recorder) -> None:
    await call(
        client, recorder, "ping", "GET", "/api/_bench/ping",
        headers=bearer(config.storefront_token, Cookie=f"limio_state={config.ping_cookie}"),
    )  # fmt: skip


async def acquisition_flow(client: httpx.AsyncClient, config: Config, recorder: Recorder) -> None:
    offers = config.offers
    monthly, premium, crossword = (
        offers["/offers/digital-monthly"],
        offers["/offers/premium"],
        offers["/offers/crossword"],
    )
    store = bearer(config.storefront_token)
    response = await call(
        client, recorder, "initiate", "POST", "/api/checkout/initiate", headers=store,
        json={"order": {"orderItems": [{"offer": {"id": monthly["id"], "version": monthly["version"]}}],
                        "customerDetails": {"email": "bench.buyer@example.com"}, "country": "GB"}},
    )  # fmt: skip
    basket_id = response.json()["id"]
    first_item = response.json()["order"]["orderItems"][0]["id"]
    cookie = {"Cookie": f"limio_state={landing_state(response)}"}

    async def update(step: str, actions: list[dict[str, Any]]) -> httpx.Response:
        return await call(
            client, recorder, step, "PUT", "/api/checkout/update", headers={**store, **cookie},
            json={"order": {"orderItems": actions}},
        )  # fmt: skip

    response = await update("add_2_items", [
        {"orderItemActionType": "add", "offer": {"id": premium["id"]}},
        {"orderItemActionType": "add", "offer": {"id": crossword["id"]}, "type": "add_on", "parentId": first_item},
    ])  # fmt: skip
    premium_item = response.json()["actionResults"][0]["orderItemId"]
    await update("change_quantity", [{"orderItemActionType": "update", "id": first_item, "quantity": 2}])
    await update("remove_item", [{"orderItemActionType": "remove", "id": premium_item}])
    await call(
        client, recorder, "apply_promo_code", "POST", "/api/admin/v2/promo_code",
        headers=bearer(config.backoffice_token), json={"code": config.promo_code, "basketId": basket_id},
    )  # fmt: skip
    await call(client, recorder, "read_basket", "GET", "/checkout/", headers=cookie)


async def subscription_flow(client: httpx.AsyncClient, config: Config, recorder: Recorder) -> None:
    headers = bearer(config.customer_token, **{"X-Limio-Recaptcha": "pass-bench"})
    response = await call(
        client, recorder, "initiate", "POST", "/api/checkout/subscription", headers=headers,
        json={"order": {"order_type": "update_subscription", "forSubscription": {"id": config.subscription_id}}},
    )  # fmt: skip
    headers["Cookie"] = f"limio_state={landing_state(response)}"

    async def change(step: str, offer_path: str, **extra: Any) -> None:
        action = {"orderItemActionType": "add", "offer": {"id": config.offers[offer_path]["id"]}, **extra}
        await call(
            client, recorder, step, "PUT", "/api/checkout/subscription", headers=headers,
            json={"order": {"orderItems": [action]}},
        )  # fmt: skip

    await change("upgrade", "/offers/premium")
    await change("add_add_on", "/offers/archive", type="add_on")
    await call(client, recorder, "read", "GET", "/api/checkout/subscription", headers=headers)


async def abandoned_flow(client: httpx.AsyncClient, config: Config, recorder: Recorder) -> None:
    headers = bearer(config.backoffice_token)
    params = {"limit": config.page_size}
    await call(client, recorder, "first_page", "GET", "/api/checkout/abandoned", headers=headers, params=params)
    await call(
        client, recorder, "deep_page", "GET", "/api/checkout/abandoned", headers=headers,
        params={**params, "queryMore": config.deep_cursor},
    )  # fmt: skip


FLOWS = {
    "floor": floor_flow,
    "acquisition": acquisition_flow,
    "subscription": subscription_flow,
    "abandoned": abandoned_flow,
}


# --- Running a phase --------------------------------------------------------------------------


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, round(fraction * len(sorted_values) + 0.5))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def slowest(latencies: list[float], finished: list[float], count: int = 5) -> list[str]:
    """The `count` slowest requests, as "HH:MM:SS.mmm 123ms" (when each finished, UTC): a tail
    spike set against the server's logs (PostgreSQL's checkpoints, autovacuum) shows its cause."""
    worst = sorted(zip(latencies, finished, strict=True), reverse=True)[:count]
    return [
        f"{time.strftime('%H:%M:%S', time.gmtime(at))}.{int(at % 1 * 1000):03d} {seconds * 1000:.0f}ms"
        for seconds, at in worst
    ]


def summary_ms(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 2),
        "p95_ms": round(percentile(ordered, 0.95) * 1000, 2),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2) if ordered else None,
        "max_ms": round(ordered[-1] * 1000, 2) if ordered else None,
    }


async def run_slice(name: str, config: Config, recorder: Recorder, *, duration: float, warmup: float) -> float:
    """Every virtual customer runs the flow for `warmup` seconds (not recorded), then `duration`
    seconds recorded into `recorder`; the seconds measured."""
    flow = FLOWS[name]
    limits = httpx.Limits(max_connections=config.users, max_keepalive_connections=config.users)
    async with httpx.AsyncClient(
        base_url=config.base_url, timeout=30.0, limits=limits, transport=config.transport
    ) as client:

        async def user(deadline: float) -> None:
            while time.monotonic() < deadline:
                measuring = recorder.measuring
                try:
                    await flow(client, config, recorder)
                except StepFailed:
                    continue
                if measuring and recorder.measuring:
                    recorder.flows += 1

        # Warm-up: connections open, workers warm, caches filled; nothing recorded.
        warm_deadline = time.monotonic() + warmup
        await asyncio.gather(*(user(warm_deadline) for _ in range(config.users)))
        cpu_before = config.server_cpu() if config.server_cpu else None
        recorder.measuring = True
        started = time.monotonic()
        deadline = started + duration
        tasks = [asyncio.create_task(user(deadline)) for _ in range(config.users)]
        done, pending = await asyncio.wait(tasks, timeout=duration + HARD_STOP_GRACE)
        for task in pending:  # hard stop: a request stuck past the deadline is abandoned
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            if task.exception() is not None:
                raise task.exception()
        elapsed = time.monotonic() - started
        recorder.measuring = False
        if config.server_cpu and cpu_before is not None:
            cpu_after = config.server_cpu()
            spent = sum(seconds - cpu_before.get(pid, 0.0) for pid, seconds in cpu_after.items())
            recorder.server_cpu_s = (recorder.server_cpu_s or 0.0) + spent
    return elapsed


def phase_result(recorder: Recorder, elapsed: float) -> dict[str, Any]:
    return {
        "seconds": round(elapsed, 2),
        "flows": recorder.flows,
        "flows_per_s": round(recorder.flows / elapsed, 2),
        "requests": recorder.requests,
        "requests_per_s": round(recorder.requests / elapsed, 2),
        # Server CPU (gunicorn + the database's backends, not the driver) per request, in ms.
        "server_cpu_ms_per_request": (
            round(recorder.server_cpu_s * 1000 / recorder.requests, 3)
            if recorder.server_cpu_s is not None and recorder.requests
            else None
        ),
        "errors": sum(recorder.errors.values()),
        "errors_by_step": dict(recorder.errors),
        "error_samples": recorder.error_samples,
        "steps": {
            step: {**summary_ms(values), "slowest": slowest(values, recorder.finished[step])}
            for step, values in recorder.latencies.items()
        },
    }


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each flow against the floor; the deep abandoned page against the first; the issue's targets."""
    floor = results["floor"]
    floor_rps, floor_p50 = floor["requests_per_s"], floor["steps"]["ping"]["p50_ms"]
    out: dict[str, Any] = {}
    for name in ("acquisition", "subscription", "abandoned"):
        phase = results[name]
        out[name] = {
            "requests_per_s_vs_floor": round(phase["requests_per_s"] / floor_rps, 3),
            "p50_vs_floor_p50": {step: round(s["p50_ms"] / floor_p50, 2) for step, s in phase["steps"].items()},
        }
    pages = results["abandoned"]["steps"]
    deep_vs_first = {
        "p50": round(pages["deep_page"]["p50_ms"] / pages["first_page"]["p50_ms"], 3),
        "p99": round(pages["deep_page"]["p99_ms"] / pages["first_page"]["p99_ms"], 3),
    }
    out["abandoned"]["deep_page_vs_first_page"] = deep_vs_first
    tails = {
        f"{name}.{step}": round(s["p99_ms"] / s["p50_ms"], 2)
        for name, phase in results.items()
        for step, s in phase["steps"].items()
    }
    out["targets"] = {
        "acquisition_requests_per_s_at_least_half_the_floor": out["acquisition"]["requests_per_s_vs_floor"] >= 0.5,
        "every_step_p99_at_most_3x_its_p50": all(value <= 3 for value in tails.values()),
        "deep_abandoned_page_within_1_5x_the_first": deep_vs_first["p50"] <= 1.5,
        "no_errors": all(phase["errors"] == 0 for phase in results.values()),
        "p99_over_p50_by_step": tails,
    }
    return out


async def run_all(config: Config, phases: list[str], rounds: int = 1) -> dict[str, Any]:
    """Each flow measured for `config.duration` seconds in all, in `rounds` slices taken in turn
    (floor, acquisition, ..., floor, acquisition, ...): a slow spell of a shared machine then
    falls on every flow alike instead of on whichever flow it ran during. The first slice of a
    flow warms up for `config.warmup` seconds, later ones for at most one second."""
    recorders = {name: Recorder() for name in phases}
    elapsed = dict.fromkeys(phases, 0.0)
    for round_ in range(rounds):
        for name in phases:
            warmup = config.warmup if round_ == 0 else min(config.warmup, 1.0)
            elapsed[name] += await run_slice(
                name, config, recorders[name], duration=config.duration / rounds, warmup=warmup
            )
    return {name: phase_result(recorders[name], elapsed[name]) for name in phases}
