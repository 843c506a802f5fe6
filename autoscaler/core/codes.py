"""The outcome codes an app can end a tick with, each with its kind and a one-line description.

The engine's decisions and the loop's outcomes are plain strings; this table is where they are
described once, for the status API and the dashboard (which receives it from the server instead of
keeping its own list). `problem` codes are what an operator must look at (data missing, a write
refused, an app Marathon does not know); `hold` codes are the engine working as intended.
A code missing from the table is still valid: readers show it as `unknown`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Kind = Literal["action", "hold", "problem"]

__all__ = ["CAUSES", "CODES", "PROBLEM_CODES", "CodeInfo", "Kind", "kind_of"]


@dataclass(frozen=True)
class CodeInfo:
    kind: Kind
    description: str


CODES: Mapping[str, CodeInfo] = {
    "scaled_up": CodeInfo("action", "Marathon accepted a scale-up"),
    "scaled_down": CodeInfo("action", "Marathon accepted a scale-down"),
    "dry_run": CodeInfo("action", "a change was decided but not sent (dry run)"),
    "not_leader": CodeInfo("hold", "a change was decided; this instance is a follower, the leader writes"),
    "within_tolerance": CodeInfo("hold", "every metric is within the tolerance band of its target"),
    "cooldown": CodeInfo("hold", "the direction's cooldown since the last scale has not passed"),
    "stabilizing": CodeInfo("hold", "the stabilisation window does not yet agree on a change"),
    "at_max": CodeInfo("hold", "already at max_instances"),
    "at_min": CodeInfo("hold", "already at min_instances"),
    "at_schedule_floor": CodeInfo("hold", "a schedule floor holds the count"),
    "at_schedule_ceiling": CodeInfo("hold", "a schedule ceiling holds the count"),
    "at_forecast": CodeInfo("hold", "the forecast holds the count"),
    "metric_window": CodeInfo(
        "hold", "new instances are not yet measured: the metric window still holds the earlier ready count"
    ),
    "no_metrics": CodeInfo("hold", "the policy has no metrics and nothing else asks for another count"),
    "instances_not_ready": CodeInfo("hold", "many tasks are starting: no scale-down until they are ready"),
    "deployment_in_progress": CodeInfo("hold", "a deployment is running (or Marathon answered 409): nothing sent"),
    "missing_metrics": CodeInfo("problem", "a metric has no usable value: no scale-down from it"),
    "app_not_found": CodeInfo("problem", "Marathon has no app with this id: nothing is created"),
    "invalid_app_state": CodeInfo("problem", "Marathon's data for the app is unusable: nothing written"),
    "internal_error": CodeInfo("problem", "an unexpected error while deciding this app (see the log)"),
    "write_rejected": CodeInfo("problem", "Marathon refused the write (4xx)"),
    "write_failed": CodeInfo("problem", "the write failed after its retries (5xx, 429 or no answer)"),
    "deployment_cap": CodeInfo("problem", "Marathon's running-deployments cap refused the write (403)"),
}

# What moved the count of a scale action (a Decision's `cause`), each with its one-line description.
CAUSES: Mapping[str, str] = {
    "metrics": "the metrics' recommendation",
    "baseline": "a policy without metrics returning to min_instances after a window",
    "forecast": "the seasonal forecast (predictive mode on)",
    "schedule": "a schedule or campaign window's floor or ceiling",
    "ramp": "a step of a schedule window's ramp_up or ramp_down",
    "fallback": "the policy's fallback: every metric has been missing for fallback.after",
    "bounds": "min_instances or max_instances",
}

PROBLEM_CODES = frozenset(code for code, info in CODES.items() if info.kind == "problem")


def kind_of(code: str | None) -> Kind | Literal["unknown", "pending"]:
    """The kind of a code; `pending` before the first tick, `unknown` for a code not in the table."""
    if code is None:
        return "pending"
    info = CODES.get(code)
    return info.kind if info is not None else "unknown"
