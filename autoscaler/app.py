"""The composition root: the one place where the service's parts are built and wired together.

`build_service(settings, policies=..., target=..., providers=..., clock=..., logger=...)` builds the
control loop, the sinks (status, self-metrics, notifications, Graphite events), the status server,
hot reload and the leader election from the settings and the collaborators it is given, and returns
a `Service` that knows how to run them together. `autoscaler run` gives it the real Marathon client,
the real metric providers and the wall clock (`autoscaler.service`); the demo gives it its simulated
world and clock. Nothing here parses arguments: the command line turns flags into plain values.

The builders of the real collaborators from the settings (`marathon_client`, `build_providers`,
`retry_policy`, `load_policies`) live here too, for `run`, `explain` and `backtest` alike.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from autoscaler.core.policy import Policy
from autoscaler.errors import ConfigurationError
from autoscaler.http import RetryPolicy
from autoscaler.leader import LeaderElection
from autoscaler.loop import ControlLoop, settle_memory
from autoscaler.policyfiles import LoadResult, Problem, load_directory
from autoscaler.ports import MetricsProvider, Target
from autoscaler.providers import build_provider
from autoscaler.reload import PolicyReloader
from autoscaler.reports import TickReport
from autoscaler.settings import Settings
from autoscaler.sinks.events import GraphiteEvents, event_tags
from autoscaler.sinks.notify import Notifier, NotifyConfig, parse_targets
from autoscaler.sinks.selfmetrics import SelfMetrics, observe_tick
from autoscaler.sinks.status import Role, ServiceStatus
from autoscaler.targets.marathon import MarathonClient
from autoscaler.web.server import ServerLimits, StatusServer

Clock = Callable[[], datetime]
OnTick = Callable[[TickReport], None]


def utc_now() -> datetime:
    return datetime.now(UTC)


def secret_value(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else None


# ------------------------------------------------------------------------- collaborators from settings


def retry_policy(settings: Settings, interval: float) -> RetryPolicy:
    timeout = settings.request_timeout.total_seconds()
    # A request and its retries must fit well inside one tick.
    return RetryPolicy(
        attempts=settings.retry_attempts,
        request_timeout=timeout,
        total_timeout=max(timeout, interval * 0.6),
        max_response_bytes=settings.max_response_bytes,
    )


def background_retry(settings: Settings) -> RetryPolicy:
    """Deliveries run beside the loop, not inside a tick: they may take longer than a tick's budget."""
    timeout = settings.request_timeout.total_seconds()
    return RetryPolicy(
        attempts=settings.retry_attempts,
        request_timeout=timeout,
        total_timeout=max(timeout, 30.0),
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


def server_limits(settings: Settings) -> ServerLimits:
    return ServerLimits(
        max_connections=settings.server_max_connections,
        max_header_bytes=settings.server_max_header_bytes,
        read_timeout=settings.server_read_timeout.total_seconds(),
        write_timeout=settings.server_write_timeout.total_seconds(),
    )


def build_notifier(settings: Settings, *, clock: Clock, logger: logging.Logger) -> Notifier | None:
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
    return Notifier(config, retry=background_retry(settings), clock=clock, logger=logger)


def build_graphite_events(settings: Settings, logger: logging.Logger) -> GraphiteEvents | None:
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
        retry=background_retry(settings),
        logger=logger,
        tags=event_tags(settings.graphite_events_tags),
        auth=auth,
        verify=settings.metrics_verify(),
    )


def build_election(settings: Settings, *, dry_run: bool, logger: logging.Logger) -> LeaderElection | None:
    """The leader election when ZooKeeper is configured (a dry run never writes, so it never joins)."""
    if not settings.zk_hosts or dry_run:
        return None
    return LeaderElection(
        settings.zk_hosts,
        settings.zk_path,
        identifier=os.environ.get("MESOS_TASK_ID") or f"{socket.gethostname()}:{os.getpid()}",
        logger=logger,
        session_timeout=settings.zk_session_timeout.total_seconds(),
    )


# ----------------------------------------------------------------------------------------- the service


