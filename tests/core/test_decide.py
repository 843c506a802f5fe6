"""decide(): one table row per rule and outcome, then the scenarios that need several ticks."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from autoscaler.core.decide import Decision, History, ReadyCount, Recommendation, decide
from autoscaler.core.model import AppState, Observation
from autoscaler.core.policy import Policy

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
APP = "/shop/api"
CPU = {"name": "cpu", "source": "prometheus", "query": "avg(cpu)", "target_average": 0.5}
BACKLOG = {"name": "backlog", "source": "graphite", "query": "sumSeries(q)", "target_per_instance": 500}
# The policy of most rows: 1..20 instances, CPU 50 % target, the default scale_up and scale_down rules
# (up: cooldown 30s, max_step [100%, 4]; down: cooldown 10m, stabilization 10m, max_step 20%, min_step 10%),
# tolerance 0.1, metric_window 1m.
BASE: dict[str, Any] = {"app": APP, "min_instances": 1, "max_instances": 20, "metrics": [CPU]}
OBSERVED = History(observing_since=NOW - timedelta(hours=1))
# A policy with schedules (or campaigns) only: no metrics. Its baseline is min_instances (1).
BARE: dict[str, Any] = {"metrics": []}


def make_policy(**changes: Any) -> Policy:
    return Policy.model_validate({**BASE, **changes})


def state(instances: int, ready: int | None = None, **fields: Any) -> AppState:
    """An app whose tasks all run; `ready` of them healthy (all when not given)."""
    healthy = instances if ready is None else ready
    if fields.pop("health_checks", False):
        return AppState(
            APP, instances, tasks_running=instances, tasks_healthy=healthy, has_health_checks=True, **fields
        )
    return AppState(APP, instances, tasks_running=healthy, **fields)


def fresh(value: float, age: timedelta = timedelta(0)) -> Observation:
    return Observation(value=value, timestamp=NOW - age)


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def window(name: str = "sale", *, floor: int | None = None, ceiling: int | None = None, **times: Any) -> dict[str, Any]:
    """A one-off schedule in force at NOW (unless `start`/`end` say otherwise)."""
    data: dict[str, Any] = {
        "name": name,
        "start": (NOW - timedelta(minutes=10)).isoformat(),
        "end": (NOW + timedelta(hours=1)).isoformat(),
        **times,
    }
    if floor is not None:
        data["min_instances"] = floor
    if ceiling is not None:
        data["max_instances"] = ceiling
    return data


@dataclass
class Case:
    id: str
    state: AppState
    observations: dict[str, Observation]
    desired: int
    code: str
    cause: str = ""
    policy: dict[str, Any] = field(default_factory=dict)
    history: History = OBSERVED
    clamps: list[tuple[str, int, int]] | None = None  # when given: exactly these, in order
    now: datetime = NOW


CASES = [
    # --- metric arithmetic ---
    Case("scale up: 4 ready x 0.75 / 0.5 = 6", state(4), {"cpu": fresh(0.75)}, 6, "scaled_up", "metrics", clamps=[]),
    Case("scale down: 10 x 0.4 / 0.5 = 8", state(10), {"cpu": fresh(0.4)}, 8, "scaled_down", "metrics", clamps=[]),
    Case("within tolerance: 0.52 / 0.5 = 1.04", state(4), {"cpu": fresh(0.52)}, 4, "within_tolerance"),
    Case("tolerance edge: 0.55 / 0.5 = 1.1 is inside", state(4), {"cpu": fresh(0.55)}, 4, "within_tolerance"),
    Case("just outside: 4 x 0.56 / 0.5 = 4.48 -> 5", state(4), {"cpu": fresh(0.56)}, 5, "scaled_up", "metrics"),
    Case(
        "highest proposal wins: cpu 4 x 0.75/0.5 = 6, backlog 4000/500 = 8",
        state(4),
        {"cpu": fresh(0.75), "backlog": fresh(4000)},
        8,
        "scaled_up",
        "metrics",
        policy={"metrics": [CPU, BACKLOG]},
    ),
    Case(
        "per instance from zero: 1000 / 500 = 2",
        state(0),
        {"backlog": fresh(1000)},
        2,
        "scaled_up",
        "metrics",
        policy={"min_instances": 0, "metrics": [BACKLOG]},
    ),
    Case(
        "2000.00000005 / 500 = 4.0000000001 is 4 instances, not 5",
        state(0),
        {"backlog": fresh(2000.00000005)},
        4,
        "scaled_up",
        "metrics",
        policy={"min_instances": 0, "metrics": [BACKLOG]},
    ),
    Case(
        "running but unhealthy: 6 healthy of 10 x 1.0 / 0.5 = 12, not 10 running x 2 = 20",
        state(10, ready=6, health_checks=True),
        {"cpu": fresh(1.0)},
        12,
        "scaled_up",
        "metrics",
    ),
    Case(
        "without health checks running tasks are ready: 10 x 1.0 / 0.5 = 20",
        AppState(APP, 10, tasks_running=10, tasks_healthy=0),
        {"cpu": fresh(1.0)},
        20,
        "scaled_up",
        "metrics",
    ),
    Case(
        "load above target never proposes fewer: 18 of 20 ready x 0.505 / 0.5 = 18.18, above target",
        state(20, ready=18),
        {"cpu": fresh(0.505)},
        20,
        "within_tolerance",
        policy={"tolerance": 0, "max_instances": 30},
    ),
    Case(
        "load below target never proposes more: 12 ready of 10 x 0.45 / 0.5 = 10.8, below target",
        AppState(APP, 10, tasks_running=12),
        {"cpu": fresh(0.45)},
        10,
        "within_tolerance",
        policy={"tolerance": 0},
    ),
    # --- missing, NaN, stale, future ---
    Case("no observation: hold", state(10), {}, 10, "missing_metrics"),
    Case(
        "missing with a reason: hold",
        state(10),
        {"cpu": Observation.missing("connection refused")},
        10,
        "missing_metrics",
    ),
    Case("NaN: hold", state(10), {"cpu": fresh(math.nan)}, 10, "missing_metrics"),
    Case("infinity: hold", state(10), {"cpu": fresh(math.inf)}, 10, "missing_metrics"),
    Case("negative: hold", state(10), {"cpu": fresh(-1.0)}, 10, "missing_metrics"),
    Case(
        "stale (4m > max_metric_age 3m) low value: no scale-down",
        state(10),
        {"cpu": fresh(0.1, age=timedelta(minutes=4))},
        10,
        "missing_metrics",
    ),
    Case(
        "exactly max_metric_age old is still fresh: 10 x 0.4 / 0.5 = 8",
        state(10),
        {"cpu": fresh(0.4, age=timedelta(minutes=3))},
        8,
        "scaled_down",
        "metrics",
    ),
    Case(
        "the metric's own max_age (1m) wins over max_metric_age (3m)",
        state(10),
        {"cpu": fresh(0.1, age=timedelta(minutes=2))},
        10,
        "missing_metrics",
        policy={"metrics": [{**CPU, "max_age": "1m"}]},
    ),
    Case(
        "a sample 10m in the future is not trusted",
        state(10),
        {"cpu": fresh(0.1, age=-timedelta(minutes=10))},
        10,
        "missing_metrics",
    ),
    Case(
        "a sample 30s in the future counts as fresh: 10 x 0.4 / 0.5 = 8",
        state(10),
        {"cpu": fresh(0.4, age=-timedelta(seconds=30))},
        8,
        "scaled_down",
        "metrics",
    ),
    Case(
        "one metric missing: the other's scale-down is refused (cpu 10 x 0.1/0.5 = 2)",
        state(10),
        {"cpu": fresh(0.1)},
        10,
        "missing_metrics",
        policy={"metrics": [CPU, BACKLOG]},
        clamps=[("missing_metrics", 2, 10)],
    ),
    Case(
        "one metric stale: the present one still scales up (4 x 0.75 / 0.5 = 6)",
        state(4),
        {"cpu": fresh(0.75), "backlog": fresh(0, age=timedelta(minutes=10))},
        6,
        "scaled_up",
        "metrics",
        policy={"metrics": [CPU, BACKLOG]},
    ),
    Case(
        "no ready instance: the average is missing, no scale-down",
        state(4, ready=0, health_checks=True),
        {"cpu": fresh(0.1)},
        4,
        "missing_metrics",
    ),
    Case(
        "no ready instance: the per-instance metric still scales (1500 / 500 = 3)",
        state(0),
        {"cpu": fresh(0.9), "backlog": fresh(1500)},
        3,
        "scaled_up",
        "metrics",
        policy={"min_instances": 0, "metrics": [CPU, BACKLOG]},
    ),
    # --- readiness, restart safety, stabilisation ---
    Case(
        "instances not ready: 5 of 10 healthy (< 90 %), no scale-down",
        state(10, ready=5, health_checks=True),
        {"cpu": fresh(0.1)},
        10,
        "instances_not_ready",
    ),
    Case(
        "9 of 10 ready (90 %) may scale down: 9 x 0.2 / 0.5 = 3.6 -> 4, step -2",
        state(10, ready=9, health_checks=True),
        {"cpu": fresh(0.2)},
        8,
        "scaled_down",
        "metrics",
    ),
    Case(
        "restart: observed 2m of the 5m window, no scale-down",
        state(10),
        {"cpu": fresh(0.4)},
        10,
        "stabilizing",
        history=History(observing_since=ago(minutes=2)),
    ),
    Case(
        "first tick ever: no scale-down",
        state(10),
        {"cpu": fresh(0.4)},
        10,
        "stabilizing",
        history=History(),
    ),
    Case(
        "first tick ever: scale-up is allowed",
        state(4),
        {"cpu": fresh(0.75)},
        6,
        "scaled_up",
        "metrics",
        history=History(),
    ),
    Case(
        "stabilisation: 10 recommended 2m ago holds a wish for 8",
        state(10),
        {"cpu": fresh(0.4)},
        10,
        "stabilizing",
        history=replace(OBSERVED, recommendations=(Recommendation(ago(minutes=2), 10),)),
    ),
    Case(
        "stabilisation: the highest of the window (9, 2m ago) bounds the scale-down to 8",
        state(10),
        {"cpu": fresh(0.4)},
        9,
        "scaled_down",
        "metrics",
        history=replace(
            OBSERVED, recommendations=(Recommendation(ago(minutes=4), 8), Recommendation(ago(minutes=2), 9))
        ),
        clamps=[("stabilization", 8, 9)],
    ),
    Case(
        "stabilisation: 10 recommended 11m ago is outside the 10m window",
        state(10),
        {"cpu": fresh(0.4)},
        8,
        "scaled_down",
        "metrics",
        history=replace(OBSERVED, recommendations=(Recommendation(ago(minutes=11), 10),)),
    ),
    Case(
        "scale-up stabilisation: the lowest of the window (5) bounds a wish for 6",
        state(4),
        {"cpu": fresh(0.75)},
        5,
        "scaled_up",
        "metrics",
        policy={"scale_up": {"stabilization": "2m"}},
        history=replace(OBSERVED, recommendations=(Recommendation(ago(minutes=1), 5),)),
    ),
    # --- step limits ---
    Case(
        "scale-down step: 10 x 0.1 / 0.5 = 2, 20 % of 10 allows -2",
        state(10),
        {"cpu": fresh(0.1)},
        8,
        "scaled_down",
        "metrics",
        clamps=[("max_step", 2, 8)],
    ),
    Case(
        "scale-down step rounds up: 11 x 0.1 / 0.5 = 2.2 -> 3, 20 % of 11 = 2.2 allows -3",
        state(11),
        {"cpu": fresh(0.1)},
        8,
        "scaled_down",
        "metrics",
        clamps=[("max_step", 3, 8)],
    ),
    Case(
        "scale-down step at least 1: 3 x 0.1 / 0.5 = 0.6 -> 1, 20 % of 3 = 0.6 allows -1",
        state(3),
        {"cpu": fresh(0.1)},
        2,
        "scaled_down",
        "metrics",
    ),
    # --- scale-down hysteresis (min_step, default 10 % of the current count, at least 1) ---
    Case(
        "hysteresis: 20 x 0.4 / 0.5 = 16, the window's highest is 19: shedding 1 < 2 (10 % of 20) holds",
        state(20),
        {"cpu": fresh(0.4)},
        20,
        "within_tolerance",
        policy={"max_instances": 40},
        history=replace(OBSERVED, recommendations=(Recommendation(ago(minutes=2), 19),)),
        clamps=[("stabilization", 16, 19), ("min_step", 19, 20)],
    ),
    Case(
        "hysteresis: 20 x 0.4 / 0.5 = 16, the window's highest is 18: shedding 2 = 10 % of 20 scales",
        state(20),
        {"cpu": fresh(0.4)},
        18,
        "scaled_down",
        "metrics",
        policy={"max_instances": 40},
        history=replace(OBSERVED, recommendations=(Recommendation(ago(minutes=2), 18),)),
        clamps=[("stabilization", 16, 18)],
    ),
    Case(
        "hysteresis rounds up: 11 -> 10 sheds 1 < ceil(1.1) = 2, holds",
        state(11),
        {"cpu": fresh(0.1)},
        11,
        "within_tolerance",
        history=replace(OBSERVED, recommendations=(Recommendation(ago(minutes=1), 10),)),
        clamps=[("stabilization", 3, 10), ("min_step", 10, 11)],
    ),
    Case(
        "hysteresis is at least 1 instance: 3 -> 2 sheds 1 >= max(1, 0.3)",
        state(3),
        {"cpu": fresh(0.3)},
        2,
        "scaled_down",
        "metrics",
    ),
    Case(
        "min_step as a count: 20 x 0.4 / 0.5 = 16 sheds 4 < 5, holds",
        state(20),
        {"cpu": fresh(0.4)},
        20,
        "within_tolerance",
        policy={"max_instances": 40, "scale_down": {"min_step": 5}},
        clamps=[("min_step", 16, 20)],
    ),
    Case(
        "min_step as a count: 20 x 0.35 / 0.5 = 14 sheds 6 >= 5",
        state(20),
        {"cpu": fresh(0.35)},
        14,
        "scaled_down",
        "metrics",
        policy={"max_instances": 40, "scale_down": {"min_step": 5, "max_step": "100%"}},
    ),
    Case(
        "min_step 1 turns hysteresis off: 11 -> 10",
        state(11),
        {"cpu": fresh(0.1)},
        10,
        "scaled_down",
        "metrics",
        policy={"scale_down": {"min_step": 1}},
        history=replace(OBSERVED, recommendations=(Recommendation(ago(minutes=1), 10),)),
    ),
    Case(
        "hysteresis never holds back the bounds: 22 above max 20, on target, comes down to 20",
        state(22),
        {"cpu": fresh(0.5)},
        20,
        "scaled_down",
        "bounds",
    ),
    Case(
        "hysteresis never holds back a schedule ceiling: 20 on target, ceiling 19",
        state(20),
        {"cpu": fresh(0.5)},
        19,
        "scaled_down",
        "schedule",
        policy={"schedules": [window(ceiling=19)]},
    ),
    # --- the metric window (default 1m): ready counts that changed within it ---
    Case(
        "2 ready 45s ago, 4 now: the average is 2 instances' load: 2 x 0.9 / 0.5 = 3.6, not 7.2",
        state(4),
        {"cpu": fresh(0.9)},
        4,
        "metric_window",
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=45), 2), ReadyCount(ago(seconds=15), 4))),
    ),
    Case(
        "2 ready exactly one window (60s) ago still counts: 2 x 0.9 / 0.5 = 3.6",
        state(4),
        {"cpu": fresh(0.9)},
        4,
        "metric_window",
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=60), 2),)),
    ),
    Case(
        "2 ready 75s ago is outside the 60s window: 4 x 0.9 / 0.5 = 7.2",
        state(4),
        {"cpu": fresh(0.9)},
        8,
        "scaled_up",
        "metrics",
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=75), 2),)),
    ),
    Case(
        "metric_window 2m: 2 ready 75s ago counts: 2 x 0.9 / 0.5 = 3.6",
        state(4),
        {"cpu": fresh(0.9)},
        4,
        "metric_window",
        policy={"metric_window": "2m"},
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=75), 2),)),
    ),
    Case(
        "metric_window 0s: only this tick's ready count: 4 x 0.9 / 0.5 = 7.2",
        state(4),
        {"cpu": fresh(0.9)},
        8,
        "scaled_up",
        "metrics",
        policy={"metric_window": "0s"},
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=15), 2),)),
    ),
    Case(
        "no ready instance within the window says nothing: 4 x 0.9 / 0.5 = 7.2",
        state(4),
        {"cpu": fresh(0.9)},
        8,
        "scaled_up",
        "metrics",
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=30), 0),)),
    ),
    Case(
        "an average at its cap (1.0) measured the 4 ready at the last tick at the cap: 4 x 1.0 / 0.5 = 8, not 4",
        state(4),
        {"cpu": fresh(1.0)},
        8,
        "scaled_up",
        "metrics",
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=45), 2), ReadyCount(ago(seconds=15), 4))),
    ),
    Case(
        "at the cap: 2, then 3 at the last tick, 4 now: over the 3 its newest samples measured: 3 x 1.0 / 0.5 = 6",
        state(4),
        {"cpu": fresh(1.0)},
        6,
        "scaled_up",
        "metrics",
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=45), 2), ReadyCount(ago(seconds=15), 3))),
    ),
    Case(
        "at the cap, but the 4 became ready this tick: not measured yet, over the 2: 2 x 1.0 / 0.5 = 4",
        state(4),
        {"cpu": fresh(1.0)},
        4,
        "metric_window",
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=45), 2), ReadyCount(ago(seconds=15), 2))),
    ),
    Case(
        "saturation 1.2: an average of 1.0 is not at the cap, so over the fewest: 2 x 1.0 / 0.5 = 4",
        state(4),
        {"cpu": fresh(1.0)},
        4,
        "metric_window",
        policy={"metrics": [{**CPU, "saturation": 1.2}]},
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=45), 2), ReadyCount(ago(seconds=15), 4))),
    ),
    Case(
        "saturation null: no cap, so a high average is over the fewest: 2 x 1.0 / 0.5 = 4",
        state(4),
        {"cpu": fresh(1.0)},
        4,
        "metric_window",
        policy={"metrics": [{**CPU, "saturation": None}]},
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=45), 2), ReadyCount(ago(seconds=15), 4))),
    ),
    Case(
        "a target at or above the saturation is not a utilisation: 2 x 3 / 1.5 = 4 over the fewest",
        state(4),
        {"cpu": fresh(3.0)},
        4,
        "metric_window",
        policy={"metrics": [{**CPU, "target_average": 1.5}]},
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=45), 2), ReadyCount(ago(seconds=15), 4))),
    ),
    Case(
        "target 0.95: a saturated 1.0 is only 5 % above it, but at its cap it is never within tolerance: "
        "10 x 1.0 / 0.95 = 10.53 -> 11",
        state(10),
        {"cpu": fresh(1.0)},
        11,
        "scaled_up",
        "metrics",
        policy={"metrics": [{**CPU, "target_average": 0.95}]},
    ),
    Case(
        "target 0.95: 0.99 is below the cap, so within tolerance (1.04)",
        state(10),
        {"cpu": fresh(0.99)},
        10,
        "within_tolerance",
        policy={"metrics": [{**CPU, "target_average": 0.95}]},
    ),
    Case(
        "target 0.95, saturation null: no cap, so 1.0 is within tolerance (1.05)",
        state(10),
        {"cpu": fresh(1.0)},
        10,
        "within_tolerance",
        policy={"metrics": [{**CPU, "target_average": 0.95, "saturation": None}]},
    ),
    Case(
        "2 of 10 still starting: 8 x 0.65 / 0.5 = 10.4, which the current 10 carry within tolerance: held",
        state(10, ready=8),
        {"cpu": fresh(0.65)},
        10,
        "within_tolerance",
    ),
    Case(
        "2 of 10 still starting: 8 x 0.6875 / 0.5 = 11.0, at the edge of the current 10's tolerance: held",
        state(10, ready=8),
        {"cpu": fresh(0.6875)},
        10,
        "within_tolerance",
    ),
    Case(
        "2 of 10 still starting: 8 x 0.7 / 0.5 = 11.2 outgrows the current 10 beyond tolerance: 12",
        state(10, ready=8),
        {"cpu": fresh(0.7)},
        12,
        "scaled_up",
        "metrics",
    ),
    Case(
        "all 10 ready: the same 0.65 measured all of them: 10 x 0.65 / 0.5 = 13",
        state(10),
        {"cpu": fresh(0.65)},
        13,
        "scaled_up",
        "metrics",
    ),
    Case(
        "1 of 21 starting, target 0.95: a saturated 20 x 1.0 / 0.95 = 21.05 is carried by the current 21: held",
        state(21, ready=20),
        {"cpu": fresh(1.0)},
        21,
        "within_tolerance",
        policy={"max_instances": 40, "metrics": [{**CPU, "target_average": 0.95}]},
    ),
    Case(
        "1 of 11 starting, target 0.5: a saturated 10 x 1.0 / 0.5 = 20 is far beyond the 11: 20",
        state(11, ready=10),
        {"cpu": fresh(1.0)},
        20,
        "scaled_up",
        "metrics",
    ),
    Case(
        "2 became ready within the window, none starting: 8 x 0.65 / 0.5 = 10.4 over the fewest is carried: held",
        state(10),
        {"cpu": fresh(0.65)},
        10,
        "metric_window",
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=45), 8),)),
    ),
    Case(
        "below target over the most ready within the window: 10 ready 30s ago, 8 now: 10 x 0.3 / 0.5 = 6, not 5",
        state(8),
        {"cpu": fresh(0.3)},
        6,
        "scaled_down",
        "metrics",
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=30), 10),)),
    ),
    Case(
        "below target, more ready within the window than now and current: never above current (9 x 0.4 / 0.5)",
        state(6),
        {"cpu": fresh(0.4)},
        6,
        "metric_window",
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=30), 9),)),
    ),
    Case(
        "above target, fewer ready within the window: never below current (2 x 0.75 / 0.5 = 3 < 4)",
        state(4),
        {"cpu": fresh(0.75)},
        4,
        "metric_window",
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=30), 2),)),
    ),
    Case(
        "180 % of target over 4 ready, 2 of them new within the window: 2 x 0.9 / 0.5 = 3.6 -> 4 holds (metric_window)",
        state(4),
        {"cpu": fresh(0.9)},
        4,
        "metric_window",
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=30), 2),)),
    ),
    Case(
        "the window still lets part of a scale-up through: 2 x 1.5 / 0.5 = 6 from 4",
        state(4),
        {"cpu": fresh(1.5)},
        6,
        "scaled_up",
        "metrics",
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=30), 2),)),
    ),
    Case(
        "a ready count that changed within the window but within tolerance stays within_tolerance",
        state(4),
        {"cpu": fresh(0.52)},
        4,
        "within_tolerance",
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=30), 2),)),
    ),
    Case(
        "at max, the window's hold is still at_max: 4 x 1.0 / 0.5 = 8 > max 4",
        state(4),
        {"cpu": fresh(1.0)},
        4,
        "at_max",
        policy={"max_instances": 4},
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=30), 2),)),
    ),
    Case(
        "another metric holding at the current count is not the window's hold: backlog 2000 / 500 = 4",
        state(4),
        {"cpu": fresh(0.4), "backlog": fresh(2000)},
        4,
        "within_tolerance",
        policy={"metrics": [CPU, BACKLOG]},
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=30), 6),)),
    ),
    Case(
        "a missing metric holds the scale-down the window also held: missing_metrics",
        state(6),
        {"cpu": fresh(0.4)},
        6,
        "missing_metrics",
        policy={"metrics": [CPU, BACKLOG]},
        history=replace(OBSERVED, ready=(ReadyCount(ago(seconds=30), 9),)),
    ),
    Case(
        "scale-up step: 4 x 2.0 / 0.5 = 16, [100 %, 4] of 4 allows +4",
        state(4),
        {"cpu": fresh(2.0)},
        8,
        "scaled_up",
        "metrics",
        clamps=[("max_step", 16, 8)],
    ),
    Case(
        "scale-up step, the most permissive: 10 x 2.0 / 0.5 = 40, 100 % of 10 beats 4",
        state(10),
        {"cpu": fresh(2.0)},
        20,
        "scaled_up",
        "metrics",
        policy={"max_instances": 50},
        clamps=[("max_step", 40, 20)],
    ),
    Case(
        "scale-up from 0: 100 % of 0 is 0, but 4 is allowed (8000 / 500 = 16)",
        state(0),
        {"backlog": fresh(8000)},
        4,
        "scaled_up",
        "metrics",
        policy={"min_instances": 0, "metrics": [BACKLOG]},
    ),
    # --- cooldowns ---
    Case(
        "scale-up cooldown: last scaled 10s ago, cooldown 30s",
        state(4, last_scaled_at=ago(seconds=10)),
        {"cpu": fresh(0.75)},
        4,
        "cooldown",
    ),
    Case(
        "scale-up cooldown over: 31s ago",
        state(4, last_scaled_at=ago(seconds=31)),
        {"cpu": fresh(0.75)},
        6,
        "scaled_up",
        "metrics",
    ),
    Case(
        "scale-down cooldown: last scaled 2m ago, cooldown 5m",
        state(10, last_scaled_at=ago(minutes=2)),
        {"cpu": fresh(0.4)},
        10,
        "cooldown",
    ),
    Case(
        "scale-down cooldown is separate from scale-up's: 2m ago allows a scale-up",
        state(4, last_scaled_at=ago(minutes=2)),
        {"cpu": fresh(0.75)},
        6,
        "scaled_up",
        "metrics",
    ),
    Case(
        "scale-down cooldown over: 11m ago",
        state(10, last_scaled_at=ago(minutes=11)),
        {"cpu": fresh(0.4)},
        8,
        "scaled_down",
        "metrics",
    ),
    # --- deployments ---
    Case(
        "deployment in progress: hold even with load",
        state(4, deployment_ids=("d-1",)),
        {"cpu": fresh(2.0)},
        4,
        "deployment_in_progress",
    ),
    Case(
        "deployment in progress: hold even outside the bounds",
        state(25, deployment_ids=("d-1",)),
        {"cpu": fresh(0.5)},
        25,
        "deployment_in_progress",
    ),
    # --- bounds ---
    Case(
        "at max: 20 x 1.0 / 0.5 = 40 wanted",
        state(20),
        {"cpu": fresh(1.0)},
        20,
        "at_max",
        clamps=[("max_instances", 40, 20)],  # 100 % of 20 allows +20, so no step clamp
    ),
    Case(
        "at min: 2 x 0.1 / 0.5 = 0.4 -> 1 wanted, min 2",
        state(2),
        {"cpu": fresh(0.1)},
        2,
        "at_min",
        policy={"min_instances": 2},
    ),
    Case(
        "capped: 10 x 2.0 / 0.5 = 40, step to 20, max 12",
        state(10),
        {"cpu": fresh(2.0)},
        12,
        "scaled_up",
        "bounds",
        policy={"max_instances": 12},
        clamps=[("max_step", 40, 20), ("max_instances", 20, 12)],
    ),
    Case(
        "set above max by hand: brought back to 20 at once, whatever the step",
        state(25),
        {"cpu": fresh(0.5)},
        20,
        "scaled_down",
        "bounds",
        clamps=[("max_instances", 25, 20)],
    ),
    Case(
        "set above max by hand: even in a cooldown with metrics missing",
        state(25, last_scaled_at=ago(seconds=5)),
        {},
        20,
        "scaled_down",
        "bounds",
    ),
    Case(
        "set below min by hand: brought back to 3 even in a cooldown with metrics missing",
        state(0, last_scaled_at=ago(seconds=5)),
        {},
        3,
        "scaled_up",
        "bounds",
        policy={"min_instances": 3},
        clamps=[("min_instances", 0, 3)],
    ),
    Case("no metrics, at the baseline (min_instances): nothing to do", state(1), {}, 1, "no_metrics", policy=BARE),
    Case(
        "no metrics, above the baseline: back towards min_instances by one step (20% of 5 = 1)",
        state(5),
        {},
        4,
        "scaled_down",
        "baseline",
        policy=BARE,
        clamps=[("max_step", 1, 4)],
    ),
    Case(
        "no metrics, a window's floor just ended: the remembered floor holds the stabilisation window",
        state(10),
        {},
        10,
        "stabilizing",
        policy=BARE,
        history=replace(OBSERVED, recommendations=(Recommendation(ago(seconds=30), 10),)),
    ),
    Case(
        "no metrics, above the baseline after a restart: no scale-down before a full window",
        state(10),
        {},
        10,
        "stabilizing",
        policy=BARE,
        history=History(),
    ),
    Case(
        "no metrics, above the baseline inside the scale-down cooldown",
        state(10, last_scaled_at=ago(minutes=2)),
        {},
        10,
        "cooldown",
        policy=BARE,
    ),
    Case(
        "no metrics, above the baseline while instances start",
        state(10, ready=5),
        {},
        10,
        "instances_not_ready",
        policy=BARE,
    ),
    Case(
        "no metrics, inside the window: at its floor",
        state(10),
        {},
        10,
        "at_schedule_floor",
        policy={**BARE, "schedules": [window(floor=10)]},
    ),
    Case(
        "no metrics, the window starts: up to its floor at once",
        state(1),
        {},
        10,
        "scaled_up",
        "schedule",
        policy={**BARE, "schedules": [window(floor=10)]},
    ),
    Case(
        "no metrics, set below min_instances by hand: back to it",
        state(0),
        {},
        3,
        "scaled_up",
        "bounds",
        policy={**BARE, "min_instances": 3},
    ),
    # --- schedules ---
    Case(
        "floor above current applies at once, inside a cooldown, beyond the step",
        state(4, last_scaled_at=ago(seconds=5)),
        {"cpu": fresh(0.5)},
        15,
        "scaled_up",
        "schedule",
        policy={"schedules": [window(floor=15)]},
        clamps=[("schedule_floor", 4, 15)],
    ),
    Case(
        "floor in its lead applies",
        state(4),
        {},
        15,
        "scaled_up",
        "schedule",
        policy={
            "schedules": [
                window(floor=15, start=(NOW + timedelta(minutes=5)).isoformat(), lead="10m"),
            ]
        },
    ),
    Case(
        "floor before its lead does not apply",
        state(4),
        {"cpu": fresh(0.5)},
        4,
        "within_tolerance",
        policy={
            "schedules": [
                window(floor=15, start=(NOW + timedelta(minutes=15)).isoformat(), lead="10m"),
            ]
        },
    ),
    Case(
        "the highest floor wins",
        state(4),
        {},
        15,
        "scaled_up",
        "schedule",
        policy={"schedules": [window("a", floor=12), window("b", floor=15), window("c", floor=9)]},
    ),
    Case(
        "metrics above the floor win: 15 x 0.75 / 0.5 = 22.5 -> 23 wanted, cap 20",
        state(15),
        {"cpu": fresh(0.75)},
        20,
        "scaled_up",
        "bounds",
        policy={"schedules": [window(floor=10)]},
    ),
    Case(
        "at the schedule floor: 15 x 0.1 / 0.5 = 3 wanted",
        state(15),
        {"cpu": fresh(0.1)},
        15,
        "at_schedule_floor",
        policy={"schedules": [window(floor=15)], "scale_down": {"stabilization": "0s"}},
    ),
    Case(
        "ceiling below current is a scale-down caused by the schedule, even if metrics are at target",
        state(10),
        {"cpu": fresh(0.5)},
        6,
        "scaled_down",
        "schedule",
        policy={"schedules": [window(ceiling=6)]},
        clamps=[("schedule_ceiling", 10, 6)],
    ),
    Case(
        "ceiling below current applies inside a cooldown, while stabilising and with metrics missing",
        state(10, last_scaled_at=ago(seconds=5)),
        {},
        6,
        "scaled_down",
        "schedule",
        policy={"schedules": [window(ceiling=6)]},
        history=History(observing_since=ago(seconds=30)),
    ),
    Case(
        "ceiling below current while metrics want a smaller scale-down (10 x 0.4 / 0.5 = 8)",
        state(10),
        {"cpu": fresh(0.4)},
        6,
        "scaled_down",
        "schedule",
        policy={"schedules": [window(ceiling=6)]},
        clamps=[("schedule_ceiling", 8, 6)],
    ),
    Case(
        "at the schedule ceiling: 6 x 1.0 / 0.5 = 12 wanted",
        state(6),
        {"cpu": fresh(1.0)},
        6,
        "at_schedule_ceiling",
        policy={"schedules": [window(ceiling=6)]},
    ),
    Case(
        "the floor beats a lower ceiling of another window",
        state(4),
        {},
        8,
        "scaled_up",
        "schedule",
        policy={"schedules": [window("cap", ceiling=6), window("sale", floor=8)]},
    ),
    Case(
        "a finished window does nothing",
        state(4),
        {"cpu": fresh(0.5)},
        4,
        "within_tolerance",
        policy={
            "schedules": [
                window(floor=15, start=ago(hours=2).isoformat(), end=NOW.isoformat()),
            ]
        },
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_decide_table(case: Case) -> None:
    policy = make_policy(**case.policy)
    decision = decide(policy, case.state, case.observations, case.history, case.now)
    assert (decision.desired, decision.code, decision.cause) == (case.desired, case.code, case.cause)
    assert decision.current == case.state.instances
    expected_action = "up" if case.desired > decision.current else "down" if case.desired < decision.current else "none"
    assert decision.action == expected_action
    if case.clamps is not None:
        assert [(c.rule, c.before, c.after) for c in decision.clamps] == case.clamps
    assert [m.name for m in decision.metrics] == [m.name for m in policy.metrics]
    assert str(case.desired) in decision.explain()


def run(policy: Policy, st: AppState, observations: dict[str, Observation], history: History = OBSERVED) -> Decision:
    return decide(policy, st, observations, history, NOW)


def test_decision_carries_every_metric_value_and_proposal() -> None:
    decision = run(make_policy(metrics=[CPU, BACKLOG]), state(4), {"cpu": fresh(0.75), "backlog": fresh(1000)})
    assert [(m.name, m.value, m.proposal) for m in decision.metrics] == [
        ("cpu", 0.75, 6),  # 4 x 0.75 / 0.5 = 6
        ("backlog", 1000, 2),  # 1000 / 500 = 2
    ]
    assert decision.proposed == 6
    assert decision.recommendation == 6
    assert "highest proposal: cpu (6)" in decision.notes


def test_missing_metric_names_its_reason() -> None:
    decision = run(make_policy(), state(10), {"cpu": Observation.missing("query 'avg(cpu)' returned no series")})
    [metric] = decision.metrics
    assert metric.missing
    assert metric.value is None
    assert "returned no series" in metric.detail
    assert "returned no series" in decision.explain()


def test_stale_metric_keeps_its_value_and_says_how_old() -> None:
    decision = run(make_policy(), state(10), {"cpu": fresh(0.1, age=timedelta(minutes=4))})
    [metric] = decision.metrics
    assert (metric.value, metric.proposal) == (0.1, None)
    assert "240s old (max_age 180s)" in metric.detail  # 4m = 240s, 3m = 180s


def test_deployment_decision_has_no_recommendation() -> None:
    decision = run(make_policy(), state(4, deployment_ids=("d-1", "d-2")), {"cpu": fresh(2.0)})
    assert decision.recommendation is None
    assert "d-1, d-2" in decision.explain()


def test_floor_is_remembered_as_the_recommendation() -> None:
    policy = make_policy(schedules=[window(floor=15)])
    decision = run(policy, state(15), {"cpu": fresh(0.1)})
    assert decision.proposed == 3  # 15 x 0.1 / 0.5 = 3
    assert decision.recommendation == 15
    assert "remembered as 15" in decision.explain()


def test_bounds_reason_says_the_app_was_outside() -> None:
    above = run(make_policy(), state(25), {"cpu": fresh(0.5)})
    assert "capped at max_instances 20 (the app was above it)" in above.explain()
    below = run(make_policy(min_instances=3), state(1), {})
    assert "raised to min_instances 3 (the app was below it)" in below.explain()
    assert below.summary() == f"{APP}: 1 -> 3 (scaled_up: bounds)"


def test_explain_mentions_every_number_that_mattered() -> None:
    policy = make_policy(metrics=[CPU, BACKLOG])
    decision = run(policy, state(10), {"cpu": fresh(0.1), "backlog": fresh(750)})
    # cpu: 10 x 0.1 / 0.5 = 2; backlog: 750 / 500 = 1.5 -> 2; the highest is 2; 20 % of 10 allows -2 -> 8
    text = decision.explain()
    for words in [
        f"{APP}: 10 -> 8 (scaled_down: metrics)",
        "value 0.1 vs target_average 0.5",
        "10 ready x 0.1 / 0.5 = 2.00, proposes 2",
        "value 750 vs target_per_instance 500",
        "750 / 500 per instance = 1.50, proposes 2",
        "metrics recommend 2",
        "max_step: 2 -> 8",
        "allows -2 from 10",
        "outcome: scaled_down, desired 8",
    ]:
        assert words in text, words


def test_explain_of_a_cooldown_says_how_long_to_wait() -> None:
    decision = run(make_policy(), state(10, last_scaled_at=ago(minutes=2)), {"cpu": fresh(0.4)})
    text = decision.explain()
    assert "stays at 10 (cooldown)" in text
    assert "last scaled 2m ago; scale_down cooldown is 10m (wait 8m)" in text  # 10m - 2m = 8m


def test_explain_of_a_schedule_names_the_window() -> None:
    policy = make_policy(schedules=[window("double-11", floor=15, lead="20m")])
    text = run(policy, state(4), {"cpu": fresh(0.5)}).explain()
    assert "schedule double-11 in force (floor 15)" in text
    assert "lead 20m" in text
    assert "schedule_floor: 4 -> 15" in text


def test_explain_without_metrics() -> None:
    text = run(make_policy(metrics=[], min_instances=5), state(5), {}).explain()
    assert "no metrics in this policy" in text
    assert "outcome: no_metrics, desired 5" in text


def test_explain_without_metrics_names_the_baseline_it_returns_to() -> None:
    decision = run(make_policy(metrics=[], min_instances=2), state(10), {})
    text = decision.explain()
    assert f"{APP}: 10 -> 8 (scaled_down: baseline)" in text
    assert "baseline 2 (min_instances: the policy has no metrics)" in text
    assert "no metrics: outside its windows the policy wants its baseline, min_instances 2" in decision.reasons()


def test_observations_of_unknown_metrics_are_ignored() -> None:
    decision = run(make_policy(), state(4), {"cpu": fresh(0.5), "other": fresh(1e6)})
    assert decision.desired == 4


def test_decide_does_not_modify_its_inputs() -> None:
    policy = make_policy()
    st = state(10)
    history = replace(OBSERVED, recommendations=(Recommendation(ago(minutes=1), 9),))
    observations = {"cpu": fresh(0.1)}
    copies = (policy.model_copy(deep=True), st, history, dict(observations))
    decide(policy, st, observations, history, NOW)
    assert (policy, st, history, observations) == copies


# --- History ---


def decision_at(at: datetime, recommendation: int | None) -> Decision:
    return Decision(app_id=APP, at=at, current=5, desired=5, code="within_tolerance", recommendation=recommendation)


def test_history_record_prunes_what_the_window_cannot_need() -> None:
    history = History(
        observing_since=ago(hours=1),
        recommendations=(
            Recommendation(ago(minutes=10), 9),
            Recommendation(ago(minutes=5), 8),  # exactly the window's age: no longer inside it
            Recommendation(ago(minutes=4), 7),
        ),
    )
    after = history.record(decision_at(NOW, 6), keep=timedelta(minutes=5))
    assert after.recommendations == (Recommendation(ago(minutes=4), 7), Recommendation(NOW, 6))
    assert after.observing_since == ago(hours=1)


def test_history_record_starts_observing() -> None:
    after = History().record(decision_at(NOW, 6), keep=timedelta(minutes=5))
    assert after.observing_since == NOW
    assert after.recommendations == (Recommendation(NOW, 6),)


def test_history_record_of_a_deployment_hold_keeps_the_recommendations() -> None:
    history = History(observing_since=ago(hours=1), recommendations=(Recommendation(ago(minutes=1), 9),))
    assert history.record(decision_at(NOW, None), keep=timedelta(minutes=5)) == history
    assert History().record(decision_at(NOW, None), keep=timedelta(minutes=5)).observing_since == NOW


# --- several ticks ---


def simulate(
    policy: Policy,
    st: AppState,
    load: float,
    *,
    start: datetime,
    ticks: int,
    history: History,
    step: timedelta = timedelta(seconds=30),
) -> tuple[list[tuple[datetime, int, int, str]], History]:
    """Run the engine like the loop does: apply every decision, remember it, and move the clock."""
    out = []
    for tick in range(ticks):
        now = start + tick * step
        decision = decide(policy, st, {"cpu": Observation(load, now)}, history, now)
        out.append((now, decision.current, decision.desired, decision.code))
        history = history.record(decision, keep=policy.stabilization_window())
        if decision.scaled:
            st = replace(st, instances=decision.desired, tasks_running=decision.desired, last_scaled_at=now)
    return out, history


def test_window_end_comes_down_gradually() -> None:
    end = NOW + timedelta(minutes=5)
    sale = window(floor=15, start=(NOW - timedelta(hours=1)).isoformat(), end=end.isoformat())
    policy = make_policy(schedules=[sale], scale_down={"cooldown": "5m", "stabilization": "5m"})
    # An hour into the sale, at its floor, with little load: 15 x 0.1 / 0.5 = 3 wanted all along.
    st = state(15, last_scaled_at=NOW - timedelta(hours=1))
    ticks, _ = simulate(policy, st, 0.1, start=NOW, ticks=70, history=History(observing_since=NOW - timedelta(hours=1)))
    changes = [(now, current, desired) for now, current, desired, _ in ticks if desired != current]
    # Inside the window: at the floor (the remembered floor holds the stabilisation window).
    assert all(desired == 15 for now, _, desired, _ in ticks if now < end)
    # The last recommendation of 15 was at end - 30s; it leaves the 5m window at end + 4m30s.
    first_at, first_from, first_to = changes[0]
    assert first_at == end + timedelta(minutes=4, seconds=30)
    assert (first_from, first_to) == (15, 12)  # 20 % of 15 = 3
    # Then one 20 % step per 5m cooldown: 12 - ceil(2.4) = 9, 9 - ceil(1.8) = 7, 7 - ceil(1.4) = 5, ...
    assert [(frm, to) for _, frm, to in changes[1:4]] == [(12, 9), (9, 7), (7, 5)]
    for (earlier, _, _), (later, _, _) in pairwise(changes):
        assert later - earlier >= timedelta(minutes=5)


def test_a_schedule_only_app_goes_through_a_window_and_back_to_its_baseline() -> None:
    start, end = NOW + timedelta(minutes=5), NOW + timedelta(minutes=35)
    sale = window(floor=10, start=start.isoformat(), end=end.isoformat())
    policy = make_policy(metrics=[], min_instances=2, schedules=[sale])
    st, history = state(2), OBSERVED
    ticks: list[Decision] = []
    for tick in range(3 * 60 * 2):  # three hours of 30 s ticks, as the loop runs them
        now = NOW + tick * timedelta(seconds=30)
        decision = decide(policy, st, {}, history, now)
        ticks.append(decision)
        history = history.record(decision, keep=policy.stabilization_window())
        if decision.scaled:
            st = replace(st, instances=decision.desired, tasks_running=decision.desired, last_scaled_at=now)

    before = [d for d in ticks if d.at < start]
    inside = [d for d in ticks if start <= d.at < end]
    after = [d for d in ticks if d.at >= end]
    assert {(d.desired, d.code) for d in before} == {(2, "no_metrics")}
    assert (inside[0].current, inside[0].desired, inside[0].cause) == (2, 10, "schedule")
    assert {d.desired for d in inside} == {10}
    assert {d.code for d in inside[1:]} == {"at_schedule_floor"}
    # After the window: the floor, remembered as the recommendation, holds the 10m stabilisation
    # window (the last one was remembered at end - 30 s), then one step per 10m scale-down cooldown.
    moves = [d for d in after if d.scaled]
    assert moves[0].at == end + timedelta(minutes=9, seconds=30)
    assert (moves[0].current, moves[0].desired, moves[0].cause) == (10, 8, "baseline")  # 20 % of 10 = 2
    assert all(d.cause == "baseline" and d.desired < d.current for d in moves)
    for earlier, later in pairwise(moves):
        assert later.at - earlier.at >= policy.scale_down.cooldown
    for move in moves:
        assert move.current - move.desired <= policy.scale_down.step_size(move.current)
    assert (ticks[-1].current, ticks[-1].desired, ticks[-1].code) == (2, 2, "no_metrics")
    held = [d for d in after if not d.scaled and d.current > 2]
    assert {d.code for d in held} == {"stabilizing", "cooldown"}


def test_restart_then_scale_down_after_one_window() -> None:
    policy = make_policy()
    ticks, _ = simulate(policy, state(10), 0.4, start=NOW, ticks=22, history=History())
    # 10 x 0.4 / 0.5 = 8 is wanted from the first tick, but only after a full 10m window is observed
    codes = [(now - NOW, code) for now, _, _, code in ticks]
    assert all(code == "stabilizing" for offset, code in codes if offset < timedelta(minutes=10))
    assert (timedelta(minutes=10), "scaled_down") in codes


def test_floor_inside_cooldown_then_metrics_resume() -> None:
    policy = make_policy(schedules=[window(floor=12)])
    # just scaled by hand 5s ago: the floor still applies at once
    decision = run(policy, state(4, last_scaled_at=ago(seconds=5)), {"cpu": fresh(0.5)})
    assert (decision.desired, decision.cause) == (12, "schedule")
    # at the floor, more load: 12 x 0.75 / 0.5 = 18, cooldown 30s over
    decision = run(policy, state(12, last_scaled_at=ago(seconds=40)), {"cpu": fresh(0.75)})
    assert (decision.desired, decision.cause) == (18, "metrics")


def test_at_max_explains_a_hold_better_than_the_cooldown() -> None:
    # 20 x 0.9 / 0.5 = 36 wanted, the app is at max 20 and was scaled 10 s ago (cooldown 30 s)
    decision = run(make_policy(), state(20, last_scaled_at=ago(seconds=10)), {"cpu": fresh(0.9)})
    assert (decision.desired, decision.code) == (20, "at_max")


def test_a_long_floor_window_reports_the_floor_not_stabilizing() -> None:
    # The floor (8) has held for an hour: History remembers 8 every tick, load wants 8 x 0.1 / 0.5 = 2.
    policy = make_policy(schedules=[window(floor=8, start=(NOW - timedelta(hours=1)).isoformat())])
    history = History(
        observing_since=NOW - timedelta(hours=1),
        recommendations=tuple(Recommendation(at=ago(seconds=15 * i), instances=8) for i in range(1, 20)),
    )
    decision = run(policy, state(8), {"cpu": fresh(0.1)}, history)
    assert (decision.desired, decision.code) == (8, "at_schedule_floor")


# --- History: ready counts for the metric window ---


def test_history_record_keeps_a_run_of_equal_ready_counts_as_its_latest_tick() -> None:
    policy = make_policy()
    history = OBSERVED
    for seconds, ready in ((-45, 2), (-30, 2), (-15, 3)):
        at = NOW + timedelta(seconds=seconds)
        history = history.record(
            decide(policy, state(4, ready=ready), {"cpu": fresh(0.5)}, history, at), keep=policy.stabilization_window()
        )
    assert [(r.at, r.instances) for r in history.ready] == [(ago(seconds=30), 2), (ago(seconds=15), 3)]
    assert history.ready_range(ago(seconds=60), 4) == (2, 4)
    assert history.ready_range(ago(seconds=40), 4) == (2, 4)  # 2 was still ready 30 s ago
    assert history.ready_range(ago(seconds=20), 4) == (3, 4)
    assert history.ready_range(NOW, 4) == (4, 4)


def test_history_record_of_a_deployment_hold_keeps_its_ready_count() -> None:
    # a scale-up is a deployment until the new instances are ready: its ticks still count for the window
    deploying = state(4, ready=2, deployment_ids=("d-1",))
    decision = decide(make_policy(), deploying, {"cpu": fresh(1.0)}, OBSERVED, NOW)
    assert decision.code == "deployment_in_progress" and decision.recommendation is None and decision.ready == 2
    after = OBSERVED.record(decision, keep=timedelta(minutes=5))
    assert after.ready == (ReadyCount(NOW, 2),)
    assert after.recommendations == OBSERVED.recommendations


def test_history_record_prunes_ready_counts_with_the_recommendations() -> None:
    history = replace(
        OBSERVED, ready=(ReadyCount(ago(minutes=6), 1), ReadyCount(ago(minutes=5), 2), ReadyCount(ago(minutes=4), 3))
    )
    decision = replace(decision_at(NOW, 6), ready=4)
    after = history.record(decision, keep=timedelta(minutes=5))
    assert after.ready == (ReadyCount(ago(minutes=4), 3), ReadyCount(NOW, 4))


def test_history_record_when_the_clock_went_back() -> None:
    history = replace(OBSERVED, recommendations=(Recommendation(ago(minutes=8), 9), Recommendation(ago(minutes=1), 8)))
    after = history.record(decision_at(ago(minutes=2), 7), keep=timedelta(minutes=5))
    # 8m ago is outside the 5m before the decision (2m ago); the rest is kept in arrival order
    assert after.recommendations == (Recommendation(ago(minutes=1), 8), Recommendation(ago(minutes=2), 7))


def test_explain_names_the_metric_window_when_it_changed_the_count() -> None:
    history = replace(OBSERVED, ready=(ReadyCount(ago(seconds=45), 2),))
    decision = run(make_policy(), state(4), {"cpu": fresh(0.9)}, history)
    assert decision.desired == 4
    assert "4 ready, 2 the fewest within the 60s metric window: 2 x 0.9 / 0.5 = 3.60, proposes 4" in decision.explain()


def test_explain_says_why_a_saturated_average_goes_over_the_last_ticks_ready_count() -> None:
    history = replace(OBSERVED, ready=(ReadyCount(ago(seconds=45), 2), ReadyCount(ago(seconds=15), 3)))
    decision = run(make_policy(), state(4), {"cpu": fresh(1.0)}, history)
    assert decision.desired == 6
    assert (
        "4 ready, 3 at the last tick: the 60s average is at its cap (saturation 1), so its newest samples "
        "measured those 3 at the cap, not only the fewest 2: 3 x 1 / 0.5 = 6.00, proposes 6"
    ) in decision.explain()


def test_explain_says_a_saturated_average_is_not_within_tolerance() -> None:
    policy = make_policy(metrics=[{**CPU, "target_average": 0.95}])
    decision = run(policy, state(10), {"cpu": fresh(1.0)})
    assert decision.desired == 11
    assert (
        "10 ready x 1 / 0.95 = 10.53 (at its cap 1, so not within tolerance 0.1: the load is at least this), "
        "proposes 11"
    ) in decision.explain()


def test_explain_says_the_instances_not_yet_measured_carry_a_rise() -> None:
    decision = run(make_policy(), state(10, ready=8), {"cpu": fresh(0.65)})
    assert decision.desired == 10
    assert (
        "8 ready x 0.65 / 0.5 = 10.40; the current 10 carry it within tolerance 0.1 (2 of them not yet "
        "measured by the average: still starting, or ready within the 60s window), proposes 10"
    ) in decision.explain()


def test_history_last_ready_is_the_newest_tick_within_the_window() -> None:
    history = replace(OBSERVED, ready=(ReadyCount(ago(seconds=45), 2), ReadyCount(ago(seconds=15), 3)))
    assert history.last_ready(ago(seconds=60)) == 3
    assert history.last_ready(ago(seconds=15)) == 3
    assert history.last_ready(ago(seconds=10)) is None
    assert OBSERVED.last_ready(ago(seconds=60)) is None


# --- reasons are formatted when read, and behave as plain values ---


def test_reasons_are_text_when_read_and_decisions_stay_values() -> None:
    import pickle

    policy = make_policy()
    decision = run(policy, state(10, last_scaled_at=ago(minutes=1)), {"cpu": fresh(0.1)})
    assert decision.code == "cooldown"
    clamp = decision.clamps[-1]
    assert clamp.detail == "last scaled 1m ago; scale_down cooldown is 10m (wait 9m)"
    assert decision.metrics[0].detail == "10 ready x 0.1 / 0.5 = 2.00, proposes 2"
    again = run(policy, state(10, last_scaled_at=ago(minutes=1)), {"cpu": fresh(0.1)})
    assert again == decision and hash(again.clamps) == hash(decision.clamps)
    assert pickle.loads(pickle.dumps(decision)) == decision
    assert "detail='last scaled 1m ago" in repr(clamp)
    with pytest.raises(AttributeError):
        clamp.rule = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        decision.metrics[0].proposal = 3  # type: ignore[misc]
