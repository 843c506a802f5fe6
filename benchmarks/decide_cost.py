"""Cost of one `core.decide` call plus the History bookkeeping, per tick, under the default policy.

Replays a fixed, deterministic tick sequence (load rising and falling around the target, so every stage
of the pipeline runs: proposals, stabilisation, step limits, cooldowns) and prints microseconds per tick.

    .venv/bin/python benchmarks/decide_cost.py
"""

from __future__ import annotations

import math
import sys
import time
from datetime import UTC, datetime, timedelta

from autoscaler.core.decide import History, decide
from autoscaler.core.model import AppState, Observation
from autoscaler.core.policy import MetricSpec, Policy

TICKS = 20_000
REPEATS = 5


def run(ticks: int) -> float:
    policy = Policy(
        app="/bench/app",
        min_instances=1,
        max_instances=500,
        metrics=(MetricSpec(name="cpu", source="prometheus", query="q", target_average=0.6),),
    )
    keep = policy.stabilization_window()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    history = History()
    instances = 10
    last_scaled: datetime | None = None
    began = time.process_time()
    for index in range(ticks):
        now = start + timedelta(seconds=15 * index)
        load = 20.0 + 15.0 * math.sin(index / 200.0)  # instances' worth of work
        cpu = min(1.0, load / instances)
        state = AppState(app_id=policy.app, instances=instances, tasks_running=instances, last_scaled_at=last_scaled)
        decision = decide(policy, state, {"cpu": Observation(value=cpu, timestamp=now)}, history, now)
        history = history.record(decision, keep=keep)
        if decision.scaled:
            instances = decision.desired
            last_scaled = now
    return (time.process_time() - began) / ticks * 1e6


def main() -> int:
    run(1_000)  # warm up
    best = min(run(TICKS) for _ in range(REPEATS))
    print(f"decide + History.record: {best:.1f} us of CPU time per tick (best of {REPEATS} x {TICKS:,} ticks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
