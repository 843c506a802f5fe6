"""A pause declared in an app's Marathon labels, read by the Marathon client: a good value becomes
the app's pause, a bad one makes that app (only) unusable with a message naming the label."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import respx

from autoscaler.http import RetryPolicy
from autoscaler.targets.marathon import MarathonClient

BASE = "http://marathon.test:8080"
POLICY = RetryPolicy(attempts=1, initial_backoff=0.001, max_backoff=0.002, total_timeout=5.0, request_timeout=1.0)


def _app(app_id: str, labels: Any) -> dict[str, Any]:
    return {
        "id": app_id,
        "instances": 2,
        "tasksRunning": 2,
        "tasksHealthy": 0,
        "tasksStaged": 0,
        "tasksUnhealthy": 0,
        "labels": labels,
    }


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client() -> AsyncIterator[MarathonClient]:
    marathon = MarathonClient(base_url=BASE, policy=POLICY)
    yield marathon
    await marathon.aclose()


async def test_pause_labels_are_read(mock: respx.MockRouter, client: MarathonClient) -> None:
    apps = [
        _app("/paused", {"autoscaler.paused-until": "2026-12-24T18:00:00Z", "autoscaler.paused-reason": " db\nmove "}),
        _app("/offset", {"autoscaler.paused-until": "2026-12-24T18:00:00+01:00"}),
        _app("/plain", {"team": "shop"}),
        _app("/odd-labels", ["not", "an", "object"]),
        _app("/none", None),
    ]
    mock.get("/v2/apps").respond(200, json={"apps": apps})
    snapshot = await client.list_apps()
    assert snapshot.invalid == {}
    paused = snapshot.apps["/paused"]
    assert paused.paused_until == datetime(2026, 12, 24, 18, tzinfo=UTC)
    assert paused.paused_reason == "db move"
    offset = snapshot.apps["/offset"].paused_until
    assert offset == datetime(2026, 12, 24, 17, tzinfo=UTC) and offset.utcoffset() == timedelta(hours=1)
    assert offset.tzinfo == timezone(timedelta(hours=1))
    for app_id in ("/plain", "/odd-labels", "/none"):
        assert snapshot.apps[app_id].paused_until is None


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("tomorrow", "is not an ISO-8601 time"),
        ("2026-12-24T18:00:00", "has no timezone"),
        (1767290400, "must be an ISO-8601 time"),
        ("9" * 100, "must be an ISO-8601 time"),
    ],
)
async def test_a_bad_pause_label_is_that_app_s_problem_only(
    mock: respx.MockRouter, client: MarathonClient, value: Any, words: str
) -> None:
    apps = [_app("/bad", {"autoscaler.paused-until": value}), _app("/good", {})]
    mock.get("/v2/apps").respond(200, json={"apps": apps})
    snapshot = await client.list_apps()
    assert set(snapshot.apps) == {"/good"}
    assert "autoscaler.paused-until" in snapshot.invalid["/bad"] and words in snapshot.invalid["/bad"]
