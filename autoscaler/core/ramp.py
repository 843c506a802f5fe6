"""Ramps around a schedule window: its floor fades in before it applies and out after it ends.

A window with `ramp_up` raises the floor in steps, from the count the app would have without the
window (`base`: what its metrics recommend, `min_instances` when they have nothing to say) to the
window's floor, over `ramp_up` ending when the floor applies (`start - lead`: the lead and the ramp
compose, so the full floor is asked for one lead before `start` and is ready by `start`). After
`end`, a window with `ramp_down` lowers it in steps over `ramp_down`, back to `base`, instead of
leaving the whole drop to stabilisation.

A ramp takes `steps` equal steps of time (one per minute of the ramp, at most MAX_RAMP_STEPS); the
floor moves at each step time and holds between them, so each step is at most one scale action and a
ramp costs at most `steps` deployments (fewer when the floor moves by fewer instances than that).
The `base` is not remembered: it is read each tick, and a base that moves only moves the floor with
it (`level()` is monotonic in both the step and the base).

Pure functions of (window, ramp lengths, now); the engine decides what a level does to the count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from autoscaler.core.schedule import Window
from autoscaler.core.units import EPSILON

# At most this many steps per ramp (so at most this many deployments caused by one ramp) ...
MAX_RAMP_STEPS = 10
# ... and steps at least this far apart: one per minute of the ramp.
MIN_STEP_INTERVAL = timedelta(minutes=1)

Direction = Literal["up", "down"]

__all__ = ["MAX_RAMP_STEPS", "MIN_STEP_INTERVAL", "Direction", "Ramp", "ramp_in_force", "step_count"]


def step_count(ramp: timedelta) -> int:
    """How many steps a ramp of this length takes: one per minute, at least 1, at most MAX_RAMP_STEPS."""
    return max(1, min(MAX_RAMP_STEPS, int(ramp // MIN_STEP_INTERVAL)))


@dataclass(frozen=True)
class Ramp:
    """One window's ramp in force at `now`: which way, from when to when, and how many of its steps
    have been taken. `target` is the window's floor.

    Ramping up, steps fall at `begins + i * interval` for i = 1..steps, the last being the moment the
    window's own floor applies (`ends`); ramping down, at `begins + i * interval` for i = 1..steps,
    the last at `ends`, when the ramp is over and the floor is back at `base`.
    """

    window: Window
    direction: Direction
    begins: datetime
    ends: datetime
    steps: int
    taken: int  # steps whose time has come, 0 .. steps - 1 while the ramp is in force
    target: int

    @property
    def interval(self) -> timedelta:
        return (self.ends - self.begins) / self.steps

    def share(self, taken: int | None = None) -> float:
        """The part of the way from `base` to `target` the floor stands at after `taken` steps."""
        done = self.taken if taken is None else taken
        return done / self.steps if self.direction == "up" else (self.steps - done) / self.steps

    def level(self, base: int, taken: int | None = None) -> int:
        """The floor after `taken` steps (default: now), between `base` and `target`, rounded up."""
        if base >= self.target:
            return self.target
        return base + math.ceil((self.target - base) * self.share(taken) - EPSILON)

    def next_step_at(self) -> datetime:
        """When the floor moves next (for a ramp up, the last step is the window's floor applying)."""
        return self.begins + self.interval * (self.taken + 1)

    def plan(self, base: int) -> tuple[tuple[datetime, int], ...]:
        """Every step of the ramp from its beginning: (when, the floor from then on), for a plot or an
        account of the ramp. The first entry is the floor at `begins`."""
        return tuple((self.begins + self.interval * index, self.level(base, index)) for index in range(self.steps + 1))

    def describe(self, base: int) -> str:
        """One line for explain: where the floor stands, and where it goes next."""
        level = self.level(base)
        way = "ramps up to" if self.direction == "up" else "ramps down from"
        following = self.level(base, self.taken + 1)
        last = self.taken + 1 == self.steps
        then = (" (the window's floor applies)" if self.direction == "up" else " (the ramp ends)") if last else ""
        return (
            f"schedule {self.window.name} {way} {self.target} (from {base}) in {self.steps} steps of "
            f"{_minutes(self.interval)}: step {self.taken} of {self.steps}, floor {level} now, "
            f"{following} at {self.next_step_at().isoformat()}{then}"
        )


def _minutes(interval: timedelta) -> str:
    seconds = interval.total_seconds()
    return f"{seconds / 60:g}m" if seconds >= 60 else f"{seconds:g}s"


def ramp_in_force(window: Window, *, ramp_up: timedelta, ramp_down: timedelta, now: datetime) -> Ramp | None:
    """The window's ramp at `now`, if one is: ramping up in [applies_from - ramp_up, applies_from),
    ramping down in [end, end + ramp_down). None otherwise, and for a window without a floor."""
    if window.min_instances is None:
        return None
    if ramp_up > timedelta(0) and window.applies_from - ramp_up <= now < window.applies_from:
        return _ramp(window, "up", begins=window.applies_from - ramp_up, length=ramp_up, now=now)
    if ramp_down > timedelta(0) and window.end <= now < window.end + ramp_down:
        return _ramp(window, "down", begins=window.end, length=ramp_down, now=now)
    return None


def _ramp(window: Window, direction: Direction, *, begins: datetime, length: timedelta, now: datetime) -> Ramp:
    assert window.min_instances is not None
    steps = step_count(length)
    interval = length / steps
    taken = min(steps - 1, int((now - begins) // interval))
    return Ramp(
        window=window,
        direction=direction,
        begins=begins,
        ends=begins + length,
        steps=steps,
        taken=taken,
        target=window.min_instances,
    )
