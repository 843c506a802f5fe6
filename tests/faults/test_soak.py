"""Soak: hundreds of ticks of the real loop, clients and providers through a faulty network.

The real ControlLoop, MarathonClient, PrometheusProvider and GraphiteProvider talk through fault
proxies to the fake Marathon and fake metric APIs. A fake clock advances 15 s per tick (so
cooldowns, stabilisation, staleness and a schedule window all come into play) while the network
faults and bad metric values are drawn from a fixed seed. After every tick the test checks what
Marathon received against what the metric sources really served:

- every instance count stays within [min, max], and a decision never goes below an active floor;
- no scale-down was decided from a missing, stale or malformed metric: each metric of a
  scale-down decision carries exactly the value the source served, and that value was good;
- never `force=true`, never a write to an app whose deployment was running when the tick began,
  never two different counts for one app in one tick (an identical PATCH resent by the retry
  policy after an ambiguous failure is counted, not forbidden);
- every tick finishes (heartbeat), every app has an outcome code, memory does not grow.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import time
import tracemalloc
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from autoscaler.core.policy import Policy
from autoscaler.http import RetryPolicy
from autoscaler.loop import ControlLoop
from autoscaler.ports import MetricsProvider
from autoscaler.providers.graphite import GraphiteProvider
from autoscaler.providers.prometheus import PrometheusProvider
from autoscaler.reports import TickReport
from autoscaler.targets.marathon import MarathonClient
from autoscaler.testing.clock import FakeClock
from autoscaler.testing.graphite import FakeGraphite
from autoscaler.testing.marathon import FakeMarathon
from autoscaler.testing.prometheus import FakePrometheus
from autoscaler.testing.proxy import FaultProxy

SEED = 20261126
TICKS = 320
TICK_SECONDS = 15.0
WARMUP = 60
MAX_TICK_SECONDS = 5.0
MAX_GROWTH_BYTES = 1_000_000
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

CPU_QUERY = "avg by (marathon_app) (soak_cpu)"
QUEUE_QUERY = "aliasByNode(soak.queue.*.depth, 2)"
FLOOR_APP, FLOOR, FLOOR_FROM, FLOOR_TO = "/soak/campaign", 8, 150, 210

NETWORK_FAULTS = {
    "latency": 0.05,
    "hang": 0.015,
    "reset": 0.02,
    "reset_after_forward": 0.02,
    "status_5xx": 0.04,
    "status_429": 0.02,
    "truncated_json": 0.02,
    "malformed_json": 0.02,
    "wrong_shape_json": 0.02,
    "html_error": 0.02,
    "slow_body": 0.02,
    "cut_body": 0.015,
}
SOURCE_FAULTS = ("stale", "nan", "negative", "huge", "string", "missing", "duplicate")
SOURCE_FAULT_RATE = 0.12
DEPLOYMENT_RATE = 0.03

KNOWN_CODES = {
    "scaled_up",
    "scaled_down",
    "within_tolerance",
    "metric_window",
    "cooldown",
    "stabilizing",
    "missing_metrics",
    "deployment_in_progress",
    "instances_not_ready",
    "at_max",
    "at_min",
    "at_schedule_floor",
    "at_schedule_ceiling",
    "no_metrics",
    "app_not_found",
    "invalid_app_state",
    "deployment_cap",
    "write_rejected",
    "write_failed",
}

PROM = {"marathon_app": "${app}"}
CPU = {"name": "cpu", "source": "prometheus", "query": CPU_QUERY, "series": PROM, "target_average": 0.6}
QUEUE = {
    "name": "queue",
    "source": "graphite",
    "query": QUEUE_QUERY,
    "series": "${app_name}",
    "target_per_instance": 100,
}
RULES = {
    "scale_up": {"cooldown": "30s"},
    "scale_down": {"cooldown": "60s", "stabilization": "60s", "max_step": "25%"},
}
POLICIES = {
    "/soak/api": {"min_instances": 2, "max_instances": 20, "metrics": [CPU]},
    "/soak/worker": {"min_instances": 1, "max_instances": 30, "metrics": [QUEUE]},
    "/soak/mixed": {"min_instances": 1, "max_instances": 15, "metrics": [CPU, QUEUE]},
    FLOOR_APP: {
        "min_instances": 1,
        "max_instances": 12,
        "metrics": [QUEUE],
        "schedules": [
            {
                "name": "soak-campaign",
                "start": (T0 + timedelta(seconds=TICK_SECONDS * FLOOR_FROM)).isoformat(),
                "end": (T0 + timedelta(seconds=TICK_SECONDS * FLOOR_TO)).isoformat(),
                "min_instances": FLOOR,
            }
        ],
    },
}
CPU_LEVELS = (0.05, 0.2, 0.45, 0.6, 0.9, 1.4)
QUEUE_LEVELS = (0, 40, 250, 800, 2400)


@dataclass(frozen=True)
class Served:
    """What a metric source served for one app in one tick, and whether it was usable."""

    value: float | None
    good: bool
    fault: str | None


# What the service allocates: its own code, its libraries, asyncio. Not the test's fakes and
# proxies, and not one-off interpreter tables grown by earlier tests (such as interned strings).
SERVICE_CODE = [
    tracemalloc.Filter(True, "*/autoscaler/*"),
    tracemalloc.Filter(True, "*/site-packages/*"),
    tracemalloc.Filter(True, "*/asyncio/*"),
]


def service_memory(snapshot: tracemalloc.Snapshot) -> int:
    return sum(stat.size for stat in snapshot.filter_traces(SERVICE_CODE).statistics("filename"))


def build_policies() -> dict[str, Policy]:
    return {app: Policy.model_validate({"app": app, **RULES, **spec}) for app, spec in POLICIES.items()}


class Metrics:
    """Draws each tick's true values and source-level faults, serves them, remembers them."""

    def __init__(self, rng: random.Random, prom: FakePrometheus, graphite: FakeGraphite) -> None:
        self.rng = rng
        self.prom = prom
        self.graphite = graphite
        self.cpu = {app: 0.6 for app in POLICIES}
        self.queue = {app: 250.0 for app in POLICIES}
        self.faults: Counter[str] = Counter()

    def _fault(self) -> str | None:
        if self.rng.random() < SOURCE_FAULT_RATE:
            return self.rng.choice(SOURCE_FAULTS)
        return None

    def serve(self, now: float) -> dict[tuple[str, str], Served]:
        truth: dict[tuple[str, str], Served] = {}
        vector: list[tuple[dict[str, str], Any, float | None]] = []
        points: dict[str, tuple[Any, float]] = {}
        duplicates: list[dict[str, Any]] = []
        for app in POLICIES:
            if self.rng.random() < 0.06:
                self.cpu[app] = self.rng.choice(CPU_LEVELS)
            if self.rng.random() < 0.06:
                self.queue[app] = float(self.rng.choice(QUEUE_LEVELS))
            cpu = round(max(0.0, self.cpu[app] * self.rng.uniform(0.9, 1.1)), 4)
            queue = round(max(0.0, self.queue[app] * self.rng.uniform(0.9, 1.1)), 1)

            fault = self._fault()
            if fault is not None:
                self.faults[f"prometheus:{fault}"] += 1
            raw: Any = {"nan": "NaN", "negative": "-3", "huge": "1e308", "string": "abc"}.get(fault or "", str(cpu))
            ts = now - 600 if fault == "stale" else None
            if fault != "missing":
                vector.append(({"marathon_app": app}, raw, ts))
            if fault == "duplicate":
                vector.append(({"marathon_app": app, "instance": "2"}, raw, ts))
            truth[("prometheus", app)] = Served(cpu if fault is None else None, fault is None, fault)

            fault = self._fault()
            if fault is not None:
                self.faults[f"graphite:{fault}"] += 1
            name = app.rsplit("/", 1)[1]
            value: Any = {"nan": float("nan"), "negative": -3, "huge": 1e308, "string": "abc"}.get(fault or "", queue)
            stamp = now - 600 if fault == "stale" else now
            if fault != "missing":
                points[name] = (value, stamp)
            if fault == "duplicate":
                duplicates.append({"target": name, "datapoints": [[value, stamp]]})
            truth[("graphite", app)] = Served(queue if fault is None else None, fault is None, fault)
        self.prom.set_vector(CPU_QUERY, vector)
        self.graphite.set_points(QUEUE_QUERY, points)
        self.graphite.series[QUEUE_QUERY].extend(duplicates)
        return truth


