"""How the cost of the real control loop grows with the number of apps, with and without the dashboard.

For each N (default 1,000, 5,000, 10,000) and each of "no dashboard" / "dashboard", a fresh process
runs the service's ControlLoop.run on a fixed interval with the real Marathon client and Prometheus
provider over HTTP on loopback, against a Marathon-compatible server and a Prometheus-API endpoint in
another process (benchmarks/scale_world.py): two grouped metrics per app, about 1 % of the apps
scaling per tick. Those servers answer about as fast as the real ones: the fake Marathon keeps each
app's JSON encoded until the app changes, as a real Marathon answers its list from memory, and the
fake Prometheus encodes with orjson; what the service does with the answers is unchanged. The
service's status server runs in the same process, fed by every report as the service feeds it.
With "dashboard", a client in a third process polls `/api/v1/summary`,
`/api/v1/apps?limit=50&offset=0` and `/metrics` once a second, tolerating errors and slow answers,
and reports what it got.

Per run: tick wall time (median, p95), CPU seconds per tick (this process, all threads, during the
tick) and everything the process did per tick (status server included), tick lateness (how much
later than one interval after the previous start each tick started), HTTP requests per tick to each
backend (counted by the servers), peak RSS of the process, and what the dashboard client saw. The
table goes into benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/loop_scale.py                      # N = 1000 5000 10000
    .venv/bin/python benchmarks/loop_scale.py --apps 1000 --ticks 5 --no-write
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import json
import logging
import os
import pstats
import resource
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
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
from autoscaler.policyfiles import PartPool
from autoscaler.providers.prometheus import PrometheusProvider
from autoscaler.reports import TickReport
from autoscaler.settings import Settings
from autoscaler.sinks.selfmetrics import SelfMetrics, observe_tick
from autoscaler.sinks.status import ServiceStatus
from autoscaler.targets.marathon import MarathonClient
from autoscaler.web.server import StatusServer

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HERE = Path(__file__).resolve()
DASHBOARD_PATHS = ("/api/v1/summary", "/api/v1/apps?limit=50&offset=0", "/metrics")
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
    parts = PartPool()  # as the loader shares the equal parts of the policies it reads
    return {
        app_id: parts.share(Policy.model_validate(raw), raw)
        for app_id, raw in ((app_id, {**template, "app": app_id}) for app_id in app_ids(count))
    }


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# --- the dashboard client (its own process) -------------------------------------------------------


def poll(base: str) -> None:
    """Poll the dashboard's endpoints once a second until stdin says stop; print what came back."""
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    seen: dict[str, dict[str, Any]] = {
        path: {"status": Counter(), "seconds": [], "bytes": 0} for path in DASHBOARD_PATHS
    }
    while not stop.is_set():
        started = time.monotonic()
        for path in DASHBOARD_PATHS:
            record = seen[path]
            begun = time.monotonic()
            try:
                with urllib.request.urlopen(base + path, timeout=5) as response:
                    record["bytes"] += len(response.read())
                    record["status"][str(response.status)] += 1
            except urllib.error.HTTPError as exc:
                record["status"][str(exc.code)] += 1
            except (OSError, urllib.error.URLError) as exc:
                record["status"][type(exc).__name__] += 1
            record["seconds"].append(time.monotonic() - begun)
        stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))
    out = {}
    for path, record in seen.items():
        seconds = record["seconds"] or [0.0]
        out[path] = {
            "requests": len(record["seconds"]),
            "status": dict(record["status"]),
            "median_ms": statistics.median(seconds) * 1000,
            "worst_ms": max(seconds) * 1000,
            "kb_per_answer": record["bytes"] / 1024 / max(1, len(record["seconds"])),
        }
    print(json.dumps(out), flush=True)


def start_client(base: str) -> subprocess.Popen[str]:
    command = [sys.executable, str(HERE), "--poll", base]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


# --- one run (its own process) --------------------------------------------------------------------


