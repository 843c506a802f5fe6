"""The cost of a tick in requests stays flat as apps are added: counted, not timed.

1,000 apps with two grouped metrics each, against the Marathon-compatible server and a
Prometheus-API endpoint over real HTTP: per tick one Marathon list, one request per distinct query,
and one write per app that changes; never a per-app read.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from autoscaler.core.policy import Policy
from autoscaler.http import RetryPolicy
from autoscaler.loop import ControlLoop
from autoscaler.providers.prometheus import PrometheusProvider
from autoscaler.targets.marathon import MarathonClient
from autoscaler.testing.marathon import FakeMarathon
from autoscaler.testing.prometheus import FakePrometheus

APPS = [f"/bench/group{i // 100}/app{i}" for i in range(1000)]
CPU = "avg by (marathon_app) (cpu)"
BACKLOG = "sum by (marathon_app) (backlog)"
HOT_EVERY = 50  # every 50th app is above target in a given tick: 20 writes per tick


def policy(app_id: str) -> Policy:
    series = {"marathon_app": "${app}"}
    return Policy.model_validate(
        {
            "app": app_id,
            "min_instances": 1,
            "max_instances": 50,
            "scale_up": {"cooldown": "0s"},
            "metrics": [
                {"name": "cpu", "source": "prometheus", "query": CPU, "series": series, "target_average": 0.5},
                {
                    "name": "backlog",
                    "source": "prometheus",
                    "query": BACKLOG,
                    "series": series,
                    "target_per_instance": 100,
                },
            ],
        }
    )


async def test_requests_per_tick_for_a_thousand_apps() -> None:
    turn = {"tick": 0}

    def series_for(query: str, at: float) -> list[tuple[dict[str, str], float]]:
        if query == CPU:
            hot = {i for i in range(len(APPS)) if (i + turn["tick"]) % HOT_EVERY == 0}
            return [({"marathon_app": a}, 0.95 if i in hot else 0.5) for i, a in enumerate(APPS)]
        if query == BACKLOG:
            return [({"marathon_app": a}, 200.0) for a in APPS]
        return []

    marathon = FakeMarathon(task_start_delay=0.0)
    for app_id in APPS:
        marathon.add_app(app_id, instances=2)
    metrics = FakePrometheus(series_for)
    retry = RetryPolicy(attempts=1, request_timeout=30, total_timeout=30)
    target = MarathonClient(base_url=await marathon.start(), policy=retry)
    provider = PrometheusProvider(url=await metrics.start(), policy=retry)
    loop = ControlLoop(
        policies={a: policy(a) for a in APPS},
        target=target,
        providers={"prometheus": provider},
        clock=lambda: datetime.now(UTC),
        logger=logging.getLogger("test.scale"),
    )
    per_tick = []
    try:
        for tick in range(3):
            turn["tick"] = tick
            before_marathon, before_metrics = len(marathon.requests), metrics.requests
            report = await loop.tick()
            sent = marathon.requests[before_marathon:]
            per_tick.append(
                {
                    "marathon_reads": sum(1 for r in sent if r.method == "GET"),
                    "prometheus_reads": metrics.requests - before_metrics,
                    "writes": sum(1 for r in sent if r.method == "PATCH"),
                    "scaled": sum(1 for o in report.outcomes.values() if o.scaled),
                }
            )
    finally:
        await target.aclose()
        await provider.aclose()
        await metrics.stop()
        await marathon.stop()

    for counts in per_tick:
        assert counts["marathon_reads"] == 1, per_tick  # one GET /v2/apps, no per-app reads
        assert counts["prometheus_reads"] == 2, per_tick  # one per distinct grouped query
        assert counts["writes"] == counts["scaled"] == len(APPS) // HOT_EVERY, per_tick
