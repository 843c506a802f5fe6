"""core.render: the one set of words for a decision; the Decision's own text methods are its."""

from __future__ import annotations

from datetime import UTC, timedelta

from autoscaler.core import render
from autoscaler.core.decide import Decision, History, decide
from autoscaler.core.fallback import fallback_state
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


def _outage(app: str, fallback: dict[str, object] | None, *, missing_for: timedelta) -> Decision:
    """A decision of an app whose only metric has been missing for `missing_for`."""
    data: dict[str, object] = {"fallback": fallback} if fallback is not None else {}
    policy = make_policy(app=app, max_instances=20, **data)
    history = History(observing_since=NOW - timedelta(hours=1), metrics_missing_since=NOW - missing_for)
    return decide(policy, AppState(app, 3, tasks_running=3), {"cpu": Observation.missing("down")}, history, NOW)


def test_a_fallback_in_a_few_words_names_its_count_or_when_it_applies() -> None:
    in_force = _outage("/a", {"after": "2m", "instances": 8}, missing_for=timedelta(minutes=5))
    waiting = _outage("/b", {"after": "2m", "instances": 6}, missing_for=timedelta(seconds=30))
    unavailable = fallback_state(
        instances="forecast", after=timedelta(minutes=2), missing_since=NOW - timedelta(minutes=5), now=NOW,
        forecast=None, planned=None, min_instances=1, max_instances=20,
    )  # fmt: skip
    assert in_force.fallback is not None and in_force.fallback.in_force
    assert render.fallback_brief(in_force.fallback) == f"to {in_force.fallback.instances}"
    assert waiting.fallback is not None and waiting.fallback.status == "waiting"
    due = waiting.fallback.in_force_from.astimezone(UTC)
    assert render.fallback_brief(waiting.fallback) == f"to at least 6 at {due:%H:%M:%S} UTC"
    assert unavailable is not None and unavailable.status == "unavailable" and unavailable.why
    assert render.fallback_brief(unavailable) == f"holds ({unavailable.why})"
    # several apps in one clause: those without a fallback are left out, and the list is bounded
    plain = _outage("/d", None, missing_for=timedelta(minutes=5))
    assert plain.fallback is None
    clause = render.fallbacks_brief([in_force, plain, waiting])
    assert clause == f"/a {render.fallback_brief(in_force.fallback)}, /b {render.fallback_brief(waiting.fallback)}"
    assert render.fallbacks_brief([plain]) == ""
    many = [_outage(f"/n{i}", {"instances": 2}, missing_for=timedelta(minutes=3)) for i in range(5)]
    assert render.fallbacks_brief(many, most=3) == ", ".join(f"/n{i} to 2" for i in range(3)) + " (+2)"


def test_the_outcome_in_a_clause_names_the_count_it_leads_to() -> None:
    policy = make_policy(max_instances=6)
    state = AppState("/shop/api", 4, tasks_running=4, last_scaled_at=NOW - timedelta(minutes=5))
    up = decide(policy, state, {"cpu": Observation(5.0, NOW)}, History(observing_since=NOW), NOW)
    assert up.scaled
    assert render.outcome_text(up) == f"{up.code}, desired {up.desired} (cause: {up.cause})"
    assert render.outcome_text(up, code="dry_run") == f"dry_run, desired {up.desired} (cause: {up.cause})"
    hold = decide(policy, state, {"cpu": Observation(0.5, NOW)}, History(observing_since=NOW - timedelta(hours=1)), NOW)
    assert not hold.scaled
    assert render.outcome_text(hold) == f"{hold.code}, stays at {hold.current}"
