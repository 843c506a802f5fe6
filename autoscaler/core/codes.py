"""The engine's vocabulary: outcome, hold, cause and clamp-rule codes, each with one description.

Every code is a `StrEnum` whose value is the text that JSON, logs, notifications and the dashboard
have always carried, so `Outcome.COOLDOWN == "cooldown"` and a reader that still compares strings
keeps working. Each code is described exactly once, here; the status API hands the table to the
dashboard (`CODES`) instead of the dashboard keeping its own list.

- `Outcome`: what an app ended a tick with. `action` codes changed (or would change) the count;
  `hold` codes are the engine working as intended; `problem` codes are what an operator must look at
  (data missing, a write refused, an app Marathon does not know).
- `Hold`: the subset a Decision that keeps the count carries (the engine's own holds).
- `Cause`: what moved the count of a Decision that scales.
- `Rule`: the stage that recorded a clamp (`Clamp.rule`).

A code missing from the tables (a newer service, an older dashboard) is still valid: readers show it
as `unknown`. An app no tick has decided yet has no code: `describe(None)` says what that means.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

Kind = Literal["action", "hold", "problem"]
Direction = Literal["up", "down"]

__all__ = [
    "CODES",
    "PENDING",
    "PROBLEM_CODES",
    "Cause",
    "CodeInfo",
    "Direction",
    "Hold",
    "Kind",
    "Outcome",
    "Rule",
    "describe",
    "kind_of",
]


class Outcome(StrEnum):
    """Every code an app can end a tick with; `.kind` and `.description` say what it means."""

    SCALED_UP = "scaled_up"
    SCALED_DOWN = "scaled_down"
    DRY_RUN = "dry_run"
    NOT_LEADER = "not_leader"
    WITHIN_TOLERANCE = "within_tolerance"
    COOLDOWN = "cooldown"
    STABILIZING = "stabilizing"
    AT_MAX = "at_max"
    AT_MIN = "at_min"
    AT_SCHEDULE_FLOOR = "at_schedule_floor"
    AT_SCHEDULE_CEILING = "at_schedule_ceiling"
    AT_FORECAST = "at_forecast"
    METRIC_WINDOW = "metric_window"
    NO_METRICS = "no_metrics"
    INSTANCES_NOT_READY = "instances_not_ready"
    DEPLOYMENT_IN_PROGRESS = "deployment_in_progress"
    PAUSED = "paused"
    MISSING_METRICS = "missing_metrics"
    APP_NOT_FOUND = "app_not_found"
    INVALID_APP_STATE = "invalid_app_state"
    INTERNAL_ERROR = "internal_error"
    WRITE_REJECTED = "write_rejected"
    WRITE_FAILED = "write_failed"
    DEPLOYMENT_CAP = "deployment_cap"

    @property
    def kind(self) -> Kind:
        return CODES[self].kind

    @property
    def description(self) -> str:
        return CODES[self].description


class Hold(StrEnum):
    """The codes of a Decision that keeps the count: the engine's holds (described as Outcomes)."""

    WITHIN_TOLERANCE = Outcome.WITHIN_TOLERANCE.value
    COOLDOWN = Outcome.COOLDOWN.value
    STABILIZING = Outcome.STABILIZING.value
    AT_MAX = Outcome.AT_MAX.value
    AT_MIN = Outcome.AT_MIN.value
    AT_SCHEDULE_FLOOR = Outcome.AT_SCHEDULE_FLOOR.value
    AT_SCHEDULE_CEILING = Outcome.AT_SCHEDULE_CEILING.value
    AT_FORECAST = Outcome.AT_FORECAST.value
    METRIC_WINDOW = Outcome.METRIC_WINDOW.value
    NO_METRICS = Outcome.NO_METRICS.value
    INSTANCES_NOT_READY = Outcome.INSTANCES_NOT_READY.value
    DEPLOYMENT_IN_PROGRESS = Outcome.DEPLOYMENT_IN_PROGRESS.value
    MISSING_METRICS = Outcome.MISSING_METRICS.value
    PAUSED = Outcome.PAUSED.value

    @property
    def description(self) -> str:
        return CODES[self].description


class Cause(StrEnum):
    """What moved the count of a Decision that scales (empty for a hold)."""

    NONE = ""
    METRICS = "metrics"
    BASELINE = "baseline"
    FORECAST = "forecast"
    SCHEDULE = "schedule"
    RAMP = "ramp"
    FALLBACK = "fallback"
    BOUNDS = "bounds"

    @property
    def description(self) -> str:
        return _CAUSES[self]


class Rule(StrEnum):
    """The stage that recorded a clamp, in the order the stages run."""

    MISSING_METRICS = "missing_metrics"
    INSTANCES_NOT_READY = "instances_not_ready"
    STABILIZATION = "stabilization"
    MAX_STEP = "max_step"
    MIN_STEP = "min_step"
    COOLDOWN = "cooldown"
    FORECAST = "forecast"
    FALLBACK = "fallback"
    SCHEDULE_CEILING = "schedule_ceiling"
    SCHEDULE_FLOOR = "schedule_floor"
    SCHEDULE_RAMP = "schedule_ramp"
    MAX_INSTANCES = "max_instances"
    MIN_INSTANCES = "min_instances"
    PAUSED = "paused"

    @property
    def description(self) -> str:
        return _RULES[self]


@dataclass(frozen=True)
class CodeInfo:
    kind: Kind
    description: str
    direction: Direction | None = None  # Marathon accepted a change of the count this way


