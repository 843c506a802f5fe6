"""Decision quality under a metrics outage: the unserved share during one hour without metrics at
the daily peak, with and without a fallback, on a real trace.

For every day of NASA July 1995 that has a day before it, the outage is that day's peak hour (the
clock hour with the most requests), and, in a second table, the three hours before it (the climb
to the peak: a longer outage while the load rises). Each run simulates the same stretch, from the day before up to
the end of the outage (so that every variant has the same fleet model: its capacity per instance
comes from the stretch's peak), and counts only the outage hour (the rest is the warm-up). The
policy is the default policy at a target of 0.70 (the cheapest that serves 99.9 % of NASA August's
requests after the warm-up, in the decision-quality table):

- `no outage`: the metrics are there all along (the reference);
- `hold`: no fallback: the app holds its count while the metrics are gone;
- `fallback: N`: `fallback: {after: 2m, instances: N}` with N = the peak's need at the target,
  ceil(peak instances / target).

    .venv/bin/python benchmarks/outage_fallback.py

Every run uses the fleet model of `autoscaler.sim.model` with 50 instances at the peak, a 60 s
start-up and a 15 s tick; one process, about a minute of CPU.
"""

from __future__ import annotations

import math
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import regenerate, replace_section

from autoscaler.core.policy import Policy
from autoscaler.sim.outage import Outage
from autoscaler.sim.runner import ScalerSpec, SimSetup, default_policy, simulate
from autoscaler.sim.trace import Trace, load_trace

ROOT = Path(__file__).resolve().parents[1]
TRACE_FILE = "nasa_http_jul1995_1min.csv"
PEAK_INSTANCES = 50
TARGET = 0.70
STARTUP = 60.0
TICK = 15.0
COMMAND = ".venv/bin/python benchmarks/outage_fallback.py"
VARIANTS = ("no outage", "hold", "fallback: N")


@dataclass(frozen=True)
class Run:
    variant: str
    day: datetime
    requests: float
    unserved: float
    instance_hours: float
    cpu_seconds: float


def peak_hours(trace: Trace, *, before: timedelta = timedelta(0)) -> list[Outage]:
    """Each full day's busiest clock hour (a day with a day of the trace before it); with `before`,
    the time up to that hour instead."""
    hourly: dict[datetime, float] = defaultdict(float)
    for index, value in enumerate(trace.values):
        moment = trace.start + timedelta(seconds=index * trace.interval)
        hourly[moment.replace(minute=0, second=0, microsecond=0)] += value
    days: dict[datetime, list[datetime]] = defaultdict(list)
    for hour in hourly:
        days[hour.replace(hour=0)].append(hour)
    first = trace.start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    out = []
    for day, hours in sorted(days.items()):
        if day <= first - timedelta(days=1) or len(hours) < 24:
            continue
        busiest = max(hours, key=lambda hour: hourly[hour])
        if before:
            out.append(Outage(busiest - before, busiest))
        else:
            out.append(Outage(busiest, busiest + timedelta(hours=1)))
    return out


def policy_for(variant: str) -> Policy:
    data: dict[str, Any] = default_policy(peak_instances=PEAK_INSTANCES, target=TARGET).model_dump()
    if variant == "fallback: N":
        data["fallback"] = {"after": "2m", "instances": math.ceil(PEAK_INSTANCES / TARGET)}
    return Policy.model_validate(data)


def run(full: Trace, outage: Outage, variant: str) -> Run:
    day = outage.start.replace(hour=0, minute=0)
    trace = full.window(max(day - timedelta(days=1), full.start), outage.end)
    started = time.process_time()
    result = simulate(
        trace,
        scaler=ScalerSpec(policy=policy_for(variant), outages=() if variant == "no outage" else (outage,)),
        setup=SimSetup(
            startup=STARTUP,
            peak_instances=PEAK_INSTANCES,
            tick=TICK,
            warmup=(outage.start - trace.start).total_seconds(),
        ),
        keep_timeline=False,
    )
    return Run(
        variant=variant,
        day=day,
        requests=result.total_requests,
        unserved=result.unserved_requests,
        instance_hours=result.instance_hours,
        cpu_seconds=time.process_time() - started,
    )


