"""Hostile answers from the outside world: garbage metrics and strange Marathon data.

A metric source that answers negative values, 1e308, strings, wrong JSON types or thousands of
series must make the metric missing, with a log line that says why, and must never move the
count. Marathon answering unexpected shapes or listing apps with odd ids must make the affected
app skip the tick with a reason code; app ids only ever reach Marathon as the path of
`PATCH /v2/apps<id>`, exactly as written, and only when they are valid Marathon ids.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from autoscaler.core.model import QueryResult, Sample
from autoscaler.core.policy import Policy
from autoscaler.http import RetryPolicy
from autoscaler.logs import JsonFormatter
from autoscaler.loop import ControlLoop
from autoscaler.providers.graphite import GraphiteProvider
from autoscaler.providers.prometheus import PrometheusProvider
from autoscaler.targets.marathon import MarathonClient, app_id_problem
from autoscaler.testing.graphite import FakeGraphite
from autoscaler.testing.marathon import FakeMarathon
from autoscaler.testing.prometheus import FakePrometheus

APP = "/shop/api"
QUERY = "load"
RETRY = RetryPolicy(attempts=1, request_timeout=2.0, total_timeout=2.0)
NOW = datetime.now(UTC)
TS = NOW.timestamp()


def policy(source: str, *, series: Any = None, app: str = APP) -> Policy:
    metric: dict[str, Any] = {"name": "load", "source": source, "query": QUERY, "target_per_instance": 10}
    if series is not None:
        metric["series"] = series
    return Policy.model_validate(
        {
            "app": app,
            "min_instances": 1,
            "max_instances": 50,
            "metrics": [metric],
            "scale_up": {"cooldown": "0s"},
            "scale_down": {"cooldown": "0s", "stabilization": "0s", "max_step": "100%"},
        }
    )


def vector(*series: tuple[dict[str, str], Any]) -> dict[str, Any]:
    return {"resultType": "vector", "result": [{"metric": labels, "value": [TS, value]} for labels, value in series]}


MANY = 5000
PROMETHEUS_GARBAGE: dict[str, Any] = {
    "negative": vector(({}, "-5")),
    "huge": vector(({}, "1e308")),
    "string": vector(({}, "lots")),
    "boolean": vector(({}, True)),
    "null": vector(({}, None)),
    "object": vector(({}, {"v": 1})),
    "nan": vector(({}, "NaN")),
    "inf": vector(({}, "+Inf")),
    "result_is_object": {"resultType": "vector", "result": {"a": 1}},
    "result_is_string": {"resultType": "string", "result": [TS, "hello"]},
    "matrix": {"resultType": "matrix", "result": [{"metric": {}, "values": [[TS, "1"]]}]},
    "labels_not_strings": vector(({"a": 1}, "5")),  # type: ignore[dict-item]
    "timestamp_string": {"resultType": "vector", "result": [{"metric": {}, "value": ["now", "5"]}]},
    "thousands_of_series": vector(*(({"i": str(i)}, "5") for i in range(MANY))),
    "empty": vector(),
}
GRAPHITE_GARBAGE: dict[str, Any] = {
    "negative": [{"target": "x", "datapoints": [[-5, TS]]}],
    "huge": [{"target": "x", "datapoints": [[1e308, TS]]}],
    "string": [{"target": "x", "datapoints": [["lots", TS]]}],
    "boolean": [{"target": "x", "datapoints": [[True, TS]]}],
    "all_null": [{"target": "x", "datapoints": [[None, TS], [None, TS]]}],
    "datapoints_not_pairs": [{"target": "x", "datapoints": [[5]]}],
    "target_not_string": [{"target": 5, "datapoints": [[5, TS]]}],
    "timestamp_string": [{"target": "x", "datapoints": [[5, "now"]]}],
    "object": {"target": "x"},
    "thousands_of_series": [{"target": f"s{i}", "datapoints": [[5, TS]]} for i in range(MANY)],
    "empty": [],
}


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def run_one_tick(source: str, serve: Any) -> tuple[str, list[str], list[str]]:
    """One tick with the metric answering `serve`: the app's code, PATCHes sent, warning lines."""
    marathon = FakeMarathon(task_start_delay=0.0)
    await marathon.start()
    marathon.add_app(APP, instances=5)
    fake: FakePrometheus | FakeGraphite
    if source == "prometheus":
        fake = FakePrometheus()
        fake.data[QUERY] = serve
    else:
        fake = FakeGraphite()
        fake.series[QUERY] = serve
    await fake.start()
    provider: PrometheusProvider | GraphiteProvider = (
        PrometheusProvider(url=fake.url, policy=RETRY)
        if source == "prometheus"
        else GraphiteProvider(url=fake.url, policy=RETRY)
    )
    target = MarathonClient(base_url=marathon.url, policy=RETRY)
    logger = logging.getLogger(f"hostile.{source}")
    recorder = Recorder()
    logger.addHandler(recorder)
    logger.setLevel(logging.DEBUG)
    try:
        loop = ControlLoop(
            policies={APP: policy(source)},
            target=target,
            providers={source: provider},
            clock=lambda: NOW,
            logger=logger,
        )
        report = await loop.tick()
    finally:
        logger.removeHandler(recorder)
        await target.aclose()
        await provider.aclose()
        await fake.stop()
        await marathon.stop()
    patches = [r.path for r in marathon.requests if r.method == "PATCH"]
    warnings = [line for line in recorder.lines if json.loads(line)["level"] == "warning"]
    return report.outcomes[APP].code, patches, warnings