CODES: Mapping[str, CodeInfo] = {
    Outcome.SCALED_UP: CodeInfo("action", "Marathon accepted a scale-up", "up"),
    Outcome.SCALED_DOWN: CodeInfo("action", "Marathon accepted a scale-down", "down"),
    Outcome.DRY_RUN: CodeInfo("action", "a change was decided but not sent (dry run)"),
    Outcome.NOT_LEADER: CodeInfo("hold", "a change was decided; this instance is a follower, the leader writes"),
    Outcome.WITHIN_TOLERANCE: CodeInfo("hold", "every metric is within the tolerance band of its target"),
    Outcome.COOLDOWN: CodeInfo("hold", "the direction's cooldown since the last scale has not passed"),
    Outcome.STABILIZING: CodeInfo("hold", "the stabilisation window does not yet agree on a change"),
    Outcome.AT_MAX: CodeInfo("hold", "already at max_instances"),
    Outcome.AT_MIN: CodeInfo("hold", "already at min_instances"),
    Outcome.AT_SCHEDULE_FLOOR: CodeInfo("hold", "a schedule floor holds the count"),
    Outcome.AT_SCHEDULE_CEILING: CodeInfo("hold", "a schedule ceiling holds the count"),
    Outcome.AT_FORECAST: CodeInfo("hold", "the forecast holds the count"),
    Outcome.METRIC_WINDOW: CodeInfo(
        "hold", "new instances are not yet measured: the metric window still holds the earlier ready count"
    ),
    Outcome.NO_METRICS: CodeInfo("hold", "the policy has no metrics and nothing else asks for another count"),
    Outcome.INSTANCES_NOT_READY: CodeInfo("hold", "many tasks are starting: no scale-down until they are ready"),
    Outcome.DEPLOYMENT_IN_PROGRESS: CodeInfo(
        "hold", "a deployment is running (or Marathon answered 409): nothing sent"
    ),
    Outcome.PAUSED: CodeInfo(
        "hold", "paused by an operator or the app's labels until a set time: decided, never written"
    ),
    Outcome.MISSING_METRICS: CodeInfo("problem", "a metric has no usable value: no scale-down from it"),
    Outcome.APP_NOT_FOUND: CodeInfo("problem", "Marathon has no app with this id: nothing is created"),
    Outcome.INVALID_APP_STATE: CodeInfo("problem", "Marathon's data for the app is unusable: nothing written"),
    Outcome.INTERNAL_ERROR: CodeInfo("problem", "an unexpected error while deciding this app (see the log)"),
    Outcome.WRITE_REJECTED: CodeInfo("problem", "Marathon refused the write (4xx)"),
    Outcome.WRITE_FAILED: CodeInfo("problem", "the write failed after its retries (5xx, 429 or no answer)"),
    Outcome.DEPLOYMENT_CAP: CodeInfo("problem", "Marathon's running-deployments cap refused the write (403)"),
}

_CAUSES: Mapping[Cause, str] = {
    Cause.NONE: "the count did not change",
    Cause.METRICS: "the metrics' proposal moved the count",
    Cause.BASELINE: "a policy without metrics returned to its baseline, min_instances",
    Cause.FORECAST: "the forecast raised the count ahead of the load it expects",
    Cause.SCHEDULE: "a schedule or campaign window's floor or ceiling set the count",
    Cause.RAMP: "a step of a schedule window's ramp_up or ramp_down set the count",
    Cause.FALLBACK: "every metric has been missing for fallback.after: the policy's fallback raised the count",
    Cause.BOUNDS: "min_instances or max_instances brought the count back inside its bounds",
}

_RULES: Mapping[Rule, str] = {
    Rule.MISSING_METRICS: "a missing metric may not drive a scale-down",
    Rule.INSTANCES_NOT_READY: "no scale-down while many instances are still starting",
    Rule.STABILIZATION: "a change goes only as far as the recommendations of its window agree",
    Rule.MAX_STEP: "the largest change one decision may make in a direction",
    Rule.MIN_STEP: "the smallest scale-down worth a deployment",
    Rule.COOLDOWN: "the wait after the last scale before the next in a direction",
    Rule.FORECAST: "the forecast's count applies at once, like a schedule floor",
    Rule.SCHEDULE_CEILING: "the lowest ceiling of the windows in force caps the count",
    Rule.SCHEDULE_FLOOR: "the highest floor of the windows in force applies at once",
    Rule.SCHEDULE_RAMP: "a window's ramp: its floor in steps before it applies, and its steps down after its end",
    Rule.FALLBACK: "with every metric missing for fallback.after, the fallback's count applies at once",
    Rule.MAX_INSTANCES: "the count never goes above max_instances",
    Rule.MIN_INSTANCES: "the count never goes below min_instances",
    Rule.PAUSED: "a pause in force keeps the count where it is, schedule floors included",
}

PROBLEM_CODES = frozenset(code for code, info in CODES.items() if info.kind == "problem")

# What an app without a code (no tick has decided it yet) is shown as, and what that means.
PENDING: Final = "pending"
_PENDING_DESCRIPTION = "no tick has decided this app yet"


def kind_of(code: str | None) -> Kind | Literal["unknown", "pending"]:
    """The kind of a code; `pending` before the first tick, `unknown` for a code not in the table."""
    if code is None:
        return PENDING
    info = CODES.get(code)
    return info.kind if info is not None else "unknown"


def describe(code: str | None) -> str | None:
    """A code's description; for None (no tick yet) what pending means; None for a code not in the table."""
    if code is None:
        return _PENDING_DESCRIPTION
    info = CODES.get(code)
    return info.description if info is not None else None
