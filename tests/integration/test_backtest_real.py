"""`autoscaler backtest` on real history: backfilled Prometheus series and past Graphite points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import servers

pytestmark = pytest.mark.integration

START = (int(time.time()) - 3 * 3600) // 60 * 60  # three hours ago, on a minute
MINUTES = 120


@pytest.fixture(scope="module")
def prometheus_backfill() -> str:
    """Two hours of a grouped CPU series: /shop/api at 0.3 then 0.9, /shop/web flat at 0.5."""
    lines = ["# TYPE bt_cpu gauge"]
    for app in ("/shop/api", "/shop/web"):
        for i in range(MINUTES):
            value = 0.5 if app == "/shop/web" else (0.3 if i < MINUTES // 2 else 0.9)
            lines.append(f'bt_cpu{{marathon_app="{app}"}} {value} {START + 60 * i}')
    return "\n".join(lines) + "\n# EOF\n"


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def backtest(policy: dict[str, Any], tmp_path: Path, *extra: str, **urls: str) -> dict[str, Any]:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOSCALER_")}
    env.update({f"AUTOSCALER_{name.upper()}_URL": url for name, url in urls.items()})
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "autoscaler",
            "backtest",
            "--policy",
            str(path),
            "--json",
            "--out",
            str(tmp_path),
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    assert (tmp_path / "backtest.csv").exists() and (tmp_path / "backtest.svg").exists()
    return summary


def test_backtest_on_backfilled_prometheus_history(tmp_path: Path, prometheus_server: servers.RunningServer) -> None:
    policy = {
        "app": "/shop/api",
        "min_instances": 1,
        "max_instances": 4,
        "metrics": [
            {
                "name": "cpu",
                "source": "prometheus",
                "query": "avg by (marathon_app) (bt_cpu)",
                "series": {"marathon_app": "${app}"},
                "target_average": 0.5,
            }
        ],
    }
    summary = backtest(
        policy,
        tmp_path,
        "--from",
        iso(START),
        "--to",
        iso(START + 60 * MINUTES),
        "--step",
        "60s",
        "--instances",
        "2",
        "--historical-instances",
        "2",
        prometheus=prometheus_server.url,
    )
    # 2 x 0.3 / 0.5 = 1.2 -> stays 2; then 2 x 0.9 / 0.5 = 3.6 -> 4 once (0.9 x 2 / 4 = 0.45 is within tolerance)
    assert (summary["scale_actions"], summary["scale_ups"], summary["highest_instances"]) == (1, 1, 4)
    assert summary["metrics_without_history"] == []


def test_backtest_on_past_graphite_points(tmp_path: Path, graphite_server: servers.RunningGraphite) -> None:
    begin = START + 3600  # two hours ago
    points = [("bt.queue.alpha.depth", 100 if i < 30 else 450, begin + 60 * i) for i in range(60)]
    points += [("bt.queue.beta.depth", 900, begin + 60 * i) for i in range(60)]
    graphite_server.send_points(points)
    query = "aliasByNode(bt.queue.*.depth, 2)"
    graphite_server.wait_for(
        query,
        accept=lambda body: len(body) == 2 and sum(p[0] is not None for p in body[0]["datapoints"]) >= 60,
        params={"from": str(begin - 60), "until": str(begin + 3600)},
    )
    policy = {
        "app": "/jobs/alpha",
        "min_instances": 1,
        "max_instances": 10,
        "metrics": [
            {"name": "depth", "source": "graphite", "query": query, "series": "${app_name}", "target_per_instance": 100}
        ],
    }
    summary = backtest(
        policy,
        tmp_path,
        "--from",
        iso(begin),
        "--to",
        iso(begin + 3600),
        "--step",
        "60s",
        "--instances",
        "1",
        graphite=graphite_server.url,
    )
    # alpha only (beta's 900 must not leak in): 100 / 100 = 1 stays; 450 / 100 = 4.5 -> 5 (+4 allowed from 1)
    assert (summary["scale_actions"], summary["highest_instances"]) == (1, 5)