@pytest.mark.parametrize("case", sorted(PROMETHEUS_GARBAGE))
async def test_garbage_from_prometheus_is_a_missing_metric_and_never_scales(case: str) -> None:
    code, patches, warnings = await run_one_tick("prometheus", PROMETHEUS_GARBAGE[case])
    assert (code, patches) == ("missing_metrics", []), warnings
    assert any("missing" in line and QUERY in line for line in warnings), warnings


@pytest.mark.parametrize("case", sorted(GRAPHITE_GARBAGE))
async def test_garbage_from_graphite_is_a_missing_metric_and_never_scales(case: str) -> None:
    code, patches, warnings = await run_one_tick("graphite", GRAPHITE_GARBAGE[case])
    assert (code, patches) == ("missing_metrics", []), warnings
    assert any("missing" in line and QUERY in line for line in warnings), warnings


async def test_thousands_of_series_with_a_selector_still_find_the_one() -> None:
    """Many series are not garbage in themselves: a grouped query picks this app's series."""
    data = vector(*(({"marathon_app": f"/other/a{i}"}, "5") for i in range(MANY)), ({"marathon_app": APP}, "5"))
    marathon = FakeMarathon(task_start_delay=0.0)
    await marathon.start()
    marathon.add_app(APP, instances=5)
    fake = FakePrometheus()
    fake.data[QUERY] = data
    await fake.start()
    provider = PrometheusProvider(url=fake.url, policy=RETRY)
    target = MarathonClient(base_url=marathon.url, policy=RETRY)
    try:
        loop = ControlLoop(
            policies={APP: policy("prometheus", series={"marathon_app": "${app}"})},
            target=target,
            providers={"prometheus": provider},
            clock=lambda: NOW,
            logger=logging.getLogger("hostile"),
        )
        report = await loop.tick()
    finally:
        await target.aclose()
        await provider.aclose()
        await fake.stop()
        await marathon.stop()
    # 5 / 10 per instance = 1 instance wanted: the one matching series drives a scale-down.
    assert report.outcomes[APP].code == "scaled_down"


# --- Marathon ----------------------------------------------------------------------------------


class Constant:
    name = "prometheus"

    def __init__(self, value: float) -> None:
        self.value = value

    async def query(self, queries: Sequence[str], *, now: datetime) -> Mapping[str, QueryResult]:
        return {q: QueryResult(query=q, samples=(Sample(labels={}, value=self.value, timestamp=now),)) for q in queries}

    async def aclose(self) -> None:
        return None


def marathon_app(app_id: Any, **overrides: Any) -> dict[str, Any]:
    return {
        "id": app_id,
        "instances": 2,
        "tasksRunning": 2,
        "tasksHealthy": 0,
        "tasksStaged": 0,
        "tasksUnhealthy": 0,
        "deployments": [],
        **overrides,
    }


ODD_IDS = [
    "/shop/../admin",
    "/shop/./api",
    "/shop//api",
    "/SHOP/API",
    "/shop/a b",
    "/shop/%2e%2e/api",
    "/shop/api?force=true",
    "/shop/api#x",
    "/shop/ápi",
    "/shop/api/",
    "shop/api",
    "/shop/api\n",
    "/shop/-api",
]


