"""The policy's `fallback` field: `{after: 2m, instances: N | forecast | schedule}`.

Parsed and checked here; what it does is `core.fallback`'s and the engine's. A fallback stands in for
missing metrics, so it needs metrics; `forecast` needs the policy's `predictive` block, `schedule` a
schedule with a floor, and a fixed count must fit under `max_instances` (each error at its field).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BeforeValidator

from autoscaler.core.fields import Duration, Model
from autoscaler.core.windows import Schedule

# How long every metric of an app must have been missing before its `fallback` applies.
DEFAULT_FALLBACK_AFTER = timedelta(minutes=2)

__all__ = ["DEFAULT_FALLBACK_AFTER", "Fallback", "fallback_errors"]


def _parse_instances(value: object) -> object:
    if isinstance(value, str) and value.strip() in ("forecast", "schedule"):
        return value.strip()
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"instances is a count (like 10), forecast or schedule; got {value!r}")
    if value < 0:
        raise ValueError(f"instances is a count of 0 or more, got {value}")
    return value


class Fallback(Model):
    """What an app rises to when every one of its metrics has been missing for `after` (`core.fallback`):
    at least `instances`, a count, `forecast` (the predictive forecast) or `schedule` (the highest
    floor of its windows in force or due within a day). A floor: it never lowers the count."""

    after: Duration = DEFAULT_FALLBACK_AFTER
    instances: Annotated[int | Literal["forecast", "schedule"], BeforeValidator(_parse_instances)]


def fallback_errors(
    fallback: Fallback | None,
    *,
    has_metrics: bool,
    has_predictive: bool,
    schedules: Sequence[Schedule],
    max_instances: int,
) -> list[tuple[tuple[str | int, ...], str, object]]:
    """The errors of a policy's fallback, each at its field (none without a fallback)."""
    if fallback is None:
        return []
    instances = fallback.instances
    where: tuple[str | int, ...] = ("fallback", "instances")
    if not has_metrics:
        return [(("fallback",), "a fallback stands in for missing metrics: the policy has none", None)]
    if instances == "forecast" and not has_predictive:
        return [(where, "instances: forecast needs the policy's predictive block (its learned history)", instances)]
    if instances == "schedule" and not any(s.min_instances is not None for s in schedules):
        return [(where, "instances: schedule needs a schedule with min_instances", instances)]
    if isinstance(instances, int) and instances > max_instances:
        return [(where, f"the fallback of {instances} is above max_instances ({max_instances})", instances)]
    return []
