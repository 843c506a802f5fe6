"""core.render: the one set of words for a decision; the Decision's own text methods are its."""

from __future__ import annotations

from datetime import timedelta

from autoscaler.core import render
from autoscaler.core.decide import History, decide
from autoscaler.core.model import AppState, Observation
from tests.core.test_decide import NOW, make_policy


def test_a_decision_speaks_through_the_renderer() -> None:
    policy = make_policy(max_instances=6)
    state = AppState("/shop/api", 4, tasks_running=4, last_scaled_at=NOW - timedelta(minutes=5))
    decision = decide(policy, state, {"cpu": Observation(5.0, NOW)}, History(observing_since=NOW), NOW)
    assert decision.clamps and decision.metrics
    assert decision.summary() == render.summary(decision)
    assert decision.reasons() == render.reasons(decision)
    assert decision.explain() == render.account(decision)
    account = decision.explain().splitlines()
    assert account[0] == render.summary(decision)
    for clamp in decision.clamps:
        assert f"  {render.clamp_text(clamp)}" in account
        assert f"{clamp.rule}: {clamp.before} -> {clamp.after}: {clamp.detail}" in decision.reasons()
    for metric in decision.metrics:
        assert f"  metric {render.metric_text(metric)}" in account
    numbered = render.clamp_lines(decision)
    assert numbered[0] == "Clamps, in the order they applied:"
    assert numbered[1:] == [f"  {n}. {render.clamp_text(c)}" for n, c in enumerate(decision.clamps, start=1)]


def test_a_hold_without_clamps_says_none() -> None:
    decision = decide(make_policy(), AppState("/shop/api", 4, tasks_running=4), {"cpu": Observation(0.5, NOW)},
                      History(observing_since=NOW - timedelta(hours=1)), NOW)  # fmt: skip
    assert decision.code == "within_tolerance"
    assert render.clamp_lines(decision) == ["Clamps, in the order they applied:", "  none"]
    assert render.why(decision).startswith("It stays at 4 because every metric is within the tolerance band")
