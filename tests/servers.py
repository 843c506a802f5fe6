"""Real Prometheus and Graphite servers for integration tests, started and stopped from Python.

The providers are only proven against the servers they talk to in production, so the integration
tests run the real thing: Debian's `prometheus`, `carbon-cache` and `graphite-web`, each on free
127.0.0.1 ports with every file it writes under one temporary directory. Nothing here depends on
pytest, so the same helpers serve a debugging session in a REPL.

Why it is done this way:
- Servers are children started with subprocess.Popen, so `stop()` can reap them with wait(); a
  process merely re-parented to init may linger as a zombie that still looks alive.
- Graphite runs under Debian's /usr/bin/python3 with its own Django, so the environment of the
  test's interpreter (PYTHONHOME, VIRTUAL_ENV, PYTHONPATH) is removed before starting it.
- Prometheus scrapes its targets for the first time about five seconds after start, whatever the
  scrape interval; tests poll (`wait_until`) rather than sleep.
- carbon-cache reads only complete lines: every plaintext line must end in a newline.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, TypeVar

LOOPBACK = "127.0.0.1"
PROMETHEUS = "prometheus"
PROMTOOL = "promtool"
CARBON_CACHE = "/usr/bin/carbon-cache"
GRAPHITE_MANAGE = "/usr/bin/graphite-manage"
DEBIAN_PYTHON = "/usr/bin/python3"

_T = TypeVar("_T")


class ServerError(RuntimeError):
    """A server did not start or a helper gave up waiting; the message includes its log tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(probe: Callable[[], _T | None], *, timeout: float, what: str, interval: float = 0.1) -> _T:
    """Call `probe` until it returns something other than None (or False); return that."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = probe()
            if result is not None and result is not False:
                return result
        except Exception as exc:  # a probe of a server still starting may fail any way it likes
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise ServerError(f"gave up after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def get_json(url: str, params: dict[str, str] | None = None, *, timeout: float = 5.0) -> Any:
    full = f"{url}?{urllib.parse.urlencode(params)}" if params else url
    with urllib.request.urlopen(full, timeout=timeout) as response:
        return json.load(response)


def _clean_env(**extra: str) -> dict[str, str]:
    """The current environment without anything that would steer another Python installation."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONHOME", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONSTARTUP"}
    }
    env.update(extra)
    return env


