"""`autoscaler pause` and `autoscaler resume` against a running status server with pause routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from autoscaler.cli import main
from autoscaler.pauses import MemoryStore
from autoscaler.pauses.control import PauseControl
from autoscaler.sinks.selfmetrics import SelfMetrics
from autoscaler.sinks.status import ServiceStatus
from autoscaler.testing.clock import FakeClock
from autoscaler.web.server import StatusServer
from tests.policies import cpu_policy

T0 = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
TOKEN = "cli-pause-token"


@pytest.fixture
def control() -> PauseControl:
    return PauseControl(store=MemoryStore(), clock=FakeClock(T0), logger=logging.getLogger("test.pauses"))


@pytest.fixture
def url(control: PauseControl, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("AUTOSCALER_STATUS_URL", "AUTOSCALER_MARATHON_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AUTOSCALER_API_TOKEN", TOKEN)
    status = ServiceStatus(interval=timedelta(seconds=15), started_at=T0)
    status.set_policies({"/shop/api": cpu_policy("/shop/api")}, [])
    server = StatusServer(
        status=status, metrics=SelfMetrics(), clock=FakeClock(T0), host="127.0.0.1", port=0, api_token=TOKEN,
        pauses=control,
    )  # fmt: skip
    yield asyncio.run(server.start())
    asyncio.run(server.stop())


def test_pause_and_resume_an_app(url: str, control: PauseControl, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pause", "shop/api", "--for", "2h", "--reason", "db migration", "--by", "alice", "--url", url]) == 0
    out = capsys.readouterr().out
    assert "paused /shop/api by alice until" in out and "db migration" in out
    [pause] = control.pauses().values()
    assert (pause.scope, pause.by, pause.reason, pause.until) == (
        "/shop/api",
        "alice",
        "db migration",
        T0 + timedelta(hours=2),
    )
    assert main(["resume", "/shop/api", "--url", url]) == 0
    assert "resumed /shop/api" in capsys.readouterr().out
    assert control.pauses() == {}
    assert main(["resume", "/shop/api", "--url", url]) == 0
    assert "nothing to resume" in capsys.readouterr().out


def test_pause_every_app_and_a_group(url: str, control: PauseControl, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pause", "--all", "--url", url]) == 0
    assert "paused every app by" in capsys.readouterr().out  # user@host by default
    assert main(["pause", "/shop/*", "--url", url]) == 0
    assert set(control.pauses()) == {"*", "/shop/*"}
    assert main(["resume", "--all", "--url", url]) == 0
    assert set(control.pauses()) == {"/shop/*"}


def test_refusals_are_clear(
    url: str, control: PauseControl, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["pause", "/shop/ghost", "--url", url]) == 1
    assert "no policy manages /shop/ghost" in capsys.readouterr().err
    assert main(["pause", "/shop/api", "--for", "8d", "--url", url]) == 1
    assert "at most 7d" in capsys.readouterr().err
    assert main(["pause", "--url", url]) == 2
    assert "or give --all" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["pause", "Shop", "--url", url])
    assert main(["pause", "/shop/api"]) == 2
    assert "AUTOSCALER_STATUS_URL" in capsys.readouterr().err
    monkeypatch.setenv("AUTOSCALER_API_TOKEN", "wrong-token")
    assert main(["pause", "/shop/api", "--url", url]) == 2
    err = capsys.readouterr().err
    assert "API token" in err and "wrong-token" not in err and TOKEN not in err
    assert control.pauses() == {}


def test_a_service_without_a_token_says_so(
    control: PauseControl, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTOSCALER_STATUS_URL", raising=False)
    monkeypatch.setenv("AUTOSCALER_API_TOKEN", TOKEN)  # the client has one; the service does not
    status = ServiceStatus(interval=timedelta(seconds=15), started_at=T0)
    server = StatusServer(status=status, metrics=SelfMetrics(), clock=FakeClock(T0), host="127.0.0.1", port=0,
                          pauses=control)  # fmt: skip
    url = asyncio.run(server.start())
    try:
        assert main(["pause", "--all", "--url", url]) == 1
        assert "need AUTOSCALER_API_TOKEN set on the service" in capsys.readouterr().err
    finally:
        asyncio.run(server.stop())
    assert control.pauses() == {}
