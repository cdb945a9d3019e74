"""Two versions of the code, benchmarked in turn on the same machine: `python bench/compare.py --old DIR`.

A refactoring is judged against the code it replaces, measured in the same session: a shared
machine's speed drifts by more than the differences that matter. This runs this checkout's
`bench/run.py` (one driver for both) against the old tree's server and the new one's (this
checkout, or --new) alternately, --pairs times, each against a database of its own (their
migrations may differ), and prints, per flow, the requests/s and the server CPU per request of
every run and the median ratios new/old, plus the steps' p50/p99.

The old tree is any checkout, e.g. `git worktree add --detach ../checkout-old <commit>`; both run
with this interpreter, so it needs both trees' dependencies.

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/checkout_bench"


def run(tree: Path, database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as output:
        path = output.name
    command = [
        sys.executable, str(ROOT / "bench" / "run.py"), "--app", str(tree),
        "--flows", args.flows, "--users", str(args.users), "--duration", str(args.duration),
        "--rounds", str(args.rounds), "--output", path,
    ]  # fmt: skip
    print(f"[compare] {tree} on {database_url.rsplit('/', 1)[-1]}", file=sys.stderr, flush=True)
    subprocess.run(
        command, cwd=tree, env={**os.environ, "BENCH_DATABASE_URL": database_url}, check=True, stdout=subprocess.DEVNULL
    )
    report = json.loads(Path(path).read_text())
    Path(path).unlink()
    return report["results"]


def latency(step: dict[str, Any]) -> tuple[float, float]:
    return step["p50_ms"], step["p99_ms"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", required=True, type=Path, help="checkout of the code to compare against")
    parser.add_argument("--new", default=ROOT, type=Path, help="checkout of the new code (default: this one)")
    parser.add_argument("--pairs", type=int, default=3, help="old/new runs, in turn (default 3)")
    parser.add_argument("--flows", default="floor,acquisition")
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "last-compare.json")
    args = parser.parse_args()

    base = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    trees = {"old": (args.old.resolve(), f"{base}_old"), "new": (args.new.resolve(), base)}
    runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    for _ in range(args.pairs):
        for name, (tree, database_url) in trees.items():
            runs[name].append(run(tree, database_url, args))
            # Kept as they come: a long comparison that fails later still has its runs.
            args.output.with_suffix(".runs.json").write_text(json.dumps(runs, indent=2) + "\n")

    settings = {name: str(value) if isinstance(value, Path) else value for name, value in vars(args).items()}
    summary: dict[str, Any] = {"settings": settings, "flows": {}}
    for flow in args.flows.split(","):
        old = [result[flow]["requests_per_s"] for result in runs["old"]]
        new = [result[flow]["requests_per_s"] for result in runs["new"]]
        ratios = [n / o for n, o in zip(new, old, strict=True) if o]
        old_cpu = [result[flow].get("server_cpu_ms_per_request") for result in runs["old"]]
        new_cpu = [result[flow].get("server_cpu_ms_per_request") for result in runs["new"]]
        cpu_ratios = [n / o for n, o in zip(new_cpu, old_cpu, strict=True) if n and o]
        summary["flows"][flow] = {
            "old_requests_per_s": old,
            "new_requests_per_s": new,
            "ratio_new_old_per_pair": [round(r, 3) for r in ratios],
            "median_ratio": round(statistics.median(ratios), 3) if ratios else None,
            "old_server_cpu_ms_per_request": old_cpu,
            "new_server_cpu_ms_per_request": new_cpu,
            "cpu_ratio_new_old_per_pair": [round(r, 3) for r in cpu_ratios],
            "median_cpu_ratio": round(statistics.median(cpu_ratios), 3) if cpu_ratios else None,
            "errors": {name: [result[flow]["errors"] for result in results] for name, results in runs.items()},
            "steps": {
                name: {
                    f"{version}_p50_p99_ms": [latency(result[flow]["steps"][name]) for result in results]
                    for version, results in runs.items()
                }
                for name in runs["new"][0][flow].get("steps", {})
            },
        }  # fmt: skip
    document = json.dumps(summary, indent=2)
    args.output.write_text(document + "\n")
    print(document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
