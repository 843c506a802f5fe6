"""`explain` and the dry-run preview ask a running service: the real command against a real status
server on loopback, fed by the ticks of a real ControlLoop (in-memory Marathon and metrics, a fake
clock), as the service feeds it. The answers must be the service's own decisions, named as such.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autoscaler.cli import build_parser
from autoscaler.core.model import AppState
from autoscaler.loop import ControlLoop
from autoscaler.preview import JSON_FIELDS, service_explanation_json, service_text
from autoscaler.sinks.selfmetrics import SelfMetrics
from autoscaler.sinks.status import ServiceStatus
from autoscaler.statusclient import AppView
from autoscaler.testing.clock import FakeClock
from autoscaler.testing.marathon.threaded import ThreadedMarathon
from autoscaler.testing.memory import FakeProvider, FakeTarget
from autoscaler.web.server import StatusServer
from autoscaler.web.views import app_json
from tests.policies import GROUPED, cpu_policy

T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
INTERVAL = timedelta(seconds=15)
TOKEN = "s3cret-api-token"


@dataclass
class Service:
    clock: FakeClock
    loop: ControlLoop
    status: ServiceStatus

    async def tick(self) -> None:
        self.status.record(await self.loop.tick())


def build_service(*, dry_run: bool = True) -> Service:
    """A dry-run service with /shop/api at 10 instances and CPU at 0.1 of its 0.5 target (it wants 2),
    and /shop/web on target."""
    clock = FakeClock(T0)
    apps = [
        AppState("/shop/api", 10, tasks_running=10),
        AppState("/shop/web", 4, tasks_running=4),
    ]
    target = FakeTarget(clock, apps, url="http://marathon.test")
    provider = FakeProvider("prometheus", clock)
    provider.set(GROUPED, ({"marathon_app": "/shop/api"}, 0.1), ({"marathon_app": "/shop/web"}, 0.5))
    policies = {p.app: p for p in (cpu_policy("/shop/api"), cpu_policy("/shop/web"))}
    loop = ControlLoop(
        policies=policies,
        target=target,
        providers={"prometheus": provider},
        clock=clock,
        logger=logging.getLogger("test.preview"),
        dry_run=dry_run,
    )
    status = ServiceStatus(interval=INTERVAL, started_at=clock.now)
    status.set_policies(policies, [])
    return Service(clock=clock, loop=loop, status=status)


async def watched_for(service: Service, minutes: float) -> None:
    """Tick every interval for `minutes` of the fake clock."""
    await service.tick()
    for _ in range(int(minutes * 60 / INTERVAL.total_seconds())):
        service.clock.advance(INTERVAL.total_seconds())
        await service.tick()


@pytest.fixture
async def service() -> Service:
    svc = build_service()
    await watched_for(svc, 3)  # 3 minutes of the 10-minute scale-down window
    return svc


@pytest.fixture
async def server(service: Service) -> AsyncIterator[StatusServer]:
    async with StatusServer(
        status=service.status, metrics=SelfMetrics(), clock=service.clock, host="127.0.0.1", port=0
    ) as srv:
        yield srv


async def autoscaler(*args: str, **env: str) -> tuple[int, str, str]:
    """The real command, as a child process, while this test's event loop keeps serving."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUTOSCALER_") and k != "PORT0"}
    clean.update(env)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "autoscaler",
        *args,
        env=clean,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_explain_shows_the_running_services_stabilisation(service: Service, server: StatusServer) -> None:
    decision = service.status.last("/shop/api").decision  # type: ignore[union-attr]
    assert decision is not None and decision.code == "stabilizing"  # the service has watched it for 3m

    code, out, err = await autoscaler("explain", "/shop/api", "--url", server.url)

    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == decision.summary()
    assert lines[1].startswith(f"Source: the running service at {server.url} (role single), its decision at ")
    for reason in (*(c.detail for c in decision.clamps), *(m.detail for m in decision.metrics)):
        assert reason in out
    assert "observed for 3m of the 10m scale-down window" in out  # its own history, not an assumption
    assert "Outcome: stabilizing, stays at 10." in out
    assert lines[-1].startswith("Why: It stays at 10 (the metrics recommend 2) because of the stabilization rule")
    assert "Offline" not in out


async def test_the_setting_names_the_service_and_json_has_the_documented_fields(
    service: Service, server: StatusServer
) -> None:
    decision = service.status.last("/shop/api").decision  # type: ignore[union-attr]
    assert decision is not None

    code, out, err = await autoscaler("explain", "shop/api", "--json", AUTOSCALER_STATUS_URL=server.url)

    assert code == 0, err
    body = json.loads(out)
    assert list(body) == list(JSON_FIELDS)
    assert (body["app"], body["source"], body["service_url"], body["role"]) == (
        "/shop/api",
        "service",
        server.url,
        "single",
    )
    assert (body["code"], body["outcome"], body["current"], body["desired"], body["action"]) == (
        decision.code,
        service.status.last("/shop/api").code,  # type: ignore[union-attr]
        decision.current,
        decision.desired,
        decision.action,
    )
    assert body["reasons"] == decision.reasons()
    assert [m["name"] for m in body["metrics"]] == ["cpu"] and body["metrics"][0]["proposal"] == 2
    assert body["clamps"][0]["rule"] == "stabilization"
    assert body["why"].startswith("It stays at 10")
    assert body["unknown"] == []