class Service:
    """The built service: the loop, its sinks, the status server, hot reload and the election.

    `run(stop=...)` runs them together until `stop` is set; `on_tick` is what every tick report goes
    to (the status, the self-metrics and, on the leader, notifications and Graphite events). The
    collaborators given to `build_service` (target, providers) belong to the caller, who closes them.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        loop: ControlLoop,
        status: ServiceStatus,
        metrics: SelfMetrics,
        server: StatusServer,
        reloader: PolicyReloader | None,
        notifier: Notifier | None,
        graphite_events: GraphiteEvents | None,
        election: LeaderElection | None,
        clock: Clock,
        logger: logging.Logger,
    ) -> None:
        self.settings = settings
        self.loop = loop
        self.status = status
        self.metrics = metrics
        self.server = server
        self.reloader = reloader
        self.notifier = notifier
        self.graphite_events = graphite_events
        self.election = election
        self._clock = clock
        self._log = logger
        self._server_url: str | None = None

    def role(self) -> Role:
        if self.election is None:
            return "single"
        return "leader" if self.election.is_leader() else "follower"

    def on_tick(self, report: TickReport) -> None:
        """Hand one tick's report to every sink."""
        self.status.role = self.role()
        self.status.record(report)
        self.status.startup = self.loop.startup.estimates()
        observe_tick(self.metrics, report)
        if self.election is None or self.election.is_leader():  # followers would repeat the leader's messages
            if self.notifier is not None:
                self.notifier.submit(report)
            if self.graphite_events is not None:
                self.graphite_events.submit(report)

    def apply_policies(self, policies: dict[str, Policy], problems: list[Problem]) -> None:
        """A reloaded policy set: the loop and the status take it at once."""
        self.loop.set_policies(policies)
        self.status.set_policies(policies, problems)
        settle_memory()

    async def start_server(self, *, any_port_if_taken: bool = False) -> str:
        """Start the status server and return its URL; with `any_port_if_taken`, a taken port is
        replaced by any free one (the demo's dashboard), otherwise the error is raised."""
        try:
            self._server_url = await self.server.start()
        except OSError:
            if not any_port_if_taken:
                raise
            self.server = self._server_on(port=0)
            self._server_url = await self.server.start()
        self._log.info(
            "status server on %s", self._server_url, extra={"fields": {"event": "server", "url": self._server_url}}
        )
        return self._server_url

    def _server_on(self, *, port: int) -> StatusServer:
        settings = self.settings
        return StatusServer(
            status=self.status,
            metrics=self.metrics,
            clock=self._clock,
            host=settings.host,
            port=port,
            api_token=secret_value(settings.api_token),
            limits=server_limits(settings),
        )

    async def run(self, *, stop: asyncio.Event, interval: float | None = None, also: OnTick | None = None) -> None:
        """Tick every `interval` seconds (default: the settings' interval) until `stop` is set, with the
        status server (started beside the first tick unless already started), hot reload and the
        background senders; `also` receives every report after the sinks."""

        async def start_server() -> None:
            try:
                await self.start_server()
            except BaseException:
                stop.set()  # a status server that cannot listen (port taken) ends the service
                raise

        def on_tick(report: TickReport) -> None:
            self.on_tick(report)
            if also is not None:
                also(report)

        # The server starts in its own thread beside the first tick, which it does not hold up.
        server_started = asyncio.create_task(start_server()) if self._server_url is None else None
        backgrounds = [b for b in (self.notifier, self.graphite_events) if b is not None]
        if self.reloader is not None:
            self.reloader.start()
        for background in backgrounds:
            background.start()
        try:
            every = interval if interval is not None else self.settings.interval.total_seconds()
            await self.loop.run(interval=every, stop=stop, on_tick=on_tick)
        finally:
            if self.reloader is not None:
                await self.reloader.aclose()
            for background in backgrounds:
                await background.aclose(grace=3.0)
            if server_started is not None:
                await asyncio.gather(server_started, return_exceptions=True)
            await self.server.stop()
        if server_started is not None:
            server_started.result()  # raises why the server could not start, if it could not


def build_service(
    settings: Settings,
    *,
    policies: LoadResult,
    target: Target,
    providers: Mapping[str, MetricsProvider],
    clock: Clock,
    logger: logging.Logger,
    dry_run: bool = False,
    once: bool = False,
    watch_policies: bool = True,
) -> Service:
    """The service over `policies`, writing to `target` and reading `providers`, on `clock`.

    The sinks, the status server and the election come from the settings (notifications and Graphite
    events only when configured; the election only with ZooKeeper and never in a dry run; it is not
    started yet). `watch_policies` reloads the policy directory while the service runs. A service
    built for one tick (`once`) has no background senders and no reload: only its loop is used.
    """
    election = build_election(settings, dry_run=dry_run, logger=logger)
    loop = ControlLoop(
        policies=policies.policies,
        target=target,
        providers=providers,
        clock=clock,
        logger=logger,
        dry_run=dry_run,
        concurrency=settings.concurrency,
        may_write=election.is_leader if election is not None else (lambda: True),
        interval=settings.interval.total_seconds(),
        tick_timeout=settings.tick_deadline(),
        source_timeout=settings.source_deadline(),
    )
    status = ServiceStatus(interval=settings.interval, started_at=clock())
    status.set_policies(policies.policies, policies.problems)
    metrics = SelfMetrics()
    service = Service(
        settings=settings,
        loop=loop,
        status=status,
        metrics=metrics,
        server=StatusServer(
            status=status,
            metrics=metrics,
            clock=clock,
            host=settings.host,
            port=settings.port,
            api_token=secret_value(settings.api_token),
            limits=server_limits(settings),
        ),
        reloader=None,
        notifier=None if once else build_notifier(settings, clock=clock, logger=logger),
        graphite_events=None if once else build_graphite_events(settings, logger),
        election=election,
        clock=clock,
        logger=logger,
    )
    if watch_policies and not once:
        service.reloader = PolicyReloader(
            settings.policy_dir,
            on_change=service.apply_policies,
            logger=logger,
            initial=policies,
            poll_interval=settings.policy_poll_interval.total_seconds(),
        )
    return service
