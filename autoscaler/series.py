"""Which queries a tick sends and which series of their answers belong to which app.

Worked out once per policy set, not per tick: every metric of every app becomes a `MetricPlan` (the
query as sent, with the app id substituted, and the labels that pick the app's series out of a
grouped answer), and the distinct queries per source are what a tick sends, each once. Per tick,
a `SeriesIndex` finds each app's series of a grouped answer by lookup instead of a scan, so a tick
stays linear in the number of apps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from autoscaler.core.model import Observation, QueryResult, Sample
from autoscaler.core.policy import MetricSpec, Policy, substitute
from autoscaler.core.rules import observe, observe_series

__all__ = ["MetricPlan", "SeriesIndex", "plan_metrics", "queries_by_source"]


Lookup = tuple[str, str, tuple[str, ...]]  # source, query, selector label names


@dataclass(frozen=True)
class MetricPlan:
    """One metric of one app with everything that does not change between ticks worked out once:
    the query as sent, and which series of its result belong to the app."""

    spec: MetricSpec
    query: str
    keys: tuple[str, ...]  # label names that select the app's series; () when the query is the app's alone
    wanted: tuple[str | None, ...]  # their values for this app
    lookup: Lookup = field(init=False, repr=False, compare=False)  # where a tick's SeriesIndex keeps its index

    def __post_init__(self) -> None:
        object.__setattr__(self, "lookup", (self.spec.source, self.query, self.keys))

    @staticmethod
    def of(spec: MetricSpec, app_id: str) -> MetricPlan:
        query = substitute(spec.query, app_id)
        if spec.series is None:
            return MetricPlan(spec, query, (), ())
        if isinstance(spec.series, str):
            return MetricPlan(spec, query, ("name",), (substitute(spec.series, app_id),))
        keys = tuple(sorted(spec.series))
        return MetricPlan(spec, query, keys, tuple(substitute(spec.series[key], app_id) for key in keys))


def plan_metrics(policies: Mapping[str, Policy]) -> dict[str, tuple[MetricPlan, ...]]:
    """Every app's metric plans, in the order of its policy's metrics."""
    return {app: tuple(MetricPlan.of(spec, app) for spec in policy.metrics) for app, policy in policies.items()}


def queries_by_source(plans: Mapping[str, tuple[MetricPlan, ...]]) -> dict[str, list[str]]:
    """The distinct queries per metric source (sorted): what one tick sends."""
    queries: dict[str, set[str]] = {}
    for each in plans.values():
        for plan in each:
            queries.setdefault(plan.spec.source, set()).add(plan.query)
    return {source: sorted(found) for source, found in queries.items()}


class SeriesIndex:
    """Each app's series of a grouped query, found by lookup instead of a scan.

    A grouped query returns one series per app; scanning all of them for every app would make a tick
    quadratic in the number of apps. Each (query, selector labels) pair is indexed once per tick; the
    engine's `observe` then sees only the candidate series (and still checks that exactly one matched).
    """

    def __init__(self, results: Mapping[tuple[str, str], QueryResult]) -> None:
        self._results = results
        # per (source, query, selector labels): the result, and its series by their selector values
        # (None when the result is not indexed: not answered, failed, or a query of the app alone)
        self._indexes: dict[Lookup, tuple[QueryResult | None, dict[tuple[str | None, ...], list[Sample]] | None]] = {}

    def observe(self, plan: MetricPlan, app_id: str) -> Observation:
        """The app's observation of one metric: `observe` over the app's series of the query's result."""
        found = self._indexes.get(plan.lookup)
        if found is None:
            found = self._indexes[plan.lookup] = self._index(plan)
        result, index = found
        if result is None or index is None:
            return observe(result, spec=plan.spec, app_id=app_id, selected=bool(plan.keys))
        samples = index.get(plan.wanted)
        if samples is not None and len(samples) == 1:  # the usual case: no result to build for one series
            return observe_series(samples[0], query=result.query)
        selected = QueryResult(query=result.query, samples=tuple(samples or ()), error=None)
        return observe(selected, spec=plan.spec, app_id=app_id, selected=True)

    def _index(self, plan: MetricPlan) -> tuple[QueryResult | None, dict[tuple[str | None, ...], list[Sample]] | None]:
        result = self._results.get((plan.spec.source, plan.query))
        if result is None or not plan.keys or result.error is not None:
            return result, None
        keys = plan.keys
        index: dict[tuple[str | None, ...], list[Sample]] = {}
        if len(keys) == 1:  # the usual selector: one label
            key = keys[0]
            for sample in result.samples:
                index.setdefault((sample.labels.get(key),), []).append(sample)
        else:
            for sample in result.samples:
                index.setdefault(tuple(sample.labels.get(key) for key in keys), []).append(sample)
        return result, index