async def test_the_dry_run_preview_shows_the_services_scale_down(service: Service, server: StatusServer) -> None:
    # past the 10-minute window the service scales /shop/api down (dry run: decided, not sent)
    await watched_for(service, 8)
    outcome = service.status.last("/shop/api")
    assert outcome is not None and outcome.decision is not None
    assert outcome.decision.code == "scaled_down" and outcome.code == "dry_run"

    code, out, err = await autoscaler("run", "--once", "--dry-run", "--url", server.url)

    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"Preview from the running service at {server.url} (role single, last tick ")
    assert "nothing was written by this command" in lines[0]
    assert f"{outcome.decision.summary()} -> dry_run: the service decided it and sent nothing" in lines
    web = service.status.last("/shop/web")
    assert web is not None and web.decision is not None
    assert web.decision.summary() in lines


async def test_a_url_outside_the_preview_is_refused(server: StatusServer) -> None:
    code, _, err = await autoscaler("run", "--url", server.url)
    assert code == 2
    assert "add --once --dry-run" in err


async def test_the_api_token_is_sent_and_its_absence_is_explained(service: Service) -> None:
    async with StatusServer(
        status=service.status, metrics=SelfMetrics(), clock=service.clock, host="127.0.0.1", port=0, api_token=TOKEN
    ) as srv:
        refused = await autoscaler("explain", "/shop/api", "--url", srv.url)
        allowed = await autoscaler("explain", "/shop/api", "--url", srv.url, AUTOSCALER_API_TOKEN=TOKEN)
    code, out, err = refused
    assert code == 2 and "set AUTOSCALER_API_TOKEN" in err and out == ""
    code, out, err = allowed
    assert code == 0, err
    assert out.startswith("/shop/api: stays at 10 (stabilizing)")
    assert TOKEN not in out + err


async def test_an_app_the_service_does_not_manage_lists_those_it_does(server: StatusServer) -> None:
    code, out, err = await autoscaler("explain", "/shop/nope", "--url", server.url)
    assert code == 2 and out == ""
    assert f"the running service at {server.url} has no policy for /shop/nope; it manages: /shop/api, /shop/web" in err


async def test_a_service_that_is_not_there_is_an_error_not_an_offline_answer(server: StatusServer) -> None:
    url = server.url
    await server.stop()
    code, out, err = await autoscaler("explain", "/shop/api", "--url", url, AUTOSCALER_RETRY_ATTEMPTS="1")
    assert code == 1 and out == ""
    assert f"the running service at {url} could not be reached" in err


async def test_offline_the_dry_run_says_what_it_cannot_show(tmp_path: Path) -> None:
    (tmp_path / "api.yaml").write_text("app: /shop/api\nmin_instances: 1\nmax_instances: 20\n")
    marathon = ThreadedMarathon()
    try:
        marathon.call(marathon.fake.add_app, "/shop/api", instances=3)
        code, out, err = await autoscaler(
            "run",
            "--once",
            "--dry-run",
            AUTOSCALER_MARATHON_URL=marathon.url,
            AUTOSCALER_POLICY_DIR=str(tmp_path),
            AUTOSCALER_LOG_LEVEL="ERROR",
        )
    finally:
        marathon.stop()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("/shop/api: stays at 3")
    assert lines[-1].startswith("Offline preview: this process has only just started, so it has no stabilisation")
    assert "--url or AUTOSCALER_STATUS_URL previews the running service instead" in lines[-1]


def test_an_app_id_may_leave_out_the_leading_slash() -> None:
    parser = build_parser()
    assert parser.parse_args(["explain", "checkout/web"]).app == "/checkout/web"
    assert parser.parse_args(["explain", "/checkout/web"]).app == "/checkout/web"


def test_an_app_id_that_is_no_app_id_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["explain", "Checkout/../web"])
    assert exited.value.code == 2
    assert "'Checkout/../web' is not a Marathon app id" in capsys.readouterr().err


async def test_a_write_of_the_service_is_shown_with_its_outcome() -> None:
    service = build_service(dry_run=False)
    await watched_for(service, 10)  # its last tick completes the 10m window: it scales /shop/api down
    outcome = service.status.last("/shop/api")
    assert outcome is not None and outcome.write is not None and outcome.code == "scaled_down"
    view = AppView.model_validate(json.loads(json.dumps(app_json(service.status, "/shop/api", now=service.clock.now))))

    text = service_text(view, url="http://status.test", now=service.clock.now)
    body = service_explanation_json(view, url="http://status.test")

    assert text.splitlines()[0] == outcome.decision.summary()  # type: ignore[union-attr]
    assert (
        f"Outcome: scaled_down, desired {outcome.write.instances} (cause: metrics). Write: {outcome.write.outcome}"
        in (text)
    )
    assert body["write"]["outcome"] == outcome.write.outcome and body["outcome"] == "scaled_down"