def table(runs: Iterable[Run], days: int) -> list[str]:
    by: dict[str, list[Run]] = defaultdict(list)
    for item in runs:
        by[item.variant].append(item)
    lines = [
        "| variant | days | unserved share during the outages | worst day | days with any unserved | "
        "instance-hours during the outages |",
        "|---|---|---|---|---|---|",
    ]
    for variant in VARIANTS:
        items = by.get(variant, [])
        if not items:
            continue
        total = sum(i.requests for i in items)
        unserved = sum(i.unserved for i in items)
        worst = max(items, key=lambda i: i.unserved / i.requests if i.requests else 0.0)
        worst_share = worst.unserved / worst.requests * 100 if worst.requests else 0.0
        lines.append(
            f"| {variant} | {len(items)} of {days} | {unserved / total * 100:.3f} % | "
            f"{f'{worst_share:.3f} % ({worst.day:%m-%d})' if worst.unserved > 0 else '-'} | "
            f"{sum(1 for i in items if i.unserved > 0)} | "
            f"{sum(i.instance_hours for i in items):,.1f} |"
        )
    return lines


def sweep(full: Trace, outages: list[Outage]) -> list[Run]:
    runs = []
    for outage in outages:
        for variant in VARIANTS:
            done = run(full, outage, variant)
            runs.append(done)
            print(
                f"{outage.start:%m-%d %H}h..{outage.end:%H}h {variant}: {done.unserved:,.0f} of {done.requests:,.0f} "
                f"unserved, {done.instance_hours:.1f} instance-hours ({done.cpu_seconds:.1f} s)",
                flush=True,
            )
    return runs


def main() -> int:
    full = load_trace(ROOT / "traces" / TRACE_FILE)
    peaks = peak_hours(full)
    climbs = peak_hours(full, before=timedelta(hours=3))
    wall = time.monotonic()
    at_peak = sweep(full, peaks)
    climbing = sweep(full, climbs)
    runs = at_peak + climbing
    cpu = sum(r.cpu_seconds for r in runs)
    hours = ", ".join(sorted({f"{o.start:%H}" for o in peaks}))
    body = [
        "## Metrics outage at the daily peak: hold or fall back",
        "",
        f"NASA July 1995 ({TRACE_FILE}), every day with a day before it: the metrics of the default policy "
        f"at target {TARGET:.2f} are blanked (`simulate --outage`) for that day's busiest clock hour "
        f"(UTC hours {hours}), or for the three hours before it; only the outage is counted. "
        f"Fleet model: {PEAK_INSTANCES} instances at the "
        f"peak, start-up {STARTUP:g} s, tick {TICK:g} s. `fallback: N` is "
        f"`{{after: 2m, instances: {math.ceil(PEAK_INSTANCES / TARGET)}}}` (the peak's need at the target). "
        "Every variant of a day simulates the same stretch (from the day before to the outage's end).",
        "",
        "One hour at the peak:",
        "",
        *table(at_peak, len(peaks)),
        "",
        "The three hours before the peak (the load climbs while the metrics are gone):",
        "",
        *table(climbing, len(climbs)),
        "",
        *regenerate(COMMAND),
        "",
        f"Last run: {len(runs)} simulations, {cpu / 60:.1f} min of CPU, {(time.monotonic() - wall) / 60:.1f} min wall "
        f"(Python {platform.python_version()}).",
    ]
    replace_section(ROOT / "benchmarks" / "RESULTS.md", "outage_fallback", "\n".join(body))
    print("\n".join(table(at_peak, len(peaks))))
    print("\n".join(table(climbing, len(climbs))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
