"""The `autoscaler` command: the composition root.

It parses arguments, reads settings, builds the collaborators and hands them to the loop. It is the
only module that may exit the process; everything below it raises the project's own errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from autoscaler import logs
from autoscaler.backtest import render_svg, replay, write_csv
from autoscaler.core.policy import Policy
from autoscaler.core.units import parse_duration
from autoscaler.errors import ConfigurationError, MetricSourceError, TargetAuthError, TargetError
from autoscaler.events import GraphiteEvents, event_tags
from autoscaler.explain import ExplainError, explain_app
from autoscaler.history import RangeSource, fetch_history, load_history
from autoscaler.http import RetryPolicy
from autoscaler.leader import LeaderElection
from autoscaler.loop import ControlLoop, TickReport, settle_memory
from autoscaler.notify import Notifier, NotifyConfig, parse_targets
from autoscaler.policyfiles import LoadResult, Problem, load_directory, load_paths
from autoscaler.ports import MetricsProvider
from autoscaler.providers import build_provider
from autoscaler.reload import PolicyReloader
from autoscaler.selfmetrics import SelfMetrics, observe_tick
from autoscaler.server import StatusServer
from autoscaler.settings import Settings, load_settings
from autoscaler.sim.cli import add_simulate_parser
from autoscaler.startup import StartupEstimate
from autoscaler.status import ServiceStatus
from autoscaler.targets.marathon import MarathonClient

EXIT_CONFIG = 2
EXIT_TICK_FAILED = 1


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else None


def _retry_policy(settings: Settings, interval: float) -> RetryPolicy:
    timeout = settings.request_timeout.total_seconds()
    # A request and its retries must fit well inside one tick.
    return RetryPolicy(
        attempts=settings.retry_attempts,
        request_timeout=timeout,
        total_timeout=max(timeout, interval * 0.6),
    )


def _load_policies(settings: Settings, logger: logging.Logger) -> LoadResult:
    if not settings.policy_dir.is_dir():
        raise ConfigurationError(f"AUTOSCALER_POLICY_DIR: {settings.policy_dir} is not a directory of policy files")
    result = load_directory(settings.policy_dir)
    for problem in result.problems:
        level = logging.ERROR if problem.severity == "error" else logging.WARNING
        logger.log(level, "policy %s", problem, extra={"fields": {"event": "policy_error", "file": problem.path}})
    if not result.policies:
        raise ConfigurationError(f"no valid policy in {settings.policy_dir}")
    return result


def _build_providers(
    settings: Settings, policies: Mapping[str, Policy], retry: RetryPolicy
) -> dict[str, MetricsProvider]:
    """A provider for every source that has a URL (a policy reloaded later may use one the first set
    did not); a source that a loaded policy uses but that has no URL is a configuration error."""
    used = {spec.source for policy in policies.values() for spec in policy.metrics}
    urls = {"prometheus": settings.prometheus_url, "graphite": settings.graphite_url}
    missing = sorted(source for source in used if not urls.get(source))
    if missing:
        names = ", ".join(f"AUTOSCALER_{source.upper()}_URL" for source in missing)
        users = sorted(p.app for p in policies.values() if any(m.source in missing for m in p.metrics))
        raise ConfigurationError(f"{names} must be set: used by the policies of {', '.join(users)}")
    providers: dict[str, MetricsProvider] = {}
    if settings.prometheus_url:
        token = _secret(settings.prometheus_token)
        password = _secret(settings.prometheus_password)
        providers["prometheus"] = build_provider(
            "prometheus",
            url=settings.prometheus_url,
            policy=retry,
            basic_auth=(settings.prometheus_user, password) if settings.prometheus_user and password else None,
            bearer_token=token,
            verify=settings.metrics_verify(),
            max_concurrency=settings.concurrency,
        )
    if settings.graphite_url:
        password = _secret(settings.graphite_password)
        providers["graphite"] = build_provider(
            "graphite",
            url=settings.graphite_url,
            policy=retry,
            basic_auth=(settings.graphite_user, password) if settings.graphite_user and password else None,
            verify=settings.metrics_verify(),
            max_concurrency=settings.concurrency,
        )
    return providers


def _background_retry(settings: Settings) -> RetryPolicy:
    # Deliveries run beside the loop, not inside a tick: they may take longer than a tick's budget.
    timeout = settings.request_timeout.total_seconds()
    return RetryPolicy(attempts=settings.retry_attempts, request_timeout=timeout, total_timeout=max(timeout, 30.0))


def _build_notifier(settings: Settings, logger: logging.Logger) -> Notifier | None:
    spec = _secret(settings.notify_urls)
    targets = parse_targets(spec, dingtalk_secret=_secret(settings.notify_dingtalk_secret)) if spec else ()
    if not targets:
        return None
    config = NotifyConfig(
        targets=targets,
        failure_ticks=settings.notify_failure_ticks,
        scale_actions=settings.notify_scale_actions,
        rate_per_minute=settings.notify_rate,
        queue_size=settings.notify_queue,
        title=settings.notify_title,
    )
    logger.info("notifications to %s", ", ".join(t.label for t in targets), extra={"fields": {"event": "notify"}})
    return Notifier(config, retry=_background_retry(settings), clock=_now, logger=logger)


def _build_graphite_events(settings: Settings, logger: logging.Logger) -> GraphiteEvents | None:
    if not settings.graphite_events:
        return None
    url = settings.graphite_events_url or settings.graphite_url
    if not url:
        raise ConfigurationError(
            "AUTOSCALER_GRAPHITE_EVENTS needs AUTOSCALER_GRAPHITE_EVENTS_URL or AUTOSCALER_GRAPHITE_URL"
        )
    password = _secret(settings.graphite_password)
    same_server = settings.graphite_events_url in (None, settings.graphite_url)
    auth = (settings.graphite_user, password) if same_server and settings.graphite_user and password else None
    return GraphiteEvents(
        url=url,
        retry=_background_retry(settings),
        logger=logger,
        tags=event_tags(settings.graphite_events_tags),
        auth=auth,
        verify=settings.metrics_verify(),
    )


def _marathon(settings: Settings, retry: RetryPolicy) -> MarathonClient:
    if settings.marathon_url is None:  # load_settings(require_marathon=True) guarantees it
        raise ConfigurationError("AUTOSCALER_MARATHON_URL is required")
    return MarathonClient(
        base_url=settings.marathon_url,
        policy=retry,
        username=settings.marathon_user,
        password=_secret(settings.marathon_password),
        token=_secret(settings.marathon_token),
        verify=settings.marathon_verify(),
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _start_election(settings: Settings, args: argparse.Namespace, logger: logging.Logger) -> LeaderElection | None:
    """Join the election when ZooKeeper is configured (a dry run never writes, so it never joins)."""
    if not settings.zk_hosts or args.dry_run:
        return None
    election = LeaderElection(
        settings.zk_hosts,
        settings.zk_path,
        identifier=os.environ.get("MESOS_TASK_ID") or f"{socket.gethostname()}:{os.getpid()}",
        logger=logger,
        session_timeout=settings.zk_session_timeout.total_seconds(),
    )
    election.start()
    return election


async def _run_service(args: argparse.Namespace, settings: Settings, logger: logging.Logger) -> int:
    loaded = _load_policies(settings, logger)
    interval = settings.interval.total_seconds()
    retry = _retry_policy(settings, interval)
    providers = _build_providers(settings, loaded.policies, retry)
    target = _marathon(settings, retry)
    election = _start_election(settings, args, logger)
    loop = ControlLoop(
        policies=loaded.policies,
        target=target,
        providers=providers,
        clock=_now,
        logger=logger,
        dry_run=args.dry_run,
        concurrency=settings.concurrency,
        may_write=election.is_leader if election is not None else (lambda: True),
        interval=settings.interval.total_seconds(),
    )
    status = ServiceStatus(interval=settings.interval, started_at=_now())
    status.set_policies(loaded.policies, loaded.problems)
    metrics = SelfMetrics()
    settle_memory()
    logger.info(
        "managing %d apps from %s every %gs%s%s",
        len(loaded.policies),
        settings.policy_dir,
        interval,
        " (dry run: no writes)" if args.dry_run else "",
        " (leader election on ZooKeeper)" if election is not None else "",
        extra={"fields": {"event": "start", "apps": sorted(loaded.policies)}},
    )
    try:
        if args.once:
            if election is not None:  # give the election one session to decide before the single tick
                deadline = asyncio.get_running_loop().time() + settings.zk_session_timeout.total_seconds()
                # the election runs in kazoo threads and offers no awaitable: poll its cheap flag
                while not election.is_leader() and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
            report = await loop.tick()
            _print_report(report)
            if report.auth_error:
                return EXIT_CONFIG
            return 0 if report.reached_marathon else EXIT_TICK_FAILED
        return await _serve(
            settings, logger, loop=loop, status=status, metrics=metrics, election=election, loaded=loaded
        )
    finally:
        await target.aclose()
        for provider in providers.values():
            await provider.aclose()
        if election is not None:
            await asyncio.to_thread(election.stop)


async def _serve(
    settings: Settings,
    logger: logging.Logger,
    *,
    loop: ControlLoop,
    status: ServiceStatus,
    metrics: SelfMetrics,
    election: LeaderElection | None,
    loaded: LoadResult,
) -> int:
    """The long-running service: the loop, the status server, hot reload and notifications."""
    stop = asyncio.Event()
    running = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        running.add_signal_handler(signum, stop.set)

    def apply_policies(policies: dict[str, Policy], problems: list[Problem]) -> None:
        loop.set_policies(policies)
        status.set_policies(policies, problems)
        settle_memory()

    server = StatusServer(
        status=status,
        metrics=metrics,
        clock=_now,
        host=settings.host,
        port=settings.port,
        api_token=_secret(settings.api_token),
    )
    reloader = PolicyReloader(
        settings.policy_dir,
        on_change=apply_policies,
        logger=logger,
        initial=loaded,
        poll_interval=settings.policy_poll_interval.total_seconds(),
    )
    notifier = _build_notifier(settings, logger)
    graphite_events = _build_graphite_events(settings, logger)

    def on_tick(report: TickReport) -> None:
        status.role = "single" if election is None else ("leader" if election.is_leader() else "follower")
        status.record(report)
        status.startup = loop.startup.estimates()
        observe_tick(metrics, report)
        if election is None or election.is_leader():  # followers would repeat the leader's messages
            if notifier is not None:
                notifier.submit(report)
            if graphite_events is not None:
                graphite_events.submit(report)

    url = await server.start()
    logger.info("status server on %s", url, extra={"fields": {"event": "server", "url": url}})
    running.add_signal_handler(signal.SIGHUP, reloader.trigger)
    reloader.start()
    for background in (notifier, graphite_events):
        if background is not None:
            background.start()
    try:
        await loop.run(interval=settings.interval.total_seconds(), stop=stop, on_tick=on_tick)
    finally:
        running.remove_signal_handler(signal.SIGHUP)
        await reloader.aclose()
        for background in (notifier, graphite_events):
            if background is not None:
                await background.aclose(grace=3.0)
        await server.stop()
    logger.info("stopped", extra={"fields": {"event": "stop"}})
    return 0


async def _explain_async(args: argparse.Namespace, settings: Settings, logger: logging.Logger) -> int:
    loaded = _load_policies(settings, logger)
    retry = _retry_policy(settings, settings.interval.total_seconds())
    policy = loaded.policies.get(args.app)
    providers = _build_providers(settings, {args.app: policy} if policy is not None else {}, retry)
    target = _marathon(settings, retry)
    try:
        startup = StartupEstimate(args.app, args.startup.total_seconds(), ()) if args.startup is not None else None
        text = await explain_app(
            args.app,
            policies=loaded.policies,
            target=target,
            providers=providers,
            now=_now(),
            interval=settings.interval,
            startup=startup,
        )
        print(text)
        return 0
    finally:
        await target.aclose()
        for provider in providers.values():
            await provider.aclose()


def _explain(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
        if args.policy_dir is not None:
            settings = settings.model_copy(update={"policy_dir": args.policy_dir})
        logger = logs.configure(level="WARNING", fmt="text")
        return asyncio.run(_explain_async(args, settings, logger))
    except (ConfigurationError, ExplainError, TargetAuthError) as exc:
        print(f"autoscaler: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except TargetError as exc:
        print(f"autoscaler: {exc}", file=sys.stderr)
        return EXIT_TICK_FAILED


def _print_report(report: TickReport) -> None:
    if report.error is not None:
        print(f"tick failed: {report.error}")
        return
    for app_id in sorted(report.outcomes):
        outcome = report.outcomes[app_id]
        line = outcome.decision.summary() if outcome.decision is not None else f"{app_id}: {outcome.code}"
        if outcome.decision is not None and outcome.code != outcome.decision.code:
            line += f" -> {outcome.code}: {outcome.detail}"
        elif outcome.decision is None:
            line += f" ({outcome.detail})"
        print(line)


def _run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
        if args.policy_dir is not None:
            settings = settings.model_copy(update={"policy_dir": args.policy_dir})
    except ConfigurationError as exc:
        print(f"autoscaler: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logger = logs.configure(level=settings.log_level, fmt=settings.log_format)
    try:
        return asyncio.run(_run_service(args, settings, logger))
    except ConfigurationError as exc:
        logger.error("configuration error: %s", exc, extra={"fields": {"event": "config_error"}})
        print(f"autoscaler: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def _validate(args: argparse.Namespace) -> int:
    result = load_paths(args.paths)
    failed = result.failed_files()
    for path in result.files:
        if path not in failed:
            print(f"OK    {path}")
    for problem in result.problems:
        print(problem)
    count = len(result.errors)
    print(
        f"{len(result.files)} files, {len(result.policies)} policies, {len(result.campaigns)} campaigns, "
        f"{count} error{'s' if count != 1 else ''}"
    )
    return 1 if result.errors or not result.files else 0


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected an ISO-8601 time like 2026-11-01T00:00:00+08:00, got {text!r}"
        ) from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _parse_span(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _parse_step(text: str) -> timedelta:
    try:
        step = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if step < timedelta(seconds=1):
        raise argparse.ArgumentTypeError("the step must be at least 1s")
    return step


async def _backtest_async(args: argparse.Namespace, settings: Settings, policy: Policy) -> int:
    retry = _retry_policy(settings, 60.0)
    providers = _build_providers(settings, {policy.app: policy}, retry)
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
        start=args.start,
        end=args.end,
        step=args.step,
        initial_instances=args.instances,
        historical_instances=args.historical_instances,
        warmup=args.warmup,
        prior=prior,
        startup=args.startup,
    )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        write_csv(result, args.out / "backtest.csv")
        (args.out / "backtest.svg").write_text(render_svg(result, policy))
    if args.json:
        print(json.dumps(result.summary()))
        return 0
    for tick in result.ticks:
        if tick.desired != tick.current:
            values = ", ".join(f"{k}={'-' if v is None else format(v, 'g')}" for k, v in tick.values.items())
            print(
                f"{tick.at.isoformat()}  {tick.current:>4} -> {tick.desired:<4} "
                f"{tick.code:<12} {tick.cause:<9} {values}"
            )
    summary = result.summary()
    print(
        f"{policy.app}: {summary['scale_actions']} scale actions "
        f"({summary['scale_ups']} up, {summary['scale_downs']} down) "
        f"in {len(result.ticks)} ticks; at max {summary['time_at_max_minutes']:.0f} min; "
        f"instances {summary['lowest_instances']}..{summary['highest_instances']}"
    )
    for name in result.missing_history:
        print(f"warning: metric {name} has no history in this period")
    return 0


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


def _demo(args: argparse.Namespace) -> int:
    from autoscaler.demo.run import run_demo  # noqa: PLC0415  (only the demo needs its world)

    try:
        asyncio.run(run_demo(duration=args.duration, speed=args.speed, interval=args.interval, port=args.port))
        return 0
    except KeyboardInterrupt:
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autoscaler", description="Autoscaler for Marathon apps.")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check policy files and campaigns")
    validate.add_argument("paths", nargs="*", default=["policies"], help="files or directories (default: policies)")
    validate.set_defaults(handler=_validate)
    run = commands.add_parser("run", help="run the control loop (settings from AUTOSCALER_* variables)")
    run.add_argument("--once", action="store_true", help="run one tick and exit")
    run.add_argument("--dry-run", action="store_true", help="decide and report, never write to Marathon")
    run.add_argument("--policy-dir", type=Path, default=None, help="overrides AUTOSCALER_POLICY_DIR")
    run.set_defaults(handler=_run)
    demo = commands.add_parser(
        "demo", help="run the real loop against a built-in Marathon and metrics source (no servers needed)"
    )
    demo.add_argument("--duration", type=float, default=None, help="stop after this many real seconds")
    demo.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second (default 60)")
    demo.add_argument("--interval", type=float, default=1.0, help="real seconds between ticks (default 1)")
    demo.add_argument("--port", type=int, default=8080, help="dashboard port on 127.0.0.1 (0: any free port)")
    demo.set_defaults(handler=_demo)
    explain = commands.add_parser("explain", help="why would this app scale (or not) right now? reads only")
    explain.add_argument("app", help="Marathon app id, e.g. /shop/api")
    explain.add_argument("--policy-dir", type=Path, default=None, help="overrides AUTOSCALER_POLICY_DIR")
    explain.add_argument(
        "--startup",
        type=_parse_span,
        default=None,
        help="the app's start-up time as the service learned it (its status API): the forecast's horizon and "
        "lead: auto use it (default: the 2m fallback)",
    )
    explain.set_defaults(handler=_explain)
    add_simulate_parser(commands)
    backtest = commands.add_parser(
        "backtest", help="what a policy would have done over a past period, from the metric sources' history"
    )
    backtest.add_argument("--policy", type=Path, required=True, help="policy file or directory")
    backtest.add_argument("--app", default=None, help="the app, when --policy holds several")
    backtest.add_argument("--from", dest="start", type=_parse_time, required=True, help="ISO-8601 start")
    backtest.add_argument("--to", dest="end", type=_parse_time, required=True, help="ISO-8601 end")
    backtest.add_argument("--step", type=_parse_step, default=timedelta(seconds=15), help="tick length (default 15s)")
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
        help="replay this much of the period first without counting it (the forecast learns from it)",
    )
    backtest.add_argument(
        "--startup",
        type=_parse_span,
        default=None,
        help="the app's start-up time, for the forecast's horizon and lead: auto (default: the 2m fallback)",
    )
    backtest.add_argument("--out", type=Path, default=None, help="write backtest.csv and backtest.svg here")
    backtest.add_argument("--json", action="store_true", help="print one JSON summary")
    backtest.set_defaults(handler=_backtest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
