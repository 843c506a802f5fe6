"""The control loop: one tick = fetch apps, gather metrics, decide per app, apply changes.

Costs stay flat as apps are added: one Marathon list request per tick, each distinct query sent once
per source (grouped queries serve many apps), writes only for apps that change, concurrency bounded.
One app's failure (bad data, a refused write, an exception) never stops the others: it becomes that
app's outcome with a reason code. The engine's History lives here, per app, in memory; cooldowns are
anchored on Marathon's lastScalingAt, so a restart does not reset them, and History.observing_since
keeps a restarted process from scaling down before a full stabilisation window. An app whose
inputs are unchanged and whose decision read no clock-dependent rule keeps last tick's decision
(core.reuse): it is recorded in its History again, not recomputed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import cast

from autoscaler.core.decide import Decision, History, decide
from autoscaler.core.model import AppState, Observation, QueryResult, Sample
from autoscaler.core.pause import Pause, PauseIndex
from autoscaler.core.policy import MetricSpec, Policy, substitute
from autoscaler.core.predict import Forecaster
from autoscaler.core.reuse import Inputs, inputs_of, reusable
from autoscaler.core.rules import observe, observe_series
from autoscaler.errors import AutoscalerError, TargetAuthError, TargetError
from autoscaler.history import LoadedHistory, RangeSource, load_into
from autoscaler.logs import short_id
from autoscaler.pauses.control import PauseControl
from autoscaler.ports import MetricsProvider, ScaleResult, Target
from autoscaler.scrub import scrub, scrub_exception
from autoscaler.startup import StartupEstimate, StartupTracker
from autoscaler.ticklog import Outages, TickDigest

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class AppOutcome:
    """What happened to one app in one tick.

    `code` is the Decision's code, or, when no decision could be made or applied, why:
    app_not_found, invalid_app_state, internal_error, deployment_in_progress (409 on write),
    deployment_cap, write_rejected, write_failed, not_leader, dry_run.
    """

    app_id: str
    code: str
    detail: str = ""
    decision: Decision | None = None
    write: ScaleResult | None = None

    @property
    def scaled(self) -> bool:
        return self.write is not None and self.write.ok


@dataclass(frozen=True)
class TickReport:
    at: datetime
    outcomes: Mapping[str, AppOutcome] = field(default_factory=dict)
    error: str | None = None
    auth_error: bool = False
    duration_seconds: float = 0.0
    queries: Mapping[str, int] = field(default_factory=dict)  # distinct queries sent, per source
    query_seconds: Mapping[str, float] = field(default_factory=dict)  # wall time of each source's batch
    query_errors: Mapping[str, int] = field(default_factory=dict)  # queries per source that ended in an error
    # what made the tick fail: "marathon" (the apps could not be read), "deadline" (the tick ran out of
    # time) or "internal" (an unexpected exception); None when it did not fail
    error_kind: str | None = None
    slow: tuple[str, ...] = ()  # what hit its deadline in this tick: metric sources, or the phase cut short

    @property
    def reached_marathon(self) -> bool:
        return self.error is None


# Holds that mean something is wrong outside the engine's control: worth a warning every tick
# (collapsed into one line per code per tick, see autoscaler.ticklog).
_WARN_CODES = frozenset({"app_not_found", "invalid_app_state", "missing_metrics", "internal_error"})

_WRITE_CODES = {
    "deployment_in_progress": "deployment_in_progress",
    "deployment_cap": "deployment_cap",
    "not_found": "app_not_found",
    "rejected": "write_rejected",
    "unavailable": "write_failed",
}


def _outage(results: Mapping[tuple[str, str], QueryResult]) -> str:
    """Why a source whose every query failed is down: the first error."""
    return next(result.error for result in results.values() if result.error is not None) or "no answer"


def settle_memory() -> None:
    """Move what start-up built (policies, clients) out of the garbage collector's sight.

    Call it after loading policies. Long-lived objects would otherwise be walked by every full
    collection, which makes a tick over thousands of apps cost more than linearly; the objects a tick
    creates are still collected as usual. A tick over thousands of apps allocates millions of short-lived
    objects; with CPython's default thresholds (700, 10, 10) that triggers dozens of full collections per
    tick, so the young generation is allowed to grow larger before a collection.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


