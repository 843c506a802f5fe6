"""`autoscaler run` end to end: the real process, a real Prometheus and Graphite, the fake Marathon.

Each test feeds a metric into a real metric server, runs the service (`--once`, or the loop for a
few seconds) against the Marathon-compatible server, and checks what Marathon was sent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from autoscaler.testing.marathon.threaded import ThreadedMarathon
from tests import servers

pytestmark = pytest.mark.integration
_T = TypeVar("_T")

CPU_QUERY = "avg by (marathon_app) (app_cpu)"


@pytest.fixture
def marathon() -> Iterator[ThreadedMarathon]:
    server = ThreadedMarathon(task_start_delay=0.2)
    yield server
    server.stop()


def write_policies(directory: Path, *policies: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for index, policy in enumerate(policies):
        (directory / f"p{index}.yaml").write_text(yaml.safe_dump(policy))
    return directory


# The fake creates apps "now", and Marathon anchors lastScalingAt at creation: without a zero
# cooldown the default 30 s scale-up cooldown would (rightly) hold every new app.
NO_UP_COOLDOWN = {"scale_up": {"cooldown": "0s"}}


def cpu_policy(app: str, *, max_instances: int = 20, **extra: Any) -> dict[str, Any]:
    return {
        **NO_UP_COOLDOWN,
        "app": app,
        "min_instances": 1,
        "max_instances": max_instances,
        "metrics": [
            {
                "name": "cpu",
                "source": "prometheus",
                "query": CPU_QUERY,
                "series": {"marathon_app": "${app}"},
                "target_average": 0.5,
            }
        ],
        **extra,
    }


def service_env(marathon: ThreadedMarathon, policy_dir: Path, **urls: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOSCALER_") and k != "PORT0"}
    env.update(
        AUTOSCALER_MARATHON_URL=marathon.url,
        AUTOSCALER_HOST="127.0.0.1",  # the status server: loopback only, any free port
        AUTOSCALER_PORT="0",
        AUTOSCALER_POLICY_DIR=str(policy_dir),
        AUTOSCALER_LOG_FORMAT="json",
        AUTOSCALER_INTERVAL="1s",
    )
    env.update({f"AUTOSCALER_{name.upper()}_URL": url for name, url in urls.items()})
    return env


def run_once(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autoscaler", "run", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def feed_cpu(exporter: servers.MetricsExporter, prometheus: servers.RunningServer, values: dict[str, float]) -> None:
    """Serve the values and wait until Prometheus answers the grouped query with exactly them."""
    exporter.text = "# TYPE app_cpu gauge\n" + "".join(
        f'app_cpu{{marathon_app="{app}"}} {value}\n' for app, value in values.items()
    )

    def seen() -> bool | None:
        body = servers.get_json(f"{prometheus.url}/api/v1/query", {"query": CPU_QUERY})
        got = {r["metric"].get("marathon_app"): float(r["value"][1]) for r in body["data"]["result"]}
        return True if got == values else None

    servers.wait_until(seen, timeout=20, what=f"Prometheus to report {values}")


def test_scales_up_under_load_and_caps_at_max(
    tmp_path: Path,
    marathon: ThreadedMarathon,
    exporter: servers.MetricsExporter,
    prometheus_server: servers.RunningServer,
) -> None:
    marathon.call(marathon.fake.add_app, "/shop/api", instances=2)
    marathon.call(marathon.fake.add_app, "/shop/web", instances=2)
    feed_cpu(exporter, prometheus_server, {"/shop/api": 0.9, "/shop/web": 2.0})
    policies = write_policies(tmp_path / "p", cpu_policy("/shop/api"), cpu_policy("/shop/web", max_instances=3))

    done = run_once(service_env(marathon, policies, prometheus=prometheus_server.url))

    assert done.returncode == 0, done.stderr
    sent = {r.path: r.json() for r in marathon.patches()}
    # /shop/api: ceil(2 ready x 0.9 / 0.5 = 3.6) = 4. /shop/web: 2 x 2.0 / 0.5 = 8, step +4 -> 6, max 3.
    assert sent == {"/v2/apps/shop/api": {"instances": 4}, "/v2/apps/shop/web": {"instances": 3}}
    assert len(marathon.lists()) == 1
    assert all("force" not in r.query for r in marathon.patches())
    assert "/shop/web: 2 -> 3" in done.stdout


def test_holds_while_a_deployment_runs(
    tmp_path: Path,
    marathon: ThreadedMarathon,
    exporter: servers.MetricsExporter,
    prometheus_server: servers.RunningServer,
) -> None:
    marathon.call(marathon.fake.add_app, "/shop/api", instances=2)
    marathon.call(marathon.fake.begin_deployment, "/shop/api")
    feed_cpu(exporter, prometheus_server, {"/shop/api": 0.9})
    policies = write_policies(tmp_path / "p", cpu_policy("/shop/api"))

    done = run_once(service_env(marathon, policies, prometheus=prometheus_server.url))

    assert done.returncode == 0, done.stderr
    assert marathon.patches() == []
    assert "deployment_in_progress" in done.stdout


def run_loop_for(env: dict[str, str], seconds: float, *, until: Callable[[], bool] | None = None) -> tuple[str, float]:
    """Run the service loop, stop it with SIGTERM, and return its log and how long it took to exit."""
    process = subprocess.Popen(
        [sys.executable, "-m", "autoscaler", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None and not (until and until()):
        time.sleep(0.1)
    stopped = time.monotonic()
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=15)
    return output, time.monotonic() - stopped


def test_holds_when_the_metric_disappears_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
    marathon: ThreadedMarathon,
    exporter: servers.MetricsExporter,
    prometheus_server: servers.RunningServer,
) -> None:
    marathon.call(marathon.fake.add_app, "/shop/api", instances=10)
    feed_cpu(exporter, prometheus_server, {})  # the series is gone: an empty result
    policy = cpu_policy("/shop/api", scale_down={"stabilization": "2s", "cooldown": "0s"})
    policies = write_policies(tmp_path / "p", policy)

    log, exit_seconds = run_loop_for(service_env(marathon, policies, prometheus=prometheus_server.url), 5)

    assert marathon.patches() == []
    codes = [json.loads(line).get("code") for line in log.splitlines() if line.startswith("{")]
    assert codes.count("missing_metrics") >= 3, log
    assert exit_seconds < 5


def test_scales_down_only_after_the_stabilization_window(
    tmp_path: Path,
    marathon: ThreadedMarathon,
    exporter: servers.MetricsExporter,
    prometheus_server: servers.RunningServer,
) -> None:
    marathon.call(marathon.fake.add_app, "/shop/api", instances=10)
    feed_cpu(exporter, prometheus_server, {"/shop/api": 0.1})  # 10 x 0.1 / 0.5 = 2 wanted
    policy = cpu_policy("/shop/api", scale_down={"stabilization": "3s", "cooldown": "0s", "max_step": "20%"})
    policies = write_policies(tmp_path / "p", policy)
    started = time.time()

    run_loop_for(
        service_env(marathon, policies, prometheus=prometheus_server.url), 20, until=lambda: bool(marathon.patches())
    )

    first = marathon.patches()[0]
    assert first.json() == {"instances": 8}  # scale_down max_step 20 % of 10
    assert first.time - started >= 3.0


def test_graphite_wildcard_serves_each_app_its_own_series(
    tmp_path: Path, marathon: ThreadedMarathon, graphite_server: servers.RunningGraphite
) -> None:
    marathon.call(marathon.fake.add_app, "/jobs/alpha", instances=1)
    marathon.call(marathon.fake.add_app, "/jobs/beta", instances=2)
    now = time.time()
    graphite_server.send_points(
        [("stats.gauges.queue.alpha.depth", 450, now), ("stats.gauges.queue.beta.depth", 150, now)]
    )
    query = "aliasByNode(stats.gauges.queue.*.depth, 3)"
    graphite_server.wait_for(
        query,
        accept=lambda body: len(body) == 2 and all(any(p[0] is not None for p in s["datapoints"]) for s in body),
        params={"from": "-5min"},
    )
    policies = write_policies(
        tmp_path / "p",
        *[
            {
                **NO_UP_COOLDOWN,
                "app": app,
                "min_instances": 1,
                "max_instances": 20,
                "metrics": [
                    {
                        "name": "depth",
                        "source": "graphite",
                        "query": query,
                        "series": "${app_name}",
                        "target_per_instance": 100,
                    }
                ],
            }
            for app in ("/jobs/alpha", "/jobs/beta")
        ],
    )

    done = run_once(service_env(marathon, policies, graphite=graphite_server.url))

    assert done.returncode == 0, done.stderr
    # alpha: ceil(450 / 100) = 5 (from 1, +4 allowed). beta: ceil(150 / 100) = 2 = current.
    assert {r.path: r.json() for r in marathon.patches()} == {"/v2/apps/jobs/alpha": {"instances": 5}}


def test_the_running_service_answers_health_readiness_metrics_and_api(
    tmp_path: Path,
    marathon: ThreadedMarathon,
    exporter: servers.MetricsExporter,
    prometheus_server: servers.RunningServer,
) -> None:
    marathon.call(marathon.fake.add_app, "/shop/api", instances=2)
    feed_cpu(exporter, prometheus_server, {"/shop/api": 0.5})  # 2 x 0.5 / 0.5 = 2: at target
    policies = write_policies(tmp_path / "p", cpu_policy("/shop/api"))
    process = subprocess.Popen(
        [sys.executable, "-m", "autoscaler", "run"],
        env=service_env(marathon, policies, prometheus=prometheus_server.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = None
        deadline = time.monotonic() + 30
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if line.startswith("{") and json.loads(line).get("event") == "server":
                url = json.loads(line)["url"]
        assert url is not None and url.startswith("http://127.0.0.1:")

        def ready() -> bool | None:
            return True if httpx.get(f"{url}/readyz", timeout=5).status_code == 200 else None

        servers.wait_until(ready, timeout=15, what="the service to be ready")
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
        assert 'autoscaler_app_instances{app="/shop/api"} 2.0' in metrics
        apps = httpx.get(f"{url}/api/v1/apps", timeout=5).json()
        [app] = [a for a in apps["apps"] if a["app"] == "/shop/api"]
        assert app["last"]["code"] == "within_tolerance"
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)