def measure(count: int, *, ticks: int, warmup: int, interval: float, dashboard: bool, profile: bool) -> dict[str, Any]:
    """Start the world process, run the service's loop against it, stop it."""
    world = subprocess.Popen(
        [sys.executable, str(HERE.parent / "scale_world.py"), "--apps", str(count)],
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
        return asyncio.run(
            run_service(
                count,
                urls,
                stats,
                ticks=ticks,
                warmup=warmup,
                interval=interval,
                dashboard=dashboard,
                profile=profile,
            )
        )
    finally:
        world.stdin.write("quit\n")
        world.stdin.flush()
        world.wait(timeout=30)


async def run_service(  # noqa: PLR0915  one benchmark scenario read top to bottom
    count: int,
    urls: dict[str, str],
    stats: Callable[[], dict[str, int]],
    *,
    ticks: int,
    warmup: int,
    interval: float,
    dashboard: bool,
    profile: bool,
) -> dict[str, Any]:
    retry = RetryPolicy(attempts=2, request_timeout=30.0, total_timeout=60.0)
    # the service's defaults (not this environment's settings)
    concurrency, writes = (Settings.model_fields[name].default for name in ("concurrency", "write_concurrency"))
    target = MarathonClient(base_url=urls["marathon"], policy=retry, max_connections=writes)
    provider = PrometheusProvider(url=urls["prometheus"], policy=retry)
    logger = logging.getLogger("bench")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False

    def now() -> datetime:
        return datetime.now(UTC)

    loop = ControlLoop(
        policies=policies(count),
        target=target,
        providers={"prometheus": provider},
        clock=now,
        logger=logger,
        concurrency=concurrency,
        write_concurrency=writes,
        interval=interval,
        # the deadlines of a service at the default 15 s interval: this measures cost, the interval is
        # short only to keep the benchmark short
        tick_timeout=13.5,
        source_timeout=6.0,
    )
    status = ServiceStatus(interval=timedelta(seconds=interval), started_at=now())
    status.set_policies(loop.policies, [])
    metrics = SelfMetrics()
    server = StatusServer(status=status, metrics=metrics, clock=now, host="127.0.0.1", port=0)
    settle_memory(count)  # as the service does after loading its policies
    base = await server.start()

    failed: list[str] = []

    def on_tick(report: TickReport) -> None:  # what the service does with every report
        if report.error:
            failed.append(report.error)
        status.record(report)
        status.startup = loop.startup.estimates()
        observe_tick(metrics, report)

    client: subprocess.Popen[str] | None = None
    dashboard_seen: dict[str, Any] = {}
    walls: list[float] = []
    cpus: list[float] = []
    starts: list[float] = []
    hotspots: list[tuple[str, int, float, float]] = []
    try:
        for _ in range(warmup):
            on_tick(await loop.tick())
        if dashboard:
            client = start_client(base)
            await asyncio.sleep(2.0)  # the client has started and polled
        untimed = loop.tick

        async def timed() -> TickReport:
            starts.append(time.monotonic())
            cpu = time.process_time()
            report = await untimed()
            cpus.append(time.process_time() - cpu)
            walls.append(report.duration_seconds)
            return report

        loop.tick = timed  # type: ignore[method-assign]
        stop = asyncio.Event()

        def counted(report: TickReport) -> None:
            on_tick(report)
            if len(walls) >= ticks:
                stop.set()

        before, cpu_before, started = stats(), time.process_time(), time.monotonic()
        await loop.run(interval=interval, stop=stop, on_tick=counted)
        cpu_total, elapsed, after = time.process_time() - cpu_before, time.monotonic() - started, stats()
        loop.tick = untimed  # type: ignore[method-assign]
        if client is not None:
            assert client.stdin is not None and client.stdout is not None
            client.stdin.write("stop\n")
            client.stdin.flush()
            dashboard_seen = json.loads(await asyncio.to_thread(client.stdout.readline))
        if profile:  # an extra tick, not measured
            profiler = cProfile.Profile()
            profiler.enable()
            on_tick(await loop.tick())
            profiler.disable()
            hotspots = top_functions(profiler)
    finally:
        if client is not None and client.poll() is None:
            client.kill()
        await server.stop()
        await target.aclose()
        await provider.aclose()
    late = [max(0.0, b - a - interval) for a, b in itertools.pairwise(starts)]
    per_tick = {key: (after[key] - before[key]) / ticks for key in after}
    return {
        "apps": count,
        "dashboard": dashboard,
        "ticks": ticks,
        "interval": interval,
        "median_wall": statistics.median(walls),
        "p95_wall": percentile(walls, 0.95),
        "median_cpu": statistics.median(cpus),
        "cpu_per_cycle": cpu_total / ticks,
        "elapsed": elapsed,
        "median_late": statistics.median(late) if late else 0.0,
        "worst_late": max(late) if late else 0.0,
        "marathon_reads": per_tick["marathon_reads"],
        "prometheus_reads": per_tick["prometheus"],
        "writes": per_tick["marathon_writes"],
        "rss_mb": rss_mb(),
        "dashboard_seen": dashboard_seen,
        "failed": failed,
        "hotspots": hotspots,
    }


def top_functions(profiler: cProfile.Profile, most: int = 15) -> list[tuple[str, int, float, float]]:
    """The functions with the most own time in one profiled tick: (where, calls, own s, cumulative s)."""
    stats = pstats.Stats(profiler)
    rows = []
    for (path, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        short = path.split("site-packages/")[-1].split(str(HERE.parent.parent) + "/")[-1].split("lib/python3.11/")[-1]
        rows.append((f"{short}:{line} {name}", calls, own, cumulative))
    return sorted(rows, key=lambda row: row[2], reverse=True)[:most]


# --- the report -----------------------------------------------------------------------------------


def _dashboard_cell(seen: dict[str, Any]) -> str:
    if not seen:
        return "-"
    parts = []
    for path, record in seen.items():
        codes = ", ".join(f"{code} x{n}" for code, n in sorted(record["status"].items()))
        parts.append(
            f"`{path.split('?')[0]}`: {codes}; median {record['median_ms']:,.0f} ms, "
            f"worst {record['worst_ms']:,.0f} ms, {record['kb_per_answer']:,.0f} KB"
        )
    return "<br>".join(parts)


def table(rows: list[dict[str, Any]], command: str, seconds: float, conditions: str) -> str:
    interval = rows[0]["interval"]
    lines = [
        "## Loop scale: the real loop for N apps, with and without the dashboard",
        "",
        f"`ControlLoop.run` every {interval:g} s (Marathon client and Prometheus provider over HTTP on loopback) "
        "against a Marathon-compatible server and a Prometheus-API endpoint in another process (answering "
        "from what they keep encoded, as the real servers answer from memory: an app's JSON is encoded "
        "again only when it changed); two grouped metrics per app; about 1 % of the apps scale per tick; "
        'the status server in the same process, fed by every report. "dashboard": a client in another '
        "process polls `/api/v1/summary`, "
        "`/api/v1/apps?limit=50&offset=0` and `/metrics` once a second. CPU is this process (all threads): "
        "during the tick, and everything the process did per tick (status server and report handling "
        "included). Lateness: how much later than one interval after the previous start a tick started. "
        "Each row is a fresh process; RSS is its peak.",
        "",
        "| apps | dashboard | ticks | median tick | p95 tick | CPU s / tick | CPU s / tick, all work | median late "
        "| worst late | reads / tick (Marathon + Prometheus) | writes / tick | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['apps']:,} | {'yes' if row['dashboard'] else 'no'} | {row['ticks']} "
            f"| {row['median_wall'] * 1000:,.0f} ms | {row['p95_wall'] * 1000:,.0f} ms | {row['median_cpu']:.3f} "
            f"| {row['cpu_per_cycle']:.3f} | {row['median_late'] * 1000:,.0f} ms "
            f"| {row['worst_late'] * 1000:,.0f} ms "
            f"| {row['marathon_reads']:g} + {row['prometheus_reads']:g} | {row['writes']:g} | {row['rss_mb']:,.0f} MB |"
        )
    for row in rows:
        if row["failed"]:
            lines += ["", f"{row['apps']:,} apps: {len(row['failed'])} tick(s) failed: {row['failed'][0][:200]}"]
    seen = [row for row in rows if row["dashboard"]]
    if seen:
        lines += ["", "What the dashboard client got (per endpoint: answers by status, latency, size):", ""]
        lines += ["| apps | answers |", "|---|---|"]
        lines += [f"| {row['apps']:,} | {_dashboard_cell(row['dashboard_seen'])} |" for row in seen]
    quiet = {row["apps"]: row for row in rows if not row["dashboard"]}
    busy = {row["apps"]: row for row in rows if row["dashboard"]}
    verdicts: list[tuple[str, bool]] = []
    if 1000 in quiet and 10000 in quiet:
        wall_growth = quiet[10000]["median_wall"] / quiet[1000]["median_wall"]
        cpu_growth = quiet[10000]["median_cpu"] / quiet[1000]["median_cpu"]
        lines += [
            "",
            f"From 1,000 to 10,000 apps (x10): tick wall time x{wall_growth:.1f}, CPU per tick x{cpu_growth:.1f}.",
        ]
        verdicts.append(("growth from 1,000 to 10,000 no worse than linear", max(wall_growth, cpu_growth) <= 10.0))
    for name, runs in (("without", quiet), ("with", busy)):
        big = runs.get(10000)
        if big is None:
            continue
        verdicts += [
            (f"median tick under 1 s wall {name} the dashboard", big["median_wall"] < 1.0),
            (f"median tick under 1 CPU-second {name} the dashboard", big["median_cpu"] < 1.0),
            (f"peak RSS under 250 MB {name} the dashboard", big["rss_mb"] < 250),
        ]
    if verdicts:
        lines += ["", "At 10,000 apps: " + "; ".join(f"{n}: {'met' if ok else 'MISSED'}" for n, ok in verdicts) + "."]
    profiled = [row for row in rows if row["hotspots"]]
    if profiled:
        biggest = profiled[-1]
        lines += [
            "",
            f"Where the time goes in one tick at {biggest['apps']:,} apps without the dashboard (cProfile, so slower "
            "than unprofiled; own time per function, most first):",
            "",
            "| function | calls | own s | cumulative s |",
            "|---|---|---|---|",
        ]
        lines += [f"| `{w}` | {c:,} | {o:.3f} | {cu:.3f} |" for w, c, o, cu in biggest["hotspots"]]
    lines += [
        "",
        f"Measured on {os.cpu_count()} cores shared with other work ({conditions}) in {seconds:.0f} s; CPU seconds "
        "are less disturbed by the neighbours than wall time. Regenerate (from the repository root):",
        "",
        "```sh",
        command,
        "```",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--ticks", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between tick starts")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--poll", metavar="URL", help=argparse.SUPPRESS)  # the dashboard client
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # one run in this process
    parser.add_argument("--dashboard", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.poll:
        poll(args.poll)
        return
    if args.one:
        row = measure(
            args.one,
            ticks=args.ticks,
            warmup=args.warmup,
            interval=args.interval,
            dashboard=args.dashboard,
            profile=args.profile,
        )
        print(json.dumps(row), flush=True)
        return
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    rows = []
    for count in args.apps:
        for dashboard in (False, True):
            child = [sys.executable, str(HERE), "--one", str(count), "--ticks", str(args.ticks)]
            child += ["--warmup", str(args.warmup), "--interval", str(args.interval)]
            child += ["--dashboard"] if dashboard else []
            child += ["--profile"] if count == max(args.apps) and not dashboard else []
            out = subprocess.run(child, check=True, capture_output=True, text=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            print(json.dumps({k: v for k, v in row.items() if k != "hotspots"}), flush=True)
            rows.append(row)
    conditions = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    defaults = args.apps == [1000, 5000, 10000] and (args.ticks, args.warmup, args.interval) == (10, 3, 3.0)
    command = ".venv/bin/python benchmarks/loop_scale.py" + (
        ""
        if defaults
        else f" --apps {' '.join(map(str, args.apps))} --ticks {args.ticks} --warmup {args.warmup} "
        f"--interval {args.interval:g}"
    )
    section = table(rows, command, time.perf_counter() - started, conditions)
    print(section)
    if not args.no_write:
        replace_section(RESULTS, "loop_scale", section)


if __name__ == "__main__":
    main()