async def tick_against(
    body: Any, *, status: int = 200, content_type: str = "application/json"
) -> tuple[Any, list[str]]:
    """One tick of a policy for APP (wanting 4 instances) against Marathon answering `body`."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with respx.mock(base_url="http://marathon.test", assert_all_called=False) as mock:
        mock.get("/v2/apps").mock(
            return_value=httpx.Response(status, content=raw, headers={"Content-Type": content_type})
        )
        patch = mock.patch(url__regex=r".*").mock(return_value=httpx.Response(200, json={"deploymentId": "d"}))
        target = MarathonClient(base_url="http://marathon.test", policy=RETRY)
        loop = ControlLoop(
            policies={APP: policy("prometheus")},
            target=target,
            providers={"prometheus": Constant(40.0)},
            clock=lambda: NOW,
            logger=logging.getLogger("hostile.marathon"),
        )
        report = await loop.tick()
        await target.aclose()
        paths = [call.request.url.raw_path.decode() for call in patch.calls]
    return report, paths


async def test_apps_with_odd_ids_are_ignored_and_never_written() -> None:
    body = {"apps": [marathon_app(odd) for odd in ODD_IDS] + [marathon_app(APP)]}
    report, paths = await tick_against(body)
    assert paths == ["/v2/apps/shop/api"]
    assert report.outcomes[APP].code == "scaled_up"


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        (marathon_app(APP, instances="3"), "instances"),
        (marathon_app(APP, instances=-1), "instances"),
        (marathon_app(APP, tasksRunning=None), "tasksRunning"),
        (marathon_app(APP, deployments={"id": "d"}), "deployments"),
        (marathon_app(APP, versionInfo={"lastScalingAt": "yesterday"}), "lastScalingAt"),
        (marathon_app(APP, versionInfo={"lastScalingAt": "2026-11-26T12:00:00"}), "lastScalingAt"),  # no zone
    ],
)
async def test_unusable_data_for_the_app_skips_it_with_a_reason(entry: dict[str, Any], words: str) -> None:
    report, paths = await tick_against({"apps": [entry]})
    outcome = report.outcomes[APP]
    assert (outcome.code, paths) == ("invalid_app_state", [])
    assert words in outcome.detail


async def test_the_app_listed_twice_is_skipped() -> None:
    report, paths = await tick_against({"apps": [marathon_app(APP), marathon_app(APP, instances=3)]})
    assert (report.outcomes[APP].code, paths) == ("invalid_app_state", [])
    assert "more than once" in report.outcomes[APP].detail


@pytest.mark.parametrize(
    "body",
    [
        {"apps": {}},
        {"apps": None},
        {"app": []},
        [],
        "apps",
        b"<html><body>Login</body></html>",
        b'{"apps": [',
        b"",
    ],
)
async def test_an_unusable_app_list_fails_the_tick_and_writes_nothing(body: Any) -> None:
    report, paths = await tick_against(body)
    assert report.error and not report.outcomes
    assert paths == []


@pytest.mark.parametrize("odd", ODD_IDS)
def test_a_policy_cannot_name_an_odd_app_id(odd: str) -> None:
    with pytest.raises(ValidationError):
        policy("prometheus", app=odd)


_ID_ALPHABET = st.sampled_from([*"abz09-./%?#:@ ~_AZ\\\x00é", "..", "//", "%2e", "%2F"])


@settings(max_examples=100, deadline=None)
@given(st.lists(_ID_ALPHABET, max_size=12).map(lambda parts: "/" + "".join(parts)))
async def test_app_ids_reach_marathon_only_as_the_exact_path(app_id: str) -> None:
    with respx.mock(base_url="http://marathon.test", assert_all_called=False) as mock:
        patch = mock.patch(url__regex=r".*").mock(return_value=httpx.Response(200, json={"deploymentId": "d"}))
        target = MarathonClient(base_url="http://marathon.test", policy=RETRY)
        result = await target.scale(app_id, 3)
        await target.aclose()
        sent = [call.request for call in patch.calls]
    if app_id_problem(app_id) is not None:
        assert (result.outcome, sent) == ("rejected", []), app_id
        return
    assert result.ok
    (request,) = sent
    assert request.url.raw_path.decode() == f"/v2/apps{app_id}"
    assert ".." not in app_id.split("/") and "%" not in app_id and "?" not in app_id
    assert json.loads(request.content) == {"instances": 3}
