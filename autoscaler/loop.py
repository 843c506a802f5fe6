"""The control loop: one tick = fetch apps, gather metrics, decide per app, apply changes.

Costs stay flat as apps are added: one Marathon list request per tick, each distinct query sent once
per source (grouped queries serve many apps: `autoscaler.series`, `autoscaler.gather`), writes only
for apps that change, concurrency bounded. One app's failure (bad data, a refused write, an
exception) never stops the others: it becomes that app's outcome with a reason code. Each app's
engine state lives in its `core.controller.AppController`, in memory; cooldowns are anchored on
Marathon's lastScalingAt, so a restart does not reset them, and History.observing_since keeps a
restarted process from scaling down before a full stabilisation window. An app whose inputs are
unchanged and whose decision read no clock-dependent rule keeps last tick's decision (core.reuse),
and its outcome is last tick's too, with the decision of this tick: nothing is rebuilt for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import cast

from autoscaler.core.codes import Outcome
from autoscaler.core.controller import AppController
from autoscaler.core.decide import Decision
from autoscaler.core.model import AppState, Observation
from autoscaler.core.pause import Pause, PauseIndex
from autoscaler.core.policy import Policy
from autoscaler.core.startup import StartupEstimate, StartupTracker
from autoscaler.errors import TargetAuthError, TargetError
from autoscaler.gather import MetricGatherer
from autoscaler.history import LoadedHistory, RangeSource, load_into, log_loaded
from autoscaler.logs import short_id
from autoscaler.outcomelog import OutcomeLog
from autoscaler.pauses.control import PauseControl
from autoscaler.ports import MetricsProvider, ScaleResult, Target
from autoscaler.reports import AppOutcome, TickReport
from autoscaler.scrub import scrub, scrub_exception
from autoscaler.series import MetricPlan, SeriesIndex, plan_metrics, queries_by_source
from autoscaler.ticklog import Outages

Clock = Callable[[], datetime]

_WRITE_CODES = {
    "deployment_in_progress": Outcome.DEPLOYMENT_IN_PROGRESS,
    "deployment_cap": Outcome.DEPLOYMENT_CAP,
    "not_found": Outcome.APP_NOT_FOUND,
    "rejected": Outcome.WRITE_REJECTED,
    "unavailable": Outcome.WRITE_FAILED,
}

_NOT_FOUND = "Marathon has no app with this id; nothing is created"


# Objects of one app that live through a tick (its state, observations, decision, outcome, ...)
_YOUNG_PER_APP = 20


def settle_memory(apps: int) -> None:
    """Move what start-up built (policies, clients) out of the garbage collector's sight, and size the
    young generation for a tick over `apps` apps.

    Call it after loading policies. Long-lived objects would otherwise be walked by every full
    collection, which makes a tick over thousands of apps cost more than linearly; the objects a tick
    creates are still collected as usual. A tick holds some twenty objects per app until it ends, and
    nearly all of them are freed by reference counting, not by the collector: a young-generation
    collection in the middle of a tick only walks them (about 0.4 us each). With CPython's default
    thresholds (700, 10, 10) a tick over thousands of apps triggered dozens of collections, and with a
    fixed 50,000 one at 10,000 apps still ran three per tick at 35 ms each. The threshold grows with the
    number of apps, so a tick runs about one collection whatever the fleet's size; what it bounds is
    the cyclic garbage (asyncio's and the HTTP clients' objects) kept between two collections.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(max(50_000, _YOUNG_PER_APP * apps), 20, 20)


