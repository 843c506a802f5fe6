"""Pauses end to end: `autoscaler run` as child processes against the Marathon-compatible server,
paused and resumed with `autoscaler pause` / `resume` through their status API, with the pauses in a
state file (one instance, restarted) or on a real ZooKeeper (two instances, the leader stopped).

Each test checks the three promises of a pause: no write while it is in force, the write as soon
as it ends (only its duration is held), and that it ends by itself, announced once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoscaler.testing.marathon.threaded import ThreadedMarathon
from autoscaler.testing.prometheus import FakePrometheus
from tests.zookeeper import ZooKeeperServer

pytestmark = pytest.mark.integration

APP = "/pause/app"
QUERY = "pause_load"
TOKEN = "pause-integration-token"
ROOT = Path(__file__).resolve().parents[2]


class Service:
    """`autoscaler run` as a child process; its JSON log lines are collected as they come."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "autoscaler", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.raw.append(line)
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    self.lines.append(json.loads(line))

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in list(self.lines) if line.get("event") == name]

    @property
    def url(self) -> str:
        wait_for(
            lambda: bool(self.events("server")) or self.process.poll() is not None, timeout=30, what="the status server"
        )
        found = self.events("server")
        assert found, "".join(self.raw)[-3000:]
        return str(found[0]["url"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._reader.join(timeout=5)

    def log(self) -> str:
        return "".join(self.raw)[-4000:]


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


def held(service: Service) -> int:
    """How many of the service's ticks logged the app as paused (one line per tick)."""
    return sum(e.get("code") == "paused" for e in service.lines)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOSCALER_")}
    env["AUTOSCALER_API_TOKEN"] = TOKEN
    return subprocess.run(
        [sys.executable, "-m", "autoscaler", *args],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ThreadedMarathon, FakePrometheus, Path]]:
    marathon = ThreadedMarathon()
    prometheus = FakePrometheus()
    marathon.run(prometheus.start())
    policies = tmp_path / "policies"
    policies.mkdir()
    policy = {
        "app": APP,
        "min_instances": 1,
        "max_instances": 20,
        "metrics": [{"name": "load", "source": "prometheus", "query": QUERY, "target_per_instance": 100}],
        "scale_up": {"cooldown": "0s"},
    }
    (policies / "app.yaml").write_text(yaml.safe_dump(policy))
    marathon.call(marathon.fake.add_app, APP, instances=2)
    marathon.call(prometheus.set_vector, QUERY, [({}, "200", None)])  # wants 2: nothing to do
    yield marathon, prometheus, policies
    marathon.run(prometheus.stop())
    marathon.stop()


def environment(marathon: ThreadedMarathon, prometheus: FakePrometheus, policies: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOSCALER_") and k != "PORT0"}
    env.update(
        AUTOSCALER_MARATHON_URL=marathon.url,
        AUTOSCALER_HOST="127.0.0.1",
        AUTOSCALER_PORT="0",
        AUTOSCALER_PROMETHEUS_URL=prometheus.url,
        AUTOSCALER_POLICY_DIR=str(policies),
        AUTOSCALER_LOG_FORMAT="json",
        AUTOSCALER_LOG_LEVEL="DEBUG",  # holds, `paused` among them, are logged at DEBUG
        AUTOSCALER_INTERVAL="1s",
        AUTOSCALER_REQUEST_TIMEOUT="1s",
        AUTOSCALER_API_TOKEN=TOKEN,
        **more,
    )
    return env


def pause(url: str, seconds: int) -> datetime:
    done = cli("pause", APP, "--for", f"{seconds}s", "--reason", "integration", "--by", "tester", "--url", url)
    assert done.returncode == 0, done.stderr
    # "paused /pause/app by tester until 2026-...+00:00: integration"
    return datetime.fromisoformat(done.stdout.strip().split(" until ", 1)[1].removesuffix(": integration"))


def test_a_pause_survives_a_restart_and_ends_by_itself(
    world: tuple[ThreadedMarathon, FakePrometheus, Path], tmp_path: Path
) -> None:
    marathon, prometheus, policies = world
    state = tmp_path / "state"
    state.mkdir()
    env = environment(marathon, prometheus, policies, AUTOSCALER_STATE_DIR=str(state))
    marathon.call(prometheus.set_vector, QUERY, [({}, "200", None)])  # wants 2: nothing to do yet
    first = Service(env)
    try:
        until = pause(first.url, 12)
        assert json.loads((state / "pauses.json").read_text())["pauses"][0]["scope"] == APP
        marathon.call(prometheus.set_vector, QUERY, [({}, "400", None)])  # wants 4 from now on
        wait_for(lambda: any(e.get("code") == "paused" for e in first.lines), timeout=10, what="a paused decision")
    finally:
        first.stop()
    assert marathon.patches() == [], first.log()

    second = Service(env)
    try:
        wait_for(lambda: len(marathon.patches()) >= 1, timeout=30, what="the write after the pause")
        expired = second.events("pause_expired")
    finally:
        second.stop()
    written = datetime.fromtimestamp(marathon.patches()[0].time, tz=until.tzinfo)
    assert written >= until, f"written at {written}, the pause lasted until {until}"
    assert written - until < timedelta(seconds=5), "the pause held longer than its duration"
    assert marathon.patches()[0].json() == {"instances": 4}
    assert [e["scope"] for e in expired] == [APP], second.log()
    assert json.loads((state / "pauses.json").read_text())["pauses"] == []


def test_resume_ends_the_pause_at_once(world: tuple[ThreadedMarathon, FakePrometheus, Path], tmp_path: Path) -> None:
    marathon, prometheus, policies = world
    marathon.call(prometheus.set_vector, QUERY, [({}, "200", None)])  # wants 2: nothing to do yet
    service = Service(environment(marathon, prometheus, policies))
    try:
        url = service.url
        pause(url, 600)
        marathon.call(prometheus.set_vector, QUERY, [({}, "400", None)])  # wants 4 from now on
        wait_for(lambda: held(service) >= 1, timeout=10, what="a paused decision")
        wait_for(lambda: held(service) >= 3, timeout=10, what="two more ticks held")
        assert marathon.patches() == []
        resumed_at = time.time()
        done = cli("resume", APP, "--url", url)
        assert done.returncode == 0 and "resumed /pause/app" in done.stdout, done.stderr
        wait_for(lambda: len(marathon.patches()) >= 1, timeout=10, what="the write after resume")
        assert marathon.patches()[0].time >= resumed_at
        assert [e["scope"] for e in service.events("pause_resumed")] == [APP]
        assert any("in memory only" in line for line in service.raw)  # no state dir, no ZooKeeper: warned
    finally:
        service.stop()


def test_a_pause_on_zookeeper_holds_across_a_leader_change(
    world: tuple[ThreadedMarathon, FakePrometheus, Path], zk_server: ZooKeeperServer, zk_root: str
) -> None:
    marathon, prometheus, policies = world
    marathon.call(prometheus.set_vector, QUERY, [({}, "200", None)])  # wants 2: nothing to do yet
    env = environment(
        marathon,
        prometheus,
        policies,
        AUTOSCALER_ZK_HOSTS=zk_server.hosts,
        AUTOSCALER_ZK_PATH=f"{zk_root}/leader",
        AUTOSCALER_ZK_PAUSE_PATH=f"{zk_root}/pauses",
        AUTOSCALER_ZK_SESSION_TIMEOUT="3s",
    )
    first = Service(env)
    wait_for(lambda: any(e.get("event") == "leadership" and e.get("role") == "leader" for e in first.lines),
             timeout=30, what="the first instance to lead")  # fmt: skip
    second = Service(env)
    try:
        until = pause(second.url, 15)  # made through the follower
        marathon.call(prometheus.set_vector, QUERY, [({}, "400", None)])  # wants 4 from now on
        wait_for(lambda: held(first) >= 1, timeout=10, what="the leader to hold")
        wait_for(lambda: held(first) >= 3, timeout=10, what="the leader to hold two more ticks")
        first.stop()  # the leader leaves: the second instance leads, and must hold too
        wait_for(lambda: any(e.get("event") == "leadership" and e.get("role") == "leader" for e in second.lines),
                 timeout=15, what="the second instance to lead")  # fmt: skip
        assert marathon.patches() == [], first.log()
        wait_for(lambda: len(marathon.patches()) >= 1, timeout=30, what="the write after the pause")
        expired = second.events("pause_expired")
    finally:
        first.stop()
        second.stop()
    patch = marathon.patches()[0]
    written = datetime.fromtimestamp(patch.time, tz=until.tzinfo)
    assert written >= until and written - until < timedelta(seconds=5), (written, until)
    assert patch.json() == {"instances": 4}
    assert len(marathon.patches()) == 1
    assert [e["scope"] for e in expired] == [APP], second.log()
