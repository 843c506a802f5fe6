"""The service as it runs: everything `autoscaler run` builds from the settings, and its lifetime.

Builds the Marathon client, the metric providers, the leader election, the status server, hot reload,
notifications and Graphite events from Settings, and runs the control loop with them until a signal
stops it. The command line parses arguments and calls `run_service`; `explain` and `backtest` reuse
the builders here.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from autoscaler.core.policy import Policy
from autoscaler.errors import ConfigurationError
from autoscaler.events import GraphiteEvents, event_tags
from autoscaler.http import RetryPolicy
from autoscaler.leader import LeaderElection
from autoscaler.loop import ControlLoop, TickReport, settle_memory
from autoscaler.notify import Notice, Notifier, NotifyConfig, parse_targets
from autoscaler.pauses.build import open_store
from autoscaler.pauses.control import PauseControl
from autoscaler.policyfiles import LoadResult, Problem, load_directory
from autoscaler.ports import MetricsProvider
from autoscaler.providers import build_provider
from autoscaler.reload import PolicyReloader
from autoscaler.selfmetrics import SelfMetrics, observe_tick
from autoscaler.server import ServerLimits, StatusServer
from autoscaler.settings import Settings
from autoscaler.status import ServiceStatus
from autoscaler.targets.marathon import MarathonClient

EXIT_CONFIG = 2
EXIT_TICK_FAILED = 1

# After a dry-run tick of a fresh process: what it cannot show (the running service can: --url).
OFFLINE_PREVIEW_NOTE = (
    "Offline preview: this process has only just started, so it has no stabilisation history (no scale-down "
    "can show: one is held until a full window has been observed), no ready counts of the metric window and "
    "no learned start-up time. --url or AUTOSCALER_STATUS_URL previews the running service instead."
)


def secret_value(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else None


def retry_policy(settings: Settings, interval: float) -> RetryPolicy:
    timeout = settings.request_timeout.total_seconds()
    # A request and its retries must fit well inside one tick.
    return RetryPolicy(
        attempts=settings.retry_attempts,
        request_timeout=timeout,
        total_timeout=max(timeout, interval * 0.6),
        max_response_bytes=settings.max_response_bytes,
    )


# Nothing ships in force: the service manages only the apps of the operator's own policies.
_BRING_POLICIES = (
    "the service starts only with your own policies: mount a directory of them there (a volume), fetch "
    "an archive of them (a Mesos fetcher URI), or build an image with them (see deploy/README.md)"
)


def load_policies(settings: Settings, logger: logging.Logger) -> LoadResult:
    """The operator's policies, or a ConfigurationError that says how to provide them."""
    where = settings.policy_dir
    if not where.exists():
        raise ConfigurationError(f"AUTOSCALER_POLICY_DIR {where} does not exist; {_BRING_POLICIES}")
    if not where.is_dir():
        raise ConfigurationError(f"AUTOSCALER_POLICY_DIR {where} is not a directory of policy files")
    result = load_directory(where)
    for problem in result.problems:
        level = logging.ERROR if problem.severity == "error" else logging.WARNING
        logger.log(level, "policy %s", problem, extra={"fields": {"event": "policy_error", "file": problem.path}})
    if not result.files:
        raise ConfigurationError(f"AUTOSCALER_POLICY_DIR {where} holds no policy file (*.yaml); {_BRING_POLICIES}")
    if not result.policies:
        raise ConfigurationError(f"no valid policy in {where}: every policy file has errors (logged above)")
    return result


