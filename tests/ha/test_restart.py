"""Restart safety: `autoscaler run` killed with SIGKILL in the middle of a write, then started again.

Marathon receives the PATCH but its answer is held back by a proxy, so the process is killed while
it waits: the worst moment, since the scale happened and the process never learnt it. The new
process knows nothing of its predecessor; everything it must respect comes from Marathon (the app's
count and `lastScalingAt`). The tests check that it honours the cooldown since that scale, sends
nothing twice, and does not scale down before it has itself observed one full stabilisation window.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoscaler.testing.marathon.threaded import ThreadedMarathon
from autoscaler.testing.prometheus import FakePrometheus
from autoscaler.testing.proxy import HOLD, PASS, FaultProxy, HttpRequest

pytestmark = pytest.mark.integration

APP = "/restart/app"
QUERY = "restart_load"
ROOT = Path(__file__).resolve().parents[2]


class Service:
    """`autoscaler run` as a child process, with its JSON log collected on exit."""

    def __init__(self, env: dict[str, str]) -> None:
        self.started = time.time()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "autoscaler", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output = ""

    def kill(self) -> None:
        assert self.process.poll() is None, "the service exited before it could be killed"
        self.process.send_signal(signal.SIGKILL)
        self.output, _ = self.process.communicate(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.output, _ = self.process.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.output, _ = self.process.communicate(timeout=5)

    def codes(self) -> list[str]:
        return [
            str(json.loads(line).get("code"))
            for line in self.output.splitlines()
            if line.startswith("{") and json.loads(line).get("app") == APP
        ]


@pytest.fixture
def setup(marathon: ThreadedMarathon, tmp_path: Path) -> Iterator[tuple[ThreadedMarathon, FakePrometheus, FaultProxy]]:
    prometheus = FakePrometheus()
    marathon.run(prometheus.start())
    held: list[str] = []

    def hold_first_patch(request: HttpRequest, _rng: random.Random) -> str:
        if request.method == "PATCH" and not held:
            held.append(request.target)
            return HOLD
        return PASS

    proxy = FaultProxy(upstream=marathon.url, seed=0, plan=hold_first_patch)
    marathon.run(proxy.start())
    yield marathon, prometheus, proxy
    marathon.run(proxy.stop())
    marathon.run(prometheus.stop())


def start(tmp_path: Path, proxy: FaultProxy, prometheus: FakePrometheus, policy: dict[str, Any]) -> Service:
    policies = tmp_path / "policies"
    policies.mkdir(exist_ok=True)
    (policies / "app.yaml").write_text(yaml.safe_dump(policy))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOSCALER_") and k != "PORT0"}
    env.update(
        AUTOSCALER_MARATHON_URL=proxy.url,
        AUTOSCALER_HOST="127.0.0.1",  # the status server: loopback only, any free port
        AUTOSCALER_PORT="0",
        AUTOSCALER_PROMETHEUS_URL=prometheus.url,
        AUTOSCALER_POLICY_DIR=str(policies),
        AUTOSCALER_LOG_FORMAT="json",
        AUTOSCALER_LOG_LEVEL="DEBUG",
        AUTOSCALER_INTERVAL="1s",
    )
    return Service(env)


def load(marathon: ThreadedMarathon, prometheus: FakePrometheus, value: float) -> None:
    marathon.call(prometheus.set_vector, QUERY, [({}, str(value), None)])


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


def policy(**rules: Any) -> dict[str, Any]:
    return {
        "app": APP,
        "min_instances": 1,
        "max_instances": 20,
        "metrics": [{"name": "load", "source": "prometheus", "query": QUERY, "target_per_instance": 100}],
        **rules,
    }


def test_killed_during_a_scale_up_the_restart_honours_the_cooldown_and_writes_nothing_twice(
    setup: tuple[ThreadedMarathon, FakePrometheus, FaultProxy], tmp_path: Path
) -> None:
    marathon, prometheus, proxy = setup
    cooldown = 8.0
    marathon.call(marathon.fake.add_app, APP, instances=2)
    load(marathon, prometheus, 400)  # wants 4
    rules = policy(scale_up={"cooldown": f"{cooldown:g}s"})

    first = start(tmp_path, proxy, prometheus, rules)
    try:
        wait_for(lambda: len(marathon.patches()) == 1, timeout=20, what="the first PATCH")
        time.sleep(0.3)  # the process is now waiting for the answer the proxy holds back
        first.kill()
    finally:
        first.stop()
    scaled_at = marathon.patches()[0].time
    assert marathon.call(marathon.fake.app_json, APP)["instances"] == 4

    load(marathon, prometheus, 800)  # wants 8: a scale-up the cooldown must delay
    second = start(tmp_path, proxy, prometheus, rules)
    try:
        wait_for(lambda: len(marathon.patches()) == 2, timeout=cooldown + 10, what="the restarted service to scale")
    finally:
        second.stop()

    patches = marathon.patches()
    assert [p.json() for p in patches] == [{"instances": 4}, {"instances": 8}]
    waited = patches[1].time - scaled_at
    assert waited >= cooldown, f"scaled again {waited:.2f}s after the last scale; the cooldown is {cooldown}s"
    assert "cooldown" in second.codes(), second.output[-2000:]
    print(f"\nrestart: second scale {waited:.2f}s after the first (cooldown {cooldown:g}s); PATCHes {len(patches)}")


def test_killed_during_a_scale_down_the_restart_waits_a_full_stabilisation_window(
    setup: tuple[ThreadedMarathon, FakePrometheus, FaultProxy], tmp_path: Path
) -> None:
    marathon, prometheus, proxy = setup
    window = 3.0
    marathon.call(marathon.fake.add_app, APP, instances=10)
    load(marathon, prometheus, 200)  # wants 2
    rules = policy(scale_down={"cooldown": "0s", "stabilization": f"{window:g}s", "max_step": "20%"})

    first = start(tmp_path, proxy, prometheus, rules)
    try:
        wait_for(lambda: len(marathon.patches()) == 1, timeout=window + 15, what="the first scale-down")
        time.sleep(0.3)
        first.kill()
    finally:
        first.stop()
    assert marathon.patches()[0].json() == {"instances": 8}

    second = start(tmp_path, proxy, prometheus, rules)
    try:
        wait_for(lambda: len(marathon.patches()) == 2, timeout=window + 10, what="the restarted service to scale")
    finally:
        second.stop()

    patches = marathon.patches()
    counts = [p.json()["instances"] for p in patches]
    assert counts[0] == 8 and counts[1] < 8, counts
    waited = patches[1].time - second.started
    assert waited >= window, f"scaled down {waited:.2f}s after the restart; the window is {window}s"
    assert "stabilizing" in second.codes(), second.output[-2000:]
    print(f"\nrestart: first scale-down {waited:.2f}s after the restart (window {window:g}s); counts {counts}")
