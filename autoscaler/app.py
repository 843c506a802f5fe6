"""The composition root: the one place where the service's parts are built and wired together.

`build_service(settings, policies=..., target=..., providers=..., clock=..., logger=...)` builds the
control loop, the sinks (status, self-metrics, notifications, Graphite events), the status server,
hot reload and the leader election from the settings and the collaborators it is given, and returns
a `Service` that knows how to run them together. `autoscaler run` gives it the real Marathon client,
the real metric providers and the wall clock (`autoscaler.service`); the demo gives it its simulated
world and clock. Nothing here parses arguments: the command line turns flags into plain values.

What each part is built from in the settings (the status server, notifications, Graphite events, the
election, and the real clients `run`, `explain` and `backtest` use) is in `autoscaler.wiring`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from autoscaler.core.policy import Policy
from autoscaler.leader import LeaderElection
from autoscaler.loop import ControlLoop, settle_memory
from autoscaler.pauses.control import PauseControl
from autoscaler.policyfiles import LoadResult, Problem
from autoscaler.ports import MetricsProvider, Target
from autoscaler.reload import PolicyReloader
from autoscaler.reports import TickReport
from autoscaler.settings import Settings
from autoscaler.sinks.events import GraphiteEvents
from autoscaler.sinks.notify import Notice, Notifier
from autoscaler.sinks.selfmetrics import SelfMetrics, observe_tick
from autoscaler.sinks.status import Role, ServiceStatus
from autoscaler.web.server import StatusServer
from autoscaler.wiring import Clock, build_election, build_graphite_events, build_notifier, status_server

OnTick = Callable[[TickReport], None]


@dataclass(kw_only=True, eq=False)
class Service:
    """The built service: the loop, its sinks, the status server, hot reload and the election.

    `run(stop=...)` runs them together until `stop` is set; `on_tick` is what every tick report goes
    to (the status, the self-metrics and, on the leader, notifications and Graphite events). The
    collaborators given to `build_service` (target, providers) belong to the caller, who closes them.
    The status server is built from the settings over the status and the self-metrics.
    """

    settings: Settings
    loop: ControlLoop
    status: ServiceStatus
    metrics: SelfMetrics
    election: LeaderElection | None
    clock: Clock
    logger: logging.Logger
    notifier: Notifier | None = None
    graphite_events: GraphiteEvents | None = None
    pauses: PauseControl | None = None
    reloader: PolicyReloader | None = None
    server: StatusServer = field(init=False)
    _server_url: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.server = self._server_on(port=self.settings.port)

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
        self._tell_pauses()
        if self.election is None or self.election.is_leader():  # followers would repeat the leader's messages
            if self.notifier is not None:
                self.notifier.submit(report)
            if self.graphite_events is not None:
                self.graphite_events.submit(report)

    def _tell_pauses(self) -> None:
        """A pause, a resume or a pause's end happened on this instance, leader or not: told once."""
        if self.pauses is None:
            return
        notices = [Notice.of_pause(event) for event in self.pauses.drain_events()]
        if self.notifier is not None and notices:
            self.notifier.send(notices)

    def apply_policies(self, policies: dict[str, Policy], problems: list[Problem]) -> None:
        """A reloaded policy set: the loop and the status take it at once."""
        self.loop.set_policies(policies)
        self.status.set_policies(policies, problems)
        settle_memory(len(policies))

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
        self.logger.info(
            "status server on %s", self._server_url, extra={"fields": {"event": "server", "url": self._server_url}}
        )
        return self._server_url

    def _server_on(self, *, port: int) -> StatusServer:
        return status_server(
            self.settings, status=self.status, metrics=self.metrics, clock=self.clock, pauses=self.pauses, port=port
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


def build_service(  # noqa: PLR0913  the composition root: every injected collaborator and run mode by keyword
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
    pauses: PauseControl | None = None,
) -> Service:
    """The service over `policies`, writing to `target` and reading `providers`, on `clock`.

    The sinks, the status server and the election come from the settings (notifications and Graphite
    events only when configured; the election only with ZooKeeper and never in a dry run; it is not
    started yet). `watch_policies` reloads the policy directory while the service runs. A service
    built for one tick (`once`) has no background senders and no reload: only its loop is used.
    `pauses` (the pause store's control, see autoscaler.pauses) holds paused apps and serves the pause
    endpoints; without it only the apps' Marathon labels pause them.
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
        write_concurrency=settings.write_concurrency,
        may_write=election.is_leader if election is not None else (lambda: True),
        interval=settings.interval.total_seconds(),
        tick_timeout=settings.tick_deadline(),
        source_timeout=settings.source_deadline(),
        pauses=pauses,
    )
    status = ServiceStatus(interval=settings.interval, started_at=clock())
    status.set_policies(policies.policies, policies.problems)
    metrics = SelfMetrics()
    service = Service(
        settings=settings,
        loop=loop,
        status=status,
        metrics=metrics,
        notifier=None if once else build_notifier(settings, clock=clock, logger=logger),
        graphite_events=None if once else build_graphite_events(settings, logger),
        election=election,
        clock=clock,
        logger=logger,
        pauses=pauses,
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
