"""The steady-fall scale-down (core.steady, `scale_down.steady`), tick after tick: a load that falls
smoothly is followed closely, a bursty one keeps the careful settings, and neither a collapse of the
load nor a floor's end counts as a steady fall."""

from __future__ import annotations

import itertools
import pickle
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from autoscaler.core.decide import Decision
from autoscaler.core.policy import Policy, SteadyFall
from autoscaler.core.rules import MetricEvaluation
from autoscaler.core.steady import LoadRun, advance, steady_since
from tests.core.test_decide_fallback_ramp import APP, BACKLOG, T0, TICK, Run


def make_policy(**changes: Any) -> Policy:
    return Policy.model_validate(
        {"app": APP, "min_instances": 1, "max_instances": 100, "metrics": [BACKLOG], "scale_up": {"cooldown": "0s"}}
        | changes
    )


def falling(start: float, per_minute: float) -> Callable[[datetime], float]:
    """A backlog that falls by `per_minute` of its starting value every minute, down to 5 % of it."""
    return lambda now: max(start * 0.05, start * (1 - per_minute * (now - T0) / timedelta(minutes=1)))


def downs(decisions: list[Decision]) -> list[Decision]:
    return [d for d in decisions if d.action == "down"]


def test_a_smooth_fall_is_followed_closely_by_the_steady_settings() -> None:
    load = falling(6000.0, 0.02)  # 60 instances' worth, 2 % of it less every minute
    steady = Run(make_policy(), instances=60)
    careful = Run(make_policy(scale_down={"steady": None}), instances=60)
    ours, theirs = steady.until(T0 + timedelta(minutes=40), load), careful.until(T0 + timedelta(minutes=40), load)

    first = downs(ours)[0]
    assert first.steady_since is not None
    assert first.at - first.steady_since >= timedelta(minutes=10)
    assert "steady fall" in first.explain() and "scale_down.steady" in first.explain()
    assert all(d.steady_since is None for d in theirs)
    # after 40 minutes the load needs 13 instances (16 three minutes earlier): the steady fleet is
    # within its 3m stabilisation and 10 % tolerance of it, the careful one is far above
    assert steady.instances <= 18
    assert careful.instances >= 28
    area = sum(d.current for d in ours), sum(d.current for d in theirs)
    assert area[0] < 0.9 * area[1]


