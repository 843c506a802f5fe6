"""`autoscaler backtest`: what a policy would have done over a past period, on real history.

Each metric's history comes from its source with range queries (Prometheus `query_range`, Graphite
render with absolute from/until), then the SAME engine decides at every tick of the period, open
loop: the history is what it was, only the instance count is the policy's own. An operator runs this
before switching a new policy on: how often would it have scaled, how long would it have sat at max?

For `target_average` metrics the recorded value is an average over the fleet that actually ran then.
When the `Fleet`'s `historical_instances` is given, the load it represents (value x that count) is
spread over the backtest's own instance count instead; otherwise the value is used as it was.

A policy with `predictive` forecasts as the live loop does, with the same `Forecaster`: its load
history is what the source returned for the lookback before the period (`prior`, loaded like the
service loads it at start) plus the period's earlier ticks. The `Period`'s `warmup` replays its first
part without counting it (as `simulate` does): give it at least `min_samples` periods when the
source has no load history before the period. The replay's instances are ready at once, so there is
no start-up time to learn: the `Fleet`'s `startup` gives it (else the forecast's fallback).
"""

from __future__ import annotations

import bisect
import csv
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

from autoscaler.core.controller import AppController
from autoscaler.core.decide import History
from autoscaler.core.forecast import LoadHistory
from autoscaler.core.model import AppState, Observation
from autoscaler.core.policy import Policy
from autoscaler.core.predict import Forecaster
from autoscaler.core.schedule import active_windows
from autoscaler.sim.plot import _axes, _step_line, _time_ticks

Points = Sequence[tuple[datetime, float | None]]


@dataclass(frozen=True)
class BacktestTick:
    at: datetime
    values: Mapping[str, float | None]
    current: int
    desired: int
    code: str
    cause: str
    reasons: tuple[str, ...]
    forecast: int | None = None  # the forecast's proposal (policies with `predictive`), None: no forecast yet
    proposed_by: str = "reactive"  # which proposal won: reactive or forecast


@dataclass(frozen=True)
class BacktestResult:
    app_id: str
    start: datetime
    end: datetime
    step: timedelta
    min_instances: int
    max_instances: int
    ticks: tuple[BacktestTick, ...]  # after the warm-up
    missing_history: tuple[str, ...] = ()
    warmup: timedelta = timedelta(0)  # replayed before `start`, not counted
    predictive: str | None = None  # the policy's predictive mode, None without one

    @property
    def actions(self) -> int:
        return sum(1 for tick in self.ticks if tick.desired != tick.current)

    @property
    def time_at_max(self) -> timedelta:
        return self.step * sum(1 for tick in self.ticks if tick.desired >= self.max_instances)

    @property
    def time_at_min(self) -> timedelta:
        return self.step * sum(1 for tick in self.ticks if tick.desired <= self.min_instances)

    def summary(self) -> dict[str, Any]:
        ups = sum(1 for t in self.ticks if t.desired > t.current)
        return {
            "app": self.app_id,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "step_seconds": self.step.total_seconds(),
            "ticks": len(self.ticks),
            "scale_actions": self.actions,
            "scale_ups": ups,
            "scale_downs": self.actions - ups,
            "time_at_max_minutes": self.time_at_max.total_seconds() / 60,
            "time_at_min_minutes": self.time_at_min.total_seconds() / 60,
            "highest_instances": max((t.desired for t in self.ticks), default=0),
            "lowest_instances": min((t.desired for t in self.ticks), default=0),
            "metrics_without_history": list(self.missing_history),
            **(
                {
                    "warmup_minutes": self.warmup.total_seconds() / 60,
                    "predictive_mode": self.predictive,
                    "ticks_with_forecast": sum(1 for t in self.ticks if t.forecast is not None),
                    "ticks_won_by_forecast": sum(1 for t in self.ticks if t.proposed_by == "forecast"),
                }
                if self.predictive is not None
                else {}
            ),
        }


def _latest(points: Points, times: list[datetime], at: datetime) -> tuple[float | None, datetime | None]:
    index = bisect.bisect_right(times, at) - 1
    while index >= 0:
        value = points[index][1]
        if value is not None:
            return value, points[index][0]
        index -= 1
    return None, None


@dataclass(frozen=True)
class Period:
    """What a backtest replays: every `step` of [start, end); the ticks of the first `warmup` are run
    but not counted."""

    start: datetime
    end: datetime
    step: timedelta
    warmup: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if self.warmup < timedelta(0) or self.start + self.warmup >= self.end:
            raise ValueError("the warm-up must be shorter than the period")


@dataclass(frozen=True)
class Fleet:
    """The replayed fleet: the count it starts with (default: the policy's minimum), the count that ran
    when the history was recorded (None: values taken as they were), its instances' start-up time
    (None: the forecast's fallback)."""

    initial_instances: int | None = None
    historical_instances: int | None = None
    startup: timedelta | None = None


