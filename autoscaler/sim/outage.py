"""A metrics outage injected into a simulation: `simulate --outage START..END`.

Over the outage the policy's metrics have no value (as when the metric source is down or the series
has vanished), so an operator sees on a real trace what the engine does without them: hold, or rise
to its `fallback`. The load itself goes on; only what the scaler sees is blanked.

START and END are each an ISO-8601 time (UTC when it has no offset) or a duration from the trace's
start (`14h`, `2d13h30m`); END is exclusive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from autoscaler.core.model import Observation
from autoscaler.core.units import parse_duration
from autoscaler.sim.trace import parse_time

REASON = "simulated metrics outage"

__all__ = ["REASON", "Outage", "blank", "parse_outage"]


@dataclass(frozen=True)
class Outage:
    """The metrics have no value from `start` (inclusive) to `end` (exclusive)."""

    start: datetime
    end: datetime

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def _moment(text: str, *, trace_start: datetime) -> datetime:
    text = text.strip()
    try:
        return trace_start + parse_duration(text, bare_seconds=False)
    except ValueError:
        pass
    try:
        return parse_time(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither an ISO-8601 time nor a duration from the trace's start (like 14h or 2d13h30m)"
        ) from None


def parse_outage(text: str, *, trace_start: datetime) -> Outage:
    """`START..END` (see the module docstring); a clear ValueError for anything else."""
    if text.count("..") != 1:
        raise ValueError(f"an outage is written START..END (like 14h..15h), got {text!r}")
    first, second = text.split("..")
    start = _moment(first, trace_start=trace_start)
    end = _moment(second, trace_start=trace_start)
    if end <= start:
        raise ValueError(f"the outage {text!r} ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    return Outage(start, end)


def blank(
    observations: Mapping[str, Observation], *, at: datetime, outages: Iterable[Outage]
) -> Mapping[str, Observation]:
    """`observations` as the scaler sees them at `at`: every one missing while an outage covers it."""
    if not any(outage.covers(at) for outage in outages):
        return observations
    return {name: Observation.missing(REASON) for name in observations}
