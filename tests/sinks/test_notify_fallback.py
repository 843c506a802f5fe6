"""The notice of a metric source outage names the apps that fell back, or will, and to what."""

from __future__ import annotations

from datetime import timedelta

from autoscaler.core.decide import History, decide
from autoscaler.core.model import AppState, Observation
from autoscaler.core.policy import Policy
from autoscaler.reports import AppOutcome
from autoscaler.sinks.notify import FailureTracker, Notice
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
