"""`explain_app` against the fake Marathon over real HTTP with the real client: every number of the
decision is in the text, the last sentence answers why, and nothing but GETs reach Marathon."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from autoscaler.core import render
from autoscaler.core.decide import History, ReadyCount, decide
from autoscaler.core.model import AppState, Observation, QueryResult
from autoscaler.core.policy import Policy
from autoscaler.core.render import why
from autoscaler.errors import TargetUnavailable
from autoscaler.explain import ExplainError, explain_app, explain_offline
from autoscaler.http import RetryPolicy
from autoscaler.ports import MetricsProvider
from autoscaler.preview import JSON_FIELDS, explanation_json
from autoscaler.targets.marathon import MarathonClient
from autoscaler.testing.clock import FakeClock
from autoscaler.testing.marathon import FakeMarathon
from autoscaler.testing.memory import FakeProvider

NOW = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)
CPU = 'avg(rate(container_cpu_usage_seconds_total{marathon_app="${app}"}[1m])) / 0.5'
BACKLOG = "sumSeries(stats.gauges.rabbitmq.orders.messages)"


def shop_api(**overrides: object) -> Policy:
    data: dict[str, object] = {
        "app": "/shop/api",
        "min_instances": 2,
        "max_instances": 40,
        "metrics": [
            {"name": "cpu", "source": "prometheus", "query": CPU, "target_average": 0.6},
            {"name": "orders_backlog", "source": "graphite", "query": BACKLOG, "target_per_instance": 500},
        ],
        "schedules": [
            {"name": "double-11", "start": "2026-11-11T00:00:00+08:00", "end": "2026-11-11T03:00:00+08:00",
             "lead": "20m", "min_instances": 30},
            {"name": "evening-push", "cron": "0 20 * * *", "timezone": "Asia/Shanghai", "duration": "1h",
             "lead": "10m", "min_instances": 12},
        ],
        "scale_up": {"cooldown": "30s", "max_step": ["100%", 4]},
        "scale_down": {"cooldown": "5m", "stabilization": "5m", "max_step": "20%"},
    }  # fmt: skip
    data.update(overrides)
    return Policy.model_validate(data)


def policies(*items: Policy) -> dict[str, Policy]:
    return {p.app: p for p in items}


@pytest.fixture
async def marathon() -> AsyncIterator[FakeMarathon]:
    # Apps are created (and so last scaled) two minutes before NOW.
    fake = FakeMarathon(clock=(NOW - timedelta(minutes=2)).timestamp)
    fake.add_app("/shop/api", instances=4, health_checks=True)
    fake.add_app("/shop/web", instances=3)
    async with fake:
        yield fake


@pytest.fixture
async def client(marathon: FakeMarathon) -> AsyncIterator[MarathonClient]:
    target = MarathonClient(base_url=marathon.url, policy=RetryPolicy(attempts=1, total_timeout=3, request_timeout=3))
    yield target
    await target.aclose()


def sources(
    cpu: float, backlog: float, *, at: datetime = NOW
) -> tuple[FakeProvider, FakeProvider, dict[str, MetricsProvider]]:
    """The two sources, their samples 10 s old at `at` (the time explain is asked)."""
    clock = FakeClock(at)
    prometheus = FakeProvider("prometheus", clock, age=timedelta(seconds=10))
    prometheus.set(CPU.replace("${app}", "/shop/api"), ({}, cpu))
    graphite = FakeProvider("graphite", clock, age=timedelta(seconds=10))
    graphite.set(BACKLOG, ({}, backlog))
    return prometheus, graphite, {"prometheus": prometheus, "graphite": graphite}


def only_one_list_call(marathon: FakeMarathon) -> None:
    assert [(r.method, r.path) for r in marathon.requests] == [("GET", "/v2/apps")]


async def test_the_worked_example_in_full(marathon: FakeMarathon, client: MarathonClient) -> None:
    prometheus, graphite, providers = sources(cpu=0.9, backlog=6000)

    text = await explain_app("/shop/api", policies=policies(shop_api()), target=client, providers=providers, now=NOW)

    lines = text.splitlines()
    assert lines[0] == "/shop/api: 4 -> 8 (scaled_up: metrics)"
    for expected in (
        "Policy: min_instances 2, max_instances 40, tolerance 0.1, max_metric_age 3m",
        "  scale_up: cooldown 30s, max_step 100%, 4, stabilization 0s",
        "  scale_down: cooldown 5m, max_step 20%, stabilization 5m",
        "Marathon: 4 instances, 4 running, 4 healthy, 0 staged, 4 ready; no deployment; last scaled 2m ago",
        "  cpu (prometheus): value 0.9 vs target_average 0.6: 4 ready x 0.9 / 0.6 = 6.00, proposes 6",
        '    query: avg(rate(container_cpu_usage_seconds_total{marathon_app="/shop/api"}[1m])) / 0.5',
        "    newest sample: 2026-11-10T09:59:50+00:00 (10s ago)",
        "  orders_backlog (graphite): value 6000 vs target_per_instance 500: "
        "6000 / 500 per instance = 12.00, proposes 12",
        "  metrics recommend 12",
        "  highest proposal: orders_backlog (12)",
        "  1. max_step: 12 -> 8 (scale_up max_step 100%, 4 allows +4 from 4)",
        "  none in force now",
        # Every time of a window on its own clock, with its zone: the cron schedule's, the one-off's offset.
        "  next: double-11 (floor 30): 2026-11-11T00:00:00+08:00 UTC+08:00 to 2026-11-11T03:00:00+08:00 UTC+08:00, "
        "lead 20m; applies from 2026-11-10T23:40:00+08:00 UTC+08:00 (in 5h40m)",
        "  next: evening-push (floor 12): 2026-11-10T20:00:00+08:00 Asia/Shanghai to 2026-11-10T21:00:00+08:00 "
        "Asia/Shanghai, lead 10m; applies from 2026-11-10T19:50:00+08:00 Asia/Shanghai (in 1h50m)",
        "Why: It scales up from 4 to 8 because the metrics recommend 12, limited to 8 by max_step.",
    ):
        assert any(line.startswith(expected) for line in lines), f"missing: {expected}\n---\n{text}"
    assert (
        "Outcome: scaled_up, desired 8 (cause: metrics). A running service would send PATCH /v2/apps/shop/api "
        '{"instances": 8}; explain sent nothing.'
    ) in text
    assert lines[1] == (
        "At 2026-11-10T10:00:00+00:00. Source: this process, offline (the engine run here, not the running "
        "service's decision; --url or AUTOSCALER_STATUS_URL asks the service)."
    )
    at = lines.index("Offline, this process cannot know what the running service remembers:")
    assert lines[at + 1].startswith(
        "  no stabilisation history: it assumes the app was watched for a full window (5m) of steady recommendations"
    )
    assert lines[at + 2].startswith("  no ready counts of the metric window")
    assert "start-up time" not in "\n".join(lines[at:])  # this policy learns none
    only_one_list_call(marathon)
    assert prometheus.calls == [[CPU.replace("${app}", "/shop/api")]] and graphite.calls == [[BACKLOG]]


async def test_a_hold_says_why(marathon: FakeMarathon, client: MarathonClient) -> None:
    _, _, providers = sources(cpu=0.9, backlog=100)
    policy = shop_api(scale_up={"cooldown": "5m"})

    text = await explain_app("/shop/api", policies=policies(policy), target=client, providers=providers, now=NOW)

    assert text.splitlines()[0] == "/shop/api: stays at 4 (cooldown)"
    assert "  1. max_step: 6 -> 8" not in text  # 4 -> 6 fits in one step
    assert "  1. cooldown: 6 -> 4 (last scaled 2m ago; scale_up cooldown is 5m (wait 3m))" in text
    assert "Outcome: cooldown, stays at 4." in text
    assert text.splitlines()[-1] == (
        "Why: It stays at 4 (the metrics recommend 6) because of the cooldown rule: "
        "last scaled 2m ago; scale_up cooldown is 5m (wait 3m)."
    )
    only_one_list_call(marathon)


async def test_an_active_schedule_floor_and_a_missing_metric(marathon: FakeMarathon, client: MarathonClient) -> None:
    during = datetime(2026, 11, 10, 15, 50, tzinfo=UTC)  # double-11's lead has begun (floor 30)
    _, graphite, providers = sources(cpu=0.6, backlog=0, at=during)
    graphite.fail = True

    text = await explain_app("/shop/api", policies=policies(shop_api()), target=client, providers=providers, now=during)

    assert text.splitlines()[0] == "/shop/api: 4 -> 30 (scaled_up: schedule)"
    assert "orders_backlog (graphite): value none vs target_per_instance 500: missing: graphite failed:" in text
    assert (
        "  in force: double-11 (floor 30): 2026-11-11T00:00:00+08:00 UTC+08:00 to 2026-11-11T03:00:00+08:00 UTC+08:00, "
        "lead 20m" in text
    )
    assert "schedule_floor: 4 -> 30 (schedule double-11 requires at least 30" in text
    assert "Why: It scales up from 4 to 30 because schedule double-11 requires at least 30" in text
    only_one_list_call(marathon)


async def test_every_metric_missing_holds(marathon: FakeMarathon, client: MarathonClient) -> None:
    prometheus, graphite, providers = sources(cpu=0.1, backlog=0)
    prometheus.values.clear()
    graphite.fail = True

    text = await explain_app("/shop/api", policies=policies(shop_api()), target=client, providers=providers, now=NOW)

    assert text.splitlines()[0] == "/shop/api: stays at 4 (missing_metrics)"
    assert "returned no series for /shop/api (empty result)" in text
    assert "every metric is missing: holding at the current count" in text
    assert "Why: It stays at 4 because metric(s) cpu, orders_backlog have no usable value" in text


async def test_unknown_app_lists_the_managed_apps(marathon: FakeMarathon, client: MarathonClient) -> None:
    with pytest.raises(ExplainError, match=r"no policy manages /shop/nope; the managed apps are: /shop/api, /shop/web"):
        await explain_app(
            "/shop/nope",
            policies=policies(shop_api(), shop_api(app="/shop/web")),
            target=client,
            providers={},
            now=NOW,
        )
    assert marathon.requests == []


async def test_app_missing_in_marathon(marathon: FakeMarathon, client: MarathonClient) -> None:
    text = await explain_app(
        "/shop/gone", policies=policies(shop_api(app="/shop/gone")), target=client, providers={}, now=NOW
    )
    assert "Marathon: no app with the id /shop/gone (GET /v2/apps listed 2 apps)." in text
    assert "Outcome: app_not_found." in text
    assert "the autoscaler never creates apps" in text
    only_one_list_call(marathon)


async def test_marathon_down_is_an_error_not_an_explanation(marathon: FakeMarathon, client: MarathonClient) -> None:
    marathon.fail_next(1, status=503)
    with pytest.raises(TargetUnavailable, match="HTTP 503"):
        await explain_app("/shop/api", policies=policies(shop_api()), target=client, providers={}, now=NOW)
    assert {r.method for r in marathon.requests} == {"GET"}


async def test_a_source_without_settings_is_named(marathon: FakeMarathon, client: MarathonClient) -> None:
    text = await explain_app("/shop/api", policies=policies(shop_api()), target=client, providers={}, now=NOW)
    assert "missing: no prometheus source is configured (AUTOSCALER_PROMETHEUS_URL)" in text
    assert "missing: no graphite source is configured (AUTOSCALER_GRAPHITE_URL)" in text


async def test_a_schedule_only_app_after_its_window_says_it_returns_to_its_baseline(
    marathon: FakeMarathon, client: MarathonClient
) -> None:
    # /shop/web runs 3, left there by a window that has ended; its policy has no metrics.
    policy = shop_api(app="/shop/web", metrics=[])

    text = await explain_app("/shop/web", policies=policies(policy), target=client, providers={}, now=NOW)

    lines = text.splitlines()
    assert lines[0] == "/shop/web: stays at 3 (cooldown)"  # last scaled 2m ago; scale_down cooldown 5m
    assert "  none: outside schedule windows the policy wants its baseline, min_instances 2; " in text
    assert "  baseline 2 (min_instances: the policy has no metrics)" in text
    assert lines[-1] == (
        "Why: It stays at 3 (without metrics the policy wants its baseline, min_instances 2) because of the "
        "cooldown rule: last scaled 2m ago; scale_down cooldown is 5m (wait 3m)."
    )


def test_a_hold_of_the_metric_window_is_named_and_explained() -> None:
    # 4 ready now, 2 of them became ready 30 s ago: the 1m average (180 % of target) measured only 2
    policy = shop_api(metrics=[{"name": "cpu", "source": "prometheus", "query": CPU, "target_average": 0.5}])
    state = AppState("/shop/api", 4, tasks_running=4, tasks_healthy=4, has_health_checks=True)
    history = History(observing_since=NOW - timedelta(hours=1), ready=(ReadyCount(NOW - timedelta(seconds=30), 2),))

    decision = decide(policy, state, {"cpu": Observation(value=0.9, timestamp=NOW)}, history, NOW)

    assert (decision.code, decision.desired) == ("metric_window", 4)
    sentence = why(decision)
    assert sentence.startswith("It stays at 4 because of the metric window")
    assert "over this tick's 4 ready instances the metrics would ask for 8" in sentence
    assert "became ready within the 1m window are not yet measured" in sentence
    assert "within the tolerance" not in sentence


async def test_offline_json_has_the_documented_fields_and_says_what_it_cannot_know(
    marathon: FakeMarathon, client: MarathonClient
) -> None:
    _, _, providers = sources(cpu=0.9, backlog=6000)
    policy = shop_api(schedules=[{"name": "push", "cron": "0 20 * * *", "timezone": "UTC", "duration": "1h",
                                  "lead": "auto", "min_instances": 12}])  # fmt: skip

    found = await explain_offline("/shop/api", policies=policies(policy), target=client, providers=providers, now=NOW)
    body = explanation_json(found, app_id="/shop/api")

    assert list(body) == list(JSON_FIELDS)
    decision = found.decision
    assert decision is not None
    assert (body["source"], body["service_url"], body["outcome"], body["code"]) == (
        "offline",
        None,
        decision.code,
        decision.code,
    )
    assert (body["current"], body["desired"], body["action"], body["proposed"]) == (4, 8, "up", 12)
    assert body["reasons"] == decision.reasons()
    assert body["why"] == why(decision)
    assert [w["name"] for w in body["schedule"]["next"]] == ["push"]
    assert body["startup"] is None
    assert [item.split(":")[0] for item in body["unknown"]] == [
        "no stabilisation history",
        "no ready counts of the metric window",
        "no operator pauses",
        "no load history",
        "no learned start-up time",
    ]
    assert json.loads(json.dumps(body)) == body


async def test_offline_json_of_an_app_marathon_does_not_know(marathon: FakeMarathon, client: MarathonClient) -> None:
    found = await explain_offline(
        "/shop/gone", policies=policies(shop_api(app="/shop/gone")), target=client, providers={}, now=NOW
    )
    body = explanation_json(found, app_id="/shop/gone")
    assert (body["outcome"], body["code"], body["current"]) == ("app_not_found", None, None)
    assert body["why"] == "Marathon has no app /shop/gone"


async def test_explain_writes_the_decision_in_the_renderers_words(
    marathon: FakeMarathon, client: MarathonClient
) -> None:
    """The metric lines, the clamp section and the last sentence are core.render's, as in the logs."""
    _, _, providers = sources(cpu=0.9, backlog=6000)
    found = await explain_offline(
        "/shop/api", policies=policies(shop_api()), target=client, providers=providers, now=NOW
    )
    decision = found.decision
    assert decision is not None and decision.clamps
    lines = found.text.splitlines()
    assert lines[0] == render.summary(decision) == decision.summary()
    for metric in decision.metrics:
        assert f"  {render.metric_text(metric)}" in lines
    section = render.clamp_lines(decision)
    start = lines.index(section[0])
    assert lines[start : start + len(section)] == section
    assert lines[-1] == f"Why: {render.why(decision)}"


class HangingSource(FakeProvider):
    """A source that never answers."""

    async def query(self, queries: Sequence[str], *, now: datetime) -> Mapping[str, QueryResult]:
        self.calls.append(list(queries))
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_source_that_does_not_answer_is_cut_at_the_source_timeout_as_in_a_tick(
    marathon: FakeMarathon, client: MarathonClient
) -> None:
    """explain gathers as the loop does: a hanging source fails only its own metrics, named with its deadline."""
    _, graphite, providers = sources(cpu=0.9, backlog=6000)
    hanging = HangingSource("prometheus", FakeClock(NOW))
    providers["prometheus"] = hanging
    text = await explain_app(
        "/shop/api", policies=policies(shop_api()), target=client, providers=providers, now=NOW, source_timeout=0.05
    )
    assert "missing: prometheus did not answer within 0.05s (AUTOSCALER_SOURCE_TIMEOUT)" in text
    assert "orders_backlog (graphite): value 6000" in text and graphite.calls == [[BACKLOG]]
    assert hanging.calls == [[CPU.replace("${app}", "/shop/api")]]
