"""SIGTERM always ends `autoscaler run`, even when a worker thread never returns.

The service process is real; what blocks is its policy reload thread, made to wait for ever by a
hook in the child (a file read that never returns, as a FIFO in the policy directory once did).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from autoscaler import logs
from autoscaler.cli import helptext
from autoscaler.cli.run import ShutdownWatchdog

ROOT = Path(__file__).resolve().parents[2]

# The child: `autoscaler run` whose policy reloads block for ever once they start.
CHILD = """
import os, sys, threading
import autoscaler.reload as reload

def blocked(root):
    with open(os.environ["BLOCKED_MARKER"], "w") as marker:
        marker.write("blocked")
    threading.Event().wait()  # never returns

reload.load_directory = blocked
from autoscaler.cli import main
sys.exit(main(["run"]))
"""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: object, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigterm_ends_the_process_while_the_reload_thread_is_blocked(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "a.yaml").write_text(
        yaml.safe_dump({"app": "/a", "min_instances": 1, "max_instances": 3, "schedules": []})
    )
    marker = tmp_path / "blocked"
    log_path = tmp_path / "log"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "BLOCKED_MARKER": str(marker),
        "AUTOSCALER_MARATHON_URL": f"http://127.0.0.1:{closed_port()}",  # ticks fail; the service runs on
        "AUTOSCALER_POLICY_DIR": str(policies),
        "AUTOSCALER_INTERVAL": "1s",
        "AUTOSCALER_RETRY_ATTEMPTS": "1",
        "AUTOSCALER_POLICY_POLL_INTERVAL": "0s",
        "AUTOSCALER_HOST": "127.0.0.1",
        "AUTOSCALER_PORT": "0",
        "AUTOSCALER_LOG_FORMAT": "json",
    }
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdout=log, stderr=log, cwd=tmp_path)
    try:
        wait_for(lambda: '"event": "server"' in log_path.read_text(), timeout=30, what="the status server")
        process.send_signal(signal.SIGHUP)  # a reload: its thread blocks for ever
        wait_for(marker.exists, timeout=10, what="the reload thread to block")
        time.sleep(0.2)
        stopped = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=helptext.SHUTDOWN_GRACE_SECONDS + 10)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after SIGTERM:\n{log_path.read_text()[-2000:]}") from None
        took = time.monotonic() - stopped
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    events = [line.get("event") for line in lines]
    assert code == helptext.EXIT_FORCED_STOP
    assert took < helptext.SHUTDOWN_GRACE_SECONDS + 5
    assert "stop" in events and "forced_stop" in events, events
    forced = next(line for line in lines if line.get("event") == "forced_stop")
    assert forced["level"] == "error" and "did not finish" in forced["message"]


def test_the_watchdog_waits_for_the_grace_period_only_once_armed() -> None:
    exits: list[int] = []
    exited = threading.Event()

    def exit_now(code: int) -> None:
        exits.append(code)
        exited.set()

    watchdog = ShutdownWatchdog(logs.configure(level="ERROR", fmt="json"), grace=0.2, exit_now=exit_now)
    time.sleep(0.4)
    assert exits == []  # not armed: never exits
    started = time.monotonic()
    watchdog.arm()
    watchdog.arm()  # a second signal does not start a second countdown
    assert exited.wait(timeout=5)
    assert time.monotonic() - started >= 0.2
    time.sleep(0.3)
    assert exits == [helptext.EXIT_FORCED_STOP]
