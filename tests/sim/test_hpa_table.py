"""The faithful HPA against the Kubernetes controller's own test tables.

The numbers below are transcribed as data from kubernetes/kubernetes:
- `pkg/controller/podautoscaler/replica_calculator_test.go`: every `TestReplicaCalc*` case of a CPU
  utilisation target (the `resource` cases), and `TestReplicaCalcComputedToleranceAlgImplementation`.
  Each pod there has two containers, both with the request and the usage level given (so a pod
  requests and uses twice the figure); the pods are `currentReplicas` many, or as many as the phase
  list when it is longer; a pod past the end of the levels has no sample. The tests run with a 0.1
  tolerance, a 2 min CPU initialisation period, a 10 s initial readiness delay and a 1 min metric
  window; a "hot" pod started now, a "cool" one 3 minutes ago, and a pod without a start time started
  (and last changed readiness) at the zero time, long ago.
- `pkg/controller/podautoscaler/horizontal_test.go`: `TestConvertDesiredReplicasWithRules`,
  `TestNormalizeDesiredReplicas`, `TestStabilizeDownscale`, `TestUpscaleCap` and
  `TestUpscaleCapGreaterThanMaxReplicas` (that file's tests set the scale-up limit factor to 8).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from autoscaler.sim.baselines import TickView
from autoscaler.sim.hpa import (
    CalculatorSettings,
    HpaScaler,
    PodGroup,
    Stabilizer,
    resource_replicas,
    scale_up_limit,
    within_rules,
)
from autoscaler.sim.runner import ScalerSpec, SimSetup, simulate

from .helpers import minutes

TESTING = CalculatorSettings(tolerance=0.1, cpu_initialization_period=120.0, initial_readiness_delay=10.0)
CONTAINERS = 2
LONG_AGO = 1e9
COOL = 180.0


@dataclass(frozen=True)
class Case:
    name: str
    current: int
    expected: int
    utilization: int
    target: int
    requests: tuple[int, ...]  # per container, millicores
    levels: tuple[int, ...]  # per container, millicores
    ready: tuple[bool, ...] = ()
    start: tuple[str, ...] = ()  # "hot" | "cool"
    phase: tuple[str, ...] = ()
    deleting: tuple[bool, ...] = ()


T, F = True, False
R, P, X = "running", "pending", "failed"
ONE = 1000

CASES = (
    Case("TestReplicaCalcScaleUp", 3, 5, 50, 30, (ONE,) * 3, (300, 500, 700)),
    Case("TestReplicaCalcScaleUpUnreadyLessScale", 3, 4, 60, 30, (ONE,) * 3, (300, 500, 700), ready=(F, T, T)),
    Case(
        "TestReplicaCalcScaleUpHotCpuLessScale",
        3,
        4,
        60,
        30,
        (ONE,) * 3,
        (300, 500, 700),
        start=("hot", "cool", "cool"),
    ),
    Case("TestReplicaCalcScaleUpUnreadyNoScale", 3, 3, 40, 30, (ONE,) * 3, (400, 500, 700), ready=(T, F, F)),
    Case(
        "TestReplicaCalcScaleHotCpuNoScale",
        3,
        3,
        40,
        30,
        (ONE,) * 3,
        (400, 500, 700),
        ready=(T, F, F),
        start=("cool", "hot", "hot"),
    ),
    Case(
        "TestReplicaCalcScaleUpIgnoresFailedPods",
        2,
        4,
        60,
        30,
        (ONE,) * 4,
        (500, 700),
        ready=(T, T, F, F),
        phase=(R, R, X, X),
    ),
    Case(
        "TestReplicaCalcScaleUpIgnoresDeletionPods",
        2,
        4,
        60,
        30,
        (ONE,) * 4,
        (500, 700),
        ready=(T, T, F, F),
        phase=(R, R, R, R),
        deleting=(F, F, T, T),
    ),
    Case("TestReplicaCalcScaleDown", 5, 3, 28, 50, (ONE,) * 5, (100, 300, 500, 250, 250)),
    Case(
        "TestReplicaCalcScaleDownIncludeUnreadyPods",
        5,
        2,
        30,
        50,
        (ONE,) * 5,
        (100, 300, 500, 250, 250),
        ready=(T, T, T, F, F),
    ),
    Case(
        "TestReplicaCalcScaleDownExcludeUnscheduledPods",
        5,
        1,
        10,
        50,
        (ONE,) * 5,
        (100,),
        ready=(T, F, F, F, F),
        phase=(R, P, P, P, P),
    ),
    Case(
        "TestReplicaCalcScaleDownIgnoreHotCpuPods",
        5,
        2,
        30,
        50,
        (ONE,) * 5,
        (100, 300, 500, 250, 250),
        start=("cool", "cool", "cool", "hot", "hot"),
    ),
    Case(
        "TestReplicaCalcScaleDownIgnoresFailedPods",
        5,
        3,
        28,
        50,
        (ONE,) * 7,
        (100, 300, 500, 250, 250),
        ready=(T, T, T, T, T, F, F),
        phase=(R, R, R, R, R, X, X),
    ),
    Case(
        "TestReplicaCalcScaleDownIgnoresDeletionPods",
        5,
        3,
        28,
        50,
        (ONE,) * 7,
        (100, 300, 500, 250, 250),
        ready=(T, T, T, T, T, F, F),
        phase=(R,) * 7,
        deleting=(F, F, F, F, F, T, T),
    ),
    Case("TestReplicaCalcTolerance", 3, 3, 102, 100, (900, 1000, 1100), (1010, 1030, 1020)),
    Case("TestReplicaCalcMissingMetrics", 4, 3, 24, 100, (ONE,) * 4, (400, 95)),
    Case("TestReplicaCalcMissingMetricsNoChangeEq", 2, 2, 100, 100, (ONE,) * 2, (1000,)),
    Case("TestReplicaCalcMissingMetricsNoChangeGt", 2, 2, 190, 100, (ONE,) * 2, (1900,)),
    Case("TestReplicaCalcMissingMetricsNoChangeLt", 2, 2, 60, 100, (ONE,) * 2, (600,)),
    Case("TestReplicaCalcMissingMetricsUnreadyChange", 3, 3, 45, 50, (ONE,) * 3, (100, 450), ready=(F, T, T)),
    Case(
        "TestReplicaCalcMissingMetricsHotCpuNoChange",
        3,
        3,
        45,
        50,
        (ONE,) * 3,
        (100, 450),
        start=("hot", "cool", "cool"),
    ),
    Case("TestReplicaCalcMissingMetricsUnreadyScaleUp", 3, 4, 200, 50, (ONE,) * 3, (100, 2000), ready=(F, T, T)),
    Case(
        "TestReplicaCalcMissingMetricsHotCpuScaleUp",
        3,
        4,
        200,
        50,
        (ONE,) * 3,
        (100, 2000),
        ready=(F, T, T),
        start=("hot", "cool", "cool"),
    ),
    Case(
        "TestReplicaCalcMissingMetricsUnreadyScaleDown",
        4,
        3,
        10,
        50,
        (ONE,) * 4,
        (100, 100, 100),
        ready=(F, T, T, T),
    ),
    Case("TestReplicaCalcDuringRollingUpdateWithMaxSurge", 2, 2, 10, 50, (ONE,) * 3, (100, 100), phase=(R, R, R)),
    # TestReplicaCalcComputedToleranceAlgImplementation: 10 pods at 150m per container, requests 300m
    # per container give or take 100, 10, 2, 1 and 0; the target is int(100 x (1 / (2 x 0.9) + 0.01))
    # = 56 (one scale-down step to 9), then int(100 x (1 / (2 x 0.9) + 0.004)) = 55 (no change)
    Case(
        "TestReplicaCalcComputedToleranceAlgImplementation",
        10,
        9,
        50,
        56,
        (400, 200, 310, 290, 302, 298, 301, 299, 300, 300),
        (150,) * 10,
    ),
    Case(
        "TestReplicaCalcComputedToleranceAlgImplementation (within tolerance)",
        10,
        10,
        50,
        55,
        (400, 200, 310, 290, 302, 298, 301, 299, 300, 300),
        (150,) * 10,
    ),
)


def pods_of(case: Case) -> list[PodGroup]:
    count = max(case.current, len(case.phase))
    pods = []
    for index in range(count):
        start = case.start[index] if case.start else None
        age = {"hot": 0.0, "cool": COOL, None: LONG_AGO}[start]
        # hot pods' samples are older than their readiness (the tests' zero timestamps): a fresh
        # transition; cool and start-less pods last changed readiness at their start
        pods.append(
            PodGroup(
                count=1,
                request=CONTAINERS * case.requests[index],
                usage=CONTAINERS * case.levels[index] if index < len(case.levels) else None,
                phase=case.phase[index] if case.phase else "running",  # type: ignore[arg-type]
                deleting=case.deleting[index] if case.deleting else False,
                ready=case.ready[index] if case.ready else True,
                age=age,
                since_transition=age,
            )
        )
    return pods


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_replica_calculator_table(case: Case) -> None:
    found = resource_replicas(current=case.current, target_percent=case.target, pods=pods_of(case), settings=TESTING)
    assert found is not None
    assert (found.replicas, found.utilization) == (case.expected, case.utilization)


def test_no_ready_pod_with_a_sample_means_no_recommendation() -> None:
    # TestReplicaCalcEmptyMetrics: no samples at all is an error, so the HPA does not scale
    pods = [PodGroup(count=3, request=2000, usage=None)]
    assert resource_replicas(current=4, target_percent=100, pods=pods, settings=TESTING) is None


# TestConvertDesiredReplicasWithRules, in its order: (current, desired, min, max) -> (count, condition)
CONVERSIONS = (
    ((5, 7, 3, 8), (7, "DesiredWithinRange")),
    ((3, 1, 2, 8), (2, "TooFewReplicas")),
    ((1, 0, 0, 10), (1, "TooFewReplicas")),
    ((20, 1000, 1, 10), (10, "TooManyReplicas")),
    ((3, 1000, 1, 2000), (scale_up_limit(3), "ScaleUpLimit")),
)


@pytest.mark.parametrize(("given", "expected"), CONVERSIONS)
def test_convert_desired_replicas_with_rules(given: tuple[int, int, int, int], expected: tuple[int, str]) -> None:
    current, desired, low, high = given
    assert within_rules(current=current, desired=desired, min_replicas=low, max_replicas=high) == expected


def test_scale_up_limit_is_double_or_four() -> None:
    assert [scale_up_limit(n) for n in (0, 1, 2, 3, 10)] == [4, 4, 4, 6, 20]


@pytest.mark.parametrize(
    ("name", "log", "recommendation", "stabilized", "length"),
    [
        # TestNormalizeDesiredReplicas: (replicas, minutes ago) entries, a 5 min window
        ("empty log", (), 5, 5, 1),
        ("stabilize", ((4, 2), (5, 1)), 3, 5, 3),
        ("no stabilize", ((1, 2), (2, 1)), 3, 3, 3),
        ("no stabilize - old recommendations", ((10, 10), (9, 9)), 3, 3, 2),
        ("stabilize - old recommendations", ((10, 10), (4, 1), (5, 2), (9, 9)), 3, 5, 4),
    ],
)
def test_normalize_desired_replicas(
    name: str, log: tuple[tuple[int, int], ...], recommendation: int, stabilized: int, length: int
) -> None:
    now = 3600.0
    stabilizer = Stabilizer(window=300.0)
    stabilizer.recommendations = [(now - 60.0 * ago, value) for value, ago in log]
    assert stabilizer.stabilize(now=now, recommendation=recommendation) == stabilized, name
    assert len(stabilizer.recommendations) == length, name


def sync(scaler: HpaScaler, *, current: int, cpu: float, now: float = 0.0) -> int:
    return scaler.step(TickView(seconds=now, requested=current, ready=current, cpu=cpu, backlog=0)).desired


def test_stabilize_downscale() -> None:
    # TestStabilizeDownscale: 3 pods at 50 % of a 100 % target recommend 2, but 4 was recommended
    # a minute ago (10, ten minutes ago, is out of the window): 4 stays
    scaler = HpaScaler(target=1.0, min_instances=1, max_instances=5, startup=0.0)
    scaler.stabilizer.recommendations = [(-600.0, 10), (-60.0, 4)]
    assert sync(scaler, current=3, cpu=0.5) == 4


@pytest.mark.parametrize(("high", "expected"), [(100, 24), (20, 20)])
def test_upscale_cap(high: int, expected: int) -> None:
    # TestUpscaleCap / TestUpscaleCapGreaterThanMaxReplicas: 3 pods at 100, 200 and 300 % of a 10 %
    # target ask for 60; the tests' factor 8 caps that at 24, or at the max of 20
    pods = [PodGroup(count=1, request=100, usage=level) for level in (100, 200, 300)]
    found = resource_replicas(current=3, target_percent=10, pods=pods)
    assert found is not None and found.replicas == 60
    assert within_rules(current=3, desired=found.replicas, min_replicas=1, max_replicas=high, factor=8) == (
        expected,
        "ScaleUpLimit" if high == 100 else "TooManyReplicas",
    )


def test_fresh_instances_are_left_out_and_put_back_at_zero() -> None:
    # 10 requested: 4 ready for long at 100 %, 2 ready 30 s ago (inside one 60 s window), 4 starting.
    # Target 50 %: ratio 2 over the 4 counted; rebalanced: 400 / 1000 = 40 % -> ratio 0.8, the other
    # way: keep 10 (the simple rule would ask for ceil(6 x 2) = 12)
    scaler = HpaScaler(target=0.5, min_instances=1, max_instances=100, startup=60.0)
    view = TickView(seconds=0, requested=10, ready=6, cpu=1.0, backlog=0, recent=((30.0, 2),))
    assert scaler.step(view).desired == 10
    # the same 6 ready for a full window: ceil(6 x 2 / ...) with 4 starting put back at 0 %:
    # 600 / 1000 = 60 % -> 1.2 -> ceil(1.2 x 10) = 12
    scaler = HpaScaler(target=0.5, min_instances=1, max_instances=100, startup=60.0)
    view = TickView(seconds=0, requested=10, ready=6, cpu=1.0, backlog=0)
    assert scaler.step(view).desired == 12


def test_faithful_hpa_overshoots_less_than_the_simple_rule_after_a_step() -> None:
    # a step from 10 % to 100 % of the peak: the simple rule multiplies a window that still holds
    # saturated samples by the new, larger ready count; the faithful one waits for full windows
    trace = minutes(*([60] * 30 + [600] * 60))
    faithful = simulate(
        trace, scaler=ScalerSpec(baseline="hpa", target=0.5), setup=SimSetup(startup=60.0, peak_instances=20)
    )
    simple = simulate(
        trace, scaler=ScalerSpec(baseline="hpa-simple", target=0.5), setup=SimSetup(startup=60.0, peak_instances=20)
    )
    assert faithful.instance_hours < simple.instance_hours
