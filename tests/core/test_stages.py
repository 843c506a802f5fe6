"""decide as a fold: the stage list is the one its docstring reads, and each stage leaves its trace."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from autoscaler.core import decide as engine
from autoscaler.core.codes import Cause, Hold, Rule
from autoscaler.core.decide import SETTING, SHAPING, History, decide
from autoscaler.core.model import AppState, Observation
from autoscaler.core.stages import Draft
from tests.core.test_decide import NOW, OBSERVED, make_policy


def test_the_docstring_names_the_stages_in_the_order_they_run() -> None:
    assert engine.__doc__ is not None
    mentioned = re.findall(r"`(\w+)`", engine.__doc__)
    stages = [stage.__name__ for stage in (*SHAPING, *SETTING)]
    assert [name for name in mentioned if name in stages] == stages


def test_a_stage_that_stops_ends_the_fold() -> None:
    state = AppState("/shop/api", 2, tasks_running=2, deployment_ids=("d1",))
    decision = decide(make_policy(min_instances=5), state, {"cpu": Observation(1.0, NOW)}, OBSERVED, NOW)
    assert decision.code == Hold.DEPLOYMENT_IN_PROGRESS
    assert decision.desired == 2  # below min_instances, yet the bounds stage never ran
    assert decision.clamps == ()


def test_each_clamp_records_the_count_before_and_after() -> None:
    """Load for 40 instances from 4: each stage's clamp starts where the last one ended."""
    policy = make_policy(max_instances=6)
    state = AppState("/shop/api", 4, tasks_running=4)
    decision = decide(policy, state, {"cpu": Observation(5.0, NOW)}, History(observing_since=NOW), NOW)
    assert [clamp.rule for clamp in decision.clamps] == [Rule.MAX_STEP, Rule.MAX_INSTANCES]
    assert decision.clamps[0].before == decision.proposed
    for before, after in zip(decision.clamps, decision.clamps[1:], strict=False):
        assert after.before == before.after
    assert decision.clamps[-1].after == decision.desired == 6
    assert decision.cause == Cause.BOUNDS  # the last SETTING stage that moved it
    # within a cooldown the cooldown stage holds it, and a count below the bound is not `at_max`
    cooling = AppState("/shop/api", 4, tasks_running=4, last_scaled_at=NOW - timedelta(seconds=10))
    held = decide(policy, cooling, {"cpu": Observation(5.0, NOW)}, History(observing_since=NOW), NOW)
    assert [clamp.rule for clamp in held.clamps] == [Rule.MAX_STEP, Rule.COOLDOWN]
    assert held.code == Hold.COOLDOWN


@pytest.mark.parametrize("stage", [*SHAPING, *SETTING])
def test_a_stage_that_does_not_apply_leaves_no_trace(stage: engine.Stage) -> None:
    """On target, inside every bound, no window, no forecast: no stage clamps, holds or notes."""
    policy = make_policy()
    state = AppState("/shop/api", 4, tasks_running=4)
    draft = Draft.start(policy, state, {"cpu": Observation(0.5, NOW)}, OBSERVED, NOW, outlook=None)
    engine.propose(draft)
    before = (draft.desired, list(draft.clamps), list(draft.notes), list(draft.holds))
    if stage is not engine.propose:
        stage(draft)
    assert (draft.desired, draft.clamps, draft.notes, draft.holds) == before
    assert draft.stopped is None