class Checker:
    def __init__(self, policies: dict[str, Policy]) -> None:
        self.policies = policies
        self.violations: list[str] = []
        self.stats: Counter[str] = Counter()
        self.floor_reached = False

    def fail(self, tick: int, message: str) -> None:
        if len(self.violations) < 50:
            self.violations.append(f"tick {tick}: {message}")
        self.stats["violations"] += 1

    def check(
        self,
        *,
        tick: int,
        report: TickReport,
        truth: dict[tuple[str, str], Served],
        locked: set[str],
        patches: list[tuple[str, dict[str, str], Any]],
        counts: dict[str, int],
        floor_active: bool,
    ) -> None:
        self.stats["ticks"] += 1
        if report.error is not None:
            self.stats["ticks_without_marathon"] += 1
            if not report.error.strip():
                self.fail(tick, "a failed tick without a reason")
        elif set(report.outcomes) != set(self.policies):
            self.fail(tick, f"outcomes for {sorted(report.outcomes)}, policies {sorted(self.policies)}")
        for app, outcome in report.outcomes.items():
            policy = self.policies[app]
            self.stats[f"code:{outcome.code}"] += 1
            if outcome.code not in KNOWN_CODES:
                self.fail(tick, f"{app}: unexpected code {outcome.code!r} ({outcome.detail})")
            if outcome.decision is None:
                if not outcome.detail:
                    self.fail(tick, f"{app}: {outcome.code} without a detail")
                continue
            decision = outcome.decision
            if not policy.min_instances <= decision.desired <= policy.max_instances:
                self.fail(tick, f"{app}: desired {decision.desired} outside bounds")
            if (
                floor_active
                and app == FLOOR_APP
                and decision.code != "deployment_in_progress"
                and decision.desired < FLOOR
            ):
                self.fail(tick, f"{app}: desired {decision.desired} below the active floor {FLOOR}")
            if decision.desired < decision.current and decision.cause == "metrics":
                self.stats["scale_down_decisions"] += 1
                for metric in decision.metrics:
                    served = truth[(metric.source, app)]
                    if metric.proposal is None or not served.good or metric.value != served.value:
                        self.fail(
                            tick,
                            f"{app}: scale-down {decision.current}->{decision.desired} with {metric.name} "
                            f"seen {metric.value} ({metric.detail}) but served {served}",
                        )
            elif decision.desired > decision.current:
                self.stats["scale_up_decisions"] += 1
            if decision.cause == "metrics" and decision.desired != decision.current:
                for metric in decision.metrics:
                    if truth[(metric.source, app)].fault is not None and metric.proposal is not None:
                        self.stats["faulty_metric_used"] += 1

        sent: dict[str, list[Any]] = defaultdict(list)
        for path, query, body in patches:
            app = path.removeprefix("/v2/apps")
            self.stats["patches"] += 1
            if query.get("force") is not None:
                self.fail(tick, f"{app}: force={query['force']}")
            if body is None or set(body) != {"instances"}:
                self.fail(tick, f"{app}: PATCH body {body!r}")
                continue
            sent[app].append(body["instances"])
        for app, bodies in sent.items():
            if app in locked:
                self.fail(tick, f"{app}: written while its deployment ran: {bodies}")
            if len(set(bodies)) > 1:
                self.fail(tick, f"{app}: two different counts in one tick: {bodies}")
            self.stats["resent_identical_patches"] += len(bodies) - 1
            wrote = report.outcomes.get(app)
            if wrote is None or wrote.decision is None or wrote.decision.desired != bodies[0]:
                self.fail(tick, f"{app}: PATCH {bodies} that no decision asked for")
        for app, instances in counts.items():
            policy = self.policies[app]
            if not policy.min_instances <= instances <= policy.max_instances:
                self.fail(
                    tick, f"{app}: Marathon has {instances}, outside [{policy.min_instances}, {policy.max_instances}]"
                )
            if app == FLOOR_APP and floor_active and instances >= FLOOR:
                self.floor_reached = True


