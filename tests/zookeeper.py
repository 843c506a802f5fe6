"""A real ZooKeeper server for the high-availability tests, started and stopped by the test run.

Leader election is only proven against the real thing: session expiry, ephemeral nodes and
watches are ZooKeeper's behaviour, not something a fake would get right. This module starts the
Debian `zookeeper` package's server directly with `java` (so the process we hold is the JVM, not a
wrapper script that daemonizes), standalone, on a free 127.0.0.1 port in a temporary directory,
with the admin web server off and a short tick so sessions expire within about a second. Nothing
here depends on pytest; `tests/ha/conftest.py` turns it into fixtures.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tests.servers import ServerError, free_port

ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")
# Debian's jar has no SLF4J binding; without one the server logs nothing at all.
SLF4J_SIMPLE_JAR = Path("/usr/share/java/slf4j-simple.jar")
MAIN_CLASS = "org.apache.zookeeper.server.ZooKeeperServerMain"
LOOPBACK = "127.0.0.1"
# ZooKeeper clamps session timeouts to [2, 20] ticks: 500 ms ticks allow 1 s sessions.
DEFAULT_TICK_MS = 500


def missing() -> str | None:
    """Why a ZooKeeper server cannot be started here, or None when it can."""
    if shutil.which("java") is None:
        return "java is not on PATH (Debian package default-jre-headless)"
    if not ZOOKEEPER_JAR.exists():
        return f"{ZOOKEEPER_JAR} is missing (Debian package zookeeper)"
    return None


def four_letter_word(port: int, word: str, *, timeout: float = 2.0) -> str:
    """Send one of ZooKeeper's four-letter commands (`srvr`, `ruok`, ...) and return the answer."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as connection:
        connection.sendall(word.encode())
        chunks = []
        while True:
            chunk = connection.recv(4096)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


@dataclass
class ZooKeeperServer:
    """One standalone server. `hosts` is the client connection string (`127.0.0.1:<port>`)."""

    directory: Path
    port: int
    tick_ms: int = DEFAULT_TICK_MS
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def hosts(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "zookeeper.log"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise ServerError("ZooKeeper is not running")
        return self.process.pid

    def start(self, *, timeout: float = 30.0) -> None:
        """Write the configuration, start the JVM and wait until `srvr` says standalone."""
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.directory / "zoo.cfg"
        config.write_text(
            "\n".join(
                [
                    f"tickTime={self.tick_ms}",
                    "initLimit=10",
                    "syncLimit=5",
                    f"dataDir={data}",
                    f"clientPort={self.port}",
                    f"clientPortAddress={LOOPBACK}",
                    "maxClientCnxns=0",
                    "admin.enableServer=false",
                    "4lw.commands.whitelist=ruok,srvr,stat,mntr,conf",
                    "autopurge.purgeInterval=0",
                    "",
                ]
            )
        )
        classpath = [str(ZOOKEEPER_JAR)]
        if SLF4J_SIMPLE_JAR.exists():
            classpath.append(str(SLF4J_SIMPLE_JAR))
        env = {key: value for key, value in os.environ.items() if not key.startswith(("JAVA_TOOL", "JDK_JAVA"))}
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                "java",
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-XX:-UsePerfData",
                "-Dzookeeper.admin.enableServer=false",
                "-cp",
                ":".join(classpath),
                MAIN_CLASS,
                str(config),
            ],
            cwd=self.directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"ZooKeeper exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.ready():
                return
            time.sleep(0.1)
        self.stop()
        raise ServerError(f"ZooKeeper did not become ready within {timeout:g}s:\n{self.log_tail()}")

    def ready(self) -> bool:
        try:
            return "Mode: standalone" in four_letter_word(self.port, "srvr", timeout=1.0)
        except OSError:
            return False

    def freeze(self) -> None:
        """SIGSTOP the server: clients see silence, as in a network partition."""
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (after SIGCONT, in case it is frozen), then SIGKILL if it does not exit."""
        process = self.process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def start_zookeeper(directory: Path, *, tick_ms: int = DEFAULT_TICK_MS, timeout: float = 30.0) -> ZooKeeperServer:
    """A running standalone ZooKeeper on a free 127.0.0.1 port, its files under `directory`."""
    server = ZooKeeperServer(directory=directory, port=free_port(), tick_ms=tick_ms)
    server.start(timeout=timeout)
    return server
