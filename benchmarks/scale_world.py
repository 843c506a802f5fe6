"""The world of the loop-scale benchmark, in a process of its own: a Marathon-compatible server with
N apps and a Prometheus-API endpoint serving one grouped vector per metric for all of them.

Each CPU query rotates which 1 % of the apps are "hot" (above target), so every tick has about 1 % of
the apps to scale. Reads commands on stdin: `stats` prints the request counts as one JSON line.

The world answers as fast as the real servers would, so that the benchmark measures the service and
not its stand-ins: the fake Marathon keeps each app's JSON encoded until the app changes (a real
Marathon answers `GET /v2/apps` from memory), and the fake Prometheus encodes its vectors with orjson.
Re-encoding all 10,000 apps on every list cost this process about half a second per tick, which the
service spent waiting.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from autoscaler.testing.marathon import FakeMarathon
from autoscaler.testing.prometheus import FakePrometheus

CPU_QUERY = "avg by (marathon_app) (rate(container_cpu_usage_seconds_total[1m]))"
BACKLOG_QUERY = "sum by (marathon_app) (queue_backlog)"
INITIAL_INSTANCES = 2


def app_ids(count: int) -> list[str]:
    return [f"/bench/group{i // 100}/app{i}" for i in range(count)]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, required=True)
    args = parser.parse_args()
    ids = app_ids(args.apps)
    marathon = FakeMarathon(task_start_delay=0.5, keep_encoded=True)
    for app_id in ids:
        marathon.add_app(app_id, instances=INITIAL_INSTANCES)
    rounds = {"cpu": 0}

    def series_for(query: str, at: float) -> list[tuple[dict[str, str], float]]:
        if query == CPU_QUERY:
            turn = rounds["cpu"]
            rounds["cpu"] += 1
            return [
                ({"marathon_app": app_id}, 0.95 if (index + turn) % 100 == 0 else 0.5)
                for index, app_id in enumerate(ids)
            ]
        if query == BACKLOG_QUERY:
            # 100 queued per instance at the initial size: exactly at a target of 100 per instance
            return [({"marathon_app": app_id}, 100.0 * INITIAL_INSTANCES) for app_id in ids]
        return []

    metrics = FakePrometheus(series_for)
    marathon_url = await marathon.start()
    metrics_url = await metrics.start()
    print(json.dumps({"marathon": marathon_url, "prometheus": metrics_url}), flush=True)
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line or line.strip() == "quit":
                break
            if line.strip() == "stats":
                writes = sum(1 for r in marathon.requests if r.method == "PATCH")
                reads = sum(1 for r in marathon.requests if r.method == "GET")
                print(
                    json.dumps({"marathon_reads": reads, "marathon_writes": writes, "prometheus": metrics.requests}),
                    flush=True,
                )
    finally:
        await metrics.stop()
        await marathon.stop()


if __name__ == "__main__":
    asyncio.run(main())
