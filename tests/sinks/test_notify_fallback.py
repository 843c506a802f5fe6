"""The notice of a metric source outage names the apps that fell back, or will, and to what; a notice
writes a decision in the renderer's words."""

from __future__ import annotations

from datetime import timedelta

from autoscaler.core import render
from autoscaler.core.codes import CODES, Outcome
from autoscaler.core.decide import History, decide
from autoscaler.core.model import AppState, Observation
from autoscaler.core.policy import Policy
from autoscaler.ports import ScaleResult
from autoscaler.reports import AppOutcome
from autoscaler.sinks.notify import DEFAULT_FAILURE_CODES, FailureTracker, Notice, build_body
from tests.sinks.test_notify import T0, held, report

CPU = {"name": "cpu", "source": "prometheus", "query": "q", "target_average": 0.5}


def outage_outcome(app: str, fallback: dict[str, object] | None, *, missing_for: timedelta) -> AppOutcome:
    policy = Policy.model_validate(
        {"app": app, "min_instances": 1, "max_instances": 20, "metrics": [CPU]}
        | ({"fallback": fallback} if fallback else {})
    )
    history = History(observing_since=T0 - timedelta(hours=1), metrics_missing_since=T0 - missing_for)
    decision = decide(policy, AppState(app, 3, tasks_running=3), {"cpu": Observation.missing("down")}, history, T0)
    return AppOutcome(app, decision.code, decision.summary(), decision)


def test_the_outage_notice_says_which_apps_fell_back_and_to_what() -> None:
    tracker = FailureTracker(failure_ticks=2)
    outcomes = [
        outage_outcome("/shop/api", {"after": "2m", "instances": 8}, missing_for=timedelta(minutes=5)),
        outage_outcome("/shop/web", {"after": "2m", "instances": 6}, missing_for=timedelta(seconds=30)),
        outage_outcome("/shop/cart", None, missing_for=timedelta(minutes=5)),
    ]
    told: list[Notice] = []
    for _ in range(2):
        told += tracker.observe(report(*outcomes))
    (notice,) = [n for n in told if n.subject == "metric_source"]
    assert notice.code == "source_down"
    assert notice.detail.endswith("; fallback: /shop/api to 8, /shop/web to at least 6 at 00:01:30 UTC")
    assert "/shop/cart" not in notice.detail  # no fallback: it holds, as the notice's first part says


def test_without_fallbacks_the_outage_notice_is_unchanged_and_many_are_bounded() -> None:
    tracker = FailureTracker(failure_ticks=1)
    (plain,) = tracker.observe(report(held("/a", "missing_metrics")))
    assert "fallback" not in plain.detail

    many = [outage_outcome(f"/app/n{i}", {"instances": 2}, missing_for=timedelta(minutes=3)) for i in range(14)]
    (notice,) = [n for n in FailureTracker(failure_ticks=1).observe(report(*many)) if n.subject == "metric_source"]
    assert notice.detail.count(" to 2") == 10 and notice.detail.endswith("(+4)")


def test_a_scale_notice_speaks_the_renderers_words() -> None:
    """The headline, the reasons and the generic JSON's text are core.render's, as in the logs."""
    policy = Policy.model_validate(
        {"app": "/shop/api", "min_instances": 1, "max_instances": 6, "metrics": [CPU],
         "scale_up": {"max_step": 1}}
    )  # fmt: skip
    history = History(observing_since=T0 - timedelta(hours=1))
    decision = decide(policy, AppState("/shop/api", 3, tasks_running=3), {"cpu": Observation(2.0, T0)}, history, T0)
    assert decision.scaled and decision.clamps  # limited by max_step: a clamp among the reasons
    write = ScaleResult("/shop/api", decision.desired, "scaled")
    outcome = AppOutcome("/shop/api", decision.code, decision.summary(), decision, write)
    (notice,) = FailureTracker(failure_ticks=2).observe(report(outcome))
    assert notice.headline == render.summary(decision)
    assert list(notice.reasons) == render.reasons(decision)
    body = build_body("json", [notice], title="prod")
    assert (body["text"], body["reasons"]) == (render.summary(decision), render.reasons(decision))
    assert f"[prod] {render.summary(decision)}" in build_body("wecom", [notice], title="prod")["markdown"]["content"]


def test_every_problem_code_and_a_stuck_deployment_are_failures_worth_a_notice() -> None:
    """The failures told by default follow the engine's table of codes: a new problem code is one too."""
    problems = {code for code, info in CODES.items() if info.kind == "problem"}
    assert problems and problems <= DEFAULT_FAILURE_CODES
    assert DEFAULT_FAILURE_CODES - problems == {Outcome.DEPLOYMENT_IN_PROGRESS}
    tracker = FailureTracker(failure_ticks=1)
    for code in sorted(problems - {Outcome.MISSING_METRICS}):  # missing metrics: see the source's notice
        (notice,) = tracker.observe(report(held("/a", code)))
        assert (notice.event, notice.code) == ("failing", code)
