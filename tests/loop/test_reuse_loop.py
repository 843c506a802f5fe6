"""The loop reuses a steady app's decision, and that changes nothing a reader of its reports can see.

Random runs over several apps (load changes, Marathon changes made by hand, deployments, apps that
scale and then sit in their cooldowns) are played twice against in-memory fakes: once as the loop
runs, once with reuse turned off (every app decided every tick). Writes and every outcome (code,
detail, decision apart from its `at`, reasons) must be the same at every tick, and so must what each
app remembers (its History) where it is read: a reused tick records its decision only when the
History is next read.
"""

from __future__ import annotations

import contextlib
import logging
import random
from dataclasses import replace
from datetime import timedelta
from unittest import mock

import pytest

from autoscaler.core.decide import Decision
from autoscaler.core.model import AppState
from autoscaler.loop import ControlLoop
from autoscaler.reports import AppOutcome
from autoscaler.testing.clock import DEFAULT_START, FakeClock
from autoscaler.testing.memory import FakeProvider, FakeTarget
from tests.policies import GROUPED, cpu_policy

T0 = DEFAULT_START
APPS = [f"/shop/app{i}" for i in range(6)]
POLICIES = [
    cpu_policy(
        app, scale_down={"cooldown": "60s", "stabilization": "45s"}, scale_up={"cooldown": "30s"}, max_metric_age="40s"
    )
    for app in APPS
]


def _script(seed: int, ticks: int) -> list[tuple[int, dict[str, float], dict[str, str]]]:
    """Per tick: seconds to advance, each app's CPU value, and what happens in Marathon by hand."""
    rng = random.Random(seed)
    values = {app: 0.5 for app in APPS}
    script = []
    for _ in range(ticks):
        for app in APPS:
            if rng.random() < 0.15:
                values[app] = rng.choice([0.0, 0.2, 0.45, 0.5, 0.55, 0.9, 1.5])
        events = {app: rng.choice(["deploy", "done", "by_hand", "stale"]) for app in APPS if rng.random() < 0.05}
        script.append((rng.choice([1, 15, 15, 15, 60]), dict(values), events))
    return script


def _view(outcome: AppOutcome) -> tuple[object, ...]:
    decision = outcome.decision
    seen: Decision | None = replace(decision, at=T0) if decision is not None else None  # all but `at`
    return (outcome.code, outcome.detail, seen, decision.reasons() if decision else None, outcome.write)


Run = tuple[list[list[tuple[object, ...]]], list[object], int, list[object]]


async def _run(seed: int, ticks: int, *, reuse: bool) -> Run:
    clock = FakeClock()
    target = FakeTarget(clock, [AppState(app_id=a, instances=2, tasks_running=2) for a in APPS])
    provider = FakeProvider("prometheus", clock)
    loop = ControlLoop(
        policies={p.app: p for p in POLICIES},
        target=target,
        providers={"prometheus": provider},
        clock=clock,
        logger=logging.getLogger("test"),
    )
    views, reused, previous = [], 0, {}
    histories: list[object] = []
    stale: set[str] = set()
    for number, (seconds, values, events) in enumerate(_script(seed, ticks)):
        clock.advance(seconds)
        for app, event in events.items():
            state = target.apps[app]
            if event == "deploy":
                target.apps[app] = replace(state, deployment_ids=("d-9",))
            elif event == "done":
                target.apps[app] = replace(state, deployment_ids=())
            elif event == "by_hand":
                target.apps[app] = replace(state, instances=state.instances + 1, last_scaled_at=clock.now)
            else:
                stale.add(app)
        provider.set(GROUPED, *[({"marathon_app": app}, value) for app, value in values.items() if app not in stale])
        rebuild = mock.patch("autoscaler.core.controller.inputs_of", return_value=None)
        with rebuild if not reuse else contextlib.nullcontext():
            report = await loop.tick()
        views.append([_view(report.outcomes[app]) for app in APPS])
        # a reused hold keeps last tick's explanation text (the very string), a rebuilt one writes it anew
        reused += sum(1 for app in APPS if app in previous and previous[app].detail is report.outcomes[app].detail)
        previous = dict(report.outcomes)
        if number % 20 == 19:  # read now and then, so that runs of reused ticks go unread in between
            histories.append([loop._controllers[app].history for app in APPS])
    return views, list(target.writes), reused, histories


@pytest.mark.parametrize("seed", range(8))
async def test_reuse_changes_no_outcome_and_no_write(seed: int) -> None:
    with_reuse, writes, reused, histories = await _run(seed, 60, reuse=True)
    without, writes_without, reused_without, histories_without = await _run(seed, 60, reuse=False)

    assert writes == writes_without
    assert histories == histories_without
    for tick, (one, other) in enumerate(zip(with_reuse, without, strict=True)):
        assert one == other, f"tick {tick}"
    assert reused_without == 0
    assert reused > 60  # most of 6 apps x 60 ticks are steady holds, reused


async def test_a_changed_value_is_decided_again() -> None:
    clock = FakeClock()
    target = FakeTarget(clock, [AppState(app_id="/a", instances=2, tasks_running=2)])
    provider = FakeProvider("prometheus", clock)
    provider.set(GROUPED, ({"marathon_app": "/a"}, 0.5))
    loop = ControlLoop(
        policies={"/a": cpu_policy("/a")},
        target=target,
        providers={"prometheus": provider},
        clock=clock,
        logger=logging.getLogger("test"),
    )
    first = (await loop.tick()).outcomes["/a"]
    clock.advance(15)
    second = (await loop.tick()).outcomes["/a"]
    provider.set(GROUPED, ({"marathon_app": "/a"}, 1.0))
    clock.advance(15)
    third = (await loop.tick()).outcomes["/a"]

    assert second.detail is first.detail  # the same hold: reused, not rebuilt
    assert second.decision is not None and second.decision.at == T0 + timedelta(seconds=15)  # stamped anew
    assert third.code == "scaled_up" and target.writes == [("/a", 4, False)]