@pytest.fixture
def quiet_logs() -> Any:
    logger = logging.getLogger("soak")
    logger.setLevel(logging.CRITICAL)
    logging.getLogger("autoscaler").setLevel(logging.CRITICAL)
    yield logger
    logging.getLogger("autoscaler").setLevel(logging.NOTSET)


async def test_soak_under_random_faults(quiet_logs: logging.Logger) -> None:
    rng = random.Random(SEED)
    clock = FakeClock(T0)
    marathon = FakeMarathon(clock=clock.seconds, task_start_delay=2.0)
    prom, graphite = FakePrometheus(), FakeGraphite()
    for server in (marathon, prom, graphite):
        await server.start()
    proxies = {
        "marathon": FaultProxy(upstream=marathon.url, seed=SEED + 1, rates=NETWORK_FAULTS, hang_seconds=1.0),
        "prometheus": FaultProxy(upstream=prom.url, seed=SEED + 2, rates=NETWORK_FAULTS, hang_seconds=1.0),
        "graphite": FaultProxy(upstream=graphite.url, seed=SEED + 3, rates=NETWORK_FAULTS, hang_seconds=1.0),
    }
    for proxy in proxies.values():
        await proxy.start()
    retry = RetryPolicy(attempts=2, initial_backoff=0.01, max_backoff=0.05, total_timeout=0.6, request_timeout=0.25)
    target = MarathonClient(base_url=proxies["marathon"].url, policy=retry)
    providers: dict[str, MetricsProvider] = {
        "prometheus": PrometheusProvider(url=proxies["prometheus"].url, policy=retry),
        "graphite": GraphiteProvider(url=proxies["graphite"].url, policy=retry),
    }
    policies = build_policies()
    start = {"/soak/api": 4, "/soak/worker": 3, "/soak/mixed": 3, FLOOR_APP: 2}
    for app, instances in start.items():
        marathon.add_app(app, instances=instances)
    loop = ControlLoop(
        policies=policies,
        target=target,
        providers=providers,
        clock=clock,
        logger=quiet_logs,
    )
    metrics = Metrics(rng, prom, graphite)
    checker = Checker(policies)
    deployments = 0
    durations: list[float] = []
    tracemalloc.start(1)
    baseline = 0
    began = time.perf_counter()
    try:
        for tick in range(TICKS):
            clock.now += timedelta(seconds=TICK_SECONDS)
            truth = metrics.serve(clock.seconds())
            for app in POLICIES:
                if rng.random() < DEPLOYMENT_RATE:
                    marathon.begin_deployment(app, duration=rng.choice((5.0, 20.0, 40.0)))
                    deployments += 1
            locked = {app for d in marathon.deployments_json() for app in d["affectedApps"]}
            marathon.requests.clear()
            for proxy in proxies.values():
                proxy.log.clear()
            prom.asked.clear()
            graphite.asked.clear()

            started = time.perf_counter()
            report = await asyncio.wait_for(loop.tick(), timeout=MAX_TICK_SECONDS)
            durations.append(time.perf_counter() - started)

            patches = [(r.path, dict(r.query), r.json()) for r in marathon.requests if r.method == "PATCH"]
            counts = {app: marathon.app_json(app)["instances"] for app in POLICIES}
            floor_from = T0 + timedelta(seconds=TICK_SECONDS * FLOOR_FROM)
            floor_to = T0 + timedelta(seconds=TICK_SECONDS * FLOOR_TO)
            checker.check(
                tick=tick,
                report=report,
                truth=truth,
                locked=locked,
                patches=patches,
                counts=counts,
                floor_active=floor_from <= clock.now < floor_to,
            )
            if tick == WARMUP:
                gc.collect()
                baseline = service_memory(tracemalloc.take_snapshot())
        gc.collect()
        growth = service_memory(tracemalloc.take_snapshot()) - baseline
    finally:
        tracemalloc.stop()
        await target.aclose()
        for provider in providers.values():
            await provider.aclose()
        for proxy in proxies.values():
            await proxy.stop()
        for server in (marathon, prom, graphite):
            await server.stop()
    elapsed = time.perf_counter() - began

    network = Counter[str]()
    for name, proxy in proxies.items():
        for kind, count in proxy.counts.items():
            network[f"{name}:{kind}"] += count
    stats = checker.stats
    summary = (
        f"soak seed {SEED}: {stats['ticks']} ticks in {elapsed:.1f}s (slowest tick {max(durations):.2f}s), "
        f"{sum(network.values())} network faults {dict(sorted(network.items()))}, "
        f"{sum(metrics.faults.values())} source faults {dict(sorted(metrics.faults.items()))}, "
        f"{deployments} deployments injected, {stats['ticks_without_marathon']} ticks could not read Marathon, "
        f"{stats['patches']} PATCHes ({stats['resent_identical_patches']} identical resends), "
        f"{stats['scale_up_decisions']} scale-up and {stats['scale_down_decisions']} scale-down decisions, "
        f"codes {dict(sorted((k[5:], v) for k, v in stats.items() if k.startswith('code:')))}, "
        f"service memory growth {growth / 1024:.0f} KiB from tick {WARMUP} to the end, "
        f"invariant violations {stats['violations']}"
    )
    print("\n" + summary)
    assert checker.violations == [], summary + "\n" + "\n".join(checker.violations)
    assert stats["ticks"] == TICKS, summary
    assert stats["scale_down_decisions"] > 5 and stats["scale_up_decisions"] > 5, summary
    assert checker.floor_reached, "the schedule floor was never reached: " + summary
    assert sum(network.values()) > 200, summary
    assert growth < MAX_GROWTH_BYTES, summary