def replay(
    policy: Policy,
    history: Mapping[str, Points],
    *,
    period: Period,
    fleet: Fleet | None = None,
    prior: Mapping[str, LoadHistory] | None = None,
) -> BacktestResult:
    """Run the engine at every tick of `period` on the recorded history, with `fleet` (default:
    `Fleet()`). `prior`: load histories by metric name (from the source, before the period's start),
    which the forecaster starts from and keeps adding to. Pure but for `prior`, which is added to."""
    fleet = Fleet() if fleet is None else fleet
    start, end, step, warmup = period.start, period.end, period.step, period.warmup
    initial_instances, historical_instances = fleet.initial_instances, fleet.historical_instances
    instances = policy.min_instances if initial_instances is None else initial_instances
    window = policy.stabilization_window()
    last_scaled: datetime | None = None
    forecaster = Forecaster(policy.predictive)
    if policy.predictive is not None and prior:
        forecaster.histories.update({spec.name: prior[spec.name] for spec in policy.metrics if spec.name in prior})
    controller = AppController(
        policy,
        tick=step,
        startup=fleet.startup,
        history=History(observing_since=start - window),  # as a service that has been running a while
        forecaster=forecaster,
    )
    counted_from = start + warmup
    ordered = {name: sorted(points, key=lambda p: p[0]) for name, points in history.items()}
    times = {name: [p[0] for p in points] for name, points in ordered.items()}
    ticks: list[BacktestTick] = []
    at = start
    while at < end:
        observations: dict[str, Observation] = {}
        seen: dict[str, float | None] = {}
        for spec in policy.metrics:
            value, stamp = _latest(ordered.get(spec.name, []), times.get(spec.name, []), at)
            if value is not None and spec.kind == "average" and historical_instances and instances > 0:
                value = value * historical_instances / instances
            seen[spec.name] = value
            observations[spec.name] = (
                Observation(value=value, timestamp=stamp)
                if value is not None
                else Observation.missing("no recorded value at this time")
            )
        state = AppState(app_id=policy.app, instances=instances, tasks_running=instances, last_scaled_at=last_scaled)
        decision = controller.step(state, observations, at)
        if at >= counted_from:
            ticks.append(
                BacktestTick(
                    at=at,
                    values=seen,
                    current=instances,
                    desired=decision.desired,
                    code=decision.code,
                    cause=decision.cause,
                    reasons=tuple(decision.reasons()),
                    forecast=decision.forecast.proposal if decision.forecast is not None else None,
                    proposed_by=decision.proposed_by,
                )
            )
        if decision.desired != instances:
            instances = decision.desired
            last_scaled = at
        at += step
    missing = tuple(
        name for name in (s.name for s in policy.metrics) if not any(v is not None for _, v in history.get(name, []))
    )
    return BacktestResult(
        app_id=policy.app,
        start=counted_from,
        end=end,
        step=step,
        min_instances=policy.min_instances,
        max_instances=policy.max_instances,
        ticks=tuple(ticks),
        missing_history=missing,
        warmup=warmup,
        predictive=policy.predictive.mode if policy.predictive is not None else None,
    )


def write_csv(result: BacktestResult, path: str | Path) -> None:
    names = sorted({name for tick in result.ticks for name in tick.values})
    with Path(path).open("w", newline="") as handle:
        writer = csv.writer(handle)
        predictive = result.predictive is not None
        extra = ["forecast", "proposed_by"] if predictive else []
        writer.writerow(["time", *names, "instances", "desired", "code", "cause", "reasons", *extra])
        for tick in result.ticks:
            values = ["" if tick.values.get(n) is None else f"{tick.values[n]:g}" for n in names]
            forecast = ["" if tick.forecast is None else tick.forecast, tick.proposed_by] if predictive else []
            writer.writerow(
                [
                    tick.at.isoformat(),
                    *values,
                    tick.current,
                    tick.desired,
                    tick.code,
                    tick.cause,
                    " | ".join(tick.reasons),
                    *forecast,
                ]
            )


_WIDTH, _LEFT, _RIGHT = 1200, 70, 20


def _hline(y: float, colour: str, dashes: str) -> str:
    return (
        f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_WIDTH - _RIGHT}" y2="{y:.1f}" stroke="{colour}" '
        f'stroke-dasharray="{dashes}"/>'
    )


