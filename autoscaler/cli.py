"""The `autoscaler` command: the composition root.

It parses arguments, reads settings, builds the collaborators and hands them to the loop. It is the
only module that may exit the process; everything below it raises the project's own errors.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from autoscaler import logs
from autoscaler.core.policy import Policy
from autoscaler.errors import ConfigurationError
from autoscaler.http import RetryPolicy
from autoscaler.loop import ControlLoop, TickReport
from autoscaler.policyfiles import LoadResult, load_directory, load_paths
from autoscaler.ports import MetricsProvider
from autoscaler.providers import build_provider
from autoscaler.settings import Settings, load_settings
from autoscaler.sim.cli import add_simulate_parser
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
    used = {spec.source for policy in policies.values() for spec in policy.metrics}
    urls = {"prometheus": settings.prometheus_url, "graphite": settings.graphite_url}
    missing = sorted(source for source in used if not urls.get(source))
    if missing:
        names = ", ".join(f"AUTOSCALER_{source.upper()}_URL" for source in missing)
        users = sorted(p.app for p in policies.values() if any(m.source in missing for m in p.metrics))
        raise ConfigurationError(f"{names} must be set: used by the policies of {', '.join(users)}")
    providers: dict[str, MetricsProvider] = {}
    if "prometheus" in used and settings.prometheus_url:
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
    if "graphite" in used and settings.graphite_url:
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


def _now() -> datetime:
    return datetime.now(UTC)


async def _run_service(args: argparse.Namespace, settings: Settings, logger: logging.Logger) -> int:
    loaded = _load_policies(settings, logger)
    interval = settings.interval.total_seconds()
    retry = _retry_policy(settings, interval)
    providers = _build_providers(settings, loaded.policies, retry)
    target = MarathonClient(
        base_url=settings.marathon_url,
        policy=retry,
        username=settings.marathon_user,
        password=_secret(settings.marathon_password),
        token=_secret(settings.marathon_token),
        verify=settings.marathon_verify(),
    )
    loop = ControlLoop(
        policies=loaded.policies,
        target=target,
        providers=providers,
        clock=_now,
        logger=logger,
        dry_run=args.dry_run,
        concurrency=settings.concurrency,
    )
    logger.info(
        "managing %d apps from %s every %gs%s",
        len(loaded.policies),
        settings.policy_dir,
        interval,
        " (dry run: no writes)" if args.dry_run else "",
        extra={"fields": {"event": "start", "apps": sorted(loaded.policies)}},
    )
    try:
        if args.once:
            report = await loop.tick()
            _print_report(report)
            if report.auth_error:
                return EXIT_CONFIG
            return 0 if report.reached_marathon else EXIT_TICK_FAILED
        stop = asyncio.Event()
        running = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            running.add_signal_handler(signum, stop.set)
        await loop.run(interval=interval, stop=stop)
        logger.info("stopped", extra={"fields": {"event": "stop"}})
        return 0
    finally:
        await target.aclose()
        for provider in providers.values():
            await provider.aclose()


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


def _demo(args: argparse.Namespace) -> int:
    from autoscaler.demo.run import run_demo  # noqa: PLC0415  (only the demo needs its world)

    try:
        asyncio.run(run_demo(duration=args.duration, speed=args.speed, interval=args.interval))
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
    demo.set_defaults(handler=_demo)
    add_simulate_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
