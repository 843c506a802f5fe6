"""Request traces for the simulator: a CSV of `timestamp,value` rows read into a regular grid.

A trace says how many requests arrived in each interval. The simulator needs the rate at every moment,
so the file is read into a regular grid: the interval is inferred from the timestamps (the most common
step between consecutive rows), and every row must sit on that grid.

File format: a header `timestamp,value`, then one row per interval in time order. `timestamp` is
ISO-8601 and marks the START of the interval (a timestamp without a UTC offset is taken as UTC);
`value` is the number of requests in that interval (a non-negative number, not a rate).

Gaps (grid points with no row) are filled by `gaps`:
- `"carry"` (default): the interval repeats the previous interval's count, as a metric system
  would when a scrape is missed. This adds requests that were never logged, but a missing point in
  a request log is far more often a collection outage than a silent minute;
- `"zero"`: the interval had no requests.
Either way `Trace.filled` says how many intervals were filled, so a report can show it.

Every problem in a file raises TraceError naming the file and line.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

GapFill = Literal["carry", "zero"]
HEADER = ("timestamp", "value")


class TraceError(ValueError):
    """A trace file that cannot be used, with the file and line that says why."""


@dataclass(frozen=True)
class Trace:
    """Request counts on a regular grid: `values[i]` requests arrived in [start + i*interval, +interval)."""

    start: datetime
    interval: float  # seconds
    values: tuple[float, ...]
    name: str = ""
    filled: int = 0  # intervals that had no row in the file and were filled (see `gaps`)

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise TraceError(f"{self.name or 'trace'}: the interval must be positive, got {self.interval}")
        if not self.values:
            raise TraceError(f"{self.name or 'trace'}: no intervals")
        if self.start.utcoffset() is None:
            raise TraceError(f"{self.name or 'trace'}: the start needs a UTC offset")

    @property
    def duration(self) -> float:
        """Seconds covered by the trace."""
        return self.interval * len(self.values)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration)

    @property
    def rates(self) -> tuple[float, ...]:
        """Requests per second in each interval (demand is constant within an interval)."""
        return tuple(value / self.interval for value in self.values)

    @property
    def peak_rate(self) -> float:
        return max(self.values) / self.interval

    @property
    def total_requests(self) -> float:
        return math.fsum(self.values)

    def window(self, start: datetime | None = None, end: datetime | None = None) -> Trace:
        """The intervals that start in [start, end); bounds are rounded to the grid (start down, end up)."""
        first = 0
        last = len(self.values)
        if start is not None:
            first = max(0, math.floor((_aware(start) - self.start).total_seconds() / self.interval))
        if end is not None:
            offset = (_aware(end) - self.start).total_seconds() / self.interval
            last = min(len(self.values), math.ceil(offset - 1e-9))
        if last <= first:
            raise TraceError(
                f"{self.name or 'trace'}: no interval between {start} and {end} "
                f"(the trace covers {self.start.isoformat()} to {self.end.isoformat()})"
            )
        return Trace(
            start=self.start + timedelta(seconds=first * self.interval),
            interval=self.interval,
            values=self.values[first:last],
            name=self.name,
            filled=self.filled,
        )


def _aware(value: datetime) -> datetime:
    if value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value


def parse_time(text: str) -> datetime:
    """ISO-8601 (`Z` allowed); a date or time without an offset is UTC."""
    value = datetime.fromisoformat(text.strip())
    return value if value.utcoffset() is not None else value.replace(tzinfo=UTC)


def load_trace(
    path: str | Path,
    *,
    gaps: GapFill = "carry",
    start: datetime | None = None,
    end: datetime | None = None,
) -> Trace:
    """Read a `timestamp,value` CSV into a Trace; `start`/`end` keep only that window."""
    shown = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise TraceError(f"{shown}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"{shown}: cannot read: {exc}") from exc
    trace = parse_trace(text, name=shown, gaps=gaps)
    if start is not None or end is not None:
        trace = trace.window(start, end)
    return trace


def parse_trace(text: str, *, name: str = "trace", gaps: GapFill = "carry") -> Trace:  # noqa: PLR0912, PLR0915  the format's checks in reading order, each with its message
    """Parse the CSV text of a trace (see the module docstring for the format and the gap rule)."""
    if gaps not in ("carry", "zero"):
        raise TraceError(f"{name}: gaps must be 'carry' or 'zero', got {gaps!r}")
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise TraceError(f"{name}:1: empty file; expected a header 'timestamp,value'")
    header = tuple(cell.strip().lower() for cell in lines[0].split(","))
    if header != HEADER:
        raise TraceError(f"{name}:1: expected the header 'timestamp,value', got {lines[0].strip()!r}")
    times: list[float] = []
    values: list[float] = []
    first: datetime | None = None
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != 2:
            raise TraceError(f"{name}:{number}: expected 2 columns (timestamp,value), got {len(cells)}")
        try:
            stamp = parse_time(cells[0])
        except ValueError:
            raise TraceError(f"{name}:{number}: {cells[0].strip()!r} is not an ISO-8601 timestamp") from None
        try:
            value = float(cells[1])
        except ValueError:
            raise TraceError(f"{name}:{number}: {cells[1].strip()!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise TraceError(f"{name}:{number}: the value must be a finite count of 0 or more, got {value!r}")
        if first is None:
            first = stamp
        seconds = (stamp - first).total_seconds()
        if times and seconds <= times[-1]:
            raise TraceError(f"{name}:{number}: timestamp {cells[0].strip()} is not after the previous row's")
        times.append(seconds)
        values.append(value)
    if first is None:
        raise TraceError(f"{name}: no data rows after the header")
    if len(times) < 2:
        raise TraceError(f"{name}: at least 2 rows are needed to infer the interval")
    steps = Counter(round(b - a, 6) for a, b in itertools.pairwise(times))
    interval = min(step for step, count in steps.items() if count == max(steps.values()))
    grid: list[float] = []
    filled = 0
    for index, (seconds, value) in enumerate(zip(times, values, strict=True)):
        position = seconds / interval
        slot = round(position)
        if abs(position - slot) > 1e-6:
            raise TraceError(
                f"{name}:{index + 2}: timestamp is off the {interval:g} s grid that the other rows follow "
                f"({seconds:g} s after the first row)"
            )
        missing = slot - len(grid)
        if missing > 0:
            fill = grid[-1] if gaps == "carry" else 0.0
            grid.extend([fill] * missing)
            filled += missing
        grid.append(value)
    if max(grid) <= 0:
        raise TraceError(f"{name}: every value is 0; a trace needs some load to size a fleet")
    return Trace(start=first, interval=float(interval), values=tuple(grid), name=name, filled=filled)
