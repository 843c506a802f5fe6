"""The status server over real HTTP on 127.0.0.1, fed by TickReports of a real ControlLoop.

The loop runs against in-memory fakes of Marathon and the metric sources with a fake clock; the
server reads the ServiceStatus those ticks produce, as it does in the service.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from autoscaler.app import load_policies
from autoscaler.core.model import AppState
from autoscaler.http import RetryPolicy
from autoscaler.loop import ControlLoop
from autoscaler.policyfiles import Problem
from autoscaler.reports import TickReport
from autoscaler.settings import Settings
from autoscaler.sinks.selfmetrics import SelfMetrics, observe_tick
from autoscaler.sinks.status import ServiceStatus
from autoscaler.targets.marathon import MarathonClient
from autoscaler.testing.clock import FakeClock
from autoscaler.testing.marathon import FakeMarathon
from autoscaler.testing.memory import FakeProvider, FakeTarget
from autoscaler.web.server import DEFAULT_HOST, DEFAULT_PORT, StatusServer
from autoscaler.web.values import decision_json
from tests.policies import GROUPED, cpu_policy

T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
INTERVAL = timedelta(seconds=15)


# --- in-memory fakes of the ports -----------------------------------------------------------------


def running(app_id: str, instances: int) -> AppState:
    return AppState(app_id=app_id, instances=instances, tasks_running=instances)


@dataclass
class Service:
    """A loop, its fakes and the status/metrics its ticks feed, like the running service."""

    clock: FakeClock
    target: FakeTarget
    provider: FakeProvider
    loop: ControlLoop
    status: ServiceStatus
    metrics: SelfMetrics = field(default_factory=SelfMetrics)

    async def tick(self) -> TickReport:
        report = await self.loop.tick()
        self.status.record(report)
        observe_tick(self.metrics, report)
        return report


SCHEDULES = [
    {"name": "double-11", "start": "2026-11-11T00:00:00+08:00", "end": "2026-11-11T03:00:00+08:00",
     "lead": "20m", "min_instances": 12},
    {"name": "lunch", "cron": "0 11 * * *", "timezone": "UTC", "duration": "2h", "min_instances": 3},
]  # fmt: skip


def build_service(*, history_size: int = 100) -> Service:
    clock = FakeClock(T0)
    target = FakeTarget(clock, [running("/shop/api", 2), running("/shop/web", 4)], url="http://marathon.test")
    provider = FakeProvider("prometheus", clock)
    # /shop/api: 2 x 1.0 / 0.5 = 4 -> scale up; /shop/web: at target; /shop/ghost: not in Marathon
    provider.set(GROUPED, ({"marathon_app": "/shop/api"}, 1.0), ({"marathon_app": "/shop/web"}, 0.5))
    policies = [
        cpu_policy("/shop/api", schedules=SCHEDULES, min_instances=2),
        cpu_policy("/shop/web"),
        cpu_policy("/shop/ghost"),
    ]
    by_app = {p.app: p for p in policies}
    loop = ControlLoop(
        policies=by_app,
        target=target,
        providers={"prometheus": provider},
        clock=clock,
        logger=logging.getLogger("test.server"),
    )
    status = ServiceStatus(interval=INTERVAL, started_at=clock.now, history_size=history_size)
    status.set_policies(by_app, [])
    return Service(clock=clock, target=target, provider=provider, loop=loop, status=status)


@pytest.fixture
async def service() -> Service:
    svc = build_service()
    await svc.tick()
    return svc


@pytest.fixture
async def server(service: Service) -> AsyncIterator[StatusServer]:
    srv = StatusServer(status=service.status, metrics=service.metrics, clock=service.clock, host="127.0.0.1", port=0)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def get(server: StatusServer, path: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
        return await client.get(path, headers=headers)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


# --- lifecycle -----------------------------------------------------------------------------------


def test_defaults_are_the_container_address_and_port() -> None:
    svc = build_service()
    srv = StatusServer(status=svc.status, metrics=svc.metrics, clock=svc.clock)
    assert (srv.host, srv.port) == (DEFAULT_HOST, DEFAULT_PORT) == ("0.0.0.0", 8080)


async def test_start_returns_a_loopback_url_and_stop_leaves_nothing_running(service: Service) -> None:
    before = asyncio.all_tasks()
    srv = StatusServer(status=service.status, metrics=service.metrics, clock=service.clock, host="127.0.0.1", port=0)
    url = await srv.start()
    assert url.startswith("http://127.0.0.1:")
    assert (await get(srv, "/healthz")).status_code == 200
    await srv.stop()
    await srv.stop()  # idempotent
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(timeout=2) as client:
            await client.get(url + "/healthz")
    await asyncio.sleep(0)
    assert asyncio.all_tasks() <= before | {asyncio.current_task()}


async def test_only_get_and_head_and_malformed_requests_get_400(server: StatusServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
        posted = await client.post("/api/v1/apps", content=b"{}")
        head = await client.head("/healthz")
    assert posted.status_code == 405 and posted.headers["allow"] == "GET, HEAD"
    assert head.status_code == 200 and head.content == b""
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"NONSENSE\r\n\r\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    # a request line that cannot be parsed has no HTTP version to answer in: aiohttp answers in 1.0
    assert answer.startswith((b"HTTP/1.1 400 ", b"HTTP/1.0 400 "))
    assert (await get(server, "/nope")).status_code == 404


# --- health and readiness ------------------------------------------------------------------------


async def test_healthz_follows_the_heartbeat_of_the_injected_clock(service: Service, server: StatusServer) -> None:
    fresh = await get(server, "/healthz")
    assert fresh.status_code == 200 and fresh.text.startswith("ok")
    service.clock.advance(3 * INTERVAL.total_seconds())
    assert (await get(server, "/healthz")).status_code == 200  # exactly three intervals: still fresh
    service.clock.advance(1)
    stale = await get(server, "/healthz")
    assert stale.status_code == 503
    assert "last tick 46s ago" in stale.text and "45s" in stale.text


async def test_healthz_before_the_first_tick_counts_from_start_up() -> None:
    svc = build_service()
    async with StatusServer(status=svc.status, metrics=svc.metrics, clock=svc.clock, host="127.0.0.1", port=0) as srv:
        assert (await get(srv, "/healthz")).status_code == 200
        svc.clock.advance(60)
        response = await get(srv, "/healthz")
    assert response.status_code == 503 and "no tick yet" in response.text


async def test_readyz_reasons(service: Service, server: StatusServer) -> None:
    ready = await get(server, "/readyz")
    assert ready.status_code == 200 and ready.text.startswith("ready") and "role: single" in ready.text

    service.target.down = True
    await service.tick()
    failed = await get(server, "/readyz")
    assert failed.status_code == 503
    assert "the last tick could not read Marathon: Marathon at http://marathon.test did not answer" in failed.text

    service.target.down = False
    await service.tick()
    service.status.role = "follower"
    follower = await get(server, "/readyz")
    assert follower.status_code == 200 and "follower" in follower.text

    problem = Problem(path="policies/bad.yaml", message="unknown field", field="max_instance", line=3)
    service.status.set_policies(service.status.policies, [problem])
    with_problem = await get(server, "/readyz")
    assert with_problem.status_code == 200
    assert "1 error(s)" in with_problem.text and "policies/bad.yaml:3: error: max_instance: unknown field" in (
        with_problem.text
    )

    service.status.set_policies({}, [problem])
    empty = await get(server, "/readyz")
    assert empty.status_code == 503 and "no valid policy loaded" in empty.text


async def test_the_service_warns_of_campaign_entries_it_ignores_and_readyz_counts_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "api.yaml").write_text("app: /shop/api\nmin_instances: 1\nmax_instances: 20\n")
    (tmp_path / "campaigns" / "sale.yaml").write_text(
        "name: sale\nstart: '2026-11-11T00:00:00+08:00'\nend: '2026-11-11T03:00:00+08:00'\n"
        "apps: {/shop/api: 8, /shop/gnoe: 4, /shop/cart: 2}\n"
    )
    logger = logging.getLogger("test.server.start")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        loaded = load_policies(Settings(marathon_url="http://marathon.test", policy_dir=tmp_path), logger)
    assert [s.min_instances for s in loaded.policies["/shop/api"].schedules] == [8]  # the others still apply
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "names /shop/gnoe, /shop/cart, which no policy manages: ignored (2 of 3 entries)" in record.getMessage()

    svc = build_service()
    await svc.tick()
    svc.status.set_policies(loaded.policies, loaded.problems)
    async with StatusServer(status=svc.status, metrics=svc.metrics, clock=svc.clock, host="127.0.0.1", port=0) as srv:
        response = await get(srv, "/readyz")
    assert response.status_code == 200
    assert "policy problems: 0 error(s), 1 warning(s)" in response.text


async def test_readyz_before_any_tick() -> None:
    svc = build_service()
    async with StatusServer(status=svc.status, metrics=svc.metrics, clock=svc.clock, host="127.0.0.1", port=0) as srv:
        response = await get(srv, "/readyz")
    assert response.status_code == 503 and "no tick has run yet" in response.text


# --- /metrics ------------------------------------------------------------------------------------


async def test_metrics_expose_the_ticks_values(service: Service, server: StatusServer) -> None:
    service.target.refuse["/shop/api"] = "deployment_in_progress"
    service.provider.set(GROUPED, ({"marathon_app": "/shop/api"}, 2.0), ({"marathon_app": "/shop/web"}, 0.5))
    service.clock.advance(60)  # past the scale-up cooldown: /shop/api wants 4 x 2.0 / 0.5 = 16 -> 8 (step)
    second = await service.tick()
    assert second.outcomes["/shop/api"].code == "deployment_in_progress"
    service.target.down = True
    service.clock.advance(15)
    await service.tick()

    response = await get(server, "/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    values = samples(response.text)

    assert values[("autoscaler_app_instances", (("app", "/shop/api"),))] == 4
    assert values[("autoscaler_app_desired_instances", (("app", "/shop/api"),))] == 8
    assert values[("autoscaler_app_instances", (("app", "/shop/web"),))] == 4
    assert ("autoscaler_app_instances", (("app", "/shop/ghost"),)) not in values
    assert values[("autoscaler_scale_actions_total", (("app", "/shop/api"), ("direction", "up")))] == 1
    assert values[("autoscaler_decisions_total", (("code", "scaled_up"),))] == 1
    assert values[("autoscaler_decisions_total", (("code", "within_tolerance"),))] == 2
    assert values[("autoscaler_decisions_total", (("code", "app_not_found"),))] == 2
    assert values[("autoscaler_decisions_total", (("code", "deployment_in_progress"),))] == 1
    assert values[("autoscaler_ticks_total", (("result", "ok"),))] == 2
    assert values[("autoscaler_ticks_total", (("result", "failed"),))] == 1
    assert values[("autoscaler_tick_duration_seconds_count", ())] == 3
    assert values[("autoscaler_metric_queries_total", (("source", "prometheus"),))] == 2
    assert values[("autoscaler_marathon_errors_total", (("request", "scale"), ("status", "409")))] == 1
    assert values[("autoscaler_marathon_errors_total", (("request", "list"), ("status", "unavailable")))] == 1
    assert values[("autoscaler_last_successful_tick_timestamp_seconds", ())] == (T0 + timedelta(seconds=60)).timestamp()
    assert values[("autoscaler_policies", ())] == 3
    assert values[("autoscaler_policy_load_errors", ())] == 0
    assert values[("autoscaler_leader", ())] == 1

    service.status.role = "follower"
    service.status.set_policies(
        {k: v for k, v in service.status.policies.items() if k != "/shop/web"},
        [Problem(path="a.yaml", message="bad"), Problem(path="b.yaml", message="odd", severity="warning")],
    )
    values = samples((await get(server, "/metrics")).text)
    assert values[("autoscaler_leader", ())] == 0
    assert values[("autoscaler_policy_load_errors", ())] == 1
    assert ("autoscaler_app_instances", (("app", "/shop/web"),)) not in values  # no longer managed


def test_metrics_use_their_own_registry_and_the_optional_per_source_fields() -> None:
    @dataclass(frozen=True)
    class ReportWithSources(TickReport):
        query_seconds: Mapping[str, float] = field(default_factory=dict)
        query_errors: Mapping[str, int] = field(default_factory=dict)

    first, second = SelfMetrics(), SelfMetrics()
    report = ReportWithSources(
        at=T0, queries={"graphite": 3}, query_seconds={"graphite": 0.2}, query_errors={"graphite": 2}
    )
    observe_tick(first, report)
    values = samples(first.render().decode())
    assert values[("autoscaler_metric_query_duration_seconds_count", (("source", "graphite"),))] == 1
    assert values[("autoscaler_metric_query_duration_seconds_sum", (("source", "graphite"),))] == pytest.approx(0.2)
    assert values[("autoscaler_metric_query_errors_total", (("source", "graphite"),))] == 2
    assert ("autoscaler_ticks_total", (("result", "ok"),)) not in samples(second.render().decode())


# --- the JSON API --------------------------------------------------------------------------------


async def test_apps_api_shape_and_values(service: Service, server: StatusServer) -> None:
    response = await get(server, "/api/v1/apps")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["role"] == "single" and body["ready"] is True and body["healthy"] is True
    assert body["generated_at"] == T0.isoformat() and body["last_success_at"] == T0.isoformat()
    assert [a["app"] for a in body["apps"]] == ["/shop/api", "/shop/ghost", "/shop/web"]

    api = body["apps"][0]
    assert (api["current"], api["desired"], api["code"]) == (2, 4, "scaled_up")
    assert api["policy"]["min_instances"] == 2 and api["policy"]["max_instances"] == 20
    assert api["policy"]["metrics"] == [
        {"name": "cpu", "source": "prometheus", "kind": "average", "target": 0.5, "query": GROUPED}
    ]
    assert [s["name"] for s in api["policy"]["schedules"]] == ["double-11", "lunch"]
    assert api["policy"]["schedules"][1] == {
        "name": "lunch", "lead": "0s", "type": "recurring", "cron": "0 11 * * *", "timezone": "UTC",
        "duration": "2h", "min_instances": 3, "max_instances": None, "ramp_up": "0s", "ramp_down": "0s",
    }  # fmt: skip
    decision = api["last"]["decision"]
    assert decision["reasons"][0] == "metric cpu: 2 ready x 1 / 0.5 = 4.00, proposes 4"
    assert decision["metrics"][0]["value"] == 1.0 and decision["metrics"][0]["load_ratio"] == 2.0
    assert api["last"]["write"]["outcome"] == "scaled"
    # 12:00 UTC: the lunch window (11:00-13:00 UTC) is in force; double-11 applies from 15:40 UTC
    assert [w["name"] for w in api["schedule"]["active"]] == ["lunch"]
    assert api["schedule"]["active"][0]["active"] is True
    upcoming = {w["name"]: w for w in api["schedule"]["next"]}
    assert upcoming["double-11"]["applies_from"] == "2026-11-10T15:40:00+00:00"
    assert upcoming["lunch"]["start"] == "2026-11-11T11:00:00+00:00"
    # each window names the zone it was written in, so its times can be shown on that clock
    assert (upcoming["double-11"]["timezone"], upcoming["lunch"]["timezone"]) == ("UTC+08:00", "UTC")

    ghost = body["apps"][1]
    assert ghost["current"] is None and ghost["code"] == "app_not_found" and ghost["last"]["decision"] is None

    # windows are computed at request time from the injected clock
    service.clock.now = datetime(2026, 11, 10, 16, 0, tzinfo=UTC)
    later = (await get(server, "/api/v1/apps/shop/api")).json()
    assert [w["name"] for w in later["schedule"]["active"]] == ["double-11"]
    assert later["role"] == "single"


async def test_decisions_history_is_per_app_bounded_and_oldest_first() -> None:
    svc = build_service(history_size=3)
    for _ in range(5):
        await svc.tick()
        svc.clock.advance(15)
    async with StatusServer(status=svc.status, metrics=svc.metrics, clock=svc.clock, host="127.0.0.1", port=0) as srv:
        response = await get(srv, "/api/v1/apps/shop/api/decisions")
        missing = await get(srv, "/api/v1/apps/shop/nope/decisions")
    body = response.json()
    assert response.status_code == 200 and body["app"] == "/shop/api" and body["order"] == "oldest first"
    assert 1 <= len(body["decisions"]) <= 3  # bounded; a repeated hold is kept once (see test_status.py)
    times = [d["at"] for d in body["decisions"]]
    # the newest is the decision in force, stamped with the tick that last confirmed it
    newest = svc.status.last("/shop/api")
    assert newest is not None and newest.decision is not None
    assert (
        times == sorted(times)
        and times[-1] == newest.decision.at.isoformat() <= (T0 + timedelta(seconds=60)).isoformat()
    )
    assert missing.status_code == 404
    assert missing.json()["managed_apps"] == ["/shop/api", "/shop/ghost", "/shop/web"]


def test_decision_json_carries_every_number() -> None:
    svc = build_service()
    report = asyncio.run(svc.loop.tick())
    decision = report.outcomes["/shop/api"].decision
    assert decision is not None
    body = decision_json(decision)
    assert body["summary"] == "/shop/api: 2 -> 4 (scaled_up: metrics)"
    assert (body["current"], body["desired"], body["proposed"], body["action"]) == (2, 4, 4, "up")
    assert body["clamps"] == [] and body["windows"][0]["name"] == "lunch"


# --- token and secrets ---------------------------------------------------------------------------


async def test_bearer_token_protects_only_the_api(service: Service) -> None:
    token = "api-token-0123456789"
    async with StatusServer(
        status=service.status, metrics=service.metrics, clock=service.clock, host="127.0.0.1", port=0, api_token=token
    ) as srv:
        assert (await get(srv, "/api/v1/apps")).status_code == 401
        assert (await get(srv, "/api/v1/apps", authorization="Bearer wrong")).status_code == 401
        assert (await get(srv, "/api/v1/apps", authorization=f"Basic {token}")).status_code == 401
        denied = await get(srv, "/api/v1/apps/shop/api/decisions")
        assert denied.status_code == 401 and denied.headers["www-authenticate"].startswith("Bearer")
        assert (await get(srv, "/api/v1/apps", authorization=f"Bearer {token}")).status_code == 200
        assert (await get(srv, "/api/v1/apps/shop/api/decisions", authorization=f"bearer {token}")).status_code == 200
        for path in ("/healthz", "/readyz", "/metrics", "/"):
            response = await get(srv, path)
            assert response.status_code == 200, path
            assert token not in response.text


async def test_dashboard_page_is_self_contained(server: StatusServer) -> None:
    page = await get(server, "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "http://" not in page.text and "https://" not in page.text and "//cdn" not in page.text
    assert page.headers["referrer-policy"] == "no-referrer"


async def test_no_secret_in_any_response(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {
        "marathon_password": "marathon-pw-7Qx9",
        "prometheus_token": "prom-token-Zk42",
        "prometheus_password": "prom-pw-Lm55",
        "graphite_password": "graphite-pw-Rr13",
    }
    api_token = "api-token-Ab77"
    marathon = FakeMarathon(username="ops", password=secrets["marathon_password"], clock=lambda: T0.timestamp() - 600)
    marathon.add_app("/shop/api", instances=2)
    url = await marathon.start()
    try:
        settings = Settings(
            marathon_url=url,
            marathon_user="ops",
            marathon_password=SecretStr(secrets["marathon_password"]),
            prometheus_url="http://127.0.0.1:9",
            prometheus_user="ops",
            prometheus_password=SecretStr(secrets["prometheus_password"]),
            prometheus_token=SecretStr(secrets["prometheus_token"]),
            graphite_url="http://127.0.0.1:9",
            graphite_password=SecretStr(secrets["graphite_password"]),
        )
        assert settings.marathon_url is not None and settings.marathon_password is not None
        clock = FakeClock(T0)
        target = MarathonClient(
            base_url=settings.marathon_url,
            policy=RetryPolicy(attempts=1, total_timeout=3, request_timeout=3),
            username=settings.marathon_user,
            password=settings.marathon_password.get_secret_value(),
        )
        provider = FakeProvider("prometheus", clock)
        provider.set(GROUPED, ({"marathon_app": "/shop/api"}, 1.0))
        policies = {p.app: p for p in (cpu_policy("/shop/api"), cpu_policy("/shop/gone"))}
        loop = ControlLoop(
            policies=policies,
            target=target,
            providers={"prometheus": provider},
            clock=clock,
            logger=logging.getLogger(),
        )
        status = ServiceStatus(interval=settings.interval, started_at=clock.now)
        status.set_policies(policies, [])
        metrics = SelfMetrics()
        for fail in (False, True):
            if fail:
                marathon.fail_next(1, status=503)
            report = await loop.tick()
            status.record(report)
            observe_tick(metrics, report)
            clock.advance(15)
        assert status.last_report is not None and status.last_report.error is not None
        assert marathon.requests[0].headers["authorization"].startswith("Basic ")

        bodies = []
        async with StatusServer(
            status=status, metrics=metrics, clock=clock, host="127.0.0.1", port=0, api_token=api_token
        ) as srv:
            auth = {"authorization": f"Bearer {api_token}"}
            for path in (
                "/healthz", "/readyz", "/metrics", "/", "/api/v1/apps", "/api/v1/apps/shop/api",
                "/api/v1/apps/shop/api/decisions", "/api/v1/apps/shop/gone/decisions", "/missing",
            ):  # fmt: skip
                bodies.append((path, (await get(srv, path, **auth)).text))
                bodies.append((path, (await get(srv, path)).text))
        await target.aclose()
    finally:
        await marathon.stop()
    everything = "\n".join(text for _, text in bodies)
    assert "scaled_up" in everything and "HTTP 503" in everything  # the bodies do carry the status
    for name, secret in [*secrets.items(), ("api_token", api_token)]:
        for path, text in bodies:
            assert secret not in text, f"{name} leaked in {path}"
