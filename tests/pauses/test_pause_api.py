"""The pause routes of the status server over real HTTP on 127.0.0.1: they exist only with an API
token and require it; bodies are bounded and checked; every change lands in the store."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from autoscaler.core.pause import DEFAULT_PAUSE
from autoscaler.pauses import MemoryStore
from autoscaler.pauses.control import PauseControl
from autoscaler.sinks.selfmetrics import SelfMetrics
from autoscaler.sinks.status import ServiceStatus
from autoscaler.testing.clock import FakeClock
from autoscaler.web.pauses import MAX_BODY_BYTES
from autoscaler.web.server import StatusServer
from tests.policies import cpu_policy

T0 = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
TOKEN = "s3cret-pause-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def control(clock: FakeClock) -> PauseControl:
    return PauseControl(store=MemoryStore(), clock=clock, logger=logging.getLogger("test.pauses"))


async def _server(clock: FakeClock, control: PauseControl, token: str | None) -> StatusServer:
    status = ServiceStatus(interval=timedelta(seconds=15), started_at=T0)
    policies = {p.app: p for p in (cpu_policy("/shop/api"), cpu_policy("/shop/web"))}
    status.set_policies(policies, [])
    server = StatusServer(
        status=status, metrics=SelfMetrics(), clock=clock, host="127.0.0.1", port=0, api_token=token, pauses=control
    )
    await server.start()
    return server


@pytest.fixture
async def api(clock: FakeClock, control: PauseControl) -> AsyncIterator[httpx.AsyncClient]:
    server = await _server(clock, control, TOKEN)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5, headers=AUTH) as client:
            yield client
    finally:
        await server.stop()


async def test_pause_an_app_then_resume_it(api: httpx.AsyncClient, control: PauseControl) -> None:
    answer = await api.post("/api/v1/apps/shop/api/pause", json={"for": "2h", "reason": "migration", "by": "alice"})
    assert answer.status_code == 200, answer.text
    paused = answer.json()["paused"]
    assert (paused["scope"], paused["reason"], paused["by"]) == ("/shop/api", "migration", "alice")
    assert paused["until"] == (T0 + timedelta(hours=2)).isoformat() and paused["remaining_seconds"] == 7200
    assert set(control.pauses()) == {"/shop/api"}
    listed = (await api.get("/api/v1/pauses")).json()
    assert [p["scope"] for p in listed["pauses"]] == ["/shop/api"] and listed["store"] == "memory"
    resumed = await api.delete("/api/v1/apps/shop/api/pause", params={"by": "bob"})
    assert resumed.status_code == 200 and resumed.json()["resumed"]["scope"] == "/shop/api"
    assert control.pauses() == {}
    again = await api.delete("/api/v1/apps/shop/api/pause")
    assert again.status_code == 404 and "no pause of its own" in again.json()["error"]


async def test_groups_and_every_app(api: httpx.AsyncClient, control: PauseControl) -> None:
    assert (await api.post("/api/v1/apps/shop/*/pause")).status_code == 200
    everything = await api.post("/api/v1/pause", json={"reason": "freeze"})
    assert everything.status_code == 200
    assert everything.json()["paused"]["until"] == (T0 + DEFAULT_PAUSE).isoformat()
    assert set(control.pauses()) == {"/shop/*", "*"}
    assert (await api.delete("/api/v1/pause")).status_code == 200
    assert (await api.delete("/api/v1/pause")).status_code == 404
    assert set(control.pauses()) == {"/shop/*"}


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/api/v1/apps/shop/ghost/pause", {}, 404, "no policy manages /shop/ghost"),
        ("/api/v1/apps/Shop/pause", {}, 400, "lowercase"),
        ("/api/v1/apps/shop/api/pause", {"for": "8d"}, 400, "at most 7d"),
        ("/api/v1/apps/shop/api/pause", {"for": "20"}, 400, "needs a unit"),
        ("/api/v1/apps/shop/api/pause", {"for": "0s"}, 400, "more than 0s"),
        ("/api/v1/apps/shop/api/pause", {"reason": "x" * 201}, 400, "at most 200"),
        ("/api/v1/apps/shop/api/pause", {"reason": 5}, 400, "text"),
        ("/api/v1/apps/shop/api/pause", {"until": "tomorrow"}, 400, "unknown field 'until'"),
        ("/api/v1/apps/shop/api/pause", ["for", "2h"], 400, "JSON object"),
        ("/api/v1/apps/shop/api/pause", {"reason": {"deep": [[[1]]]}}, 400, "nest"),
    ],
)
async def test_bad_requests_say_why_and_store_nothing(
    *, api: httpx.AsyncClient, control: PauseControl, path: str, body: object, status: int, words: str
) -> None:
    answer = await api.post(path, json=body)
    assert answer.status_code == status and words in answer.json()["error"], answer.text
    assert control.pauses() == {}


async def test_a_body_over_the_limit_is_refused(api: httpx.AsyncClient, control: PauseControl) -> None:
    answer = await api.post("/api/v1/apps/shop/api/pause", content=b'{"reason": "' + b"x" * MAX_BODY_BYTES + b'"}')
    assert answer.status_code in (400, 413)
    assert control.pauses() == {}
    garbage = await api.post("/api/v1/apps/shop/api/pause", content=b"\xff\xfe not json")
    assert garbage.status_code == 400
    assert control.pauses() == {}


async def test_the_token_is_required(api: httpx.AsyncClient, control: PauseControl) -> None:
    anonymous = await api.post("/api/v1/pause", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    wrong = await api.post("/api/v1/pause", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert control.pauses() == {}
    assert TOKEN not in anonymous.text + wrong.text


async def test_without_a_token_the_routes_do_not_exist(clock: FakeClock, control: PauseControl) -> None:
    server = await _server(clock, control, None)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
            answer = await client.post("/api/v1/pause", json={"for": "1h"})
            assert answer.status_code == 405 and "AUTOSCALER_API_TOKEN" in answer.text
            assert (await client.delete("/api/v1/apps/shop/api/pause")).status_code == 405
            assert (await client.get("/api/v1/pauses")).status_code == 404
    finally:
        await server.stop()
    assert control.pauses() == {}
