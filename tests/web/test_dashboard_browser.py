"""The dashboard in a real headless Chromium: after its script ran, the page shows every app, its
counts, its reasons and its schedules; with an API token it asks for the token instead of failing.

The status comes from real ticks of the control loop against in-memory fakes. A screenshot is
written to the test's temporary directory, and to docs/dashboard.png when UPDATE_SCREENSHOT=1.
Without Chromium the tests skip on a developer machine and fail in CI (CI=true).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autoscaler.core.model import AppState
from autoscaler.core.policy import Policy
from autoscaler.loop import ControlLoop
from autoscaler.sinks.selfmetrics import SelfMetrics, observe_tick
from autoscaler.sinks.status import ServiceStatus
from autoscaler.testing.clock import FakeClock
from autoscaler.testing.memory import FakeProvider, FakeTarget
from autoscaler.web.server import StatusServer

NOW = datetime(2026, 11, 10, 14, 0, tzinfo=UTC)
CPU = "avg by (marathon_app) (rate(container_cpu_usage_seconds_total[1m])) / 0.5"
BACKLOG = "sumSeries(stats.gauges.rabbitmq.orders.messages)"
PUSH = "aliasByNode(stats.gauges.push.*.queue_length, 3)"
TOKEN = "dashboard-token-5150"
REPO = Path(__file__).resolve().parents[2]
CHROMIUM_TIMEOUT = 90.0


def chromium() -> str:
    """The Chromium binary, or skip (fail in CI) with the reason."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path is not None:
            return path
    message = "Chromium is not installed (Debian package `chromium`); the dashboard was not rendered"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (a skip counts as a failure in CI)")
    pytest.skip(message)


def policy(app_id: str, **fields: object) -> Policy:
    return Policy.model_validate({"app": app_id, **fields})


def cpu(target: float = 0.6) -> dict[str, object]:
    return {"name": "cpu", "source": "prometheus", "query": CPU, "series": {"marathon_app": "${app}"},
            "target_average": target}  # fmt: skip


DOUBLE_11 = {"name": "campaign:double-11", "start": "2026-11-11T00:00:00+08:00", "end": "2026-11-11T03:00:00+08:00",
             "lead": "20m"}  # fmt: skip


def state(app_id: str, instances: int, *, ago: timedelta = timedelta(hours=1), health: bool = True) -> AppState:
    return AppState(
        app_id=app_id,
        instances=instances,
        tasks_running=instances,
        tasks_healthy=instances if health else 0,
        has_health_checks=health,
        last_scaled_at=NOW - ago,
    )


async def build_status() -> tuple[ServiceStatus, SelfMetrics, FakeClock]:
    clock = FakeClock(NOW)
    policies = [
        policy("/shop/api", min_instances=2, max_instances=40, metrics=[cpu(), {
            "name": "orders_backlog", "source": "graphite", "query": BACKLOG, "target_per_instance": 500}],
            schedules=[{**DOUBLE_11, "min_instances": 30},
                       {"name": "evening-push", "cron": "0 20 * * *", "timezone": "Asia/Shanghai", "duration": "1h",
                        "lead": "10m", "min_instances": 12}]),
        policy("/shop/checkout", min_instances=3, max_instances=24, metrics=[cpu(0.5)],
               schedules=[{"name": "lunch-peak", "cron": "0 13 * * *", "timezone": "UTC", "duration": "2h",
                           "min_instances": 6}]),
        policy("/shop/search", min_instances=2, max_instances=12, metrics=[cpu()],
               scale_up={"cooldown": "5m"}, schedules=[{**DOUBLE_11, "min_instances": 10, "ramp_up": "30m"}]),
        policy("/push/sender", min_instances=1, max_instances=16, metrics=[{
            "name": "queue", "source": "graphite", "query": PUSH, "series": "${app_name}",
            "target_per_instance": 2000}], fallback={"after": "2m", "instances": 2}),
        policy("/shop/legacy-admin", min_instances=1, max_instances=2),
    ]  # fmt: skip
    target = FakeTarget(
        clock,
        [
            state("/shop/api", 4),
            state("/shop/checkout", 6),
            state("/shop/search", 6, ago=timedelta(minutes=1)),
            state("/push/sender", 3, health=False),
        ],
    )
    prometheus = FakeProvider("prometheus", clock)
    prometheus.set(CPU, ({"marathon_app": "/shop/api"}, 0.9), ({"marathon_app": "/shop/checkout"}, 0.52),
                   ({"marathon_app": "/shop/search"}, 0.95))  # fmt: skip
    graphite = FakeProvider("graphite", clock)
    graphite.set(BACKLOG, ({"name": BACKLOG}, 6000.0))  # no push series: missing
    loop = ControlLoop(
        policies={p.app: p for p in policies},
        target=target,
        providers={"prometheus": prometheus, "graphite": graphite},
        clock=clock,
        logger=logging.getLogger("test.dashboard"),
    )
    status = ServiceStatus(interval=timedelta(seconds=15), started_at=NOW - timedelta(minutes=10))
    status.set_policies(loop.policies, [])
    metrics = SelfMetrics()
    report = await loop.tick()
    status.record(report)
    observe_tick(metrics, report)
    return status, metrics, clock


@pytest.fixture
async def dashboard() -> AsyncIterator[StatusServer]:
    status, metrics, clock = await build_status()
    async with StatusServer(status=status, metrics=metrics, clock=clock, host="127.0.0.1", port=0) as server:
        yield server


@pytest.fixture
async def guarded() -> AsyncIterator[StatusServer]:
    status, metrics, clock = await build_status()
    async with StatusServer(
        status=status, metrics=metrics, clock=clock, host="127.0.0.1", port=0, api_token=TOKEN
    ) as server:
        yield server


