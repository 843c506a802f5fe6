"""Pauses in the sinks: every pause, resume and end is a notification; /metrics shows which apps are
paused and when their pause ends."""

from __future__ import annotations

import logging
from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from autoscaler.core.model import AppState
from autoscaler.loop import ControlLoop
from autoscaler.pauses import MemoryStore
from autoscaler.pauses.control import PauseControl
from autoscaler.reports import TickReport
from autoscaler.sinks.notify import Notice
from autoscaler.sinks.notify.formats import build_body
from autoscaler.sinks.selfmetrics import SelfMetrics, observe_tick
from autoscaler.testing.clock import FakeClock
from autoscaler.testing.memory import FakeProvider, FakeTarget
from tests.policies import GROUPED, cpu_policy


def test_each_pause_event_is_a_notice_with_its_scope() -> None:
    clock = FakeClock()
    control = PauseControl(store=MemoryStore(), clock=clock, logger=logging.getLogger("test.pauses"))
    control.pause("/shop/*", duration=timedelta(minutes=5), reason="sale prep", by="alice")
    control.pause("/billing", duration=timedelta(hours=1), reason="", by="bob")
    control.resume("/billing", by="carol")
    clock.advance(300)
    control.refresh()
    notices = [Notice.of_pause(event) for event in control.drain_events()]
    assert [(n.event, n.code, n.name) for n in notices] == [
        ("paused", "paused", "/shop/*"),
        ("paused", "paused", "/billing"),
        ("resumed", "resumed", "/billing"),
        ("resumed", "expired", "/shop/*"),
    ]
    slack = build_body("slack", notices, title="autoscaler")["text"]
    assert "alice" in slack and "sale prep" in slack and "resumed by carol" in slack and "by itself" in slack
    generic = build_body("json", notices[:1], title="autoscaler")
    assert generic["event"] == "paused" and generic["scope"] == "/shop/*" and generic["app"] is None
    assert "sale prep" in generic["text"]


def _samples(metrics: SelfMetrics) -> dict[tuple[str, str], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if sample.name.startswith("autoscaler_pause"):
                out[(sample.name, sample.labels.get("app", ""))] = sample.value
    return out


async def test_metrics_show_paused_apps_and_their_end() -> None:
    clock = FakeClock()
    control = PauseControl(store=MemoryStore(), clock=clock, logger=logging.getLogger("test.pauses"))
    target = FakeTarget(clock, [AppState("/a", 2, tasks_running=2), AppState("/b", 2, tasks_running=2)])
    provider = FakeProvider("prometheus", clock)
    provider.set(GROUPED, ({"marathon_app": "/a"}, 1.0), ({"marathon_app": "/b"}, 0.5))
    loop = ControlLoop(
        policies={app: cpu_policy(app) for app in ("/a", "/b")},
        target=target,
        providers={"prometheus": provider},
        clock=clock,
        logger=logging.getLogger("test.loop"),
        pauses=control,
    )
    pause = control.pause("/a", duration=timedelta(minutes=1), reason="", by="x")
    metrics = SelfMetrics()
    report: TickReport = await loop.tick()
    observe_tick(metrics, report)
    assert _samples(metrics) == {
        ("autoscaler_paused", "/a"): 1.0,
        ("autoscaler_pause_until_timestamp_seconds", "/a"): pause.until.timestamp(),
    }
    clock.advance(60)
    observe_tick(metrics, await loop.tick())
    assert _samples(metrics) == {}
