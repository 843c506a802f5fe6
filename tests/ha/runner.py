"""A complete autoscaler instance with leader election, run as its own process by the HA tests.

It composes what a highly available `autoscaler run` composes: the real MarathonClient, the
ControlLoop gated by `LeaderElection.is_leader`, and a metric provider, here an in-process one whose
value follows the wall clock (so every instance sees the same value at the same moment without a
metric server). The Marathon client authenticates with the instance's identifier as user name; the
test's fake Marathon accepts any credentials and records them, which tells the test who wrote.

Every tick prints one JSON line to stdout: time, role and each app's outcome code.

    python -m tests.ha.runner --marathon URL --zk HOSTS --path /x/leader --id a
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from autoscaler.core.model import QueryResult, Sample
from autoscaler.core.policy import Policy
from autoscaler.http import RetryPolicy
from autoscaler.leader import LeaderElection
from autoscaler.loop import ControlLoop
from autoscaler.reports import TickReport
from autoscaler.targets.marathon import MarathonClient

APP = "/ha/app"
QUERY = "wave"
# The wanted instance count steps through this cycle, one step per WAVE_PERIOD seconds.
WAVE = (2, 3, 4, 5, 4, 3)
WAVE_PERIOD = 2.0


def wave_value(at: float) -> float:
    return float(WAVE[int(at // WAVE_PERIOD) % len(WAVE)])


class WaveProvider:
    """A metric source whose value is a function of the wall clock only."""

    name = "prometheus"

    async def query(self, queries: Sequence[str], *, now: datetime) -> Mapping[str, QueryResult]:
        value = wave_value(now.timestamp())
        return {q: QueryResult(query=q, samples=(Sample(labels={}, value=value, timestamp=now),)) for q in queries}

    async def aclose(self) -> None:
        return None


def policy() -> Policy:
    return Policy.model_validate(
        {
            "app": APP,
            "min_instances": 1,
            "max_instances": 10,
            "metrics": [{"name": "wave", "source": "prometheus", "query": QUERY, "target_per_instance": 1}],
            "tolerance": 0.0,
            "scale_up": {"cooldown": "0s"},
            "scale_down": {"cooldown": "0s", "stabilization": "0s", "max_step": "100%"},
        }
    )


async def run(args: argparse.Namespace) -> int:
    logger = logging.getLogger(f"autoscaler.{args.id}")
    election = LeaderElection(
        args.zk, args.path, identifier=args.id, logger=logger, session_timeout=args.session_timeout
    )
    retry = RetryPolicy(attempts=2, initial_backoff=0.05, max_backoff=0.1, total_timeout=0.4, request_timeout=0.3)
    target = MarathonClient(base_url=args.marathon, policy=retry, username=args.id, password="x")
    loop = ControlLoop(
        policies={APP: policy()},
        target=target,
        providers={"prometheus": WaveProvider()},
        clock=lambda: datetime.now(UTC),
        logger=logger,
        may_write=election.is_leader,
    )
    stop = asyncio.Event()
    running = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        running.add_signal_handler(signum, stop.set)

    def on_tick(report: TickReport) -> None:
        line = {
            "time": time.time(),
            "id": args.id,
            "role": election.role,
            "error": report.error,
            "codes": {app: outcome.code for app, outcome in report.outcomes.items()},
        }
        print(json.dumps(line), flush=True)

    election.start()
    try:
        await loop.run(interval=args.interval, stop=stop, on_tick=on_tick)
    finally:
        await asyncio.to_thread(election.stop)
        await target.aclose()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--marathon", required=True)
    parser.add_argument("--zk", required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--session-timeout", type=float, default=1.5)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("kazoo").setLevel(logging.WARNING)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
