"""`autoscaler demo`: the real control loop, over HTTP, against a simulated Marathon and metrics.

Nothing here decides anything: the loop, the Marathon client, the Prometheus provider and the engine
are the production ones. The demo only supplies the world they talk to and a live view of it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import TextIO

from autoscaler.app import build_service
from autoscaler.core.schedule import active_windows, next_windows
from autoscaler.demo.world import DemoApp, DemoWorld, Event, SimClock, load_day_trace
from autoscaler.errors import ConfigurationError
from autoscaler.http import RetryPolicy
from autoscaler.loop import ControlLoop
from autoscaler.policyfiles import load_directory
from autoscaler.providers.prometheus import PrometheusProvider
from autoscaler.reports import TickReport
from autoscaler.settings import Settings
from autoscaler.targets.marathon import MarathonClient
from autoscaler.testing.marathon import FakeMarathon
from autoscaler.testing.prometheus import FakePrometheus

BEIJING = timezone(timedelta(hours=8))
# The demo's day starts shortly before the evening push; the flash sale follows at 20:30.
SIM_START = datetime(2026, 11, 10, 19, 40, tzinfo=BEIJING)
PUSH = Event(
    "evening push", datetime(2026, 11, 10, 20, 0, tzinfo=BEIJING), datetime(2026, 11, 10, 20, 10, tzinfo=BEIJING), 6.0
)
SALE = Event(
    "flash sale", datetime(2026, 11, 10, 20, 30, tzinfo=BEIJING), datetime(2026, 11, 10, 21, 0, tzinfo=BEIJING), 2.5
)

APPS = (
    DemoApp("/shop/api", initial_instances=4, peak_instances=8, events=(SALE,)),
    DemoApp("/shop/payment", initial_instances=3, peak_instances=3, events=(SALE,)),
    DemoApp("/shop/order-worker", initial_instances=2, peak_instances=4, kind="queue", events=(SALE,)),
    DemoApp("/push/sender", initial_instances=2, peak_instances=2, events=(PUSH,)),
)


def policy_dir() -> Path:
    return Path(str(resources.files("autoscaler.demo").joinpath("policies")))


# The demo's ticks keep the deadlines of a default 15 s interval: its servers run in this process, so
# a tick that takes longer than that is a stalled process, not a slow source.
_TICK_TIMEOUT = timedelta(seconds=13.5)
_SOURCE_TIMEOUT = timedelta(seconds=6)


def demo_settings(*, interval: float, speed: float, port: int) -> Settings:
    """The service's settings in the demo's world, never read from the environment: the interval in
    simulated time (what the status and the forecasts measure), the dashboard on loopback, nothing
    configured to send notifications or events."""
    return Settings.model_validate(
        {
            "policy_dir": policy_dir(),
            "interval": timedelta(seconds=interval * speed),
            "tick_timeout": _TICK_TIMEOUT,
            "source_timeout": _SOURCE_TIMEOUT,
            "host": "127.0.0.1",
            "port": port,
        }
    )


@dataclass(frozen=True)
class Action:
    """A scale action the demo saw Marathon accept."""

    at: datetime
    app_id: str
    current: int
    desired: int
    cause: str


class LiveView:
    """Redraws a table of apps on every tick (or prints a block per tick when not on a terminal)."""

    def __init__(self, *, world: DemoWorld, loop: ControlLoop, marathon: FakeMarathon, out: TextIO) -> None:
        self._world = world
        self._loop = loop
        self._marathon = marathon
        self._out = out
        self._tty = out.isatty()
        self._events: list[str] = []
        self.actions: list[Action] = []
        self.header = ""

    def on_tick(self, report: TickReport) -> None:
        at = report.at.astimezone(BEIJING)
        lines = [f"simulated time {at:%Y-%m-%d %H:%M} (+08:00)   tick took {report.duration_seconds * 1000:.0f} ms"]
        if self.header:
            lines.append(self.header)
        if report.error:
            lines.append(f"  tick failed: {report.error}")
        header = f"  {'app':<20}{'load':>12}{'running/instances':>20}{'bounds':>9}  last decision"
        lines.append(header)
        for app_id, app in self._world.apps.items():
            state = self._marathon.app_json(app_id)
            policy = self._loop.policies.get(app_id)
            load = (
                f"cpu {self._world.utilisation(app_id, at):.0%}"
                if app.kind == "cpu"
                else f"queue {self._world.backlog(app_id, at):.0f}"
            )
            bounds = f"{policy.min_instances}-{policy.max_instances}" if policy else "-"
            outcome = report.outcomes.get(app_id)
            verdict = ""
            if outcome is not None:
                decision = outcome.decision
                verdict = decision.summary().split(": ", 1)[1] if decision else f"{outcome.code}: {outcome.detail}"
                if outcome.write is not None and outcome.write.ok and decision is not None:
                    self.actions.append(Action(report.at, app_id, decision.current, decision.desired, decision.cause))
                    reason = decision.reasons()[-1] if decision.reasons() else decision.cause
                    self._events.append(f"{at:%H:%M} {app_id} {decision.current} -> {decision.desired}: {reason}")
            running = f"{state['tasksRunning']}/{state['instances']}"
            lines.append(f"  {app_id:<20}{load:>12}{running:>20}{bounds:>9}  {verdict}")
        lines.append("  planned:")
        for app_id in self._world.apps:
            policy = self._loop.policies.get(app_id)
            if policy is None:
                continue
            for window in active_windows(policy.schedules, report.at):
                until = window.end.astimezone(BEIJING)
                lines.append(f"    {app_id}: {window.name} IN FORCE, floor {window.min_instances} until {until:%H:%M}")
            for window in next_windows(policy.schedules, report.at)[:1]:
                day = "%H:%M" if window.start.astimezone(BEIJING).date() == at.date() else "%m-%d %H:%M"
                lines.append(
                    f"    {app_id}: {window.name} next, floor {window.min_instances} from "
                    f"{window.applies_from.astimezone(BEIJING).strftime(day)} "
                    f"(starts {window.start.astimezone(BEIJING).strftime(day)})"
                )
        lines.append("  recent actions:")
        lines.extend(f"    {event}" for event in self._events[-8:])
        text = "\n".join(lines)
        if self._tty:
            self._out.write("\x1b[H\x1b[2J" + text + "\n")
        else:
            self._out.write(text + "\n\n")
        self._out.flush()


async def run_demo(
    *, duration: float | None, speed: float, interval: float, out: TextIO = sys.stdout, port: int = 0
) -> list[Action]:
    """Run until `duration` real seconds pass (or SIGINT/SIGTERM); returns the accepted actions."""
    clock = SimClock(SIM_START, speed=speed)
    marathon = FakeMarathon(clock=clock.epoch, task_start_delay=15.0)
    for app in APPS:
        marathon.add_app(app.app_id, instances=app.initial_instances)

    def running(app_id: str) -> int:
        count: int = marathon.app_json(app_id)["tasksRunning"]
        return count

    world = DemoWorld(apps=APPS, trace=load_day_trace(), running=running)
    metrics = FakePrometheus(lambda query, at: world.series_for(query, at, tz_of=SIM_START), clock=clock.epoch)
    loaded = load_directory(policy_dir())
    if loaded.errors:
        raise ConfigurationError("the demo's policies are invalid: " + "; ".join(map(str, loaded.errors)))
    marathon_url = await marathon.start()
    metrics_url = await metrics.start()
    retry = RetryPolicy(attempts=2, request_timeout=2.0, total_timeout=interval * 0.8)
    target = MarathonClient(base_url=marathon_url, policy=retry)
    provider = PrometheusProvider(url=metrics_url, policy=retry)
    logger = logging.getLogger("autoscaler.demo")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    service = build_service(
        demo_settings(interval=interval, speed=speed, port=port),
        policies=loaded,
        target=target,
        providers={"prometheus": provider},
        clock=clock.now,
        logger=logger,
        watch_policies=False,
    )
    view = LiveView(world=world, loop=service.loop, marathon=marathon, out=out)
    stop = asyncio.Event()
    try:
        dashboard = await service.start_server(any_port_if_taken=True)  # any free port will do for a demo
        view.header = f"dashboard {dashboard}/   (Marathon-compatible server {marathon_url}, metrics {metrics_url})"
        out.write(
            f"demo: dashboard {dashboard}/, Marathon-compatible server {marathon_url}, metrics {metrics_url}; "
            f"one real second is {speed:g} simulated seconds\n"
        )
        running_loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            running_loop.add_signal_handler(signum, stop.set)
        timer: asyncio.TimerHandle | None = running_loop.call_later(duration, stop.set) if duration else None
        try:
            await service.run(stop=stop, interval=interval, also=view.on_tick)
        finally:
            if timer is not None:
                timer.cancel()
    finally:
        await service.server.stop()
        await target.aclose()
        await provider.aclose()
        await metrics.stop()
        await marathon.stop()
    out.write(f"demo finished: {len(view.actions)} scale actions\n")
    return view.actions