@dataclass(frozen=True)
class _MetricPlan:
    """One metric of one app with everything that does not change between ticks worked out once:
    the query as sent, and which series of its result belong to the app."""

    spec: MetricSpec
    query: str
    keys: tuple[str, ...]  # label names that select the app's series; () when the query is the app's alone
    wanted: tuple[str | None, ...]  # their values for this app

    @staticmethod
    def of(spec: MetricSpec, app_id: str) -> _MetricPlan:
        query = substitute(spec.query, app_id)
        if spec.series is None:
            return _MetricPlan(spec, query, (), ())
        if isinstance(spec.series, str):
            return _MetricPlan(spec, query, ("name",), (substitute(spec.series, app_id),))
        keys = tuple(sorted(spec.series))
        return _MetricPlan(spec, query, keys, tuple(substitute(spec.series[key], app_id) for key in keys))


@dataclass(slots=True)
class _Held:
    """An app's last decision that later ticks may reuse while its inputs stay equal (core.reuse)."""

    policy: Policy
    inputs: Inputs
    decision: Decision
    outcome: AppOutcome | None = None


class _SeriesIndex:
    """Each app's series of a grouped query, found by lookup instead of a scan.

    A grouped query returns one series per app; scanning all of them for every app would make a tick
    quadratic in the number of apps. Each (query, selector labels) pair is indexed once per tick; the
    engine's `observe` then sees only the candidate series (and still checks that exactly one matched).
    """

    def __init__(self, results: Mapping[tuple[str, str], QueryResult]) -> None:
        self._results = results
        self._indexes: dict[tuple[str, str, tuple[str, ...]], dict[tuple[str | None, ...], list[Sample]]] = {}

    def observe(self, plan: _MetricPlan, app_id: str) -> Observation:
        """The app's observation of one metric: `observe` over the app's series of the query's result."""
        source = plan.spec.source
        result = self._results.get((source, plan.query))
        if result is None or not plan.keys or result.error is not None:
            return observe(result, spec=plan.spec, app_id=app_id, selected=bool(plan.keys))
        keys = plan.keys
        index = self._indexes.get((source, plan.query, keys))
        if index is None:
            index = {}
            if len(keys) == 1:  # the usual selector: one label
                key = keys[0]
                for sample in result.samples:
                    index.setdefault((sample.labels.get(key),), []).append(sample)
            else:
                for sample in result.samples:
                    index.setdefault(tuple(sample.labels.get(key) for key in keys), []).append(sample)
            self._indexes[(source, plan.query, keys)] = index
        samples = index.get(plan.wanted)
        if samples is not None and len(samples) == 1:  # the usual case: no result to build for one series
            return observe_series(samples[0], query=result.query)
        selected = QueryResult(query=result.query, samples=tuple(samples or ()), error=None)
        return observe(selected, spec=plan.spec, app_id=app_id, selected=True)