async def run_chromium(url: str, profile: Path, *extra: str) -> str:
    """Run headless Chromium on `url` and return its stdout; the process group is always reaped."""
    args = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--virtual-time-budget=5000", *extra, url,
    ]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, "TZ": "UTC", "LANG": "en_US.UTF-8"},
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=CHROMIUM_TIMEOUT)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # helpers Chromium started, if any are left
        if process.returncode is None:
            await process.wait()
    assert process.returncode == 0, stderr.decode(errors="replace")[-2000:]
    return stdout.decode(errors="replace")


async def test_dashboard_renders_apps_counts_reasons_and_schedules(dashboard: StatusServer, tmp_path: Path) -> None:
    dom = await run_chromium(dashboard.url + "/", tmp_path / "profile", "--dump-dom")

    for app_id in ("/shop/api", "/shop/checkout", "/shop/search", "/push/sender", "/shop/legacy-admin"):
        assert f'data-app="{app_id}"' in dom, app_id
    assert "/shop/api: 4 -&gt; 8 (scaled_up: metrics)" in dom
    assert "max_step: 12 -&gt; 8: scale_up max_step 100%, 4 allows +4 from 4" in dom
    assert "metric orders_backlog: 6000 / 500 per instance = 12.00, proposes 12" in dom
    assert "cooldown: 10 -&gt; 6: last scaled 1m ago; scale_up cooldown is 5m (wait 4m)" in dom
    assert "every metric is missing: holding at the current count" in dom
    assert "Marathon has no app with this id; nothing is created" in dom
    assert "lunch-peak · floor 6 · in force until" in dom
    assert "campaign:double-11 · floor 30 · from 15:40 UTC (in 1h 40m)" in dom  # every time shows its zone
    assert "campaign:double-11 · floor 10 · from 15:40 UTC (in 1h 40m) · ramps up over 30m from 15:10 UTC" in dom
    assert "fallback waiting · metrics missing since" in dom
    assert ">min 2 · max 40<" in dom
    assert ">ready<" in dom and ">single<" in dom and ">5 apps · 1 scaling · 2 need attention<" in dom
    for code in ("scaled up", "within tolerance", "cooldown", "missing metrics", "app not found"):
        assert f">{code}<" in dom, code
    assert '<div id="auth" hidden="">' in dom  # the token form stays hidden


async def test_dashboard_screenshot(dashboard: StatusServer, tmp_path: Path) -> None:
    shot = tmp_path / "dashboard.png"
    await run_chromium(
        dashboard.url + "/",
        tmp_path / "profile",
        f"--screenshot={shot}",
        "--window-size=1280,900",
        "--hide-scrollbars",
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / "dashboard.png")


async def test_dashboard_with_a_token(guarded: StatusServer, tmp_path: Path) -> None:
    without = await run_chromium(guarded.url + "/", tmp_path / "p1", "--dump-dom")
    assert '<div id="auth"><strong>API token required</strong>' in without  # shown, not hidden
    assert '<p id="auth-msg">This service requires an API token (AUTOSCALER_API_TOKEN)' in without
    assert 'data-app="/shop/api"' not in without

    wrong = await run_chromium(guarded.url + "/?token=nope", tmp_path / "p2", "--dump-dom")
    assert '<p id="auth-msg">The API token was not accepted' in wrong

    with_token = await run_chromium(guarded.url + f"/?token={TOKEN}", tmp_path / "p3", "--dump-dom")
    assert 'data-app="/shop/api"' in with_token and "/shop/api: 4 -&gt; 8 (scaled_up: metrics)" in with_token
    assert '<div id="auth" hidden="">' in with_token
    assert TOKEN not in with_token


async def test_dashboard_pages_searches_filters_and_draws_trends(tmp_path: Path) -> None:
    from tests.web.test_server_views import PROBLEMS, Fleet, expected_code

    fleet = Fleet(60)
    for load in (1.0, 2.0, 0.5):
        fleet.tick(load=load)
        fleet.clock.advance(60)
    codes = [expected_code(i) for i in range(len(fleet.ids))]
    problems = [app_id for app_id, code in zip(fleet.ids, codes, strict=True) if code in PROBLEMS]
    server = StatusServer(status=fleet.status, metrics=fleet.metrics, clock=fleet.clock, host="127.0.0.1", port=0)
    async with server as s:
        first = await run_chromium(s.url + "/", tmp_path / "p1", "--dump-dom")
        only = await run_chromium(s.url + "/?problem=1", tmp_path / "p2", "--dump-dom")
        found = await run_chromium(s.url + "/?q=APP-004", tmp_path / "p3", "--dump-dom")
        last = await run_chromium(s.url + "/?offset=48", tmp_path / "p4", "--dump-dom")

    def shown(dom: str) -> list[str]:
        return [app_id for app_id in fleet.ids if f'data-app="{app_id}"' in dom]

    assert shown(first) == fleet.ids[:24] and ">1–24 of 60<" in first
    assert f">60 apps · {codes.count('scaled_up')} scaling · {len(problems)} need attention<" in first
    decided = sum(1 for code in codes[:24] if code != "app_not_found")  # an app Marathon lacks has no trend
    assert first.count('<svg viewBox="0 0 360 90" class="trend"') == decided and 'class="inst"' in first
    assert ">Recent scale actions<" in first and "/fleet/app-0003 5 → 10 (metrics)" in first
    assert ">times in UTC<" in first
    assert shown(only) == problems and f">1–{len(problems)} of {len(problems)}<" in only
    assert shown(found) == [f"/fleet/app-004{d}" for d in range(10)]
    assert shown(last) == fleet.ids[48:] and ">49–60 of 60<" in last