def render_svg(result: BacktestResult, policy: Policy) -> str:
    """Metric values against their targets (top) and what the policy would have run (bottom)."""
    top_panel, low_panel = (50, 220), (320, 220)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="600" viewBox="0 0 {_WIDTH} 600" '
        'font-family="sans-serif" font-size="11"><rect width="1200" height="600" fill="white"/>',
        f'<text x="{_LEFT}" y="20" font-size="14" font-weight="bold">backtest of {escape(result.app_id)}</text>',
        f'<text x="{_LEFT}" y="36">{result.actions} scale actions; at max {result.time_at_max} of '
        f"{result.end - result.start}</text>",
    ]
    ticks = result.ticks
    if not ticks:
        return "\n".join([*out, "</svg>"])
    span = max((ticks[-1].at - ticks[0].at).total_seconds(), 1.0)
    width = _WIDTH - _LEFT - _RIGHT
    columns = len(ticks)

    def x_of(column: float) -> float:
        return _LEFT + column * width / columns

    colours = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")
    ratios = {spec.name: [(t.values.get(spec.name) or 0.0) / spec.target for t in ticks] for spec in policy.metrics}
    ratio_top = max([1.5, *(max(r, default=0.0) for r in ratios.values())]) * 1.05
    _axes(out, top_panel[0], top_panel[1], ratio_top, "value / target")

    def y_ratio(value: float) -> float:
        return top_panel[0] + top_panel[1] - min(value, ratio_top) / ratio_top * top_panel[1]

    out.append(_hline(y_ratio(1.0), "#d62728", "4,3"))
    for index, (name, series) in enumerate(ratios.items()):
        out.append(_step_line(series, x_of, y_ratio, colours[index % len(colours)]))
        label_y = top_panel[0] + 14 + 14 * index
        colour = colours[index % len(colours)]
        out.append(f'<text x="{_WIDTH - _RIGHT - 200}" y="{label_y}" fill="{colour}">{escape(name)}</text>')
    count_top = max(result.max_instances, *(t.desired for t in ticks)) * 1.1
    _axes(out, low_panel[0], low_panel[1], count_top, "instances")

    def y_count(value: float) -> float:
        return low_panel[0] + low_panel[1] - min(value, count_top) / count_top * low_panel[1]

    out.append(_step_line([float(t.desired) for t in ticks], x_of, y_count, "#111"))
    out.append(_hline(y_count(result.max_instances), "#999", "2,3"))
    for column, tick in enumerate(ticks):
        middle = (x_of(column) + x_of(column + 1)) / 2
        if tick.desired > tick.current:
            out.append(f'<path d="M{middle:.1f},{low_panel[0] - 10} l-3,6 h6 z" fill="#2ca02c"/>')
        elif tick.desired < tick.current:
            out.append(f'<path d="M{middle:.1f},{low_panel[0] - 2} l-3,-6 h6 z" fill="#d62728"/>')
    _windows(out, ticks, policy, x_of=x_of, panels=(top_panel, low_panel))
    first = ticks[0].at
    for at in _time_ticks(first, ticks[-1].at):
        x = _LEFT + (at - first).total_seconds() / span * width
        out.append(
            f'<text x="{x:.1f}" y="{low_panel[0] + low_panel[1] + 16}" text-anchor="middle">{at:%m-%d %H:%M}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


_WINDOW_FILL = "#f2c14e"


def _windows(
    out: list[str],
    ticks: Sequence[BacktestTick],
    policy: Policy,
    *,
    x_of: Callable[[float], float],
    panels: tuple[tuple[int, int], tuple[int, int]],
) -> None:
    """Shade where each schedule window (its lead included) was in force, across both panels, and
    name it; sampled about once per pixel, so a month of ticks costs about a thousand look-ups."""
    if not policy.schedules:
        return
    stride = max(1, len(ticks) // (_WIDTH - _LEFT - _RIGHT))
    runs: list[tuple[str, int, int]] = []  # schedule name, first and last column (exclusive)
    open_runs: dict[str, int] = {}
    for column in range(0, len(ticks), stride):
        names = {window.name for window in active_windows(policy.schedules, ticks[column].at)}
        for name in list(open_runs):
            if name not in names:
                runs.append((name, open_runs.pop(name), column))
        for name in names:
            open_runs.setdefault(name, column)
    runs.extend((name, begin, len(ticks)) for name, begin in open_runs.items())
    top, bottom = panels[0][0], panels[1][0] + panels[1][1]
    for name, begin, end in sorted(runs, key=lambda run: run[1]):
        left, right = x_of(begin), x_of(end)
        out.append(
            f'<rect class="window" x="{left:.1f}" y="{top}" width="{max(right - left, 1.0):.1f}" '
            f'height="{bottom - top}" fill="{_WINDOW_FILL}" fill-opacity="0.25"><title>{escape(name)}</title></rect>'
        )
        out.append(f'<text x="{left + 2:.1f}" y="{top - 3}" font-size="10" fill="#8a6d00">{escape(name)}</text>')
    out.append(
        f'<rect x="{_LEFT}" y="585" width="14" height="9" fill="{_WINDOW_FILL}" fill-opacity="0.5"/>'
        f'<text x="{_LEFT + 18}" y="594">schedule window in force (lead included)</text>'
    )
