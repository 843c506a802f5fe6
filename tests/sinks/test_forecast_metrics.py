"""/metrics for prediction: the forecast (also in forecast_only, where it never acts) and the
start-up time learned from Marathon, per app; series of apps that leave are dropped."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from autoscaler.core.startup import StartupEstimate
from autoscaler.sinks.selfmetrics import SelfMetrics, observe_status, observe_tick
from autoscaler.sinks.status import ServiceStatus
from autoscaler.testing.clock import DEFAULT_START
from tests.predictive.test_loop_predictive import APP, run_until, setup

T0 = DEFAULT_START


def samples(metrics: SelfMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def test_forecast_and_start_up_gauges() -> None:
    clock, _, _, loop = setup("forecast_only")
    metrics = SelfMetrics()
    status = ServiceStatus(interval=timedelta(seconds=15), started_at=T0)
    status.set_policies(loop.policies, [])
    await run_until(clock, loop, T0 - timedelta(minutes=2))
    assert loop.last_report is not None
    observe_tick(metrics, loop.last_report)
    status.startup = {APP: StartupEstimate(APP, 45.0, (45.0,))}
    observe_status(metrics, status)
    seen = samples(metrics)
    app = (("app", APP),)
    assert seen[("autoscaler_forecast_instances", app)] == 5  # shown although forecast_only never acts
    assert abs(seen[("autoscaler_forecast_load", (("app", APP), ("metric", "depth")))] - 440.0) < 1e-9
    assert seen[("autoscaler_forecast_acts", app)] == 0
    assert seen[("autoscaler_forecast_won", app)] == 0
    assert seen[("autoscaler_startup_seconds", app)] == 45.0

    status.set_policies({}, [])  # the app leaves the policy set
    observe_status(metrics, status)
    left = {name for name, labels in samples(metrics) if labels == app or ("app", APP) in labels}
    assert not {n for n in left if n.startswith(("autoscaler_forecast", "autoscaler_startup"))}
