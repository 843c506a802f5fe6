"""Small hand-made traces for the simulator tests."""

from __future__ import annotations

from datetime import UTC, datetime

from autoscaler.sim.trace import Trace

T0 = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)


def minutes(*counts: float, interval: float = 60.0) -> Trace:
    """A trace with one value (requests in the interval) per `interval` seconds from T0."""
    return Trace(start=T0, interval=interval, values=tuple(float(c) for c in counts), name="hand-made")