def build_providers(
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
        token = secret_value(settings.prometheus_token)
        password = secret_value(settings.prometheus_password)
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
        password = secret_value(settings.graphite_password)
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
    return RetryPolicy(
        attempts=settings.retry_attempts,
        request_timeout=timeout,
        total_timeout=max(timeout, 30.0),
        max_response_bytes=settings.max_response_bytes,
    )


def _build_notifier(settings: Settings, logger: logging.Logger) -> Notifier | None:
    spec = secret_value(settings.notify_urls)
    targets = parse_targets(spec, dingtalk_secret=secret_value(settings.notify_dingtalk_secret)) if spec else ()
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
    return Notifier(config, retry=_background_retry(settings), clock=utc_now, logger=logger)


def _build_graphite_events(settings: Settings, logger: logging.Logger) -> GraphiteEvents | None:
    if not settings.graphite_events:
        return None
    url = settings.graphite_events_url or settings.graphite_url
    if not url:
        raise ConfigurationError(
            "AUTOSCALER_GRAPHITE_EVENTS needs AUTOSCALER_GRAPHITE_EVENTS_URL or AUTOSCALER_GRAPHITE_URL"
        )
    password = secret_value(settings.graphite_password)
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


def marathon_client(settings: Settings, retry: RetryPolicy) -> MarathonClient:
    if settings.marathon_url is None:  # load_settings(require_marathon=True) guarantees it
        raise ConfigurationError("AUTOSCALER_MARATHON_URL is required")
    return MarathonClient(
        base_url=settings.marathon_url,
        policy=retry,
        username=settings.marathon_user,
        password=secret_value(settings.marathon_password),
        token=secret_value(settings.marathon_token),
        verify=settings.marathon_verify(),
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


def server_limits(settings: Settings) -> ServerLimits:
    return ServerLimits(
        max_connections=settings.server_max_connections,
        max_header_bytes=settings.server_max_header_bytes,
        read_timeout=settings.server_read_timeout.total_seconds(),
        write_timeout=settings.server_write_timeout.total_seconds(),
    )


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


async def run_service(
    args: argparse.Namespace,
    settings: Settings,
    logger: logging.Logger,
    *,
    on_stop: Callable[[], None] | None = None,
) -> int:
    """Run until SIGTERM or SIGINT (or one tick with --once). `on_stop` is called when the signal
    arrives, before the shutdown starts: the command line bounds the shutdown with it."""
    loaded = load_policies(settings, logger)
    interval = settings.interval.total_seconds()
    retry = retry_policy(settings, interval)
    providers = build_providers(settings, loaded.policies, retry)
    target = marathon_client(settings, retry)
    store = await asyncio.to_thread(open_store, settings, logger)
    pauses = PauseControl(store=store, clock=utc_now, logger=logger)
    election = _start_election(settings, args, logger)
    loop = ControlLoop(
        policies=loaded.policies,
        target=target,
        providers=providers,
        clock=utc_now,
        logger=logger,
        dry_run=args.dry_run,
        concurrency=settings.concurrency,
        may_write=election.is_leader if election is not None else (lambda: True),
        interval=settings.interval.total_seconds(),
        tick_timeout=settings.tick_deadline(),
        source_timeout=settings.source_deadline(),
        pauses=pauses,
    )
    status = ServiceStatus(interval=settings.interval, started_at=utc_now())
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
            if args.dry_run and report.error is None:
                print(OFFLINE_PREVIEW_NOTE)
            if report.auth_error:
                return EXIT_CONFIG
            return 0 if report.reached_marathon else EXIT_TICK_FAILED
        return await _serve(
            settings,
            logger,
            loop=loop,
            status=status,
            metrics=metrics,
            election=election,
            loaded=loaded,
            pauses=pauses,
            on_stop=on_stop,
        )
    finally:
        await asyncio.to_thread(store.close)
        await target.aclose()
        for provider in providers.values():
            await provider.aclose()
        if election is not None:
            await asyncio.to_thread(election.stop)


async def _serve(  # noqa: PLR0915 - every part of the running service is wired here, in order, once
    settings: Settings,
    logger: logging.Logger,
    *,
    loop: ControlLoop,
    status: ServiceStatus,
    metrics: SelfMetrics,
    election: LeaderElection | None,
    loaded: LoadResult,
    pauses: PauseControl,
    on_stop: Callable[[], None] | None = None,
) -> int:
    """The long-running service: the loop, the status server, hot reload and notifications."""
    stop = asyncio.Event()
    running = asyncio.get_running_loop()

    def stopping() -> None:
        stop.set()
        if on_stop is not None:
            on_stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        running.add_signal_handler(signum, stopping)

    def apply_policies(policies: dict[str, Policy], problems: list[Problem]) -> None:
        loop.set_policies(policies)
        status.set_policies(policies, problems)
        settle_memory()

    server = StatusServer(
        status=status,
        metrics=metrics,
        clock=utc_now,
        host=settings.host,
        port=settings.port,
        api_token=secret_value(settings.api_token),
        limits=server_limits(settings),
        pauses=pauses,
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
        _tell_pauses(pauses, notifier)
        if election is None or election.is_leader():  # followers would repeat the leader's messages
            if notifier is not None:
                notifier.submit(report)
            if graphite_events is not None:
                graphite_events.submit(report)

    async def start_server() -> None:
        try:
            url = await server.start()
        except BaseException:
            stop.set()  # a status server that cannot listen (port taken) ends the service
            raise
        logger.info("status server on %s", url, extra={"fields": {"event": "server", "url": url}})

    # The server starts in its own thread beside the first tick, which it does not hold up.
    server_started = asyncio.create_task(start_server())
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
        await asyncio.gather(server_started, return_exceptions=True)
        await server.stop()
    server_started.result()  # raises why the server could not start, if it could not
    logger.info("stopped", extra={"fields": {"event": "stop"}})
    return 0


def _tell_pauses(pauses: PauseControl, notifier: Notifier | None) -> None:
    """A pause, a resume or a pause's end happened on this instance, leader or not: told once."""
    notices = [Notice.of_pause(event) for event in pauses.drain_events()]
    if notifier is not None and notices:
        notifier.send(notices)


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
