"""Leader election against a real ZooKeeper, and two real autoscaler processes against one Marathon.

The first tests drive `LeaderElection` objects in this process: exactly one leader, hand-over on
stop, fencing on session loss and on a frozen server, rejoining after a lost session. The last one
runs two complete autoscaler instances (`tests/ha/runner.py`) against one fake Marathon, kills the
leader with SIGKILL and checks from Marathon's side who wrote what, and when.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient, KazooState

from autoscaler.core.codes import Outcome
from autoscaler.leader import LeaderElection
from autoscaler.testing.marathon.threaded import ThreadedMarathon
from tests import zookeeper
from tests.ha import runner

pytestmark = pytest.mark.integration

SESSION = 1.0
ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("test.leader")


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> float:
    """Poll until `condition` holds; return how long it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.005)
    return time.monotonic() - started


class Overlap:
    """Samples every election each millisecond and records any instant with two leaders."""

    def __init__(self, elections: list[LeaderElection]) -> None:
        self.elections = elections
        self.samples = 0
        self.both: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            leaders = [e.identifier for e in self.elections if e.is_leader()]
            self.samples += 1
            if len(leaders) > 1:
                self.both.append(time.monotonic())
            time.sleep(0.001)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


@pytest.fixture
def pair(zk_server: zookeeper.ZooKeeperServer, election_path: str) -> Iterator[tuple[LeaderElection, LeaderElection]]:
    a = LeaderElection(zk_server.hosts, election_path, identifier="a", logger=log, session_timeout=SESSION)
    b = LeaderElection(zk_server.hosts, election_path, identifier="b", logger=log, session_timeout=SESSION)
    overlap = Overlap([a, b])
    a.start()
    wait_for(a.is_leader, timeout=10, what="the first contender to lead")
    b.start()
    yield a, b
    overlap.stop()
    a.stop()
    b.stop()
    assert overlap.both == [], f"two leaders at once in {len(overlap.both)} of {overlap.samples} samples"


def expire_session(election: LeaderElection, hosts: str) -> None:
    """Expire an election's session from outside, as ZooKeeper does after a partition: a second
    client joins the same session and closes it."""
    session_id, password = election._client.client_id
    intruder = KazooClient(hosts=hosts, client_id=(session_id, password), timeout=SESSION)
    intruder.start(timeout=5)
    intruder.stop()
    intruder.close()


def test_exactly_one_of_two_leads(pair: tuple[LeaderElection, LeaderElection]) -> None:
    a, b = pair
    time.sleep(1.0)  # b is connected and waiting behind a
    assert (a.role, b.role) == ("leader", "follower")
    assert a.is_leader() and not b.is_leader()


def test_stop_hands_over_at_once(pair: tuple[LeaderElection, LeaderElection]) -> None:
    a, b = pair
    time.sleep(0.3)
    stopped = time.monotonic()
    a.stop()
    assert not a.is_leader()
    took = wait_for(b.is_leader, timeout=5, what="b to take over")
    # A clean stop deletes the node with the session: no session timeout to wait for.
    assert took < SESSION, f"hand-over took {took:.2f}s"
    log.info("hand-over after stop: %.3fs", time.monotonic() - stopped)


def test_session_loss_stops_writing_immediately_then_rejoins(
    pair: tuple[LeaderElection, LeaderElection], zk_server: zookeeper.ZooKeeperServer
) -> None:
    a, b = pair
    seen: list[tuple[str, bool]] = []
    # Registered after the election's own listener: runs right after it, in kazoo's thread.
    a._client.add_listener(lambda state: seen.append((state, a.is_leader())))

    expire_session(a, zk_server.hosts)

    wait_for(lambda: any(state == KazooState.LOST for state, _ in seen), timeout=5, what="a to see its session lost")
    assert all(not leading for state, leading in seen if state != KazooState.CONNECTED), seen
    wait_for(b.is_leader, timeout=5, what="b to take over from the expired session")
    # a rejoins with a new session, behind b, and leads again once b leaves.
    wait_for(lambda: a._client.state == KazooState.CONNECTED, timeout=5, what="a to reconnect")
    time.sleep(0.5)
    assert not a.is_leader()
    b.stop()
    wait_for(a.is_leader, timeout=5, what="a to lead again after rejoining")


