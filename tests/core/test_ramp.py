"""Ramps around a window: the floor at fixed instants, the step count, and the properties that make a
ramp safe (monotonic, at most one scale action per step, the full floor when the window applies)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoscaler.core.ramp import MAX_RAMP_STEPS, Ramp, ramp_in_force, step_count
from autoscaler.core.schedule import Window

START = datetime(2026, 11, 11, 12, 0, tzinfo=UTC)
END = START + timedelta(hours=2)


def window(*, lead: timedelta = timedelta(0), floor: int | None = 20) -> Window:
    return Window(name="sale", start=START, end=END, lead=lead, min_instances=floor, max_instances=None)


def at(minutes: float, *, base: datetime = START) -> datetime:
    return base + timedelta(minutes=minutes)


def floor_at(now: datetime, *, base: int, lead: timedelta = timedelta(0)) -> int | None:
    """The ramp's floor at `now`, or None when no ramp is in force."""
    ramp = ramp_in_force(window(lead=lead), ramp_up=timedelta(minutes=10), ramp_down=timedelta(minutes=30), now=now)
    return None if ramp is None else ramp.level(base)


@pytest.mark.parametrize(
    ("ramp", "steps"),
    [
        (timedelta(seconds=30), 1),  # shorter than a step: one step
        (timedelta(minutes=1), 1),
        (timedelta(minutes=4), 4),
        (timedelta(minutes=4, seconds=59), 4),
        (timedelta(minutes=10), 10),
        (timedelta(hours=3), MAX_RAMP_STEPS),  # long ramps take longer steps, never more of them
    ],
)
def test_step_count(ramp: timedelta, steps: int) -> None:
    assert step_count(ramp) == steps


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(-11), None),  # before the ramp
        (at(-10), 10),  # the ramp begins: still the base
        (at(-9, base=START + timedelta(seconds=-1)), 10),  # one second before the first step
        (at(-9), 11),  # step 1 of 10: +1 (10 instances to go in 10 steps)
        (at(-5), 15),
        (at(-1), 19),  # step 9
        (at(-0.01), 19),
        (at(0), None),  # the window's own floor applies (20): the ramp is over
        (at(120), 19),  # end: the first step down (30 min in 10 steps of 3 min)
        (at(122.99), 19),
        (at(123), 18),
        (at(144), 11),  # step 9
        (at(147), 10),  # step 10: back at the base, one step before the ramp ends
        (at(149.99), 10),
        (at(150), None),  # ramp over: back to the base
    ],
)
def test_floor_at_fixed_instants(now: datetime, expected: int | None) -> None:
    assert floor_at(now, base=10) == expected


def test_the_lead_and_the_ramp_compose() -> None:
    lead = timedelta(minutes=5)
    # The ramp ends when the floor applies, one lead before the start: ready by `start`.
    assert floor_at(at(-15), base=10, lead=lead) == 10
    assert floor_at(at(-6), base=10, lead=lead) == 19
    assert floor_at(at(-5), base=10, lead=lead) is None  # the window's floor is in force from here
    assert window(lead=lead).active_at(at(-5))


def test_a_base_at_or_above_the_floor_is_no_ramp_at_all() -> None:
    assert floor_at(at(-5), base=20) == 20
    assert floor_at(at(-5), base=30) == 20  # a floor: the engine takes the higher of it and the metrics


def test_no_ramp_without_a_floor_or_a_length() -> None:
    assert ramp_in_force(window(floor=None), ramp_up=timedelta(minutes=10), ramp_down=timedelta(0), now=at(-5)) is None
    assert ramp_in_force(window(), ramp_up=timedelta(0), ramp_down=timedelta(0), now=at(-5)) is None
    assert ramp_in_force(window(), ramp_up=timedelta(0), ramp_down=timedelta(0), now=at(121)) is None


def test_plan_lists_every_step_and_describe_says_where_it_stands() -> None:
    ramp = ramp_in_force(window(), ramp_up=timedelta(minutes=4), ramp_down=timedelta(0), now=at(-3))
    assert isinstance(ramp, Ramp)
    assert ramp.plan(12) == ((at(-4), 12), (at(-3), 14), (at(-2), 16), (at(-1), 18), (at(0), 20))
    text = ramp.describe(12)
    assert "ramps up to 20 (from 12) in 4 steps of 1m" in text
    assert "step 1 of 4, floor 14 now, 16 at" in text


@given(
    base=st.integers(min_value=0, max_value=200),
    target=st.integers(min_value=0, max_value=200),
    ramp_seconds=st.integers(min_value=1, max_value=6 * 3600),
    tick_seconds=st.integers(min_value=1, max_value=120),
    direction=st.sampled_from(["up", "down"]),
)
def test_a_ramp_moves_one_way_in_at_most_its_steps(
    base: int, target: int, ramp_seconds: int, tick_seconds: int, direction: str
) -> None:
    """Ticked through at any interval: the floor moves one way only, stays between base and target,
    changes at most `steps` times (each change at most one scale action), and a ramp up ends at the
    window's floor while a ramp down ends at the base."""
    length = timedelta(seconds=ramp_seconds)
    shown = Window(name="w", start=START, end=END, lead=timedelta(0), min_instances=target, max_instances=None)
    begins = START - length if direction == "up" else END
    ramps = (
        {"ramp_up": length, "ramp_down": timedelta(0)}
        if direction == "up"
        else {"ramp_up": timedelta(0), "ramp_down": length}
    )
    levels = []
    moment = begins
    tick = timedelta(seconds=max(tick_seconds, -(-ramp_seconds // 400)))  # at most 400 ticks per case
    while moment < begins + length:
        ramp = ramp_in_force(shown, now=moment, **ramps)
        assert ramp is not None and ramp.direction == direction
        levels.append(ramp.level(base))
        moment += tick
    assert ramp_in_force(shown, now=begins + length, **ramps) is None
    low, high = min(base, target), target
    assert all(low <= level <= high for level in levels)
    ordered = sorted(levels) if direction == "up" else sorted(levels, reverse=True)
    assert levels == ordered
    changes = sum(1 for before, after in itertools.pairwise(levels) if before != after)
    assert changes <= step_count(length)
    if direction == "up":
        assert levels[0] == low  # the ramp begins at the base; the window's own floor takes over after it
    elif tick <= length / step_count(length):  # a tick sees every step (the loop's 15 s ticks do)
        assert levels[-1] == low  # the descent is over while the ramp is in force
