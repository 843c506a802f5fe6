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
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from autoscaler import clihelp, logs
from autoscaler.backtest import BacktestResult, render_svg, replay, write_csv
from autoscaler.cliargs import DURATION_HELP, duration_arg
from autoscaler.clipause import add_pause_commands
from autoscaler.core.policy import Policy
from autoscaler.errors import ConfigurationError, MetricSourceError, TargetAuthError, TargetError
from autoscaler.explain import ExplainError, explain_offline
from autoscaler.history import RangeSource, fetch_history, load_history
from autoscaler.policyfiles import Problem, load_paths
from autoscaler.preview import explanation_json, preview_lines, service_explanation_json, service_text
from autoscaler.service import (
    EXIT_CONFIG,
    EXIT_TICK_FAILED,
    build_providers,
    load_policies,
    marathon_client,
    retry_policy,
    run_service,
    secret_value,
    utc_now,
)
from autoscaler.settings import Settings, load_settings
from autoscaler.sim.cli import add_simulate_parser
from autoscaler.startup import StartupEstimate
from autoscaler.statusclient import StatusAPIAuthError, StatusAPIError, StatusAPINotManaged, StatusClient
from autoscaler.targets.marathon import app_id_problem


def _app_id(text: str) -> str:
    """An app id as operators type it: `checkout/web` is `/checkout/web`."""
    app_id = text.strip()
    app_id = app_id if app_id.startswith("/") else "/" + app_id
    problem = app_id_problem(app_id)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{text[:200]!r} is not a Marathon app id: {problem}")
    return app_id


def _status_url(args: argparse.Namespace, settings: Settings) -> str | None:
    """The running service to ask (--url, else AUTOSCALER_STATUS_URL), or None to decide offline."""
    if args.offline:
        return None
    url: str | None = args.url or settings.status_url
    return url


def _status_client(url: str, settings: Settings) -> StatusClient:
    return StatusClient(
        base_url=url,
        policy=retry_policy(settings, settings.interval.total_seconds()),
        token=secret_value(settings.api_token),
    )


async def _explain_service(args: argparse.Namespace, settings: Settings, url: str) -> int:
    async with _status_client(url, settings) as client:
        view = await client.app(args.app)
    if args.json:
        print(json.dumps(service_explanation_json(view, url=client.url), indent=2))
    else:
        print(service_text(view, url=client.url, now=utc_now()))
    return 0


async def _explain_async(args: argparse.Namespace, settings: Settings, logger: logging.Logger) -> int:
    loaded = load_policies(settings, logger)
    retry = retry_policy(settings, settings.interval.total_seconds())
    policy = loaded.policies.get(args.app)
    providers = build_providers(settings, {args.app: policy} if policy is not None else {}, retry)
    target = marathon_client(settings, retry)
    try:
        startup = StartupEstimate(args.app, args.startup.total_seconds(), ()) if args.startup is not None else None
        found = await explain_offline(
            args.app,
            policies=loaded.policies,
            target=target,
            providers=providers,
            now=utc_now(),
            interval=settings.interval,
            startup=startup,
        )
        print(json.dumps(explanation_json(found, app_id=args.app), indent=2) if args.json else found.text)
        return 0
    finally:
        await target.aclose()
        for provider in providers.values():
            await provider.aclose()


