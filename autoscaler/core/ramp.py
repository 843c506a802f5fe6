"""Ramps around a schedule window: its floor fades in before it applies and out after it ends.

A window with `ramp_up` raises the floor in steps, from the app's count when the ramp began (its
`base`, remembered in the engine's History, so that the ramp's own steps do not move it) to the
window's floor, over `ramp_up` ending when the floor applies (`start - lead`: the lead and the ramp
compose, so the full floor is asked for one lead before `start` and is ready by `start`). After
`end`, a window with `ramp_down` lowers it in steps over `ramp_down`, down to what the metrics
recommended when the ramp began (`min_instances` when they have nothing to say; remembered too),
instead of leaving the whole drop to stabilisation: the first step at `end`, the last (to the base)
one step before `end + ramp_down`, so that the whole descent is over while the ramp is in force.
The engine never steps below what the metrics ask for at the time.

A ramp takes `steps` equal steps of time (one per minute of the ramp, at most MAX_RAMP_STEPS); the
floor moves at each step time and holds between them, so each step is at most one scale action and a
ramp costs at most `steps` deployments (fewer when the floor moves by fewer instances than that).
`level()` is monotonic in both the step and the base.

Pure functions of (window, ramp lengths, now, base); the engine decides what a level does to the count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from autoscaler.core.policy import Schedule
from autoscaler.core.schedule import Window, windows_from
from autoscaler.core.units import EPSILON

# At most this many steps per ramp (so at most this many deployments caused by one ramp) ...
MAX_RAMP_STEPS = 10
# ... and steps at least this far apart: one per minute of the ramp.
MIN_STEP_INTERVAL = timedelta(minutes=1)

Direction = Literal["up", "down"]

__all__ = [
    "MAX_RAMP_STEPS",
    "MIN_STEP_INTERVAL",
    "Direction",
    "Ramp",
    "RampFloor",
    "RampKey",
    "key_of",
    "ramp_floor",
    "ramp_in_force",
    "ramps_at",
    "step_count",
]


def step_count(ramp: timedelta) -> int:
    """How many steps a ramp of this length takes: one per minute, at least 1, at most MAX_RAMP_STEPS."""
    return max(1, min(MAX_RAMP_STEPS, int(ramp // MIN_STEP_INTERVAL)))


@dataclass(frozen=True)
class Ramp:
    """One window's ramp in force at `now`: which way, from when to when, and how many of its steps
    have been taken. `target` is the window's floor.

    Ramping up, step i (1..steps) falls at `begins + i * interval`, the last being the moment the
    window's own floor applies (`ends`); ramping down, at `begins + (i - 1) * interval`: the first at
    the window's end, the last, back at `base`, one interval before `ends`.
    """

    window: Window
    direction: Direction
    begins: datetime
    ends: datetime
    steps: int
    taken: int  # steps whose time has come: 0 .. steps - 1 ramping up, 1 .. steps ramping down
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

    def step_at(self, step: int) -> datetime:
        """When step `step` (1 .. steps) falls."""
        return self.begins + self.interval * (step if self.direction == "up" else step - 1)

    def next_step_at(self) -> datetime | None:
        """When the floor moves next (for a ramp up, the last step is the window's floor applying);
        None when a ramp down has taken its last step."""
        return self.step_at(self.taken + 1) if self.taken < self.steps else None

    def plan(self, base: int) -> tuple[tuple[datetime, int], ...]:
        """Every step of the ramp: (when, the floor from then on), for a plot or an account of the
        ramp; a ramp up starts with the floor at `begins` (the base)."""
        first = ((self.begins, self.level(base, 0)),) if self.direction == "up" else ()
        return first + tuple((self.step_at(step), self.level(base, step)) for step in range(1, self.steps + 1))

    def describe(self, base: int) -> str:
        """One line for explain: where the floor stands, and where it goes next."""
        level = self.level(base)
        way = "ramps up to" if self.direction == "up" else "ramps down from"
        upcoming = self.next_step_at()
        if upcoming is None:
            then = "; the ramp is down"
        else:
            applies = " (the window's floor applies)" if self.direction == "up" and self.taken + 1 == self.steps else ""
            then = f", {self.level(base, self.taken + 1)} at {upcoming.isoformat()}{applies}"
        return (
            f"schedule {self.window.name} {way} {self.target} (to {base}) in {self.steps} steps of "
            if self.direction == "down"
            else f"schedule {self.window.name} {way} {self.target} (from {base}) in {self.steps} steps of "
        ) + f"{_minutes(self.interval)}: step {self.taken} of {self.steps}, floor {level} now{then}"


def _minutes(interval: timedelta) -> str:
    seconds = interval.total_seconds()
    return f"{seconds / 60:g}m" if seconds >= 60 else f"{seconds:g}s"


def ramps_at(schedules: Iterable[Schedule], now: datetime, *, auto_lead: timedelta | None = None) -> list[Ramp]:
    """Every ramp in force at `now`, over the schedules that have a floor and a ramp (a recurring
    schedule may have one window ramping down while the next ramps up: both are listed)."""
    found = []
    for schedule in schedules:
        if schedule.min_instances is None or not (schedule.ramp_up or schedule.ramp_down):
            continue
        for window in windows_from(schedule, now - schedule.ramp_down, auto_lead=auto_lead):
            if window.applies_from - window.ramp_up > now:
                break
            ramp = ramp_in_force(window, ramp_up=window.ramp_up, ramp_down=window.ramp_down, now=now)
            if ramp is not None:
                found.append(ramp)
    return found


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
    passed = int((now - begins) // interval)
    taken = min(steps - 1, passed) if direction == "up" else min(steps, passed + 1)
    return Ramp(
        window=window,
        direction=direction,
        begins=begins,
        ends=begins + length,
        steps=steps,
        taken=taken,
        target=window.min_instances,
    )


# A ramp's identity across ticks: its window's name and start, and its direction.
RampKey = tuple[str, datetime, Direction]


def key_of(ramp: Ramp) -> RampKey:
    return (ramp.window.name, ramp.window.start, ramp.direction)


@dataclass(frozen=True)
class RampFloor:
    """The ramps in force for one decision, each with its base, and the highest level among them.

    `descending`: that level is a ramp down's (no ramp up asks as much), so the engine steps the count
    down to it instead of leaving the drop to stabilisation."""

    ramps: tuple[tuple[Ramp, int], ...]  # each ramp with its base
    level: int
    descending: bool

    @property
    def bases(self) -> tuple[tuple[RampKey, int], ...]:
        """The base of each ramp, for the History."""
        return tuple((key_of(ramp), base) for ramp, base in self.ramps)

    def names(self) -> str:
        return ", ".join(ramp.window.name for ramp, base in self.ramps if ramp.level(base) == self.level)

    def notes(self) -> list[str]:
        return [ramp.describe(base) for ramp, base in self.ramps]


def ramp_floor(
    schedules: Iterable[Schedule],
    now: datetime,
    *,
    current: int,
    recommended: int,
    bases: Mapping[RampKey, int],
    auto_lead: timedelta | None = None,
) -> RampFloor | None:
    """The ramps of `schedules` at `now` and the floor they make; None when none is in force.

    Each ramp has its remembered base in `bases`; on its first tick, a ramp up starts from `current`
    and a ramp down descends to `recommended` (what the metrics ask for, `min_instances` without any)."""
    ramps = tuple(ramps_at(schedules, now, auto_lead=auto_lead))
    if not ramps:
        return None
    based = tuple((ramp, bases.get(key_of(ramp), current if ramp.direction == "up" else recommended)) for ramp in ramps)
    rising = [ramp.level(base) for ramp, base in based if ramp.direction == "up"]
    falling = [ramp.level(base) for ramp, base in based if ramp.direction == "down"]
    level = max(rising + falling)
    return RampFloor(based, level, descending=not rising or max(falling, default=-1) > max(rising))
