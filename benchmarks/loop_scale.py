"""How the cost of one real tick grows with the number of apps (100, 1,000, 10,000).

The Marathon-compatible server and a Prometheus-API endpoint run in another process
(benchmarks/scale_world.py); this process runs real ticks of the service's ControlLoop with the real
Marathon client and Prometheus provider over HTTP, two grouped metrics per app, about 1 % of the apps
scaling per tick. Per N it reports tick wall time (median and worst of the measured ticks), CPU
seconds per tick (this process, all threads), HTTP requests per tick to each backend (counted by the
servers), peak RSS, and decisions per second, and writes the table into benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/loop_scale.py            # N = 100, 1000, 10000; 20 measured ticks
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import os
import pstats
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import replace_section
from scale_world import BACKLOG_QUERY, CPU_QUERY, app_ids

from autoscaler.core.policy import Policy
from autoscaler.http import RetryPolicy
from autoscaler.loop import ControlLoop, settle_memory
from autoscaler.providers.prometheus import PrometheusProvider
from autoscaler.selfmetrics import SelfMetrics, observe_tick
from autoscaler.status import ServiceStatus
from autoscaler.targets.marathon import MarathonClient

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


SERIES = {"marathon_app": "${app}"}


def policies(count: int) -> dict[str, Policy]:
    template = {
        "min_instances": 1,
        "max_instances": 50,
        "scale_up": {"cooldown": "0s"},
        "metrics": [
            {"name": "cpu", "source": "prometheus", "query": CPU_QUERY, "series": SERIES, "target_average": 0.5},
            {
                "name": "backlog",
                "source": "prometheus",
                "query": BACKLOG_QUERY,
                "series": SERIES,
                "target_per_instance": 100,
            },
        ],
    }
    return {app_id: Policy.model_validate({**template, "app": app_id}) for app_id in app_ids(count)}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(count: int, ticks: int, warmup: int, *, profile: bool = False) -> dict[str, Any]:
    """Start the world process, run the ticks against it, stop it."""
    world = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve().parent / "scale_world.py"), "--apps", str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert world.stdin is not None and world.stdout is not None
    urls = json.loads(world.stdout.readline())

    def stats() -> dict[str, int]:
        assert world.stdin is not None and world.stdout is not None
        world.stdin.write("stats\n")
        world.stdin.flush()
        result: dict[str, int] = json.loads(world.stdout.readline())
        return result

    try:
        return asyncio.run(run_ticks(count, urls, stats, ticks=ticks, warmup=warmup, profile=profile))
    finally:
        world.stdin.write("quit\n")
        world.stdin.flush()
        world.wait(timeout=30)


async def run_ticks(
    count: int,
    urls: dict[str, str],
    stats: Callable[[], dict[str, int]],
    *,
    ticks: int,
    warmup: int,
    profile: bool = False,
) -> dict[str, Any]:
    retry = RetryPolicy(attempts=2, request_timeout=30.0, total_timeout=60.0)
    target = MarathonClient(base_url=urls["marathon"], policy=retry)
    provider = PrometheusProvider(url=urls["prometheus"], policy=retry)
    logger = logging.getLogger("bench")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    loop = ControlLoop(
        policies=policies(count),
        target=target,
        providers={"prometheus": provider},
        clock=lambda: datetime.now(UTC),
        logger=logger,
        concurrency=16,
    )
    status = ServiceStatus(interval=timedelta(seconds=15), started_at=datetime.now(UTC))
    status.set_policies(loop.policies, [])
    metrics = SelfMetrics()
    settle_memory()  # as the service does after loading its policies
    hotspots: list[tuple[str, int, float, float]] = []
    walls: list[float] = []
    cpus: list[float] = []
    scaled: list[int] = []
    before = after = stats()
    try:
        for index in range(warmup + ticks + (1 if profile else 0)):
            if index == warmup:
                before = stats()
            wall, cpu = time.perf_counter(), time.process_time()
            profiler = cProfile.Profile() if index == warmup + ticks else None  # an extra tick, not measured
            if profiler is not None:
                profiler.enable()
            report = await loop.tick()
            status.record(report)  # what the service does with every report
            observe_tick(metrics, report)
            if profiler is not None:
                profiler.disable()
                hotspots = top_functions(profiler)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if report.error:
                raise RuntimeError(report.error)
            if warmup <= index < warmup + ticks:
                walls.append(wall)
                cpus.append(cpu)
                scaled.append(sum(1 for o in report.outcomes.values() if o.scaled))
            if index == warmup + ticks - 1:
                after = stats()  # before the profiled extra tick
    finally:
        await target.aclose()
        await provider.aclose()
    per_tick = {key: (after[key] - before[key]) / ticks for key in after}
    return {
        "apps": count,
        "ticks": ticks,
        "median_wall": statistics.median(walls),
        "worst_wall": max(walls),
        "median_cpu": statistics.median(cpus),
        "marathon_reads": per_tick["marathon_reads"],
        "prometheus_reads": per_tick["prometheus"],
        "writes": per_tick["marathon_writes"],
        "scaled_per_tick": statistics.mean(scaled),
        "rss_mb": rss_mb(),
        "decisions_per_second": count / statistics.median(walls),
        "hotspots": hotspots,
    }


def top_functions(profiler: cProfile.Profile, most: int = 15) -> list[tuple[str, int, float, float]]:
    """The functions with the most own time in one profiled tick: (where, calls, own s, cumulative s)."""
    stats = pstats.Stats(profiler)
    rows = []
    for (path, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        short = path.split("site-packages/")[-1].split("/work/main/")[-1].split("lib/python3.11/")[-1]
        rows.append((f"{short}:{line} {name}", calls, own, cumulative))
    return sorted(rows, key=lambda row: row[2], reverse=True)[:most]


def table(rows: list[dict[str, Any]], command: str, seconds: float) -> str:
    lines = [
        "## Loop scale: one real tick for N apps",
        "",
        "Real ticks of the service's loop (Marathon client and Prometheus provider over HTTP on loopback) against "
        "a Marathon-compatible server and a Prometheus-API endpoint in another process; two grouped metrics per "
        "app; about 1 % of the apps scale per tick. CPU is this process (all threads); requests are counted by "
        "the servers; RSS is this process's peak.",
        "",
        "| apps | ticks | median tick | worst tick | CPU s / tick | Marathon reads / tick | Prometheus reads / tick "
        "| writes / tick | peak RSS | decisions / s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['apps']:,} | {row['ticks']} | {row['median_wall'] * 1000:,.0f} ms "
            f"| {row['worst_wall'] * 1000:,.0f} ms "
            f"| {row['median_cpu']:.3f} | {row['marathon_reads']:g} | {row['prometheus_reads']:g} | {row['writes']:g} "
            f"| {row['rss_mb']:,.0f} MB | {row['decisions_per_second']:,.0f} |"
        )
    by_count = {row["apps"]: row for row in rows}
    if 1000 in by_count and 10000 in by_count:
        growth = by_count[10000]["median_wall"] / by_count[1000]["median_wall"]
        lines += ["", f"Tick cost from 1,000 to 10,000 apps: x{growth:.1f} wall time for x10 apps."]
    profiled = [row for row in rows if row["hotspots"]]
    if profiled:
        biggest = profiled[-1]
        lines += [
            "",
            f"Where the time goes in one tick at {biggest['apps']:,} apps (cProfile, so slower than unprofiled; "
            "own time per function, most first):",
            "",
            "| function | calls | own s | cumulative s |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| `{where}` | {calls:,} | {own:.3f} | {cumulative:.3f} |"
            for where, calls, own, cumulative in biggest["hotspots"]
        ]
    if 10000 in by_count:
        big = by_count[10000]
        growth_ok = 1000 in by_count and big["median_wall"] / by_count[1000]["median_wall"] <= 10.0
        verdicts = [
            ("median tick under 1 s wall", big["median_wall"] < 1.0),
            ("median tick under 1 CPU-second", big["median_cpu"] < 1.0),
            ("at most 5 read requests per tick", big["marathon_reads"] + big["prometheus_reads"] <= 5),
            ("peak RSS under 250 MB", big["rss_mb"] < 250),
            ("growth from 1,000 to 10,000 no faster than linear", growth_ok),
        ]
        lines += [
            "",
            "At 10,000 apps: " + "; ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in verdicts) + ".",
        ]
        if not all(ok for _, ok in verdicts):
            lines += [
                "",
                "What the profile says would fix the misses: the per-app work is spread over parsing the two "
                "answers (JSON, pydantic per app, one Sample per series), the series lookup, and `decide` with its "
                "two metric evaluations (tens of microseconds each, no single hotspot); `poll` is the wait for the "
                "backends, which serialise 10,000 apps per answer. Halving the CPU needs a structural step: skip "
                "`decide` for apps whose state and observations are unchanged and whose next time-based rule "
                "(cooldown end, window expiry, schedule edge) lies after the next tick, or decide on both cores "
                "(the engine is pure, so it parallelises). Peak RSS is dominated by the transient parse of the two "
                "large answers and the per-app History of the 10-minute windows; a streaming parse of the app "
                "list and a compact History (arrays instead of objects) would bring it down.",
            ]
    lines += [
        "",
        f"Targets at 10,000 apps: median tick under 1 s wall and 1 CPU-second, at most 5 read requests per tick, "
        f"RSS under 250 MB, growth no faster than linear. Measured on {os.cpu_count()} cores in {seconds:.0f} s:",
        "",
        "```sh",
        command,
        "```",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = []
    for count in args.apps:
        row = measure(count, args.ticks, args.warmup, profile=count == max(args.apps))
        print(json.dumps({k: v for k, v in row.items() if k != "hotspots"}), flush=True)
        rows.append(row)
    command = ".venv/bin/python benchmarks/loop_scale.py" + (
        "" if args.apps == [100, 1000, 10000] else " --apps " + " ".join(map(str, args.apps))
    )
    section = table(rows, command, time.perf_counter() - started)
    print(section)
    if not args.no_write:
        replace_section(RESULTS, "loop_scale", section)


if __name__ == "__main__":
    main()
