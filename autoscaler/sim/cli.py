"""The `autoscaler simulate` subcommand: replay a request trace against a policy or a baseline.

`add_simulate_parser(subparsers)` adds the subcommand to the project's command line; its handler
returns an exit code (0: done, 2: a bad trace, policy or option) and never exits the process.

    autoscaler simulate --trace CSV [--policy FILE | --baseline hpa|hpa-simple|threshold|static|oracle]
        [--target X] [--startup DURATION] [--peak-instances N] [--tick DURATION] [--out DIR] [--json]
        [--outage START..END ...]

Durations are written like the policy's (`90s`, `5m`, `7d`); a bare number is seconds.

`--json` prints one JSON object (the run's numbers and settings); otherwise a short report.
`--out DIR` writes `timeline.csv` (one row per tick) and `plot.svg`. `--outage START..END` (repeatable)
blanks the policy's metrics over that interval (`sim.outage`: ISO times or durations from the trace's
start), to see what the policy does without them: hold, or rise to its `fallback`.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from autoscaler.cliargs import DURATION_HELP, duration_arg
from autoscaler.core.policy import Policy
from autoscaler.policyfiles import load_paths
from autoscaler.sim.baselines import BASELINES
from autoscaler.sim.outage import parse_outage
from autoscaler.sim.plot import write_svg, write_timeline_csv
from autoscaler.sim.runner import ScalerSpec, SimResult, SimSetup, simulate
from autoscaler.sim.signals import actions_per_day, run_warnings
from autoscaler.sim.trace import Trace, TraceError, load_trace, parse_time

EXIT_OK = 0
EXIT_INPUT = 2


class _InputError(Exception):
    """A problem with the command's inputs, already worded for the person who typed it."""


def _time(text: str) -> datetime:
    try:
        return parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO-8601 date or time") from None


def _positive(kind: type[float] | type[int]) -> Any:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
        return value

    return parse


def add_simulate_parser(subparsers: Any) -> None:
    """Add `simulate` to an argparse subparsers object (from ArgumentParser.add_subparsers())."""
    parser = subparsers.add_parser(
        "simulate",
        help="replay a request trace against a policy or a baseline scaler",
        description="Replay a request trace (CSV timestamp,value) in the fleet model against a policy "
        "(the same decision engine as the live loop) or a baseline, and report cost and unserved load.",
    )
    parser.add_argument("--trace", required=True, type=Path, help="CSV with a header timestamp,value")
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--policy", type=Path, help="policy YAML (default: a built-in CPU policy)")
    chosen.add_argument("--baseline", choices=BASELINES, help="a reference scaler instead of a policy")
    parser.add_argument(
        "--target", type=_positive(float), help="overrides every metric target of the policy, or the hpa target"
    )
    parser.add_argument(
        "--startup",
        type=duration_arg(),
        default=timedelta(seconds=60),
        help=f"time until an instance is ready (default 60s; {DURATION_HELP})",
    )
    parser.add_argument(
        "--peak-instances", type=_positive(int), default=50, help="instances the trace's peak needs at 100 %%"
    )
    parser.add_argument(
        "--tick",
        type=duration_arg(exclusive=True),
        default=timedelta(seconds=15),
        help=f"loop interval (default 15s; {DURATION_HELP})",
    )
    parser.add_argument("--out", type=Path, help="directory for timeline.csv and plot.svg")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a report")
    parser.add_argument("--start", type=_time, help="simulate from this time (ISO-8601; UTC if no offset)")
    parser.add_argument("--end", type=_time, help="simulate up to this time (exclusive)")
    parser.add_argument(
        "--warmup",
        type=duration_arg(),
        default=timedelta(0),
        help=f"time run first but not counted (the forecast learns from it; {DURATION_HELP})",
    )
    parser.add_argument(
        "--gaps", choices=("carry", "zero"), default="carry", help="fill missing intervals (default: carry)"
    )
    parser.add_argument("--app", help="which app's policy, when --policy loads several")
    parser.add_argument(
        "--outage",
        action="append",
        default=[],
        metavar="START..END",
        help="blank the policy's metrics over this interval (ISO times, or durations from the trace's start "
        "like 14h..15h); repeatable",
    )
    parser.set_defaults(handler=run_simulate)


