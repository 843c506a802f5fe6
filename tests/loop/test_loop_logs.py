"""What the loop writes to its log: bounded per tick whatever the fleet size, one line per outage
and per recovery instead of lines per app per tick, app ids shortened and said once per line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import respx

from autoscaler import logs
from autoscaler.core.model import AppState
from autoscaler.http import RetryPolicy
from autoscaler.loop import ControlLoop
from autoscaler.targets.marathon import MarathonClient
from autoscaler.testing.clock import FakeClock
from autoscaler.testing.memory import FakeProvider, FakeTarget
from autoscaler.ticklog import TickDigest
from tests.policies import GROUPED, cpu_policy

BASE = "http://marathon.test:8080"
RETRY = RetryPolicy(attempts=1, initial_backoff=0.001, max_backoff=0.002, total_timeout=5.0, request_timeout=1.0)


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """The service's own logger set up as `autoscaler run` does (JSON lines), into a buffer; the
    Marathon client's module logger is below it, so its lines land there too."""
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    logger = logs.configure(level="INFO", fmt="json")
    yield logger, stream
    logger.handlers.clear()


def lines_of(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    stream.seek(0)
    stream.truncate()
    return lines


def warnings_of(stream: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in lines_of(stream) if line["level"] in ("warning", "error")]


def app(app_id: str, instances: int) -> AppState:
    return AppState(app_id=app_id, instances=instances, tasks_running=instances, tasks_healthy=instances)


def wire_app(app_id: str, instances: object) -> dict[str, object]:
    return {
        "id": app_id,
        "instances": instances,
        "tasksStaged": 0,
        "tasksRunning": 2,
        "tasksHealthy": 2,
        "tasksUnhealthy": 0,
        "deployments": [],
    }


async def test_thousands_of_unusable_unmanaged_apps_are_counted_not_listed(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    unmanaged = [wire_app(f"/team{i}/" + "x" * 200, "many") for i in range(10_000)]
    managed = [wire_app(f"/shop/app{i}", 2) for i in range(5)]
    broken_managed = wire_app("/shop/broken", -1)
    body = {"apps": [*unmanaged, *managed, broken_managed]}
    clock = FakeClock()
    provider = FakeProvider("prometheus", clock)
    provider.set(GROUPED, *[({"marathon_app": f"/shop/app{i}"}, 0.5) for i in range(5)])
    policies = {p.app: p for p in [*(cpu_policy(f"/shop/app{i}") for i in range(5)), cpu_policy("/shop/broken")]}
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        mock.get("/v2/apps").respond(200, json=body)
        target = MarathonClient(base_url=BASE, policy=RETRY)
        loop = ControlLoop(
            policies=policies, target=target, providers={"prometheus": provider}, clock=clock, logger=logger
        )
        try:
            report = await loop.tick()
            first = stream.getvalue()
            first_lines = lines_of(stream)
            clock.advance(15)
            await loop.tick()
            second_lines = lines_of(stream)
        finally:
            await target.aclose()

    assert report.outcomes["/shop/broken"].code == "invalid_app_state"
    assert len(first) < 4_000, f"{len(first)} bytes of log for one tick"
    assert "/team1/" not in first  # counted, not listed
    counts = [line for line in first_lines if line.get("event") == "unmanaged_invalid_apps"]
    assert [line["count"] for line in counts] == [10_000]
    broken = [line for line in first_lines if line.get("code") == "invalid_app_state"]
    assert len(broken) == 1 and broken[0]["app"] == "/shop/broken"
    # the next tick sees the same: the count is not repeated, the managed app's problem is
    assert not any(line.get("event") == "unmanaged_invalid_apps" for line in second_lines)
    assert [line.get("code") for line in second_lines if line["level"] == "warning"] == ["invalid_app_state"]


async def test_the_same_warning_for_many_apps_is_one_line_with_a_count(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    clock = FakeClock()
    ids = [f"/shop/app{i:03}" for i in range(312)]
    target = FakeTarget(clock, [app(i, 2) for i in ids])
    provider = FakeProvider("prometheus", clock)
    provider.set(GROUPED, ({"marathon_app": ids[0]}, 0.5))  # the other 311 have no series: missing_metrics
    loop = ControlLoop(
        policies={i: cpu_policy(i) for i in ids},
        target=target,
        providers={"prometheus": provider},
        clock=clock,
        logger=logger,
    )

    report = await loop.tick()

    missing = sorted(a for a, outcome in report.outcomes.items() if outcome.code == "missing_metrics")
    assert len(missing) == 311
    warnings = warnings_of(stream)
    assert len(warnings) == 1, warnings
    line = warnings[0]
    assert (line["code"], line["count"]) == ("missing_metrics", 311)
    assert line["message"].startswith(f"missing_metrics for 311 apps: {missing[0]}, {missing[1]}, {missing[2]} (+308)")
    assert line["apps"] == missing[:3]
    assert any("no series" in reason for reason in line["reasons"])


async def test_a_long_app_id_is_shortened_and_said_once(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    clock = FakeClock()
    long_id = "/" + "/".join(f"segment{i}" for i in range(100))
    target = FakeTarget(clock, [app(long_id, 2), app("/short", 2)])
    provider = FakeProvider("prometheus", clock)
    loop = ControlLoop(
        policies={long_id: cpu_policy(long_id), "/short": cpu_policy("/short", min_instances=2)},
        target=target,
        providers={"prometheus": provider},
        clock=clock,
        logger=logger,
    )
    target.apps.pop("/short")  # app_not_found for the one, missing_metrics for the other

    await loop.tick()

    warnings = warnings_of(stream)
    assert {line["code"] for line in warnings} == {"missing_metrics", "app_not_found"}
    for line in warnings:
        assert len(line["app"]) <= logs.MAX_ID_CHARS
        assert len(line["message"]) < 400
        assert line["message"].count(line["app"]) == 1, line["message"]
    long_line = next(line for line in warnings if line["code"] == "missing_metrics")
    assert long_line["app"].startswith("/segment0/") and long_line["app"].endswith("/segment99")
    assert long_id not in long_line["message"]


async def test_a_metric_source_outage_is_one_line_down_and_one_line_up(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    clock = FakeClock()
    ids = [f"/shop/app{i}" for i in range(50)]
    target = FakeTarget(clock, [app(i, 4) for i in ids])
    provider = FakeProvider("prometheus", clock)
    provider.set(GROUPED, *[({"marathon_app": i}, 0.5) for i in ids])
    loop = ControlLoop(
        policies={i: cpu_policy(i) for i in ids},
        target=target,
        providers={"prometheus": provider},
        clock=clock,
        logger=logger,
    )
    await loop.tick()
    assert warnings_of(stream) == []

    provider.fail = True
    during: list[list[dict[str, Any]]] = []
    for _ in range(9):
        clock.advance(15)
        report = await loop.tick()
        during.append(warnings_of(stream))
    assert {outcome.code for outcome in report.outcomes.values()} == {"missing_metrics"}
    clock.advance(15)
    provider.fail = False
    await loop.tick()
    after = warnings_of(stream)

    down = during[0]
    assert len(down) == 1, down
    assert down[0]["event"] == "metric_source_error" and down[0]["source"] == "prometheus" and down[0]["apps"] == 50
    assert "50 apps" in down[0]["message"] and "prometheus is down" in down[0]["message"]
    assert all(lines == [] for lines in during[1:]), during[1:]
    assert len(after) == 1, after
    assert after[0]["event"] == "metric_source_recovered" and after[0]["apps"] == 50
    assert after[0]["failed_ticks"] == 9 and after[0]["down_seconds"] == 9 * 15
    assert "after 2m15s" in after[0]["message"]


async def test_marathon_unreachable_is_one_line_down_and_one_line_up(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    clock = FakeClock()
    target = FakeTarget(clock, [app("/a", 2)])
    provider = FakeProvider("prometheus", clock)
    provider.set(GROUPED, ({"marathon_app": "/a"}, 0.5))
    loop = ControlLoop(
        policies={"/a": cpu_policy("/a")}, target=target, providers={"prometheus": provider}, clock=clock, logger=logger
    )
    target.down = True
    during = []
    for _ in range(4):
        report = await loop.tick()
        during.append(warnings_of(stream))
        clock.advance(30)
    target.down = False
    await loop.tick()
    after = warnings_of(stream)

    assert not report.reached_marathon
    assert len(during[0]) == 1 and during[0][0]["event"] == "marathon_error"
    assert "did not answer" in during[0][0]["message"]
    assert during[1:] == [[], [], []]
    assert len(after) == 1 and after[0]["event"] == "marathon_recovered"
    assert after[0]["down_seconds"] == 120 and after[0]["failed_ticks"] == 4
    assert "after 2m" in after[0]["message"]


def test_text_lines_of_a_collapsed_warning_stay_few(monkeypatch: pytest.MonkeyPatch) -> None:
    """The text format prints reasons below a line: a collapsed line prints only its first app's."""
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    logger = logs.configure(level="INFO", fmt="text")
    digest = TickDigest()
    for i in range(1000):
        digest.add("missing_metrics", f"/a{i}", "stays at 2 (missing_metrics)", [f"metric cpu: missing {i}"] * 20)
    digest.emit(logger)
    logger.handlers.clear()
    text = stream.getvalue()
    assert len(text.splitlines()) <= 6, text
    assert "missing_metrics for 1000 apps: /a0, /a1, /a2 (+997)" in text
