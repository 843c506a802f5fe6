"""`autoscaler backtest`: what a policy would have done over a past period, from the metric sources'
history, replayed through the engine."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from autoscaler.backtest import BacktestResult, Fleet, Period, render_svg, replay, write_csv
from autoscaler.cliargs import DURATION_HELP, duration_arg
from autoscaler.core.policy import Policy
from autoscaler.errors import ConfigurationError, MetricSourceError
from autoscaler.history import RangeSource, fetch_history, load_history
from autoscaler.policyfiles import load_paths
from autoscaler.service import EXIT_CONFIG
from autoscaler.settings import Settings, load_settings
from autoscaler.wiring import build_providers, retry_policy

_parse_span = duration_arg()
_parse_step = duration_arg(minimum=timedelta(seconds=1))


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected an ISO-8601 time like 2026-11-01T00:00:00+08:00, got {text!r}"
        ) from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def _backtest_async(args: argparse.Namespace, settings: Settings, policy: Policy) -> int:
    retry = retry_policy(settings, 60.0)
    providers = build_providers(settings, policies={policy.app: policy}, retry=retry)
    try:
        # Both providers answer range queries; the loop's port does not need them, so it does not name them.
        sources = {name: cast(RangeSource, provider) for name, provider in providers.items()}
        history = await fetch_history(policy, sources, start=args.start, end=args.end, step=args.step)
        prior = None
        if policy.predictive is not None:  # the load history the service would load at the period's start
            predictive = policy.predictive
            prior, loaded = await load_history(
                policy,
                sources,
                now=args.start,
                lookback=predictive.lookback,
                bucket=predictive.bucket,
                load_queries=predictive.load_queries,
            )
            for item in loaded:
                detail = f": {item.detail}" if item.detail else ""
                print(f"history of {item.metric} before the period: {item.status} ({item.points} points){detail}")
    finally:
        for provider in providers.values():
            await provider.aclose()
    result = replay(
        policy,
        history,
        period=Period(start=args.start, end=args.end, step=args.step, warmup=args.warmup),
        fleet=Fleet(
            initial_instances=args.instances, historical_instances=args.historical_instances, startup=args.startup
        ),
        prior=prior,
    )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        write_csv(result, args.out / "backtest.csv")
        (args.out / "backtest.svg").write_text(render_svg(result, policy))
    if args.json:
        print(json.dumps(result.summary()))
        return 0
    print_backtest(result, policy, actions=args.actions)
    return 0


def print_backtest(result: BacktestResult, policy: Policy, *, actions: bool) -> None:
    """The summary first, then its warnings; the actions one per line only when asked for."""
    summary = result.summary()
    print(
        f"{policy.app}: {summary['scale_actions']} scale actions "
        f"({summary['scale_ups']} up, {summary['scale_downs']} down) "
        f"in {len(result.ticks)} ticks; at max {summary['time_at_max_minutes']:.0f} min; "
        f"instances {summary['lowest_instances']}..{summary['highest_instances']}"
    )
    for name in result.missing_history:
        print(f"warning: metric {name} has no history in this period")
    if not actions:
        if summary["scale_actions"]:
            print("(--actions lists them)")
        return
    for tick in result.ticks:
        if tick.desired != tick.current:
            values = ", ".join(f"{k}={'-' if v is None else format(v, 'g')}" for k, v in tick.values.items())
            print(
                f"{tick.at.isoformat()}  {tick.current:>4} -> {tick.desired:<4} "
                f"{tick.code:<12} {tick.cause:<9} {values}"
            )


def _backtest(args: argparse.Namespace) -> int:
    if args.end <= args.start:
        print("autoscaler: --to must be after --from", file=sys.stderr)
        return EXIT_CONFIG
    if args.start + args.warmup >= args.end:
        print("autoscaler: --warmup must be shorter than the period", file=sys.stderr)
        return EXIT_CONFIG
    loaded = load_paths([args.policy])
    for problem in loaded.problems:
        print(problem, file=sys.stderr)
    if loaded.errors:
        return EXIT_CONFIG
    if args.app is not None:
        policy = loaded.policies.get(args.app)
    elif len(loaded.policies) == 1:
        policy = next(iter(loaded.policies.values()))
    else:
        policy = None
    if policy is None:
        print(f"autoscaler: name one app with --app: {', '.join(sorted(loaded.policies))}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        settings = load_settings(require_marathon=False)
        return asyncio.run(_backtest_async(args, settings, policy))
    except (ConfigurationError, MetricSourceError) as exc:
        print(f"autoscaler: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backtest = commands.add_parser(
        "backtest", help="what a policy would have done over a past period, from the metric sources' history"
    )
    backtest.add_argument("--policy", type=Path, required=True, help="policy file or directory")
    backtest.add_argument("--app", default=None, help="the app, when --policy holds several")
    backtest.add_argument("--from", dest="start", type=_parse_time, required=True, help="ISO-8601 start")
    backtest.add_argument("--to", dest="end", type=_parse_time, required=True, help="ISO-8601 end")
    backtest.add_argument(
        "--step", type=_parse_step, default=timedelta(seconds=15), help=f"tick length (default 15s; {DURATION_HELP})"
    )
    backtest.add_argument("--instances", type=int, default=None, help="instances at the start (default: min)")
    backtest.add_argument(
        "--historical-instances",
        type=int,
        default=None,
        help="instances that actually ran then: target_average values are rescaled to the backtest's count",
    )
    backtest.add_argument(
        "--warmup",
        type=_parse_span,
        default=timedelta(0),
        help=f"replay this much of the period first without counting it (the forecast learns from it; {DURATION_HELP})",
    )
    backtest.add_argument(
        "--startup",
        type=_parse_span,
        default=None,
        help="the app's start-up time, for the forecast's horizon and lead: auto "
        f"(default: the 2m fallback; {DURATION_HELP})",
    )
    backtest.add_argument("--out", type=Path, default=None, help="write backtest.csv and backtest.svg here")
    backtest.add_argument("--json", action="store_true", help="print one JSON summary")
    backtest.add_argument(
        "--actions", action="store_true", help="after the summary, list every scale action (time, from -> to, why)"
    )
    backtest.set_defaults(handler=_backtest)
