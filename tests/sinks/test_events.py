"""Graphite events for scale actions, against a local HTTP receiver standing in for graphite-web."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from autoscaler.core.decide import Decision
from autoscaler.http import RetryPolicy
from autoscaler.ports import ScaleResult
from autoscaler.reports import AppOutcome, TickReport
from autoscaler.sinks.events import GraphiteEvents, ScaleEvent, clean_tag, event_tags, scale_events
from autoscaler.testing.webhook import WebhookReceiver

T0 = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)
FAST = RetryPolicy(attempts=1, request_timeout=2.0, total_timeout=2.0)
LOG = logging.getLogger("test.events")


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as server:
        yield server


async def wait_for(predicate: Any, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def outcome(app: str, before: int, after: int, *, write: str = "scaled", code: str | None = None) -> AppOutcome:
    decision = Decision(app, T0, before, after, "scaled_up" if after > before else "scaled_down", cause="schedule")
    result = ScaleResult(app, after, write)  # type: ignore[arg-type]
    return AppOutcome(app, code or decision.code, decision.summary(), decision, result)


def report(*outcomes: AppOutcome) -> TickReport:
    return TickReport(at=T0, outcomes={o.app_id: o for o in outcomes})


def test_only_accepted_scale_actions_are_events() -> None:
    hold = AppOutcome("/c", "cooldown", "", Decision("/c", T0, 3, 3, "cooldown"))
    dry = AppOutcome("/d", "dry_run", "", Decision("/d", T0, 3, 5, "scaled_up", cause="metrics"))
    refused = outcome("/e", 2, 4, write="deployment_in_progress", code="deployment_in_progress")
    events = scale_events(report(outcome("/a", 2, 4), outcome("/b", 6, 5), hold, dry, refused))
    assert [(e.app_id, e.before, e.after) for e in events] == [("/a", 2, 4), ("/b", 6, 5)]


def test_event_body_has_graphite_1_1_shape() -> None:
    event = ScaleEvent("/shop/api", 4, 30, "scaled_up", "schedule", ("schedule double-11: floor 30",), T0.timestamp())
    assert event.body(tags=("autoscaler", "prod")) == {
        "what": "/shop/api: 4 -> 30 (scaled_up: schedule)",
        "tags": ["autoscaler", "prod", "scale_up", "cause:schedule", "/shop/api"],
        "data": "schedule double-11: floor 30",
        "when": int(T0.timestamp()),
    }


def test_tags_cannot_split_or_overflow() -> None:
    assert clean_tag("a b,c") == "a_b_c"
    assert len(clean_tag("/" + "x" * 80)) == 50
    assert event_tags("prod, dc1 prod") == ("autoscaler", "prod", "dc1")
    assert event_tags(None) == ("autoscaler",)


async def test_events_are_posted_in_the_background(receiver: WebhookReceiver) -> None:
    events = GraphiteEvents(url=receiver.url("/"), retry=FAST, logger=LOG, auth=("graphite", "pw"))
    events.start()
    events.submit(report(outcome("/shop/api", 4, 8), outcome("/shop/web", 6, 5)))
    await wait_for(lambda: len(receiver.received) == 2)
    await events.aclose()
    paths = {r.path for r in receiver.received}
    assert paths == {"/events/"}
    bodies = sorted((r.body for r in receiver.received), key=lambda b: b["what"])
    assert bodies[0]["tags"] == ["autoscaler", "scale_up", "cause:schedule", "/shop/api"]
    assert bodies[1]["tags"][1] == "scale_down"
    assert all(r.headers.get("authorization", "").startswith("Basic ") for r in receiver.received)
    assert events.stats.delivered == 2


async def test_refused_events_are_counted_not_raised() -> None:
    refusing = WebhookReceiver(status=400)
    await refusing.start()
    try:
        events = GraphiteEvents(url=refusing.url(), retry=FAST, logger=LOG)
        events.start()
        events.submit(report(outcome("/a", 1, 2)))
        await wait_for(lambda: events.stats.failed == 1)
        await events.aclose()
    finally:
        await refusing.stop()


async def test_queue_is_bounded_and_submit_does_not_wait() -> None:
    events = GraphiteEvents(url="http://127.0.0.1:9", retry=FAST, logger=LOG, queue_size=10)
    # not started: nothing drains, so the queue fills and then drops the oldest
    started = time.perf_counter()
    for i in range(50):
        events.submit(report(outcome(f"/app/{i}", 1, 2)))
    assert time.perf_counter() - started < 0.5
    assert events.stats.dropped == 40
    await events.aclose()
