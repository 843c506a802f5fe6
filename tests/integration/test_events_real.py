"""Scale actions posted as events to a real graphite-web, and read back through its events API
the way Grafana's Graphite annotations read them (by tag)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import pytest

from autoscaler.core.decide import Decision
from autoscaler.http import RetryPolicy
from autoscaler.ports import ScaleResult
from autoscaler.reports import AppOutcome, TickReport
from autoscaler.sinks.events import GraphiteEvents
from tests import servers

pytestmark = pytest.mark.integration

POLICY = RetryPolicy(attempts=2, initial_backoff=0.05, max_backoff=0.1, request_timeout=5, total_timeout=10)


async def test_scale_action_becomes_a_graphite_event(graphite_server: servers.RunningGraphite) -> None:
    at = datetime.fromtimestamp(int(time.time()) - 60, tz=UTC)
    decision = Decision("/shop/api", at, 4, 8, "scaled_up", cause="metrics")
    outcome = AppOutcome("/shop/api", "scaled_up", "", decision, ScaleResult("/shop/api", 8, "scaled"))
    events = GraphiteEvents(
        url=graphite_server.url, retry=POLICY, logger=logging.getLogger("test"), tags=("autoscaler", "it")
    )
    events.start()
    events.submit(TickReport(at=at, outcomes={"/shop/api": outcome}))
    await events.aclose(grace=15)  # delivers what is queued first
    assert events.stats.delivered == 1, graphite_server.log_tail()

    found = servers.get_json(
        f"{graphite_server.url}/events/get_data", {"tags": "autoscaler /shop/api", "from": "-1h", "until": "now"}
    )
    assert len(found) == 1
    (event,) = found
    assert event["what"] == "/shop/api: 4 -> 8 (scaled_up: metrics)"
    assert set(event["tags"]) == {"autoscaler", "it", "scale_up", "cause:metrics", "/shop/api"}
    assert int(event["when"]) == int(at.timestamp())
