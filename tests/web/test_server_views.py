"""The status server's views: built once per tick, cached, gzip-compressed, with ETags; the summary
and the pages of apps (search, problems only, paging); /readyz without the token.

Fleets of synthetic apps are made from TickReports directly (decisions as the engine writes them),
so hundreds of apps cost nothing to set up; the server runs on a real loopback port.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

import httpx
import pytest

from autoscaler.core.decide import Decision
from autoscaler.core.rules import MetricEvaluation
from autoscaler.policyfiles import Problem
from autoscaler.ports import ScaleResult
from autoscaler.reports import AppOutcome, TickReport
from autoscaler.sinks.selfmetrics import SelfMetrics, observe_tick
from autoscaler.sinks.status import ServiceStatus
from autoscaler.testing.clock import DEFAULT_START, FakeClock
from autoscaler.web.server import StatusServer
from tests.policies import cpu_policy

T0 = DEFAULT_START
INTERVAL = timedelta(seconds=15)
# what each app ends its tick with, by position: a problem every 7th app, the rest normal holds
CODES = ("within_tolerance", "cooldown", "stabilizing", "scaled_up", "at_min", "deployment_in_progress")
PROBLEMS = ("missing_metrics", "app_not_found", "write_rejected")


def app_ids(count: int) -> list[str]:
    return [f"/fleet/app-{index:04d}" for index in range(count)]


def outcome(app_id: str, index: int, *, clock: FakeClock, load: float = 1.0) -> AppOutcome:
    code = PROBLEMS[index // 7 % len(PROBLEMS)] if index % 7 == 0 else CODES[index % len(CODES)]
    if code == "app_not_found":
        return AppOutcome(app_id, code, "Marathon has no app with this id; nothing is created")
    current = 2 + index % 5
    desired = current * 2 if code == "scaled_up" else current
    metric = MetricEvaluation("cpu", "prometheus", "average", 0.5, 0.5 * load, desired, "cpu detail")
    decision = Decision(
        app_id=app_id, at=clock.now, current=current, desired=desired, code=code, metrics=(metric,), cause="metrics"
    )
    write = ScaleResult(app_id, desired, "scaled") if code == "scaled_up" else None
    return AppOutcome(app_id, code, "", decision, write)


def fleet_report(ids: Sequence[str], *, clock: FakeClock, load: float = 1.0) -> TickReport:
    outcomes = {app_id: outcome(app_id, index, clock=clock, load=load) for index, app_id in enumerate(ids)}
    return TickReport(at=clock.now, outcomes=outcomes, queries={"prometheus": 1})


class Fleet:
    def __init__(self, count: int) -> None:
        self.clock = FakeClock(T0)
        self.ids = app_ids(count)
        self.status = ServiceStatus(interval=INTERVAL, started_at=T0 - timedelta(minutes=1))
        self.status.set_policies({app_id: cpu_policy(app_id) for app_id in self.ids}, [])
        self.metrics = SelfMetrics()

    def tick(self, *, load: float = 1.0) -> None:
        report = fleet_report(self.ids, clock=self.clock, load=load)
        self.status.record(report)
        observe_tick(self.metrics, report)
        self.clock.advance(INTERVAL.total_seconds())


@pytest.fixture
async def fleet() -> AsyncIterator[tuple[Fleet, StatusServer]]:
    fleet = Fleet(120)
    fleet.tick()
    server = StatusServer(status=fleet.status, metrics=fleet.metrics, clock=fleet.clock, host="127.0.0.1", port=0)
    async with server:
        yield fleet, server


async def get(server: StatusServer, path: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        return await client.get(path, headers=headers)


def expected_code(index: int) -> str:
    return outcome("/x", index, clock=FakeClock(T0)).code


# --- caching, ETags, gzip ------------------------------------------------------------------------


async def test_views_are_built_once_per_tick_however_many_clients(fleet: tuple[Fleet, StatusServer]) -> None:
    fleet_, server = fleet
    assert server.cache is not None
    for path in ("/metrics", "/api/v1/summary", "/api/v1/apps?limit=50"):
        before = server.cache.builds
        bodies = {(await get(server, path)).content for _ in range(5)}
        assert len(bodies) == 1 and server.cache.builds == before + 1, path
    before = server.cache.builds
    fleet_.tick()
    await get(server, "/metrics")
    await get(server, "/metrics")
    assert server.cache.builds == before + 1  # the new tick: built again, once


async def test_etag_answers_304_and_changes_with_the_tick(fleet: tuple[Fleet, StatusServer]) -> None:
    fleet_, server = fleet
    first = await get(server, "/api/v1/summary")
    etag = first.headers["etag"]
    assert first.status_code == 200 and etag.startswith('"') and first.headers["cache-control"].endswith("no-cache")
    again = await get(server, "/api/v1/summary", **{"if-none-match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert (await get(server, "/api/v1/summary", **{"if-none-match": f'"other", W/{etag}'})).status_code == 304
    fleet_.tick(load=3.0)
    changed = await get(server, "/api/v1/summary", **{"if-none-match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


async def test_gzip_when_accepted_with_its_own_etag(fleet: tuple[Fleet, StatusServer]) -> None:
    _, server = fleet
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        plain = await client.get("/metrics", headers={"accept-encoding": "identity"})
        packed = await client.send(client.build_request("GET", "/metrics", headers={"accept-encoding": "gzip"}),
                                   stream=True)  # fmt: skip
        raw = b"".join([chunk async for chunk in packed.aiter_raw()])
        await packed.aclose()
    assert "content-encoding" not in plain.headers and plain.headers["vary"] == "Accept-Encoding"
    assert packed.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == plain.content and len(raw) < len(plain.content) / 3
    assert packed.headers["etag"] != plain.headers["etag"]


# --- the summary and the pages -------------------------------------------------------------------


async def test_summary_counts_problems_not_holds_and_lists_recent_actions(fleet: tuple[Fleet, StatusServer]) -> None:
    fleet_, server = fleet
    body = (await get(server, "/api/v1/summary")).json()
    codes = [expected_code(i) for i in range(len(fleet_.ids))]
    assert body["apps"] == 120 and body["counts"] == {c: codes.count(c) for c in set(codes)}
    assert body["problems"] == sum(1 for c in codes if c in PROBLEMS) == 18
    assert body["scaling"] == codes.count("scaled_up")
    assert body["time_zone"] == "UTC" and body["ready"] is True
    for code in ("stabilizing", "cooldown", "missing_metrics"):
        assert body["codes"][code]["description"]
    assert body["codes"]["cooldown"]["kind"] == "hold" and body["codes"]["write_rejected"]["kind"] == "problem"
    actions = body["recent_actions"]
    assert len(actions) == min(50, codes.count("scaled_up"))
    assert {a["direction"] for a in actions} == {"up"} and all(a["to"] == 2 * a["from"] for a in actions)


async def test_pages_search_and_problem_filter(fleet: tuple[Fleet, StatusServer]) -> None:
    fleet_, server = fleet
    first = (await get(server, "/api/v1/apps")).json()
    assert first["total"] == first["matched"] == 120 and first["limit"] == 50 and first["next_offset"] == 50
    assert [a["app"] for a in first["apps"]] == fleet_.ids[:50]
    last = (await get(server, "/api/v1/apps?offset=100&limit=50")).json()
    assert [a["app"] for a in last["apps"]] == fleet_.ids[100:] and last["next_offset"] is None

    problems = (await get(server, "/api/v1/apps?problem=1&limit=500")).json()
    assert problems["matched"] == 18 and {a["code"] for a in problems["apps"]} <= set(PROBLEMS)
    assert all(a["kind"] == "problem" for a in problems["apps"])

    found = (await get(server, "/api/v1/apps?q=APP-001")).json()  # case-insensitive substring
    assert [a["app"] for a in found["apps"]] == [f"/fleet/app-001{d}" for d in range(10)]
    by_code = (await get(server, "/api/v1/apps?q=cooldown&limit=500")).json()
    assert by_code["matched"] == sum(1 for i in range(120) if expected_code(i) == "cooldown")

    clamped = (await get(server, "/api/v1/apps?limit=100000")).json()
    assert clamped["limit"] == 500 and len(clamped["apps"]) == 120
    for bad in ("limit=-1", "offset=x", "problem=maybe"):
        response = await get(server, f"/api/v1/apps?{bad}")
        assert response.status_code == 400 and "error" in response.json(), bad


async def test_trends_are_served_on_request_and_bounded(fleet: tuple[Fleet, StatusServer]) -> None:
    fleet_, server = fleet
    for load in (2.0, 1.0, 0.5):
        fleet_.clock.advance(60)
        fleet_.tick(load=load)
    plain = (await get(server, "/api/v1/apps?limit=3")).json()
    assert all("trend" not in a for a in plain["apps"])
    page = (await get(server, "/api/v1/apps?limit=3&trend=1")).json()
    trend = page["apps"][1]["trend"]
    assert trend["step_seconds"] == 60 and len(trend["times"]) == 4
    assert trend["load"] == [1.0, 2.0, 1.0, 0.5] and trend["times"] == sorted(trend["times"])
    one = (await get(server, "/api/v1/apps/fleet/app-0001")).json()
    assert one["trend"] == trend and one["kind"] == "hold"


# --- readiness without the token -----------------------------------------------------------------


async def test_readyz_without_the_token_says_only_how_many_problems() -> None:
    fleet = Fleet(3)
    secret_line = "line 3 of /etc/shadow-like: root:$6$secret"
    problems = [Problem(path="policies/bad.yaml", message=secret_line, line=3), Problem(path="b.yaml", message="x")]
    fleet.status.set_policies(fleet.status.policies, problems)
    fleet.status.record(TickReport(at=fleet.clock.now, error="Marathon said: Authorization: Basic c2VjcmV0"))
    token = "ready-token-4242"
    server = StatusServer(
        status=fleet.status, metrics=fleet.metrics, clock=fleet.clock, host="127.0.0.1", port=0, api_token=token
    )
    async with server:
        open_ = await get(server, "/readyz")
        guarded = await get(server, "/readyz", authorization=f"Bearer {token}")
    assert open_.status_code == guarded.status_code == 503
    assert "policy problems: 2 error(s), 0 warning(s)" in open_.text
    assert "not ready: the last tick could not read Marathon" in open_.text
    for hidden in (secret_line, "policies/bad.yaml", "c2VjcmV0"):
        assert hidden not in open_.text and hidden in guarded.text