def test_a_frozen_server_leaves_no_leader_until_it_answers_again(
    pair: tuple[LeaderElection, LeaderElection], zk_server: zookeeper.ZooKeeperServer
) -> None:
    a, b = pair
    time.sleep(0.3)
    assert a.is_leader()
    zk_server.freeze()
    try:
        # The lease and kazoo's own read timeout both end within 2/3 of the session timeout.
        took = wait_for(lambda: not a.is_leader(), timeout=SESSION * 2, what="a to stop leading")
        assert took <= SESSION * 2 / 3 + 0.3, f"a kept leading {took:.2f}s into the partition"
        time.sleep(SESSION)
        assert not a.is_leader() and not b.is_leader()
    finally:
        zk_server.thaw()
    wait_for(lambda: a.is_leader() or b.is_leader(), timeout=10, what="a leader after the server is back")


# --- two autoscaler processes against one Marathon ----------------------------------------------


class Instance:
    """One runner process; collects its JSON tick lines with the time they were printed."""

    def __init__(self, identifier: str, *, marathon: str, zk: str, path: str, interval: float, session: float) -> None:
        self.identifier = identifier
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.ha.runner",
                f"--marathon={marathon}",
                f"--zk={zk}",
                f"--path={path}",
                f"--id={identifier}",
                f"--interval={interval}",
                f"--session-timeout={session}",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.ticks: list[dict[str, object]] = []
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                self.ticks.append(json.loads(line))

    def _read_err(self) -> None:
        assert self.process.stderr is not None
        self.stderr.extend(self.process.stderr)

    def leading_since(self, moment: float) -> float | None:
        for tick in self.ticks:
            at = tick["time"]
            assert isinstance(at, float)
            if at >= moment and tick["role"] == "leader":
                return at
        return None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=5)

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def writer(request_headers: dict[str, str]) -> str:
    """The instance that sent a request: its identifier is the basic-auth user name."""
    auth = request_headers.get("authorization", "")
    return base64.b64decode(auth.removeprefix("Basic ")).decode().split(":", 1)[0] if auth else "?"


def test_two_instances_one_writer_and_failover_after_sigkill(
    zk_server: zookeeper.ZooKeeperServer, election_path: str, marathon: ThreadedMarathon
) -> None:
    interval, session = 0.5, 1.5
    marathon.call(marathon.fake.add_app, runner.APP, instances=2)
    common = {"marathon": marathon.url, "zk": zk_server.hosts, "path": election_path, "interval": interval}
    instances = {name: Instance(name, session=session, **common) for name in ("a", "b")}  # type: ignore[arg-type]
    try:
        wait_for(lambda: len(marathon.patches()) >= 3, timeout=15, what="three writes by the first leader")
        first = {writer(dict(r.headers)) for r in marathon.patches()}
        assert len(first) == 1, f"more than one instance wrote: {first}"
        (leader,) = first
        follower = "b" if leader == "a" else "a"
        assert all(t["role"] == "follower" for t in instances[follower].ticks), instances[follower].ticks

        killed_at = time.time()
        instances[leader].kill()
        wait_for(
            lambda: instances[follower].leading_since(killed_at) is not None,
            timeout=session + 5,
            what=f"{follower} to take over",
        )
        took_over = instances[follower].leading_since(killed_at)
        assert took_over is not None
        wait_for(
            lambda: any(writer(dict(r.headers)) == follower for r in marathon.patches()),
            timeout=runner.WAVE_PERIOD * 2 + interval + 2,
            what=f"{follower} to write",
        )
    finally:
        for instance in instances.values():
            instance.terminate()

    patches = marathon.patches()
    by = [(writer(dict(r.headers)), r.time, r.json()) for r in patches]
    before = [w for w, at, _ in by if at < killed_at]
    after = [w for w, at, _ in by if at >= killed_at]
    assert set(before) == {leader} and set(after) == {follower}, by
    # One write per tick at most: each PATCH is matched by a tick that reported a scale. The killed
    # leader may have written in the tick it was killed in, before printing it: one more for it.
    scaled = {Outcome.SCALED_UP, Outcome.SCALED_DOWN}
    for name, instance in instances.items():
        codes = [t["codes"] for t in instance.ticks]
        scaled_ticks = sum(1 for c in codes if isinstance(c, dict) and c.get(runner.APP) in scaled)
        writes = sum(1 for w, _, _ in by if w == name)
        allowed = scaled_ticks + (1 if name == leader else 0)
        assert writes <= allowed, f"{name} wrote {writes} times in {scaled_ticks} scaling ticks: {by}"
    assert all(r.query.get("force") is None for r in patches)
    takeover = took_over - killed_at
    print(
        f"\nHA: {len(before)} writes by {leader}, {len(after)} by {follower}; takeover {takeover:.2f}s after "
        f"SIGKILL (session timeout {session}s)"
    )
    # ZooKeeper expires the session after `session`, checked once per tick (0.5 s); then one tick.
    assert takeover <= session + 1.5, f"takeover took {takeover:.2f}s"