def test_a_bursty_load_is_never_steady_and_keeps_the_careful_settings() -> None:
    # the same fall, with a 20 % burst every other minute: it rises above its lowest by more than 15 %
    smooth = falling(6000.0, 0.01)

    def bursty(now: datetime) -> float:
        return smooth(now) * (1.2 if (now - T0) // timedelta(minutes=1) % 2 else 1.0)

    run = Run(make_policy(), instances=72)
    decisions = run.until(T0 + timedelta(hours=1), bursty)
    assert all(d.steady_since is None for d in decisions)
    assert [d.desired for d in downs(decisions)] == [
        d.desired
        for d in downs(
            Run(make_policy(scale_down={"steady": None}), instances=72).until(T0 + timedelta(hours=1), bursty)
        )
    ]


def test_a_collapse_is_no_steady_fall_until_the_load_comes_back() -> None:
    run = Run(make_policy(), instances=40)
    run.until(T0 + timedelta(minutes=5), lambda _: 4000.0)  # 40 instances' worth
    outage = run.until(T0 + timedelta(minutes=45), lambda _: 40.0)  # 1 % of it, for 40 minutes
    assert all(d.steady_since is None for d in outage)
    # the careful settings only: at most 20 % per step, 10 minutes apart
    steps = downs(outage)
    assert steps and all(d.current - d.desired <= -(-d.current * 20 // 100) for d in steps)
    assert all(b.at - a.at >= timedelta(minutes=10) for a, b in itertools.pairwise(steps))

    assert outage[-1].loads[0].collapsed_from == 40.0
    back = run.tick(2400.0)  # back above half of 40 instances' worth: the collapse is over
    assert back.loads[0].collapsed_from is None
    assert back.loads[0].since == back.at  # and the rise begins a new run


def test_a_missing_metric_ends_the_run() -> None:
    run = Run(make_policy(), instances=40)
    run.until(T0 + timedelta(minutes=15), lambda _: 2000.0)
    assert run.history.loads[0].since == T0
    gone = run.tick(None)
    assert gone.loads == () and run.history.loads == ()
    again = run.tick(2000.0)
    assert again.loads[0].since == again.at


def test_the_end_of_a_floor_is_no_fall_of_the_load() -> None:
    sale = {
        "name": "sale",
        "start": (T0 + timedelta(minutes=5)).isoformat(),
        "end": (T0 + timedelta(minutes=30)).isoformat(),
        "min_instances": 30,
    }
    run = Run(make_policy(schedules=[sale]), instances=30)
    decisions = run.until(T0 + timedelta(minutes=60), lambda _: 500.0)  # 5 wanted all along
    after = [d for d in decisions if d.at >= T0 + timedelta(minutes=30)]
    first = downs(after)[0]
    # the load runs begin again while the floor holds the count up, so the steady settings wait a
    # full window (10m) after the floor's last tick, as long as the careful stabilisation does
    last_floor = T0 + timedelta(minutes=30) - TICK
    assert first.at == last_floor + timedelta(minutes=10)
    assert first.steady_since == last_floor
    assert (first.current, first.desired) == (30, 5)


def metric(load: float | None, name: str = "cpu") -> MetricEvaluation:
    return MetricEvaluation(name, "prometheus", "average", 0.5, 0.4, None if load is None else 4, "", load=load)


RULE = SteadyFall()


@pytest.mark.parametrize(
    ("loads", "steady"),
    [
        ([10.0] * 41, True),  # flat for 10 minutes
        ([10.0 - 0.02 * i for i in range(41)], True),  # falling by 0.2 % a tick
        ([10.0] * 20 + [12.0] + [10.0] * 20, False),  # one rise of 20 % above the lowest begins a new run
        ([10.0] * 20 + [8.0] + [8.0] * 20, False),  # one drop of 20 % in a tick, too
        ([10.0] * 20 + [11.4] * 21, True),  # within 15 % of the lowest
        ([10.0] * 40, False),  # 39 ticks: not yet 10 minutes
    ],
)
def test_runs(loads: list[float], steady: bool) -> None:
    runs: tuple[LoadRun, ...] = ()
    now = T0
    for value in loads:
        runs = advance(runs, [metric(value)], now, RULE)
        at = now
        now += TICK
    assert (steady_since(runs, [metric(loads[-1])], at, RULE) is not None) is steady


def test_every_metric_must_be_steady_and_present() -> None:
    runs: tuple[LoadRun, ...] = ()
    for tick in range(41):
        at = T0 + tick * TICK
        runs = advance(runs, [metric(10.0), metric(10.0 + 3 * (tick % 2), "queue")], at, RULE)
    assert steady_since(runs, [metric(10.0), metric(10.0, "queue")], at, RULE) is None
    only_cpu = advance(runs, [metric(10.0), metric(None, "queue")], at + TICK, RULE)
    assert [run.metric for run in only_cpu] == ["cpu"]
    assert steady_since(only_cpu, [metric(10.0), metric(None, "queue")], at + TICK, RULE) is None


def test_the_load_survives_pickling_and_is_not_compared() -> None:
    evaluation = metric(3.2)
    again = pickle.loads(pickle.dumps(evaluation))
    assert again == evaluation and again.load == 3.2
    assert metric(3.3) == evaluation  # the value and the detail say what it stands for


def test_steady_settings_are_validated_like_the_scale_down_ones() -> None:
    policy = make_policy(scale_down={"steady": {"window": "5m", "tolerance": "20%", "max_step": "50%"}})
    assert policy.scale_down.steady is not None
    assert policy.scale_down.steady.tolerance == pytest.approx(0.2)
    assert policy.scale_down.steady.cooldown == timedelta(minutes=1)
    with pytest.raises(ValueError, match="tolerance"):
        make_policy(scale_down={"steady": {"tolerance": "0%"}})
    with pytest.raises(ValueError, match="windw"):
        make_policy(scale_down={"steady": {"windw": "5m"}})
    assert make_policy(scale_down={"steady": None}).scale_down.steady is None