def _explain(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(require_marathon=False)
        url = _status_url(args, settings)
        if url is not None:
            return asyncio.run(_explain_service(args, settings, url))
        settings = load_settings()
        if args.policy_dir is not None:
            settings = settings.model_copy(update={"policy_dir": args.policy_dir})
        logger = logs.configure(level="WARNING", fmt="text")
        return asyncio.run(_explain_async(args, settings, logger))
    except (ConfigurationError, ExplainError, TargetAuthError, StatusAPIAuthError, StatusAPINotManaged) as exc:
        print(f"autoscaler: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (TargetError, StatusAPIError) as exc:
        print(f"autoscaler: {exc}", file=sys.stderr)
        return EXIT_TICK_FAILED


async def _preview_service(settings: Settings, url: str) -> int:
    async with _status_client(url, settings) as client:
        head, views = await client.apps()
    print("\n".join(preview_lines(head, views, url=client.url, now=utc_now())))
    return 0


def _run(args: argparse.Namespace) -> int:
    try:
        url = _status_url(args, load_settings(require_marathon=False))
        if url is not None and not (args.once and args.dry_run):
            raise ConfigurationError("--url and AUTOSCALER_STATUS_URL preview a running service: add --once --dry-run")
        if url is not None:
            return asyncio.run(_preview_service(load_settings(require_marathon=False), url))
        settings = load_settings()
        if args.policy_dir is not None:
            settings = settings.model_copy(update={"policy_dir": args.policy_dir})
    except (ConfigurationError, StatusAPIAuthError) as exc:
        _warn_unknown_settings(None)
        print(f"autoscaler: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StatusAPIError as exc:
        print(f"autoscaler: {exc}", file=sys.stderr)
        return EXIT_TICK_FAILED
    logger = logs.configure(level=settings.log_level, fmt=settings.log_format)
    _warn_unknown_settings(logger)
    watchdog = _ShutdownWatchdog(logger, grace=clihelp.SHUTDOWN_GRACE_SECONDS)
    try:
        return asyncio.run(run_service(args, settings, logger, on_stop=watchdog.arm))
    except ConfigurationError as exc:
        logger.error("configuration error: %s", exc, extra={"fields": {"event": "config_error"}})
        print(f"autoscaler: {exc}", file=sys.stderr)
        return EXIT_CONFIG


class _ShutdownWatchdog:
    """Ends the process when a shutdown takes longer than its grace period.

    The loop, the status server and the background senders stop within seconds, but a worker thread
    that never returns (a read that blocks, a client library that hangs) would keep the process alive
    for ever: Python waits for such threads at exit. Armed when the stop signal arrives, a daemon thread
    gives the shutdown `grace` seconds, then says so and exits with EXIT_FORCED_STOP.
    """

    def __init__(self, logger: logging.Logger, *, grace: float, exit_now: Callable[[int], object] = os._exit) -> None:
        self._log = logger
        self._grace = grace
        self._exit = exit_now
        self._armed = threading.Event()

    def arm(self) -> None:
        if self._armed.is_set():
            return
        self._armed.set()
        threading.Thread(target=self._expire, name="shutdown watchdog", daemon=True).start()

    def _expire(self) -> None:
        time.sleep(self._grace)  # a daemon thread: a process that exits in time never gets past this
        blocked = sorted(t.name for t in threading.enumerate() if t is not threading.current_thread() and t.is_alive())
        self._log.error(
            "shutdown did not finish within %gs (threads still running: %s); exiting",
            self._grace,
            logs.short_text(", ".join(blocked) or "none"),
            extra={"fields": {"event": "forced_stop", "threads": blocked[:20]}},
        )
        for handler in self._log.handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        self._exit(clihelp.EXIT_FORCED_STOP)


def _warn_unknown_settings(logger: logging.Logger | None) -> None:
    """An AUTOSCALER_* variable that is no setting is a typo until proven otherwise; its value is never
    shown. Without a logger yet (the settings did not load), the warning goes to stderr."""
    for name, near in clihelp.unknown_variables(os.environ):
        hint = f" (did you mean {near}?)" if near else ""
        if logger is None:
            print(f"autoscaler: unknown setting {name} is ignored{hint}", file=sys.stderr)
            continue
        logger.warning(
            "unknown setting %s is ignored%s",
            name,
            hint,
            extra={"fields": {"event": "unknown_setting", "variable": name, "suggestion": near}},
        )


def _document(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """A description for every command's --help; `run --help` lists the settings and the exit codes."""
    clihelp.describe_commands(commands)
    clihelp.document_run(commands.choices["run"])


POLICY_DIR_VARIABLE = "AUTOSCALER_POLICY_DIR"


def _paths_to_validate(given: Sequence[str]) -> tuple[list[str], str | None]:
    """The paths to validate and, when none was given, which directory the service would read and why."""
    if given:
        return list(given), None
    configured = os.environ.get(POLICY_DIR_VARIABLE, "").strip()
    if configured:
        return [configured], f"validating {POLICY_DIR_VARIABLE}={configured}, the directory the service reads"
    return ["policies"], f"{POLICY_DIR_VARIABLE} is not set: validating ./policies, the service's default"


def _validate(args: argparse.Namespace) -> int:
    paths, note = _paths_to_validate(args.paths)
    if note is not None:
        print(note)
    result = load_paths(paths, strict=True)
    failed = result.failed_files()
    by_file: dict[str, list[Problem]] = {}
    for problem in result.problems:
        by_file.setdefault(problem.path, []).append(problem)
    # Each file's problems, then its OK line when it has no error; then problems of paths that are
    # no file read here (a missing path).
    files = list(dict.fromkeys(result.files))
    for path in files:
        for problem in by_file.pop(path, []):
            print(problem)
        if path not in failed:
            print(f"OK    {path}")
    for problems in by_file.values():
        for problem in problems:
            print(problem)
    count = len(result.errors)
    print(
        f"{len(files)} files, {len(result.policies)} policies, {len(result.campaigns)} campaigns, "
        f"{count} error{'s' if count != 1 else ''}"
    )
    return 1 if result.errors or not files else 0


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected an ISO-8601 time like 2026-11-01T00:00:00+08:00, got {text!r}"
        ) from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


_parse_span = duration_arg()
_parse_step = duration_arg(minimum=timedelta(seconds=1))


async def _backtest_async(args: argparse.Namespace, settings: Settings, policy: Policy) -> int:
    retry = retry_policy(settings, 60.0)
    providers = build_providers(settings, {policy.app: policy}, retry)
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
    _print_backtest(result, policy, actions=args.actions)
    return 0


def _print_backtest(result: BacktestResult, policy: Policy, *, actions: bool) -> None:
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


def _demo(args: argparse.Namespace) -> int:
    from autoscaler.demo.run import run_demo  # noqa: PLC0415  (only the demo needs its world)

    try:
        duration = args.duration.total_seconds() if args.duration is not None else None
        interval = args.interval.total_seconds()
        asyncio.run(run_demo(duration=duration, speed=args.speed, interval=interval, port=args.port))
        return 0
    except KeyboardInterrupt:
        return 0


def _url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"expected an http:// or https:// URL, got {text[:200]!r}")
    return text.rstrip("/")


def _add_service_options(parser: argparse.ArgumentParser, *, what: str) -> None:
    parser.add_argument(
        "--url",
        type=_url,
        default=None,
        help=f"the running service's status server, e.g. http://autoscaler.marathon.mesos:8080 (default: "
        f"AUTOSCALER_STATUS_URL; its API token from AUTOSCALER_API_TOKEN): {what}",
    )
    parser.add_argument("--offline", action="store_true", help="decide in this process even if a URL is set")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autoscaler", description="Autoscaler for Marathon apps.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {clihelp.version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check policy files and campaigns")
    validate.add_argument(
        "paths",
        nargs="*",
        default=[],
        help=f"files or directories (default: {POLICY_DIR_VARIABLE}, the directory the service reads; "
        "./policies when it is not set)",
    )
    validate.set_defaults(handler=_validate)
    run = commands.add_parser("run", help="run the control loop (settings from AUTOSCALER_* variables)")
    run.add_argument("--once", action="store_true", help="run one tick and exit")
    run.add_argument("--dry-run", action="store_true", help="decide and report, never write to Marathon")
    run.add_argument("--policy-dir", type=Path, default=None, help="overrides AUTOSCALER_POLICY_DIR")
    _add_service_options(run, what="with --once --dry-run: show the running service's last decisions instead")
    run.set_defaults(handler=_run)
    demo = commands.add_parser(
        "demo", help="run the real loop against a built-in Marathon and metrics source (no servers needed)"
    )
    demo.add_argument(
        "--duration", type=duration_arg(), default=None, help=f"stop after this much real time ({DURATION_HELP})"
    )
    demo.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second (default 60)")
    demo.add_argument(
        "--interval",
        type=duration_arg(exclusive=True),
        default=timedelta(seconds=1),
        help=f"real time between ticks (default 1s; {DURATION_HELP})",
    )
    demo.add_argument("--port", type=int, default=8080, help="dashboard port on 127.0.0.1 (0: any free port)")
    demo.set_defaults(handler=_demo)
    explain = commands.add_parser("explain", help="why would this app scale (or not) right now? reads only")
    explain.add_argument("app", type=_app_id, help="Marathon app id, e.g. /shop/api (the leading / may be left out)")
    explain.add_argument("--policy-dir", type=Path, default=None, help="overrides AUTOSCALER_POLICY_DIR (offline)")
    explain.add_argument("--json", action="store_true", help="one JSON object with the fields the README lists")
    _add_service_options(explain, what="ask the running service for its decision instead of deciding here")
    explain.add_argument(
        "--startup",
        type=_parse_span,
        default=None,
        help="the app's start-up time as the service learned it (its status API): the forecast's horizon and "
        f"lead: auto use it (default: the 2m fallback; {DURATION_HELP})",
    )
    explain.set_defaults(handler=_explain)
    add_pause_commands(commands, url_type=_url)
    add_simulate_parser(commands)
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
    _document(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