@dataclass
class RunningServer:
    """Server processes started by this module; `stop()` ends and reaps all of them."""

    url: str
    directory: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    _log_files: list[IO[bytes]] = field(default_factory=list, repr=False)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every process, wait up to `timeout` seconds in all, then SIGKILL stragglers."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + timeout
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for log in self._log_files:
            log.close()
        self._log_files.clear()

    def log_tail(self, lines: int = 20) -> str:
        parts = []
        for log in self.logs:
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {log.name} ---\n" + "\n".join(tail))
        return "\n".join(parts)

    def _spawn(self, argv: Sequence[str], *, log_name: str, env: dict[str, str]) -> None:
        log_path = self.directory / log_name
        log = log_path.open("wb")
        self._log_files.append(log)
        self.logs.append(log_path)
        self.processes.append(
            subprocess.Popen(
                list(argv),
                cwd=self.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    def _wait_ready(self, probe: Callable[[], bool], *, timeout: float, what: str) -> None:
        def ready() -> bool:
            for process, log in zip(self.processes, self.logs, strict=True):
                if process.poll() is not None:
                    raise ServerError(f"{log.stem} exited with {process.returncode}")
            return probe()

        try:
            wait_until(ready, timeout=timeout, what=what)
        except ServerError as exc:
            self.stop()
            raise ServerError(f"{exc}\n{self.log_tail()}") from exc


# ---------------------------------------------------------------------------------- Prometheus


def start_prometheus(
    tmp_dir: Path,
    *,
    scrape_targets: Sequence[str],
    backfill_openmetrics: str | None = None,
    timeout: float = 30.0,
) -> RunningServer:
    """A Prometheus scraping `scrape_targets` ("host:port") every second, ready to answer.

    `backfill_openmetrics` is OpenMetrics text imported as history before the start (samples of
    a series in time order, timestamps in seconds); the closing `# EOF` is added when missing.
    """
    directory = Path(tmp_dir)
    directory.mkdir(parents=True, exist_ok=True)
    targets = "".join(f"          - '{target}'\n" for target in scrape_targets)
    config = directory / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: app\n"
        "    static_configs:\n"
        "      - targets:\n" + (targets or "          []\n")
    )
    data = directory / "data"
    if backfill_openmetrics is not None:
        text = backfill_openmetrics.rstrip("\n") + "\n"
        if not text.endswith("# EOF\n"):
            text += "# EOF\n"
        history = directory / "history.om"
        history.write_text(text)
        done = subprocess.run(
            [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(history), str(data)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise ServerError(f"promtool backfill failed: {done.stdout}{done.stderr}")
    port = free_port()
    server = RunningServer(url=f"http://{LOOPBACK}:{port}", directory=directory)
    server._spawn(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=3650d",
            f"--web.listen-address={LOOPBACK}:{port}",
        ],
        log_name="prometheus.log",
        env=dict(os.environ),
    )

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    server._wait_ready(ready, timeout=timeout, what=f"Prometheus ready on port {port}")
    return server


def wait_for_targets_up(server: RunningServer, count: int, *, timeout: float = 15.0) -> None:
    """Wait until `count` scrape targets have been scraped successfully (first scrape: ~6 s)."""

    def up() -> bool:
        body = get_json(f"{server.url}/api/v1/query", {"query": "count(up == 1)"})
        result = body["data"]["result"]
        return bool(result) and int(float(result[0]["value"][1])) >= count

    wait_until(up, timeout=timeout, what=f"{count} scrape target(s) up", interval=0.2)


class MetricsExporter:
    """A /metrics endpoint on 127.0.0.1 serving `text` (Prometheus text format); change it any time."""

    def __init__(self, text: str = "") -> None:
        self.text = text
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def target(self) -> str:
        """What a scrape config lists: `127.0.0.1:<port>`."""
        return f"{LOOPBACK}:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# ------------------------------------------------------------------------------------ Graphite

_CARBON_CONF = """\
[cache]
STORAGE_DIR = {storage}
LOCAL_DATA_DIR = {storage}/whisper
WHITELISTS_DIR = {storage}/lists
LOG_DIR = {storage}/log
PID_DIR = {storage}
# empty: stay the current user instead of switching to the packaged service user
USER =
DATABASE = whisper
ENABLE_LOGROTATION = False
# create and write every metric at once, so a test sees its points without delay
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = 100000
MAX_CREATES_PER_MINUTE = inf
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = {line_port}
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = 0
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = {cache_port}
# no tag registration calls to a web server, no carbon.* self-metrics in wildcard results
ENABLE_TAGS = False
CARBON_METRIC_INTERVAL = 0
LOG_LISTENER_CONN_SUCCESS = False
LOG_UPDATES = False
LOG_CREATES = False
LOG_CACHE_HITS = False
LOG_CACHE_QUEUE_SORTS = False
WHISPER_AUTOFLUSH = False
"""

_WEB_SETTINGS = """\
# graphite-web settings of one test run
SECRET_KEY = 'tests-only'
ALLOWED_HOSTS = ['127.0.0.1', 'localhost']
TIME_ZONE = 'UTC'
DEBUG = False
LOG_ROTATION = False
DEFAULT_XFILES_FACTOR = 0
GRAPHITE_ROOT = '/usr/share/graphite-web'
STATIC_ROOT = '/usr/share/graphite-web/static'
CONF_DIR = {webapp!r}
STORAGE_DIR = {storage!r}
WHISPER_DIR = {storage!r} + '/whisper'
STANDARD_DIRS = [{storage!r} + '/whisper']
LOG_DIR = {storage!r} + '/log/webapp'
INDEX_FILE = {storage!r} + '/index'
CARBONLINK_HOSTS = ['127.0.0.1:{cache_port}:a']
DATABASES = {{'default': {{'ENGINE': 'django.db.backends.sqlite3',
                          'NAME': {storage!r} + '/graphite.db'}}}}
FUNCTION_PLUGINS = []
SILENCED_SYSTEM_CHECKS = ['models.W042', 'admin.W411']
"""


@dataclass
class RunningGraphite(RunningServer):
    """carbon-cache plus graphite-web; `url` is the render API, `line_port` takes plaintext."""

    line_port: int = 0

    def send_lines(self, lines: Iterable[str]) -> None:
        """Send `metric.path value timestamp` lines to carbon; each is newline-terminated."""
        payload = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        with socket.create_connection((LOOPBACK, self.line_port), timeout=5) as sock:
            sock.sendall(payload.encode())

    def send_points(self, points: Iterable[tuple[str, float, float]]) -> None:
        """Send (path, value, unix time) points."""
        self.send_lines(f"{path} {value!r} {int(ts)}" for path, value, ts in points)

    def render(self, target: str, **params: str) -> Any:
        """The render API's JSON for `target` (default window: the last 10 minutes)."""
        query = {"target": target, "format": "json", "from": "-10min", **params}
        return get_json(f"{self.url}/render", query)

    def wait_for(
        self,
        target: str,
        *,
        accept: Callable[[Any], bool],
        params: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Any:
        """Poll the render API until `accept(json)` holds (sent points take a moment to show).

        `params` are extra render parameters, such as `from` and `until`."""

        def matching() -> Any:
            body = self.render(target, **(params or {}))
            return body if accept(body) else None

        return wait_until(
            matching,
            timeout=timeout,
            what=f"graphite render of {target!r} to match",
        )


def start_graphite(
    tmp_dir: Path,
    *,
    retentions: str = "10s:1d,1m:30d",
    timeout: float = 30.0,
) -> RunningGraphite:
    """carbon-cache and graphite-web (Debian packages) on free loopback ports, ready to use."""
    directory = Path(tmp_dir).resolve()
    storage, conf, webapp = directory / "storage", directory / "conf", directory / "webapp"
    for path in (storage / "whisper", storage / "lists", storage / "log" / "webapp", conf, webapp):
        path.mkdir(parents=True, exist_ok=True)
    web_port, line_port, cache_port = free_port(), free_port(), free_port()
    while len({web_port, line_port, cache_port}) < 3:
        line_port, cache_port = free_port(), free_port()

    (conf / "carbon.conf").write_text(_CARBON_CONF.format(storage=storage, line_port=line_port, cache_port=cache_port))
    (conf / "storage-schemas.conf").write_text(f"[all]\npattern = .*\nretentions = {retentions}\n")
    # xFilesFactor 0: a coarse bucket keeps its value even when one fine point fed it
    (conf / "storage-aggregation.conf").write_text(
        "[all]\npattern = .*\nxFilesFactor = 0\naggregationMethod = average\n"
    )
    (webapp / "graphite_test_settings.py").write_text(
        _WEB_SETTINGS.format(webapp=str(webapp), storage=str(storage), cache_port=cache_port)
    )
    env = _clean_env(
        PYTHONPATH=str(webapp),
        GRAPHITE_SETTINGS_MODULE="graphite_test_settings",
        DJANGO_SETTINGS_MODULE="graphite.settings",
    )
    server = RunningGraphite(url=f"http://{LOOPBACK}:{web_port}", directory=directory, line_port=line_port)
    # --debug: stay in the foreground (the PID is carbon itself) and log to stdout
    server._spawn(
        [DEBIAN_PYTHON, CARBON_CACHE, f"--config={conf / 'carbon.conf'}", "--debug", "start"],
        log_name="carbon.log",
        env=env,
    )
    migrate = subprocess.run(
        [DEBIAN_PYTHON, GRAPHITE_MANAGE, "migrate", "--run-syncdb", "--noinput"],
        cwd=directory,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    (directory / "migrate.log").write_text(migrate.stdout + migrate.stderr)
    if migrate.returncode != 0:
        server.stop()
        raise ServerError(f"graphite-manage migrate failed:\n{migrate.stderr[-2000:]}")
    # --noreload: no autoreloader child, so the process we hold is the server
    server._spawn(
        [DEBIAN_PYTHON, GRAPHITE_MANAGE, "runserver", f"{LOOPBACK}:{web_port}", "--noreload"],
        log_name="web.log",
        env=env,
    )

    def ready() -> bool:
        if not (port_open(line_port) and port_open(cache_port)):
            return False
        try:
            return bool(server.render("readiness.probe") == [])
        except (urllib.error.URLError, OSError, ValueError):
            return False

    server._wait_ready(ready, timeout=timeout, what="carbon-cache and graphite-web")
    return server


def missing_binary(name: str) -> str | None:
    """Why `name` (a command or an absolute path) cannot be run, or None when it can."""
    if os.path.isabs(name):
        return None if os.access(name, os.X_OK) else f"{name} is not installed"
    return None if shutil.which(name) else f"{name} is not on PATH"
