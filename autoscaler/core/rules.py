"""From one metric's observation to a proposed instance count, with the arithmetic kept.

Two kinds of metric:
- `target_average`: the value is an average per instance (CPU utilisation). The load it represents
  is value x ready instances, so the proposal is ceil(ready x value / target). It says nothing when
  no instance is ready, so that case counts as missing.
- `target_per_instance`: the value is a total for the app (queue depth); the proposal is
  ceil(value / target). It works from zero instances.
Within the tolerance band around the current count the proposal is the current count (no flapping),
except for an average at its cap above the target: the load is at least what it shows and may be
far more, so it is no value near the target (with a target of 0.95 and the default tolerance 0.1, a
saturated 1.0 would otherwise be "within tolerance" and never scale up).
On the way up an average is also held when the current count carries its load within the tolerance
(load over the current count at most 1 + tolerance): the instances it has not measured (still
starting, or ready within the metric window, see below) are the scale-up it asks for. Without this a
rising load would add one instance after another while the first ones start, each a deployment of its
own; a load that outgrows even the current count by more than the tolerance still scales up at once.
This holds an average at its cap too: that it may be far more than it shows is the next tick's
question, once the new instances are measured.
Missing, non-finite, implausible or stale values give no proposal at all, never zero.

A `target_average` value is an average over the metric window (`rate(...[1m])`), so when the ready
count changed within that window the value still partly describes the old fleet: a saturated average
from 2 instances, multiplied by the 4 that are ready now, would ask for twice the load there is. The
caller passes the fewest and the most instances ready within the window (`ready_range`): load above
the target is taken over the fewest (instances that became ready within the window are not yet
measured), load below it over the most (instances that went away within the window still lowered it).
The exception is an average at its cap (`saturation`, a utilisation of 1.0 by default): every sample of
the window was saturated, so the instances ready at the last tick (`last_ready`), which its newest
samples measured, were all at the cap, and the load is at least theirs; the fewest would only slow a
scale-up that is already late. Instances that became ready this tick are still not counted.

The arithmetic of each proposal is kept as text, formatted only when someone reads it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from autoscaler.core.forecast import is_saturated
from autoscaler.core.frozen import assemble
from autoscaler.core.lazytext import LazyDetail
from autoscaler.core.model import AppState, Observation, QueryResult, Sample
from autoscaler.core.policy import MetricSpec, Policy, substitute
from autoscaler.core.units import EPSILON

# Values beyond this are treated as garbage from the source (a 1e308 CPU average is not load).
MAX_PLAUSIBLE_VALUE = 1e12


class MetricEvaluation(LazyDetail):
    """One metric's contribution to a decision: its value, its proposal, and how it got there.

    Immutable. `detail` may be given as text or as a function that makes it; it is made once, when
    first read (most decisions are never explained, and formatting is most of a tick's cost).
    """

    __slots__ = ("kind", "load", "name", "proposal", "source", "target", "value")
    _FIELDS = ("name", "source", "kind", "target", "value", "proposal")

    name: str
    source: str
    kind: str  # "average" | "per_instance"
    target: float
    value: float | None
    proposal: int | None  # None: this metric is missing and may not drive a scale-down
    # The load the value stands for, in instances: the proposal before rounding and tolerance (None
    # when missing). It follows from the value and the ready count the detail names, so it is not
    # compared; `core.steady` follows it from tick to tick.
    load: float | None

    def __init__(  # noqa: PLR0917 - positional, as the dataclass it replaced
        self,
        name: str,
        source: str,
        kind: str,
        target: float,
        value: float | None,
        proposal: int | None,
        detail: str | Callable[[], str],
        *,
        load: float | None = None,
    ) -> None:
        self._init(detail, name=name, source=source, kind=kind, target=target, value=value, proposal=proposal)
        object.__setattr__(self, "load", load)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuilt, (self._fields(), self.load))

    @property
    def missing(self) -> bool:
        return self.proposal is None


def _rebuilt(fields: tuple[Any, ...], load: float | None) -> MetricEvaluation:
    """A MetricEvaluation from its pickled fields (`MetricEvaluation.__reduce__`)."""
    return MetricEvaluation(*fields, load=load)


def observe(
    result: QueryResult | None,
    *,
    spec: MetricSpec,
    app_id: str,
    selected: bool = False,
) -> Observation:
    """Pick this app's value out of a (possibly grouped) query result.

    Without a `series` selector the query must return exactly one series. With one, exactly one series
    must match it: Prometheus labels (all given labels equal) or the Graphite series name.
    `selected`: the caller already kept only the series that match the selector (the loop indexes a
    grouped result once per tick), so they are not filtered again.
    """
    if result is None:
        return Observation.missing(f"query {substitute(spec.query, app_id)!r} was not answered")
    query = result.query
    if result.error is not None:
        return Observation.missing(result.error)
    samples = list(result.samples)
    if selected:
        pass
    elif spec.series is None:
        if len(samples) > 1:
            return Observation.missing(
                f"query {query!r} returned {len(samples)} series where one was expected "
                "(aggregate it, or set `series` to pick this app's)"
            )
    elif isinstance(spec.series, str):
        wanted = substitute(spec.series, app_id)
        samples = [sample for sample in samples if sample.labels.get("name") == wanted]
    else:
        labels = {key: substitute(value, app_id) for key, value in spec.series.items()}
        samples = [
            sample for sample in samples if all(sample.labels.get(key) == value for key, value in labels.items())
        ]
    if not samples:
        return Observation.missing(f"query {query!r} returned no series for {app_id} (empty result)")
    if len(samples) > 1:
        return Observation.missing(f"query {query!r}: {len(samples)} series match {app_id}; the selector must pick one")
    return observe_series(samples[0], query=query)


def observe_series(sample: Sample, *, query: str) -> Observation:
    """The observation of the one series of `query` that the caller already picked for this app
    (what `observe` gives for a result of exactly that series, without building the result)."""
    value = sample.value
    if value is None or not math.isfinite(value):  # what Sample.clean turns into None
        return Observation(
            value=None,
            timestamp=sample.timestamp,
            reason=f"query {query!r}: no value (null, NaN or Inf)",
            series=sample.labels,
        )
    if value < 0 or value > MAX_PLAUSIBLE_VALUE:
        return Observation(
            value=None,
            timestamp=sample.timestamp,
            reason=f"query {query!r}: implausible value {value!r}",
            series=sample.labels,
        )
    # the usual case, once per metric per app per tick: made without the dataclass's __init__
    fields = {"value": value, "timestamp": sample.timestamp, "reason": None, "series": sample.labels}
    return assemble(Observation, fields)


def evaluate(  # noqa: PLR0911, PLR0912 - one early return per way a value can be unusable, in the order explain reads them
    spec: MetricSpec,
    observation: Observation | None,
    *,
    policy: Policy,
    state: AppState,
    now: datetime,
    ready_range: tuple[int, int] | None = None,
    last_ready: int | None = None,
) -> MetricEvaluation:
    """Turn one observation into a proposal, or explain why there is none.

    `ready_range`: the fewest and the most instances ready within the metric window (this tick's
    included); without it, the ready count of this tick only. `last_ready`: the ready count of the
    newest earlier tick within the window, which a saturated average has measured at its cap.
    """

    def missing(reason: str, value: float | None = None) -> MetricEvaluation:
        return MetricEvaluation(
            name=spec.name,
            source=spec.source,
            kind=spec.kind,
            target=spec.target,
            value=value,
            proposal=None,
            detail=f"missing: {reason}",
        )

    if observation is None:
        return missing("no observation")
    value = observation.value
    if value is None or not math.isfinite(value):
        return missing(observation.reason or "no value")
    if value < 0 or value > MAX_PLAUSIBLE_VALUE:
        return missing(f"implausible value {value!r}")
    max_age = spec.max_age if spec.max_age is not None else policy.max_metric_age
    if observation.timestamp is not None:
        age = now - observation.timestamp
        if age > max_age:
            return missing(f"stale: newest sample is {_seconds(age)} old (max_age {_seconds(max_age)})", value)
        if -age > max_age:
            return missing(f"sample is {_seconds(-age)} in the future (clock skew?)", value)

    current = state.instances
    target = spec.target
    average = spec.kind == "average"
    ready = measured = state.ready_instances
    over_last_tick = False  # a saturated average went over the last tick's ready count, not the fewest
    capped = False  # an average at its cap, above the target: a lower bound of the load
    if average:
        if ready == 0:
            return missing("no ready instances, so an average per instance says nothing about load", value)
        ratio = value / target
        capped = ratio > 1.0 and is_saturated(value, kind=spec.kind, target=target, saturation=spec.saturation)
        if ready_range is not None:
            fewest, most = ready_range
            # load above the target over the fewest ready within the window, below it over the most
            if ratio > 1.0 and 0 < fewest < ready:
                measured = fewest
                if capped and last_ready is not None and fewest < last_ready:
                    measured, over_last_tick = min(last_ready, ready), True
            elif ratio < 1.0 and most > ready:
                measured = most
        raw = measured * ratio
    else:
        raw = value / target
        ratio = raw / current if current > 0 else math.inf

    def arithmetic() -> str:
        if not average:
            return f"{value:g} / {target:g} per instance = {raw:.2f}"
        window = _seconds(policy.metric_window)
        if over_last_tick and ready_range is not None:
            return (
                f"{ready} ready, {measured} at the last tick: the {window} average is at its cap "
                f"(saturation {spec.saturation:g}), so its newest samples measured those {measured} at the cap, "
                f"not only the fewest {ready_range[0]}: {measured} x {value:g} / {target:g} = {raw:.2f}"
            )
        if measured == ready:
            return f"{ready} ready x {value:g} / {target:g} = {raw:.2f}"
        which = "fewest" if measured < ready else "most"
        return (
            f"{ready} ready, {measured} the {which} within the {window} metric window: "
            f"{measured} x {value:g} / {target:g} = {raw:.2f}"
        )

    tolerance = policy.tolerance
    within = current > 0 and abs(ratio - 1.0) <= tolerance + EPSILON
    banded = within and not capped
    # on the way up, the instances the average has not measured are the scale-up it asks for
    carried = (
        not banded
        and average
        and ratio > 1.0
        and measured < current
        and current + EPSILON < raw <= current * (1 + tolerance) + EPSILON
    )
    if banded or carried:
        unmeasured = current - measured if carried else 0
        return MetricEvaluation(
            spec.name,
            spec.source,
            spec.kind,
            target,
            value,
            current,
            lambda: (
                f"{arithmetic()}; {_held(tolerance, current, unmeasured, policy.metric_window)}, proposes {current}"
            ),
            load=raw,
        )
    final, side = _on_its_side(max(0, math.ceil(raw - EPSILON)), current, ratio, average=average)
    if within:  # and capped: the band does not hold it
        cap = spec.saturation
        side += f" (at its cap {cap:g}, so not within tolerance {tolerance:g}: the load is at least this)"
    return MetricEvaluation(
        spec.name,
        spec.source,
        spec.kind,
        target,
        value,
        final,
        lambda: f"{arithmetic()}{side}, proposes {final}",
        load=raw,
    )


def _held(tolerance: float, current: int, unmeasured: int, window: timedelta) -> str:
    """Why a proposal is the current count: within the tolerance of the target, or (`unmeasured` > 0) a
    load the current count carries within it, some of which the average has not measured yet."""
    if not unmeasured:
        return f"within tolerance {tolerance:g} of {current}"
    return (
        f"the current {current} carry it within tolerance {tolerance:g} ({unmeasured} of them not yet measured "
        f"by the average: still starting, or ready within the {_seconds(window)} window)"
    )


def _on_its_side(proposal: int, current: int, ratio: float, *, average: bool) -> tuple[int, str]:
    """The proposal kept on the value's side of the current count, and what that changed, in words.

    Fewer (or more) ready instances than current must not turn an average above the target into a
    scale-down (or one below it into a scale-up)."""
    if not average or current <= 0:
        return proposal, ""
    kept = max(proposal, current) if ratio > 1.0 else min(proposal, current)
    if kept == proposal:
        return proposal, ""
    side = " (above target, so not below" if ratio > 1.0 else " (below target, so not above"
    return kept, f"{side} the current {current})"


def evaluate_all(
    policy: Policy,
    observations: Mapping[str, Observation],
    *,
    state: AppState,
    now: datetime,
    ready_range: tuple[int, int] | None = None,
    last_ready: int | None = None,
) -> list[MetricEvaluation]:
    return [
        evaluate(
            spec,
            observations.get(spec.name),
            policy=policy,
            state=state,
            now=now,
            ready_range=ready_range,
            last_ready=last_ready,
        )
        for spec in policy.metrics
    ]


def _seconds(duration: timedelta) -> str:
    return f"{duration.total_seconds():.0f}s"
