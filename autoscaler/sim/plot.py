"""What a person looks at after a run: the timeline as CSV, and a plot as a self-contained SVG.

The SVG is written by this module (no plotting library): two panels over time, demand against ready
capacity in requests/s on top (overloaded moments marked in red underneath), requested and ready
instances below with scale actions marked (up and down), and the floor in force (a schedule window's,
its ramp's steps, a fallback's) as a dashed line; a simulated metrics outage is shaded grey in both
panels. Long runs have far more ticks than pixels, so each pixel column shows the worst case of its
ticks: the highest demand, the lowest ready capacity, the highest requested and the lowest ready
count (and the highest floor).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from html import escape
from pathlib import Path

from autoscaler.sim.runner import SimResult, TickRecord

TIMELINE_COLUMNS = (
    "time",
    "demand_rps",
    "ready_capacity_rps",
    "ready",
    "requested",
    "desired",
    "action",
    "code",
    "reason",
    "cpu",
    "backlog",
    "floor",
    "outage",
)

_WIDTH = 1200
_LEFT = 70
_RIGHT = 20
_TOP_PANEL = (40, 300)  # y of the top edge, height
_BOTTOM_PANEL = (390, 200)
_HEIGHT = 640
_DEMAND = "#7fb3e0"
_CAPACITY = "#1b4f8a"
_REQUESTED = "#6a3d9a"
_READY = "#33a02c"
_UP = "#2ca02c"
_DOWN = "#ff7f0e"
_OVERLOAD = "#d62728"
_FLOOR = "#444444"
_OUTAGE = "#e6e6e6"
_DENSE_MARKS = 0.25  # above this share of pixel columns with an action, actions are counted per day
_MOST_DAY_LINES = 93  # a line per midnight up to about three months


def write_timeline_csv(result: SimResult, path: str | Path) -> None:
    """One row per tick (see TIMELINE_COLUMNS)."""
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(TIMELINE_COLUMNS)
        for record in result.timeline:
            writer.writerow(
                (
                    record.time.isoformat(),
                    f"{record.demand_rps:.6g}",
                    f"{record.ready_capacity_rps:.6g}",
                    record.ready,
                    record.requested,
                    record.desired,
                    record.action,
                    record.code,
                    record.reason,
                    f"{record.cpu:.4f}",
                    f"{record.backlog:.6g}",
                    "" if record.floor is None else record.floor,
                    "1" if record.outage else "",
                )
            )


def write_svg(result: SimResult, path: str | Path, *, title: str = "") -> None:
    Path(path).write_text(render_svg(result, title=title), encoding="utf-8")


def _nice_step(top: float, ticks: int = 5) -> float:
    """A round step (1, 2 or 5 x 10^k) that divides [0, top] into at most `ticks` parts."""
    if top <= 0:
        return 1.0
    raw = top / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 5.0):
        if factor * power >= raw:
            return factor * power
    return 10.0 * power


_TIME_STEPS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(days=1),
    timedelta(days=2),
    timedelta(days=7),
    timedelta(days=14),
    timedelta(days=28),
)


def _time_ticks(start: datetime, end: datetime, most: int = 8) -> list[datetime]:
    span = end - start
    step = next((s for s in _TIME_STEPS if span / s <= most), _TIME_STEPS[-1])
    seconds = step.total_seconds()
    first = math.ceil(start.timestamp() / seconds) * seconds
    ticks = []
    at = datetime.fromtimestamp(first, tz=start.tzinfo)
    while at <= end:
        ticks.append(at)
        at += step
    return ticks


class _Buckets:
    """Per pixel column: the worst case of the ticks it covers."""

    def __init__(self, timeline: Sequence[TickRecord], columns: int) -> None:
        count = len(timeline)
        self.columns = max(1, min(columns, count))
        self.demand = [0.0] * self.columns
        self.capacity = [math.inf] * self.columns
        self.requested = [0] * self.columns
        self.ready = [2**62] * self.columns
        self.ups = [False] * self.columns
        self.downs = [False] * self.columns
        self.overload = [False] * self.columns
        self.floor: list[float] = [math.nan] * self.columns  # NaN: no floor in force
        self.outage = [False] * self.columns
        for index, record in enumerate(timeline):
            column = index * self.columns // count
            self.demand[column] = max(self.demand[column], record.demand_rps)
            self.capacity[column] = min(self.capacity[column], record.ready_capacity_rps)
            self.requested[column] = max(self.requested[column], record.requested, record.desired)
            self.ready[column] = min(self.ready[column], record.ready)
            self.ups[column] = self.ups[column] or record.action == "up"
            self.downs[column] = self.downs[column] or record.action == "down"
            self.outage[column] = self.outage[column] or record.outage
            if record.floor is not None and not record.floor <= self.floor[column]:
                self.floor[column] = float(record.floor)
            if record.demand_rps > record.ready_capacity_rps * (1 + 1e-9):
                self.overload[column] = True


def render_svg(result: SimResult, *, title: str = "") -> str:  # noqa: PLR0912, PLR0915  one SVG drawn top to bottom, panel after panel
    """The plot of one run as SVG text."""
    timeline = result.timeline
    plot_width = _WIDTH - _LEFT - _RIGHT
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
        f'viewBox="0 0 {_WIDTH} {_HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<rect width="{_WIDTH}" height="{_HEIGHT}" fill="white"/>',
    ]
    heading = title or f"{result.scaler} (target {result.target if result.target is not None else '-'})"
    out.append(
        f'<text x="{_LEFT}" y="18" font-size="14" font-weight="bold">{escape(heading)}</text>'
        f'<text x="{_LEFT}" y="32">{escape(_subtitle(result))}</text>'
    )
    if not timeline:
        out.append(f'<text x="{_LEFT}" y="80">no timeline was kept for this run</text></svg>')
        return "\n".join(out)
    buckets = _Buckets(timeline, plot_width)
    columns = buckets.columns

    def x_of(column: float) -> float:
        return _LEFT + column * plot_width / columns

    # a simulated metrics outage, shaded under both panels' lines
    for column, blanked in enumerate(buckets.outage):
        if blanked:
            for panel_y, panel_h in (_TOP_PANEL, _BOTTOM_PANEL):
                out.append(
                    f'<rect class="outage" x="{x_of(column):.1f}" y="{panel_y}" '
                    f'width="{max(1.0, x_of(1) - x_of(0)):.1f}" height="{panel_h}" fill="{_OUTAGE}"/>'
                )

    # top panel: requests/s
    top_y, top_h = _TOP_PANEL
    finite_capacity = [c for c in buckets.capacity if math.isfinite(c)]
    rps_top = max([*buckets.demand, *finite_capacity]) * 1.05 or 1.0
    _axes(out, top_y, top_h, rps_top, "requests/s")

    def y_rps(value: float) -> float:
        return top_y + top_h - min(value, rps_top) / rps_top * top_h

    area = [f"{x_of(0):.1f},{top_y + top_h:.1f}"]
    for column, value in enumerate(buckets.demand):
        area.append(f"{x_of(column):.1f},{y_rps(value):.1f} {x_of(column + 1):.1f},{y_rps(value):.1f}")
    area.append(f"{x_of(columns):.1f},{top_y + top_h:.1f}")
    out.append(f'<polygon points="{" ".join(area)}" fill="{_DEMAND}" stroke="none"/>')
    out.append(_step_line(buckets.capacity, x_of, y_rps, _CAPACITY))
    for column, overloaded in enumerate(buckets.overload):
        if overloaded:
            out.append(
                f'<rect x="{x_of(column):.1f}" y="{top_y + top_h + 2}" width="{max(1.0, x_of(1) - x_of(0)):.1f}" '
                f'height="5" fill="{_OVERLOAD}"/>'
            )

    # bottom panel: instances
    low_y, low_h = _BOTTOM_PANEL
    count_top = max([*buckets.requested, 1]) * 1.1

    def y_count(value: float) -> float:
        return low_y + low_h - min(value, count_top) / count_top * low_h

    _axes(out, low_y, low_h, count_top, "instances")
    out.append(_step_line([float(r) for r in buckets.requested], x_of, y_count, _REQUESTED))
    out.append(_step_line([float(r) for r in buckets.ready], x_of, y_count, _READY))
    if any(math.isfinite(value) for value in buckets.floor):
        out.append(
            _step_line(buckets.floor, x_of, y_count, _FLOOR).replace(
                "<polyline ", '<polyline class="floor" stroke-dasharray="4 3" ', 1
            )
        )
    start = timeline[0].time
    end = timeline[-1].time
    span = max((end - start).total_seconds(), 1.0)

    def x_at(at: datetime) -> float:
        return _LEFT + (at - start).total_seconds() / span * plot_width

    marked = sum(1 for column in range(columns) if buckets.ups[column] or buckets.downs[column])
    if marked > columns * _DENSE_MARKS:  # a marker in most columns says nothing: count actions per day
        _actions_per_day(out, timeline, x_at=x_at, baseline=low_y - 2)
    else:
        for column in range(columns):
            middle = (x_of(column) + x_of(column + 1)) / 2
            if buckets.ups[column]:
                out.append(f'<path d="M{middle:.1f},{low_y - 10} l-3,6 h6 z" fill="{_UP}"/>')
            if buckets.downs[column]:
                out.append(f'<path d="M{middle:.1f},{low_y - 2} l-3,-6 h6 z" fill="{_DOWN}"/>')

    # time axis (under both panels); a light line at every midnight of a run of days
    daily = (end - start) >= timedelta(days=2)
    if daily and end - start <= timedelta(days=_MOST_DAY_LINES):
        midnight = datetime(start.year, start.month, start.day, tzinfo=start.tzinfo) + timedelta(days=1)
        while midnight <= end:
            for panel_y, panel_h in (_TOP_PANEL, _BOTTOM_PANEL):
                out.append(
                    f'<line class="day" x1="{x_at(midnight):.1f}" y1="{panel_y}" x2="{x_at(midnight):.1f}" '
                    f'y2="{panel_y + panel_h}" stroke="#f0f0f0"/>'
                )
            midnight += timedelta(days=1)
    for at in _time_ticks(start, end):
        x = x_at(at)
        label = at.strftime("%m-%d" if daily else "%m-%d %H:%M")
        for panel_y, panel_h in (_TOP_PANEL, _BOTTOM_PANEL):
            out.append(f'<line x1="{x:.1f}" y1="{panel_y}" x2="{x:.1f}" y2="{panel_y + panel_h}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{low_y + low_h + 16}" text-anchor="middle">{label}</text>')
    out.append(f'<text x="{_WIDTH - _RIGHT}" y="{low_y + low_h + 32}" text-anchor="end">time (UTC)</text>')
    _legend(out)
    out.append("</svg>")
    return "\n".join(out)


def _actions_per_day(
    out: list[str], timeline: Sequence[TickRecord], *, x_at: Callable[[datetime], float], baseline: float
) -> None:
    """Per UTC day, a bar of its scale-ups (up from `baseline`) and of its scale-downs (below it, in the
    panel's margin), scaled to the busiest day; each day's counts are in its tooltip."""
    days: dict[datetime, list[int]] = {}
    for record in timeline:
        if record.action == "none":
            continue
        day = datetime(record.time.year, record.time.month, record.time.day, tzinfo=record.time.tzinfo)
        counts = days.setdefault(day, [0, 0])
        counts[0 if record.action == "up" else 1] += 1
    busiest = max((max(counts) for counts in days.values()), default=1)
    first, last = timeline[0].time, timeline[-1].time
    for day, (ups, downs) in sorted(days.items()):
        left = x_at(max(day, first))
        right = x_at(min(day + timedelta(days=1), last))
        width = max(right - left - 1.0, 1.0)
        up_height = 12.0 * ups / busiest
        down_height = 12.0 * downs / busiest
        out.append(
            f'<g class="day-actions"><title>{day:%Y-%m-%d}: {ups} up, {downs} down</title>'
            f'<rect x="{left:.1f}" y="{baseline - 12 - up_height:.1f}" width="{width:.1f}" height="{up_height:.1f}" '
            f'fill="{_UP}"/>'
            f'<rect x="{left:.1f}" y="{baseline - 12:.1f}" width="{width:.1f}" height="{down_height:.1f}" '
            f'fill="{_DOWN}"/></g>'
        )
    out.append(
        f'<text x="{_WIDTH - _RIGHT}" y="{baseline - 28:.1f}" text-anchor="end" font-size="10">'
        f"scale actions per day (busiest: {busiest})</text>"
    )


def _subtitle(result: SimResult) -> str:
    return (
        f"{result.instance_hours:,.1f} instance-hours, {result.unserved_pct:.3f} % unserved, "
        f"{result.overload_minutes:,.1f} min overloaded, {result.scale_actions:,} scale actions; "
        f"startup {result.startup:g} s, tick {result.tick:g} s, peak {result.peak_instances} instances"
    )


def _axes(out: list[str], top: int, height: int, maximum: float, label: str) -> None:
    step = _nice_step(maximum)
    value = 0.0
    while value <= maximum:
        y = top + height - value / maximum * height
        out.append(f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_WIDTH - _RIGHT}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
        value += step
    out.append(
        f'<rect x="{_LEFT}" y="{top}" width="{_WIDTH - _LEFT - _RIGHT}" height="{height}" fill="none" stroke="#999"/>'
    )
    middle = top + height / 2
    out.append(
        f'<text x="14" y="{middle:.1f}" transform="rotate(-90 14 {middle:.1f})" text-anchor="middle">{label}</text>'
    )


def _step_line(
    values: Sequence[float], x_of: Callable[[float], float], y_of: Callable[[float], float], colour: str
) -> str:
    points = []
    for column, value in enumerate(values):
        if not math.isfinite(value) or value >= 2**62:
            continue
        points.append(f"{x_of(column):.1f},{y_of(value):.1f} {x_of(column + 1):.1f},{y_of(value):.1f}")
    return f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" stroke-width="1.2"/>'


def _legend(out: list[str]) -> None:
    entries = (
        ("rect", _DEMAND, "demand (highest per pixel)"),
        ("line", _CAPACITY, "ready capacity (lowest per pixel)"),
        ("rect", _OVERLOAD, "overloaded"),
        ("line", _REQUESTED, "requested instances"),
        ("line", _READY, "ready instances"),
        ("dash", _FLOOR, "floor"),
        ("rect", _OUTAGE, "no metrics"),
        ("up", _UP, "scale up"),
        ("down", _DOWN, "scale down"),
    )
    x = _LEFT
    y = _HEIGHT - 10
    for shape, colour, text in entries:
        if shape == "rect":
            out.append(f'<rect x="{x}" y="{y - 9}" width="14" height="9" fill="{colour}"/>')
        elif shape in ("line", "dash"):
            dash = ' stroke-dasharray="4 3"' if shape == "dash" else ""
            out.append(
                f'<line x1="{x}" y1="{y - 4}" x2="{x + 14}" y2="{y - 4}" stroke="{colour}" stroke-width="2"{dash}/>'
            )
        elif shape == "up":
            out.append(f'<path d="M{x + 7},{y - 10} l-4,8 h8 z" fill="{colour}"/>')
        else:
            out.append(f'<path d="M{x + 7},{y - 2} l-4,-8 h8 z" fill="{colour}"/>')
        out.append(f'<text x="{x + 18}" y="{y}">{escape(text)}</text>')
        x += 24 + 6 * len(text)