class ControlLoop:
    """Runs ticks over a fixed set of policies against one target and some metric providers."""

    def __init__(
        self,
        *,
        policies: Mapping[str, Policy],
        target: Target,
        providers: Mapping[str, MetricsProvider],
        clock: Clock,
        logger: logging.Logger,
        dry_run: bool = False,
        concurrency: int = 16,
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
        self._providers = dict(providers)
        self._clock = clock
        self._log = logger
        self._dry_run = dry_run
        self._concurrency = concurrency
        self._may_write = may_write
        self._histories: dict[str, History] = {}
        self._held: dict[str, _Held] = {}
        # predictive: start-up times learned from Marathon, per-app load histories and forecasts
        self._tick = timedelta(seconds=interval)
        self._tick_timeout = tick_timeout if tick_timeout is not None else 0.9 * interval
        self._source_timeout = source_timeout if source_timeout is not None else 0.4 * interval
        self._phase = "marathon"  # what the running tick waits for, named when it runs out of time
        self._deadline: asyncio.Timeout | None = None
        self._slow: list[str] = []
        self.startup = StartupTracker()
        self._forecasters: dict[str, Forecaster] = {}
        self._learns: frozenset[str] = frozenset()  # apps with `predictive` or a `lead: auto`
        self._history_wanted: set[str] = set()  # apps whose history is still to be loaded from the source
        self._history_task: asyncio.Task[None] | None = None
        self.history_reports: dict[str, tuple[LoadedHistory, ...]] = {}
        self._policies_before: dict[str, Policy] = {}
        self._plans: dict[str, tuple[_MetricPlan, ...]] = {}
        self._keep: dict[str, timedelta] = {}  # how much History each app's policy needs
        self._queries: dict[str, list[str]] = {}
        self.last_report: TickReport | None = None
        self._outages = Outages(logger)
        self._digest = TickDigest()
        self.set_policies(policies)

    @property
    def policies(self) -> Mapping[str, Policy]:
        return self._policies

    def set_policies(self, policies: Mapping[str, Policy]) -> None:
        """Swap the policy set (hot reload); history of apps that stay managed is kept."""
        self._policies = dict(policies)
        self._histories = {app: h for app, h in self._histories.items() if app in self._policies}
        self._held = {app: held for app, held in self._held.items() if app in self._policies}
        previous = self._policies_before
        forecasters: dict[str, Forecaster] = {}
        for app, policy in self._policies.items():
            if policy.predictive is None:
                continue
            old = self._forecasters.get(app)
            forecasters[app] = old.adopt(policy) if old is not None else Forecaster(policy.predictive)
            if previous.get(app) != policy:  # new or changed: (re)load its history from the source
                self._history_wanted.add(app)
        self._forecasters = forecasters
        self._history_wanted &= set(forecasters)
        self._learns = frozenset(
            app
            for app, policy in self._policies.items()
            if policy.predictive is not None or any(schedule.lead is None for schedule in policy.schedules)
        )
        self.startup.forget(set(self._policies))
        self._policies_before = dict(self._policies)
        self._plans = {
            app: tuple(_MetricPlan.of(spec, app) for spec in policy.metrics) for app, policy in self._policies.items()
        }
        self._keep = {app: policy.stabilization_window() for app, policy in self._policies.items()}
        queries: dict[str, set[str]] = {}
        for plans in self._plans.values():
            for plan in plans:
                queries.setdefault(plan.spec.source, set()).add(plan.query)
        self._queries = {source: sorted(each) for source, each in queries.items()}

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
        self._digest = TickDigest()

        if self._history_wanted and (self._history_task is None or self._history_task.done()):
            self._history_task = asyncio.create_task(self._load_history(now))
        self._phase = "metric sources"
        results, counts, seconds, errors = await self._gather_metrics(now)
        self._phase = "pauses"
        pauses = await self._read_pauses(now)
        self._phase = "decisions"
        series = _SeriesIndex(results)
        outcomes: dict[str, AppOutcome] = {}
        to_write: list[tuple[Policy, Decision]] = []
        for app_id, policy in self._policies.items():
            state = snapshot.apps.get(app_id)
            if state is None:
                reason = snapshot.invalid.get(app_id)
                outcome = (
                    AppOutcome(app_id, "invalid_app_state", f"Marathon's data for the app is unusable: {reason}")
                    if reason is not None
                    else AppOutcome(app_id, "app_not_found", "Marathon has no app with this id; nothing is created")
                )
                outcomes[app_id] = outcome
                self._log_outcome(outcome)
                continue
            try:
                pause = pauses.find(app_id, label_until=state.paused_until, label_reason=state.paused_reason)
                decision = self._decide(policy, state, series, now, pause)
            except Exception as exc:  # one app's bug never stops the others
                if "internal_error" not in self._digest:  # the first traceback of a tick; the others are counted
                    self._log.exception("decision failed for %s", short_id(app_id), extra={"fields": {"app": app_id}})
                outcomes[app_id] = AppOutcome(app_id, "internal_error", f"{type(exc).__name__}: {exc}")
                self._log_outcome(outcomes[app_id])
                continue
            if decision.scaled:
                to_write.append((policy, decision))
            else:
                outcomes[app_id] = self._hold_outcome(decision)
                self._log_outcome(outcomes[app_id])

        self._phase = "writes"
        if to_write and self._deadline is not None:
            # Decided on fresh data in time: these writes go out and are not cut off mid-flight (a PATCH
            # abandoned after it was sent may still land); each is bounded by its own request deadline.
            self._deadline.reschedule(None)
        for outcome in await self._apply(to_write):
            outcomes[outcome.app_id] = outcome
        self._digest.emit(self._log)
        report = TickReport(
            at=now,
            outcomes=outcomes,
            duration_seconds=time.perf_counter() - started,
            queries=counts,
            query_seconds=seconds,
            query_errors=errors,
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
        self, policy: Policy, state: AppState, series: _SeriesIndex, now: datetime, pause: Pause | None = None
    ) -> Decision:
        observations: dict[str, Observation] = {}
        for plan in self._plans[policy.app]:
            observations[plan.spec.name] = series.observe(plan, policy.app)
        history = self._histories.get(policy.app, History())
        if policy.app not in self._learns:
            # A steady app's decision is last tick's (core.reuse): recorded again, not recomputed. A paused
            # one is decided every tick (core.pausing holds it): its text names the pause and its end.
            inputs = inputs_of(policy, state, observations, history, now) if pause is None else None
            held = self._held.get(policy.app)
            if held is not None and inputs is not None and held.policy is policy and held.inputs == inputs:
                # the same answer, stamped with this tick's time: the status and the API show when it held
                decision = replace(held.decision, at=now)
                held.decision = decision
                if held.outcome is not None:
                    held.outcome = replace(held.outcome, decision=decision)
                self._histories[policy.app] = history.record(decision, keep=self._keep[policy.app], at=now)
                return decision
            decision = decide(policy, state, observations, history, now, pause=pause)
            if inputs is not None and reusable(decision):
                self._held[policy.app] = _Held(policy, inputs, decision)
            else:
                self._held.pop(policy.app, None)
        else:
            estimate = self.startup.observe(state, now)
            forecaster = self._forecasters.get(policy.app) or Forecaster(None)
            startup = estimate.duration if estimate is not None else None
            outlook = forecaster.outlook(policy, now, startup=startup, tick=self._tick)
            decision = decide(policy, state, observations, history, now, outlook=outlook, pause=pause)
            forecaster.record(policy, decision, history)
        self._histories[policy.app] = history.record(decision, keep=self._keep[policy.app])
        return decision

    def _hold_outcome(self, decision: Decision) -> AppOutcome:
        """The outcome of a decision that changes nothing; a reused decision reuses its outcome too."""
        held = self._held.get(decision.app_id)
        if held is not None and held.decision is decision:
            if held.outcome is None:
                held.outcome = AppOutcome(decision.app_id, decision.code, decision.summary(), decision)
            return held.outcome
        return AppOutcome(decision.app_id, decision.code, decision.summary(), decision)

    def startup_estimate(self, app_id: str) -> StartupEstimate | None:
        """The app's start-up time learned from Marathon (apps with `predictive` or `lead: auto`)."""
        return self.startup.estimate(app_id)

    async def _load_history(self, now: datetime) -> None:
        """Load the load history of every app that wants it from its metric source, beside the ticks.
        Never raises: a source without history means no forecast yet."""
        gate = asyncio.Semaphore(self._concurrency)
        sources = {name: cast(RangeSource, provider) for name, provider in self._providers.items()}

        async def one(app: str) -> None:
            policy = self._policies.get(app)
            forecaster = self._forecasters.get(app)
            if policy is None or policy.predictive is None or forecaster is None:
                return
            async with gate:
                report = await load_into(forecaster, policy, sources, now=now)
            self.history_reports[app] = report
            for item in report:
                level = logging.WARNING if item.status == "failed" else logging.INFO
                self._log.log(
                    level,
                    "%s: history of %s %s (%d points)%s",
                    short_id(app),
                    item.metric,
                    item.status,
                    item.points,
                    f": {item.detail}" if item.detail else "",
                    extra={"fields": {"event": "history", "app": app, "metric": item.metric, "status": item.status}},
                )

        apps = sorted(self._history_wanted)
        self._history_wanted.difference_update(apps)
        await asyncio.gather(*(one(app) for app in apps))

    async def _gather_metrics(
        self, now: datetime
    ) -> tuple[dict[tuple[str, str], QueryResult], dict[str, int], dict[str, float], dict[str, int]]:
        """Every distinct query once per source, all sources concurrently."""
        wanted = self._queries

        seconds: dict[str, float] = {}

        async def run(source: str, queries: list[str]) -> dict[tuple[str, str], QueryResult]:
            started = time.perf_counter()
            try:
                return await ask(source, queries)
            finally:
                seconds[source] = time.perf_counter() - started

        async def ask(source: str, queries: list[str]) -> dict[tuple[str, str], QueryResult]:
            provider = self._providers.get(source)
            if provider is None:
                message = f"no {source} source is configured (AUTOSCALER_{source.upper()}_URL)"
                return {(source, q): QueryResult(query=q, error=message) for q in queries}
            try:
                async with asyncio.timeout(self._source_timeout):
                    answers = await provider.query(queries, now=now)
            except TimeoutError:
                self._slow.append(source)
                message = f"{source} did not answer within {self._source_timeout:g}s (AUTOSCALER_SOURCE_TIMEOUT)"
                # the outage line (one when it goes down, one when it recovers) carries this message
                self._log.debug(message, extra={"fields": {"event": "metric_source_slow", "source": source}})
                return {(source, q): QueryResult(query=q, error=message) for q in queries}
            except AutoscalerError as exc:
                return {(source, q): QueryResult(query=q, error=f"{source} failed: {exc}") for q in queries}
            except Exception as exc:  # a provider's bug fails its own queries, not the tick
                if not self._outages.is_down(f"source:{source}"):  # once per outage
                    fields = {"event": "metric_source_error"}
                    self._log.error(
                        "metric source %s failed: %s", source, scrub_exception(exc), extra={"fields": fields}
                    )
                error = f"{source} failed: internal error: {type(exc).__name__}"
                return {(source, q): QueryResult(query=q, error=error) for q in queries}
            return {(source, q): answers.get(q, QueryResult(query=q, error="no answer")) for q in queries}

        parts = await asyncio.gather(*(run(source, queries) for source, queries in wanted.items()))
        results: dict[tuple[str, str], QueryResult] = {}
        errors: dict[str, int] = {}
        for source, part in zip(wanted, parts, strict=True):
            results.update(part)
            errors[source] = sum(1 for result in part.values() if result.error is not None)
            self._outages.source(
                source,
                now=now,
                error=_outage(part) if part and errors[source] == len(part) else None,
                affected=functools.partial(self._readers, source),
            )
        return results, {source: len(qs) for source, qs in wanted.items()}, seconds, errors

    async def _apply(self, decisions: list[tuple[Policy, Decision]]) -> list[AppOutcome]:
        gate = asyncio.Semaphore(self._concurrency)

        async def write(policy: Policy, decision: Decision) -> AppOutcome:
            if self._dry_run:
                outcome = AppOutcome(decision.app_id, "dry_run", decision.summary(), decision)
                self._log_action(decision, outcome, dry_run=True)
                return outcome
            async with gate:
                if not self._may_write():  # fencing: checked immediately before every write
                    return AppOutcome(decision.app_id, "not_leader", "not the leader: not writing", decision)
                try:
                    result = await self._target.scale(decision.app_id, decision.desired, force=policy.force)
                except TargetAuthError as exc:
                    result = ScaleResult(decision.app_id, decision.desired, "rejected", detail=str(exc))
                except TargetError as exc:
                    result = ScaleResult(decision.app_id, decision.desired, "unavailable", detail=str(exc))
            if result.ok and decision.app_id in self._learns:
                self.startup.wrote(decision.app_id, instances=decision.desired, at=self._clock())
            code = decision.code if result.ok else _WRITE_CODES.get(result.outcome, "write_failed")
            outcome = AppOutcome(decision.app_id, code, result.detail or decision.summary(), decision, result)
            self._log_action(decision, outcome, dry_run=False)
            return outcome

        return list(await asyncio.gather(*(write(p, d) for p, d in decisions)))

    def _log_action(self, decision: Decision, outcome: AppOutcome, *, dry_run: bool) -> None:
        fields = {
            "event": "scale" if not dry_run else "scale_dry_run",
            "app": decision.app_id,
            "from": decision.current,
            "to": decision.desired,
            "code": outcome.code,
            "cause": decision.cause,
            "reasons": decision.reasons(),
        }
        if outcome.write is not None and not outcome.write.ok:
            detail = f"not scaled {decision.current} -> {decision.desired}: {outcome.detail}"
            self._digest.add(outcome.code, decision.app_id, detail, decision.reasons)
            return
        verb = "would scale" if dry_run else "scaled"
        fields["app"] = short_id(decision.app_id)
        self._log.info(
            "%s: %s %d -> %d (%s)",
            fields["app"],
            verb,
            decision.current,
            decision.desired,
            decision.cause,
            extra={"fields": fields},
        )

    def _log_outcome(self, outcome: AppOutcome) -> None:
        """Warnings go into the tick's digest (one line per code); other holds are logged at DEBUG.
        Missing metrics of an app that reads a source that is down are counted in that source's outage."""
        warn = outcome.code in _WARN_CODES
        if not warn and not self._log.isEnabledFor(logging.DEBUG):  # thousands of holds: build nothing
            return
        if warn and outcome.code == "missing_metrics" and self._reads_a_down_source(outcome.app_id):
            return  # counted in the source's outage line
        detail = outcome.detail or outcome.code
        if outcome.decision is not None:  # a decision's summary starts with the app id: say it once
            detail = detail.removeprefix(f"{outcome.app_id}: ")
        if warn:
            reasons = outcome.decision.reasons if outcome.decision is not None else ()
            self._digest.add(outcome.code, outcome.app_id, detail, reasons)
            return
        app = short_id(outcome.app_id)
        fields: dict[str, object] = {"event": "decision", "app": app, "code": outcome.code}
        if outcome.decision is not None:
            fields["instances"] = outcome.decision.current
            fields["reasons"] = outcome.decision.reasons()
        self._log.debug("%s: %s", app, detail, extra={"fields": fields})

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
