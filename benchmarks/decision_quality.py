"""Decision quality: what our default policy costs for a given service level, with and without
predictive pre-scaling, against the Kubernetes HPA and two lower bounds, on real traces.

For each trace and start-up delay, the metric target of our default policy, of the same policy with
`predictive: {mode: on}` (every other predictive setting at its default) and of the `hpa` baseline
(the Kubernetes HPA rule for rule, `autoscaler.sim.hpa`) is searched on a 0.01 grid from 0.20 to
0.90 (`autoscaler.sim.sweep`: a bisection of the 0.10 grid for the highest target that serves the
goal, then every 0.01 target within 0.02 of the cheapest that serves, until that band is fully run;
`--full-grid` runs all 71). `--cache FILE` keeps every outcome as a JSON line and reuses it. Each row
is the cheapest target that serves the trace's goal (99.9 % of requests; 99 % for AWS ELB), its
instance-hours against the zero-start-up oracle and against the start-up-aware bound
(`autoscaler.sim.bound`), its scale actions, and the cost at its two neighbouring targets.

The forecast learns from the trace's own earlier days: the first 7 days (WARMUP) are simulated but
left out of the predictive rows, and of the rows of the policy "after the warm-up" (the same run of
the policy without prediction, counted over the same days), against bounds over those days.

The reporting traces (NASA August 1995, World Cup 98 06-10..07-12, AWS ELB) are never used for
tuning; the tuning traces (NASA July 1995, World Cup 98 04-30..06-09) have their own section,
`--tuning`.

    .venv/bin/python benchmarks/decision_quality.py            # the reporting table
    .venv/bin/python benchmarks/decision_quality.py --tuning   # the tuning table

Every run uses the fleet model of `autoscaler.sim.model` with 50 instances at the peak and a 15 s tick.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import regenerate, replace_section

from autoscaler.core.policy import Predictive
from autoscaler.sim.bound import startup_aware_bound
from autoscaler.sim.runner import ScalerSpec, SimSetup, simulate
from autoscaler.sim.sweep import Point, cheapest, grid, serves, to_run
from autoscaler.sim.trace import Trace, load_trace

ROOT = Path(__file__).resolve().parents[1]
TARGETS = grid()
STARTUPS = (60.0, 180.0)
PEAK_INSTANCES = 50
TICK = 15.0
# What the predictive rows learn from before they count: a full default lookback (7 days).
WARMUP = 7 * 86400.0
PREDICTIVE = Predictive(mode="on")
# rows of the table -> (the run they come from, counted after the warm-up?)
ROWS = {
    "policy": ("policy", False),
    "policy-warm": ("policy", True),
    "predictive": ("predictive", True),
    "hpa": ("hpa", False),
}
NAMES = {
    "policy": "default policy",
    "policy-warm": "default policy, after the warm-up",
    "predictive": "default policy + predictive",
    "hpa": "hpa",
}
RUN_WARMUP = {"policy": WARMUP, "predictive": WARMUP, "hpa": 0.0}
COMMAND = ".venv/bin/python benchmarks/decision_quality.py"


@dataclass(frozen=True)
class TraceSpec:
    key: str
    label: str
    file: str
    served_goal: float  # share of requests that must be served, in %
    start: datetime | None = None
    end: datetime | None = None


TRACES = (
    TraceSpec("nasa-aug", "NASA August 1995", "nasa_http_aug1995_1min.csv", 99.9),
    TraceSpec(
        "worldcup",
        "World Cup 98, 06-10 to 07-12",
        "worldcup98_1min.csv",
        99.9,
        start=datetime(1998, 6, 10, tzinfo=UTC),
        end=datetime(1998, 7, 13, tzinfo=UTC),
    ),
    TraceSpec("aws-elb", "AWS ELB", "aws_elb_request_count_5min.csv", 99.0),
)
# What the defaults are tuned on: never part of the reporting table.
TUNING = (
    TraceSpec("nasa-jul", "NASA July 1995 (tuning)", "nasa_http_jul1995_1min.csv", 99.9),
    TraceSpec(
        "worldcup-tuning",
        "World Cup 98, 04-30 to 06-09 (tuning)",
        "worldcup98_1min.csv",
        99.9,
        start=datetime(1998, 4, 30, 21, 30, tzinfo=UTC),
        end=datetime(1998, 6, 10, tzinfo=UTC),
    ),
)


@dataclass(frozen=True)
class Job:
    trace: str
    run: str  # policy | predictive | hpa
    startup: float
    target: float


@dataclass(frozen=True)
class Outcome:
    job: Job
    counted: tuple[float, float, int]  # instance-hours, unserved %, scale actions (after the warm-up)
    whole: tuple[float, float, int]  # the same over the whole trace
    cpu_seconds: float


@functools.cache
def _trace(key: str) -> Trace:
    spec = next(t for t in (*TRACES, *TUNING) if t.key == key)
    return load_trace(ROOT / "traces" / spec.file, start=spec.start, end=spec.end)


def run_job(job: Job) -> Outcome:
    started = time.process_time()
    result = simulate(
        _trace(job.trace),
        scaler=ScalerSpec(
            baseline="hpa" if job.run == "hpa" else None,
            target=job.target,
            predictive=PREDICTIVE if job.run == "predictive" else None,
        ),
        setup=SimSetup(startup=job.startup, peak_instances=PEAK_INSTANCES, tick=TICK, warmup=RUN_WARMUP[job.run]),
        keep_timeline=False,
    )
    counted = (result.instance_hours, result.unserved_pct, result.scale_actions)
    whole = (
        counted
        if result.whole is None
        else (
            result.whole.instance_hours,
            result.whole.unserved_pct,
            result.whole.scale_actions,
        )
    )
    return Outcome(job, counted, whole, time.process_time() - started)


@dataclass(frozen=True)
class Bounds:
    oracle: float  # the zero-start-up oracle's instance-hours
    bound: float  # the start-up-aware bound's


def bounds_for(spec: TraceSpec) -> dict[tuple[str, float, bool], Bounds]:
    """Both bounds for every start-up, over the whole trace (False) and after the warm-up (True)."""
    trace = _trace(spec.key)
    oracle = simulate(
        trace,
        scaler=ScalerSpec(baseline="oracle"),
        setup=SimSetup(peak_instances=PEAK_INSTANCES, tick=TICK, warmup=WARMUP),
    )
    assert oracle.whole is not None
    capacity = trace.peak_rate / PEAK_INSTANCES
    found = {}
    for startup in STARTUPS:
        for warm in (False, True):
            bound = startup_aware_bound(
                trace=trace, capacity=capacity, startup=startup, tick=TICK, warmup=WARMUP if warm else 0.0
            )
            hours = oracle.instance_hours if warm else oracle.whole.instance_hours
            found[(spec.key, startup, warm)] = Bounds(hours, bound)
    return found


class Sweep:
    """Every outcome so far, and the points of each row (trace, startup, row)."""

    def __init__(self, traces: tuple[TraceSpec, ...], rows: tuple[str, ...]) -> None:
        self.traces = traces
        self.rows = rows
        self.outcomes: list[Outcome] = []

    def points(self, trace: str, startup: float, row: str) -> dict[float, Point]:
        run, warm = ROWS[row]
        found = {}
        for o in self.outcomes:
            if o.job.trace == trace and o.job.startup == startup and o.job.run == run:
                hours, unserved, _ = o.counted if warm else o.whole
                found[o.job.target] = Point(o.job.target, hours, unserved)
        return found

    def wanted(self, *, full: bool) -> list[Job]:
        jobs: set[Job] = set()
        for spec in self.traces:
            allowed = 100.0 - spec.served_goal
            for startup in STARTUPS:
                for row in self.rows:
                    run = ROWS[row][0]
                    points = self.points(spec.key, startup, row)
                    targets = (
                        [t for t in TARGETS if t not in points]
                        if full
                        else to_run(points, allowed_pct=allowed, targets=TARGETS)
                    )
                    jobs.update(Job(spec.key, run, startup, t) for t in targets)
        order = {"predictive": 0, "policy": 1, "hpa": 2}  # the slowest first, so the pool ends evenly
        return sorted(jobs, key=lambda j: (order[j.run], j.trace, j.startup, j.target))

    def outcome(self, job: Job) -> Outcome:
        return next(o for o in self.outcomes if o.job == job)


def _ratio(hours: float, base: float) -> str:
    return f"{hours / base:.2f}x" if base > 0 else "-"


def _neighbour(points: dict[float, Point], target: float, *, allowed: float, base: float) -> str:
    point = points.get(round(target, 6))
    if point is None:
        return "-"
    text = f"{target:.2f}: {_ratio(point.cost, base)}"
    return text if serves(point, allowed_pct=allowed) else f"{text} (misses: {point.unserved_pct:.3f} %)"


def render(  # noqa: PLR0913  the figures of one results section and how they were made
    sweep: Sweep,
    bounds: dict[tuple[str, float, bool], Bounds],
    *,
    title: str,
    wall: float,
    cpu: float,
    processes: int,
    command: str,
    load: str,
    reused: int = 0,
) -> str:
    lines = [
        f"# {title}",
        "",
        "Fleet model of `autoscaler.sim.model`: 50 instances at each trace's peak, 15 s tick, CPU",
        "utilisation of ready instances capped at 1.0 and averaged over 60 s. Our default policy (min 1,",
        "max 500, one CPU `target_average` metric, every other setting at the engine's defaults), the same",
        "policy with `predictive: {mode: on}` (every predictive setting at its default) and the `hpa`",
        "baseline (the Kubernetes HPA rule for rule: replica calculator with its unready-pod rules,",
        "downscale stabilisation, scale-up limit; `autoscaler.sim.hpa`). The metric target is searched on a",
        "0.01 grid from 0.20 to 0.90 (a bisection of the 0.10 grid for the highest target that serves the",
        "goal, then every 0.01 target within 0.02 of the cheapest that serves, until that band is fully",
        "run: `autoscaler.sim.sweep`). Each row is the",
        "cheapest target that serves the goal: its instance-hours as a ratio to the **zero-start-up",
        "oracle** (ready instances follow the demand with no start-up delay: no scaler can reach it) and to",
        "the **start-up-aware bound** (perfect foresight: at each tick the instances the highest demand of",
        "[t, t + start-up + tick) needs, the tighter limit for any scaler), its scale actions, and the cost",
        "(vs the zero-start-up oracle) at the two neighbouring targets, to show how knife-edge it is.",
        '"not reached": no target of the grid serves the goal.',
        "",
        "The forecast learns from each trace's own earlier days: the predictive rows simulate the whole",
        f"trace but count only what follows its first {WARMUP / 86400:g} days (the warm-up), against bounds",
        'over the same days, and so do the rows of the default policy "after the warm-up" (the same run',
        "without prediction, counted over the same days); the other rows count the whole trace.",
        "",
        "| trace | goal (served) | startup | scaler | best target | instance-hours | vs zero-start-up oracle "
        "| vs start-up-aware bound | scale actions | unserved % | neighbours (target: vs oracle) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    unfinished = False
    for spec in sweep.traces:
        allowed = 100.0 - spec.served_goal
        for startup in STARTUPS:
            for row in sweep.rows:
                run, warm = ROWS[row]
                base = bounds[(spec.key, startup, warm)]
                points = sweep.points(spec.key, startup, row)
                best = cheapest(points.values(), allowed_pct=allowed)
                mark = "*" if to_run(points, allowed_pct=allowed, targets=TARGETS) else ""
                unfinished = unfinished or bool(mark)
                head = f"| {spec.label} | {spec.served_goal:g} % | {startup:g} s | {NAMES[row]} | "
                if best is None:
                    lines.append(head + " | ".join([f"not reached{mark}"] + ["not reached"] * 3 + ["-"] * 3) + " |")
                    continue
                outcome = sweep.outcome(Job(spec.key, run, startup, best.target))
                actions = (outcome.counted if warm else outcome.whole)[2]
                neighbours = "; ".join(
                    _neighbour(points, best.target + step, allowed=allowed, base=base.oracle) for step in (-0.01, 0.01)
                )
                cells = [
                    f"{best.target:.2f}{mark}",
                    f"{best.cost:,.0f}",
                    _ratio(best.cost, base.oracle),
                    _ratio(best.cost, base.bound),
                    f"{actions:,}",
                    f"{best.unserved_pct:.3f}",
                    neighbours,
                ]
                lines.append(head + " | ".join(cells) + " |")
    if unfinished:
        lines += [
            "",
            "\\* The search of this row had not finished when the table was written (the run was cut short):",
            "the cheapest of the targets run so far, every one of them in `benchmarks/sweep.csv`.",
        ]
    lines += [
        "",
        "| trace | startup | zero-start-up oracle (h) | start-up-aware bound (h) | both after the warm-up (h) |",
    ]
    lines += ["|---|---|---|---|---|"]
    for spec in sweep.traces:
        for startup in STARTUPS:
            whole, warm = bounds[(spec.key, startup, False)], bounds[(spec.key, startup, True)]
            lines.append(
                f"| {spec.label} | {startup:g} s | {whole.oracle:,.1f} | {whole.bound:,.1f} "
                f"| {warm.oracle:,.1f} / {warm.bound:,.1f} |"
            )
    runs = len(sweep.outcomes)
    lines += [
        "",
        "Every run of the sweep (instance-hours, unserved %, scale actions) is in `benchmarks/sweep.csv`.",
        "",
        *regenerate(command),
        "",
        f"Last run: {runs} simulations ({reused} of them reused from `--cache`), {cpu / 60:.1f} min of CPU in all "
        f"({cpu / max(runs, 1):.1f} s per simulation); this invocation {wall / 60:.1f} min wall on {processes} "
        f"processes (Python {platform.python_version()}; load average at its start {load}).",
        "",
    ]
    return "\n".join(lines)


def write_sweep(outcomes: Iterable[Outcome], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "trace",
                "scaler",
                "startup",
                "target",
                "instance_hours",
                "unserved_pct",
                "scale_actions",
                "warm_instance_hours",
                "warm_unserved_pct",
                "warm_scale_actions",
            ]
        )
        for o in sorted(outcomes, key=lambda o: (o.job.trace, o.job.run, o.job.startup, o.job.target)):
            warm = o.job.run != "hpa"
            writer.writerow(
                [
                    o.job.trace,
                    o.job.run,
                    f"{o.job.startup:g}",
                    f"{o.job.target:.2f}",
                    f"{o.whole[0]:.3f}",
                    f"{o.whole[1]:.6f}",
                    o.whole[2],
                    f"{o.counted[0]:.3f}" if warm else "",
                    f"{o.counted[1]:.6f}" if warm else "",
                    o.counted[2] if warm else "",
                ]
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--tuning", action="store_true", help="the tuning traces instead of the reporting ones")
    parser.add_argument("--traces", nargs="*", choices=[t.key for t in (*TRACES, *TUNING)], help="a subset")
    parser.add_argument("--scalers", nargs="*", choices=list(ROWS), help="rows to produce (default: all)")
    parser.add_argument("--full-grid", action="store_true", help="run all 71 targets, not the search")
    parser.add_argument("--cache", type=Path, help="a JSON-lines file of outcomes to reuse and extend")
    parser.add_argument(
        "--render-only", action="store_true", help="run nothing: the table from the cache, unfinished rows marked"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--sweep", type=Path, default=None, help="default: benchmarks/sweep.csv (or sweep-tuning.csv)")
    args = parser.parse_args(argv)
    pool_traces = TUNING if args.tuning else TRACES
    traces = tuple(t for t in (*TRACES, *TUNING) if t.key in args.traces) if args.traces else pool_traces
    rows = tuple(args.scalers) if args.scalers else tuple(ROWS)
    sweep_path = args.sweep or ROOT / "benchmarks" / ("sweep-tuning.csv" if args.tuning else "sweep.csv")
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    started, cpu_started = time.perf_counter(), time.process_time()
    sweep = Sweep(traces, rows)
    cached = _load_cache(args.cache) if args.cache else {}
    reused = 0
    with multiprocessing.Pool(args.processes) as pool:
        bounds: dict[tuple[str, float, bool], Bounds] = {}
        for found in pool.map(bounds_for, traces):
            bounds.update(found)
        round_number = 0
        while jobs := sweep.wanted(full=args.full_grid):
            round_number += 1
            hits = [cached[job] for job in jobs if job in cached]
            sweep.outcomes += hits
            reused += len(hits)
            if args.render_only and not any(job in cached for job in jobs):
                break
            jobs = [job for job in jobs if job not in cached and not args.render_only]
            for done, outcome in enumerate(pool.imap_unordered(run_job, jobs), start=1):
                sweep.outcomes.append(outcome)
                if args.cache:
                    _save(args.cache, outcome)
                job = outcome.job
                print(
                    f"[round {round_number}: {done}/{len(jobs)}] {job.trace} {job.run} startup {job.startup:g} "
                    f"target {job.target:.2f}: {outcome.whole[0]:.1f} h, unserved {outcome.whole[1]:.4f} %, "
                    f"{outcome.whole[2]} actions ({outcome.cpu_seconds:.1f} s CPU)",
                    file=sys.stderr,
                    flush=True,
                )
    wall = time.perf_counter() - started
    cpu = sum(o.cpu_seconds for o in sweep.outcomes) + time.process_time() - cpu_started
    command = " ".join(
        [COMMAND]
        + (["--tuning"] if args.tuning else [])
        + (["--traces", *args.traces] if args.traces else [])
        + (["--scalers", *args.scalers] if args.scalers else [])
        + (["--full-grid"] if args.full_grid else [])
    )
    title = (
        "Decision quality on the tuning traces"
        if args.tuning
        else "Decision quality: cost at a service level, against the Kubernetes HPA and two bounds"
    )
    text = render(
        sweep,
        bounds,
        title=title,
        wall=wall,
        cpu=cpu,
        processes=args.processes,
        command=command,
        load=load,
        reused=reused,
    )
    replace_section(args.output, "decision_quality_tuning" if args.tuning else "decision_quality", text)
    write_sweep(sweep.outcomes, sweep_path)
    print(text)
    return 0


def _load_cache(path: Path) -> dict[Job, Outcome]:
    found = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            data = json.loads(line)
            job = Job(**data["job"])
            found[job] = Outcome(job, tuple(data["counted"]), tuple(data["whole"]), data["cpu_seconds"])  # type: ignore[arg-type]
    return found


def _save(path: Path, outcome: Outcome) -> None:
    job = outcome.job
    record = {
        "job": {"trace": job.trace, "run": job.run, "startup": job.startup, "target": job.target},
        "counted": outcome.counted,
        "whole": outcome.whole,
        "cpu_seconds": outcome.cpu_seconds,
    }
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    sys.exit(main())
