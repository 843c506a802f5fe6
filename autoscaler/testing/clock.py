"""The one fake clock: time that moves only when the test (or the demo's driver) moves it.

The service reads time as a callable giving an aware `datetime` (`clock=` of the loop, the status
server, the policy store); the fakes read it in epoch seconds (`FakeMarathon(clock=...)`,
`FakePrometheus(clock=...)`). One `FakeClock` serves both, so a test that advances it moves the
service and its fakes together, with no sleeps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["DEFAULT_START", "FakeClock"]

DEFAULT_START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class FakeClock:
    """Call it for the present as a datetime; `seconds()` for it in epoch seconds."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        if start.tzinfo is None:
            raise ValueError("a fake clock starts at an aware datetime")
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def seconds(self) -> float:
        return self.now.timestamp()

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    @classmethod
    def at_epoch(cls, seconds: float) -> FakeClock:
        """A clock starting at `seconds` since the epoch."""
        return cls(datetime.fromtimestamp(seconds, tz=UTC))
