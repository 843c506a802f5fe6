"""A compact in-memory trend per app: instances, desired and load against target over the last hours.

The dashboard draws it next to each app; 10,000 apps must fit in a few tens of megabytes, so each app
keeps typed arrays (12 bytes a point) of at most `points` points, one per `window / points` step
(the newest value of a step replaces the previous one of the same step). `load` is the highest
load/target ratio of the app's metrics in that decision (1.0: at target; NaN: no usable metric).
The scale actions Marathon accepted are taken from the same reports.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from autoscaler.core.decide import Decision
from autoscaler.reports import TickReport

DEFAULT_TREND_WINDOW = timedelta(hours=3)
DEFAULT_TREND_POINTS = 180
_MAX_COUNT = 2**32 - 1

__all__ = ["DEFAULT_TREND_POINTS", "DEFAULT_TREND_WINDOW", "ScaleAction", "Trend", "TrendStore", "load_ratio"]


def load_ratio(decision: Decision) -> float:
    """The highest load/target ratio of the decision's metrics (NaN when none has a value)."""
    highest = math.nan
    for evaluation in decision.metrics:
        value = evaluation.value
        if evaluation.missing or value is None or not math.isfinite(value) or evaluation.target <= 0:
            continue
        if evaluation.kind == "average":
            ratio = value / evaluation.target
        elif decision.current > 0:
            ratio = value / (evaluation.target * decision.current)
        else:
            continue
        if math.isnan(highest) or ratio > highest:
            highest = ratio
    return highest


@dataclass(frozen=True)
class ScaleAction:
    at: datetime
    app_id: str
    before: int
    after: int
    code: str
    cause: str | None


class Trend:
    """One app's points, oldest first: unix seconds, instances, desired, load ratio."""

    __slots__ = ("desired", "instances", "load", "times")

    def __init__(self) -> None:
        self.times = array("I")
        self.instances = array("I")
        self.desired = array("I")
        self.load = array("f")

    def add(self, *, at: int, instances: int, desired: int, load: float, step: int, points: int) -> None:
        instances, desired = min(max(instances, 0), _MAX_COUNT), min(max(desired, 0), _MAX_COUNT)
        if self.times and self.times[-1] // step == at // step:
            self.times[-1], self.instances[-1], self.desired[-1], self.load[-1] = at, instances, desired, load
            return
        self.times.append(at)
        self.instances.append(instances)
        self.desired.append(desired)
        self.load.append(load)
        if len(self.times) > points:
            for column in (self.times, self.instances, self.desired, self.load):
                del column[0]

    def __len__(self) -> int:
        return len(self.times)

    def rows(self) -> Iterator[tuple[int, int, int, float]]:
        return zip(self.times, self.instances, self.desired, self.load, strict=True)


class TrendStore:
    """The trends of every managed app (not thread-safe: its owner locks)."""

    def __init__(self, *, window: timedelta, points: int) -> None:
        if points < 2 or window <= timedelta(0):
            raise ValueError("a trend needs a positive window and at least 2 points")
        self.points = points
        self.window = window
        self.step = max(1, int(window.total_seconds() // points))
        self._trends: dict[str, Trend] = {}

    def add(self, report: TickReport) -> None:
        at = int(report.at.timestamp())  # the tick's time: a steady app's decision may be an earlier tick's
        for app_id, outcome in report.outcomes.items():
            decision = outcome.decision
            if decision is None:
                continue
            trend = self._trends.get(app_id)
            if trend is None:
                trend = self._trends[app_id] = Trend()
            trend.add(
                at=at,
                instances=decision.current,
                desired=decision.desired,
                load=load_ratio(decision),
                step=self.step,
                points=self.points,
            )

    @staticmethod
    def actions_of(report: TickReport) -> Iterator[ScaleAction]:
        for app_id, outcome in report.outcomes.items():
            decision = outcome.decision
            if outcome.scaled and decision is not None and outcome.write is not None:
                yield ScaleAction(
                    at=decision.at,
                    app_id=app_id,
                    before=decision.current,
                    after=outcome.write.instances,
                    code=outcome.code,
                    cause=decision.cause,
                )

    def keep(self, app_ids: set[str]) -> None:
        for app_id in [a for a in self._trends if a not in app_ids]:
            del self._trends[app_id]

    def get(self, app_id: str) -> Trend | None:
        return self._trends.get(app_id)