def _load_policy(path: Path, app: str | None) -> Policy:
    result = load_paths([path])
    for problem in result.problems:
        print(problem, file=sys.stderr)
    if result.errors:
        raise _InputError(f"{path}: the policy has errors")
    if app is not None:
        if app not in result.policies:
            raise _InputError(f"{path}: no policy for {app}")
        return result.policies[app]
    if not result.policies:
        raise _InputError(f"{path}: no policy found")
    if len(result.policies) > 1:
        raise _InputError(f"{path}: {len(result.policies)} policies; choose one with --app")
    return next(iter(result.policies.values()))


def run_simulate(args: argparse.Namespace) -> int:
    """The handler of `autoscaler simulate`; returns the exit code."""
    try:
        policy = _load_policy(args.policy, args.app) if args.policy is not None else None
        trace = load_trace(args.trace, gaps=args.gaps, start=args.start, end=args.end)
        outages = [parse_outage(text, trace_start=trace.start) for text in args.outage]
        setup = SimSetup(
            startup=args.startup.total_seconds(),
            peak_instances=args.peak_instances,
            tick=args.tick.total_seconds(),
            warmup=args.warmup.total_seconds(),
        )
        scaler = ScalerSpec(policy=policy, baseline=args.baseline, target=args.target, outages=tuple(outages))
        result = simulate(trace, scaler=scaler, setup=setup, keep_timeline=args.out is not None)
        oracle = (
            result
            if args.baseline == "oracle"
            else simulate(trace, scaler=ScalerSpec(baseline="oracle"), setup=setup, keep_timeline=False)
        )
    except (_InputError, TraceError, ValueError) as exc:
        print(f"autoscaler simulate: {exc}", file=sys.stderr)
        return EXIT_INPUT
    label = f"policy {policy.app}" if policy is not None else (args.baseline or "default policy")
    if args.out is not None:
        try:
            args.out.mkdir(parents=True, exist_ok=True)
            write_timeline_csv(result, args.out / "timeline.csv")
            write_svg(result, args.out / "plot.svg", title=f"{label} on {args.trace.name}")
        except OSError as exc:
            print(f"autoscaler simulate: cannot write to {args.out}: {exc}", file=sys.stderr)
            return EXIT_INPUT
    summary = result.summary()
    summary["trace"] = str(args.trace)
    summary["scaler"] = label
    summary["oracle_instance_hours"] = oracle.instance_hours
    summary["cost_vs_oracle"] = result.instance_hours / oracle.instance_hours if oracle.instance_hours > 0 else None
    summary["scale_actions_per_day"] = actions_per_day(result)
    summary["warnings"] = run_warnings(result, policy)
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        print(_report(result, trace, label, summary, args.out))
    return EXIT_OK


def _report(result: SimResult, trace: Trace, label: str, summary: dict[str, Any], out: Path | None) -> str:
    ratio = summary["cost_vs_oracle"]
    target = f" (target {result.target:g})" if result.target is not None else ""
    lines = [
        f"trace: {trace.name}: {trace.start.isoformat()} to {trace.end.isoformat()}, {len(trace.values):,} "
        f"intervals of {trace.interval:g} s" + (f" ({trace.filled} missing, filled)" if trace.filled else ""),
        f"scaler: {label}{target}",
        f"fleet: {result.peak_instances} instances at the peak, {result.capacity_rps:.4g} req/s each, "
        f"startup {result.startup:g} s, tick {result.tick:g} s"
        + (f", first {result.warmup:g} s not counted" if result.warmup else ""),
        f"instance-hours: {result.instance_hours:,.1f}"
        + (f" ({ratio:.2f}x the oracle's {summary['oracle_instance_hours']:,.1f})" if ratio is not None else ""),
        f"unserved: {result.unserved_pct:.4f} % of {result.total_requests:,.0f} requests",
        f"overloaded: {result.overload_minutes:,.1f} min",
        f"scale actions: {result.scale_actions:,} ({summary['scale_actions_per_day']:,.1f} per day)",
        f"queue view: peak backlog {result.peak_backlog:,.0f} requests, mean wait {result.mean_wait_seconds:.3g} s",
    ]
    lines.extend(f"metrics outage: {outage} (the policy saw no metric)" for outage in result.outages)
    lines.extend(f"warning: {warning}" for warning in summary["warnings"])
    if out is not None:
        lines.append(f"wrote {out / 'timeline.csv'} and {out / 'plot.svg'}")
    return "\n".join(lines)