class ControlLoop:
    """Runs ticks over a fixed set of policies against one target and some metric providers."""

    def __init__(  # noqa: PLR0913  the loop's collaborators and limits, each by keyword from build_service
        self,
        *,
        policies: Mapping[str, Policy],
        target: Target,
        providers: Mapping[str, MetricsProvider],
        clock: Clock,
        logger: logging.Logger,
        dry_run: bool = False,
        concurrency: int = 16,
        write_concurrency: int = 4,
        may_write: Callable[[], bool] = lambda: True,
        interval: float = 15.0,
        tick_timeout: float | None = None,
        source_timeout: float | None = None,
        pauses: PauseControl | None = None,
    ) -> None:
        """`tick_timeout` (default 90 % of `interval`) bounds a whole tick, `source_timeout` (default
        40 % of `interval`) each metric source's batch of queries and the read of `pauses` (the pause
        store; without one only the apps' labels pause them)."""
        self._pauses = pauses
        self._pause_read: asyncio.Future[dict[str, Pause]] | None = None
        self._target = target
        self._clock = clock
        self._log = logger
        self._dry_run = dry_run
        self._concurrency = concurrency
        self._write_concurrency = write_concurrency
        self._may_write = may_write
        self._tick = timedelta(seconds=interval)
        self._tick_timeout = tick_timeout if tick_timeout is not None else 0.9 * interval
        self._phase = "marathon"  # what the running tick waits for, named when it runs out of time
        self._deadline: asyncio.Timeout | None = None
        self._slow: list[str] = []
        self._outages = Outages(logger)
        self._source_timeout = source_timeout if source_timeout is not None else 0.4 * interval
        self._metrics = MetricGatherer(
            providers=providers,
            source_timeout=self._source_timeout,
            logger=logger,
            outages=self._outages,
        )
        self._outcome_log = OutcomeLog(logger, reads_a_down_source=self._reads_a_down_source)
        # predictive: start-up times learned from Marathon, per-app load histories and forecasts
        self.startup = StartupTracker()
        self._controllers: dict[str, AppController] = {}
        self._holds: dict[str, AppOutcome] = {}  # the last hold outcome per app, reused with its decision
        self._history_wanted: set[str] = set()  # apps whose history is still to be loaded from the source
        self._history_task: asyncio.Task[None] | None = None
        self.history_reports: dict[str, tuple[LoadedHistory, ...]] = {}
        self._plans: dict[str, tuple[MetricPlan, ...]] = {}
        self._queries: dict[str, list[str]] = {}
        self.last_report: TickReport | None = None
        self.set_policies(policies)

    @property
    def policies(self) -> Mapping[str, Policy]:
        return self._policies

    def set_policies(self, policies: Mapping[str, Policy]) -> None:
        """Swap the policy set (hot reload); history of apps that stay managed is kept."""
        self._policies = dict(policies)
        controllers: dict[str, AppController] = {}
        for app, policy in self._policies.items():
            old = self._controllers.get(app)
            if old is not None:
                controllers[app] = old.adopt(policy)
            else:
                controllers[app] = AppController(policy, tick=self._tick, tracker=self.startup, reuse=True)
            if policy.predictive is not None and (old is None or old.policy != policy):
                self._history_wanted.add(app)  # new or changed: (re)load its history from the source
        self._controllers = controllers
        self._holds = {app: hold for app, hold in self._holds.items() if app in controllers}
        self._history_wanted = {
            app for app in self._history_wanted if app in controllers and controllers[app].policy.predictive is not None
        }
        self.startup.forget(set(self._policies))
        self._plans = plan_metrics(self._policies)
        self._queries = queries_by_source(self._plans)

    async def tick(self) -> TickReport:
        """One tick, never raising: running out of time or an unexpected exception is the tick's error."""
        started = time.perf_counter()
        now = self._clock()
        self._phase, self._slow = "marathon", []
        deadline = self._deadline = asyncio.timeout(self._tick_timeout)
        try:
            async with deadline:
                return await self._run_tick(started, now)
        except TimeoutError as exc:
            if not deadline.expired():
                return self._failed_tick(now, started, exc)
            phase = self._phase
            message = (
                f"the tick did not finish within {self._tick_timeout:g}s (AUTOSCALER_TICK_TIMEOUT) "
                f"while waiting for {phase}; nothing was written"
            )
            self._log.error(message, extra={"fields": {"event": "tick_deadline", "waiting_for": phase}})
            slow = (*self._slow, phase) if phase not in self._slow else tuple(self._slow)
            report = TickReport(
                at=now, error=message, error_kind="deadline", slow=slow, duration_seconds=time.perf_counter() - started
            )
        except Exception as exc:  # nothing from outside may end the process: this tick failed, the next runs
            return self._failed_tick(now, started, exc)
        self.last_report = report
        return report

    def _failed_tick(self, now: datetime, started: float, exc: BaseException) -> TickReport:
        self._log.error("tick failed: %s", scrub_exception(exc), extra={"fields": {"event": "tick_error"}})
        report = TickReport(
            at=now,
            error=f"internal error: {type(exc).__name__}: {scrub(str(exc))}",
            error_kind="internal",
            duration_seconds=time.perf_counter() - started,
        )
        self.last_report = report
        return report

    async def _run_tick(self, started: float, now: datetime) -> TickReport:
        try:
            snapshot = await self._target.list_apps()
        except TargetError as exc:
            self._outages.marathon(now=now, error=str(exc), auth=isinstance(exc, TargetAuthError))
            report = TickReport(
                at=now,
                error=str(exc),
                error_kind="marathon",
                auth_error=isinstance(exc, TargetAuthError),
                duration_seconds=time.perf_counter() - started,
            )
            self.last_report = report
            return report
        self._outages.marathon(now=now, error=None)
        self._outages.unmanaged_invalid(sum(1 for app_id in snapshot.invalid if app_id not in self._policies))
        log = self._outcome_log
        log.begin()

        if self._history_wanted and (self._history_task is None or self._history_task.done()):
            self._history_task = asyncio.create_task(self._load_history(now))
        self._phase = "metric sources"
        gathered = await self._metrics.gather(self._queries, now=now, slow=self._slow, readers=self._readers)
        self._phase = "pauses"
        pauses = await self._read_pauses(now)
        self._phase = "decisions"
        series = SeriesIndex(gathered.results)
        outcomes: dict[str, AppOutcome] = {}
        to_write: list[tuple[Policy, Decision]] = []
        for app_id, policy in self._policies.items():
            state = snapshot.apps.get(app_id)
            if state is None:
                reason = snapshot.invalid.get(app_id)
                outcome = (
                    AppOutcome(app_id, Outcome.INVALID_APP_STATE, f"Marathon's data for the app is unusable: {reason}")
                    if reason is not None
                    else AppOutcome(
                        app_id, Outcome.APP_NOT_FOUND, "Marathon has no app with this id; nothing is created"
                    )
                )
                outcomes[app_id] = outcome
                log.outcome(outcome)
                continue
            controller = self._controllers[app_id]
            try:
                pause = pauses.find(app_id, label_until=state.paused_until, label_reason=state.paused_reason)
                decision = self._decide(controller, state, series, now, pause)
            except Exception as exc:  # one app's bug never stops the others
                if Outcome.INTERNAL_ERROR not in log:  # the first traceback of a tick; the others are counted
                    self._log.exception("decision failed for %s", short_id(app_id), extra={"fields": {"app": app_id}})
                outcomes[app_id] = AppOutcome(app_id, Outcome.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
                log.outcome(outcomes[app_id])
                continue
            if decision.scaled:
                self._holds.pop(app_id, None)
                to_write.append((policy, decision))
            else:
                outcomes[app_id] = self._hold_outcome(controller, decision)
                log.outcome(outcomes[app_id])

        self._phase = "writes"
        if to_write and self._deadline is not None:
            # Decided on fresh data in time: these writes go out and are not cut off mid-flight (a PATCH
            # abandoned after it was sent may still land); each is bounded by its own request deadline.
            self._deadline.reschedule(None)
        for outcome in await self._apply(to_write):
            outcomes[outcome.app_id] = outcome
        log.emit()
        report = TickReport(
            at=now,
            outcomes=outcomes,
            duration_seconds=time.perf_counter() - started,
            queries=gathered.counts,
            query_seconds=gathered.seconds,
            query_errors=gathered.errors,
            slow=tuple(self._slow),
        )
        self.last_report = report
        return report

    async def _read_pauses(self, now: datetime) -> PauseIndex:
        """This tick's pauses: the store is read (and swept) in a worker thread, within the source
        timeout; when it does not answer in time the pauses last read stay in force."""
        control = self._pauses
        if control is None:
            return PauseIndex((), now=now)
        reading = self._pause_read
        if reading is None or reading.done():  # a read still hanging from an earlier tick is not doubled
            reading = self._pause_read = asyncio.ensure_future(asyncio.to_thread(control.refresh))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._source_timeout):
                await asyncio.shield(reading)
        return control.index(now)

    def _decide(
        self, controller: AppController, state: AppState, series: SeriesIndex, now: datetime, pause: Pause | None
    ) -> Decision:
        app_id = controller.policy.app
        observations: dict[str, Observation] = {}
        for plan in self._plans[app_id]:
            observations[plan.spec.name] = series.observe(plan, app_id)
        return controller.step(state, observations, now, pause=pause)

    def _hold_outcome(self, controller: AppController, decision: Decision) -> AppOutcome:
        """The outcome of a decision that changes nothing. A reused decision keeps last tick's outcome
        text: the outcome is built around this tick's decision without rendering the summary again."""
        app_id = decision.app_id
        previous = self._holds.get(app_id)
        if controller.reused and previous is not None and previous.code == decision.code:
            outcome = AppOutcome(app_id, previous.code, previous.detail, decision)
        else:
            outcome = AppOutcome(app_id, decision.code, decision.summary(), decision)
        self._holds[app_id] = outcome
        return outcome

    def startup_estimate(self, app_id: str) -> StartupEstimate | None:
        """The app's start-up time learned from Marathon (apps with `predictive` or `lead: auto`)."""
        return self.startup.estimate(app_id)

    async def _load_history(self, now: datetime) -> None:
        """Load the load history of every app that wants it from its metric source, beside the ticks.
        Never raises: a source without history means no forecast yet."""
        gate = asyncio.Semaphore(self._concurrency)
        sources = {name: cast(RangeSource, provider) for name, provider in self._metrics.providers.items()}

        async def one(app: str) -> None:
            controller = self._controllers.get(app)
            if controller is None or controller.policy.predictive is None:
                return
            async with gate:
                report = await load_into(controller.forecaster, controller.policy, sources, now=now)
            self.history_reports[app] = report
            log_loaded(self._log, app, report)

        apps = sorted(self._history_wanted)
        self._history_wanted.difference_update(apps)
        await asyncio.gather(*(one(app) for app in apps))

    async def _apply(self, decisions: list[tuple[Policy, Decision]]) -> list[AppOutcome]:
        gate = asyncio.Semaphore(self._write_concurrency)

        async def write(policy: Policy, decision: Decision) -> AppOutcome:
            if self._dry_run:
                outcome = AppOutcome(decision.app_id, Outcome.DRY_RUN, decision.summary(), decision)
                self._outcome_log.action(decision, outcome, dry_run=True)
                return outcome
            async with gate:
                if not self._may_write():  # fencing: checked immediately before every write
                    return AppOutcome(decision.app_id, Outcome.NOT_LEADER, "not the leader: not writing", decision)
                try:
                    result = await self._target.scale(decision.app_id, decision.desired, force=policy.force)
                except TargetAuthError as exc:
                    result = ScaleResult(decision.app_id, decision.desired, "rejected", detail=str(exc))
                except TargetError as exc:
                    result = ScaleResult(decision.app_id, decision.desired, "unavailable", detail=str(exc))
            if result.ok:
                controller = self._controllers.get(decision.app_id)
                if controller is not None:
                    controller.wrote(decision.desired, at=self._clock())
            code = decision.code if result.ok else _WRITE_CODES.get(result.outcome, Outcome.WRITE_FAILED)
            outcome = AppOutcome(decision.app_id, code, result.detail or decision.summary(), decision, result)
            self._outcome_log.action(decision, outcome, dry_run=False)
            return outcome

        return list(await asyncio.gather(*(write(p, d) for p, d in decisions)))

    def _reads_a_down_source(self, app_id: str) -> bool:
        return any(self._outages.is_down(f"source:{plan.spec.source}") for plan in self._plans.get(app_id, ()))

    def _readers(self, source: str) -> int:
        """How many managed apps read a metric source (for the outage lines)."""
        return sum(1 for plans in self._plans.values() if any(plan.spec.source == source for plan in plans))

    async def run(
        self,
        *,
        interval: float,
        stop: asyncio.Event,
        on_tick: Callable[[TickReport], Awaitable[None] | None] | None = None,
        grace: float = 3.0,
    ) -> None:
        """Tick every `interval` seconds until `stop` is set; a tick still running `grace` seconds
        after the stop is abandoned (writes already sent stay sent; the next start re-reads Marathon)."""
        while not stop.is_set():
            started = time.monotonic()
            task = asyncio.create_task(self.tick())
            stopper = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if task not in done:
                try:
                    await asyncio.wait_for(asyncio.shield(task), timeout=grace)
                except TimeoutError:
                    task.cancel()
                    self._log.warning("abandoned a tick on shutdown", extra={"fields": {"event": "shutdown"}})
                stopper.cancel()
                return
            stopper.cancel()
            report = task.result()
            if on_tick is not None:
                try:
                    maybe = on_tick(report)
                    if maybe is not None:
                        await maybe
                except Exception as exc:  # a sink's failure must not end the loop
                    fields = {"event": "tick_error"}
                    self._log.error("recording the tick failed: %s", scrub_exception(exc), extra={"fields": fields})
            delay = max(0.0, interval - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
