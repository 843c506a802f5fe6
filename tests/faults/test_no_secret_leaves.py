"""No credential the service holds leaves it, even when a peer echoes it back.

Marathon (or a proxy in front of it), Prometheus and Graphite are played by servers on loopback that
answer errors quoting the request's headers: the Basic credential, the bearer token, the DC/OS token.
The service runs real ticks against them; then every output is searched for the planted secrets and
their base64 form: the logs, the status server's /readyz, /metrics and /api/v1 JSON, `explain`'s
text, the exceptions raised, and the errors of mistyped settings.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from autoscaler.core.policy import Policy
from autoscaler.errors import ConfigurationError, TargetError
from autoscaler.explain import explain_app
from autoscaler.http import RetryPolicy
from autoscaler.logs import JsonFormatter
from autoscaler.loop import ControlLoop
from autoscaler.ports import MetricsProvider
from autoscaler.providers.graphite import GraphiteProvider
from autoscaler.providers.prometheus import PrometheusProvider
from autoscaler.settings import load_settings
from autoscaler.sinks.selfmetrics import SelfMetrics, observe_tick
from autoscaler.sinks.status import ServiceStatus
from autoscaler.targets.marathon import MarathonClient
from autoscaler.testing.hostile import Answer, HostileServer
from autoscaler.testing.proxy import HttpRequest
from autoscaler.web.server import StatusServer

USER = "ops"
PASSWORD = "s3cr3t-PLANTED-marathon"
DCOS_TOKEN = "dcos-PLANTED-token-4711"
BEARER = "bearer-PLANTED-prometheus-0815"
GRAPHITE_PASSWORD = "s3cr3t-PLANTED-graphite"
SECRETS = [
    PASSWORD,
    DCOS_TOKEN,
    BEARER,
    GRAPHITE_PASSWORD,
    base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
    base64.b64encode(f"{USER}:{GRAPHITE_PASSWORD}".encode()).decode(),
    "PLANTED",
]
NOW = datetime.now(UTC)
POLICY = RetryPolicy(attempts=1, request_timeout=3.0, total_timeout=3.0)
LOG = logging.getLogger("test.secrets")


def echo(request: HttpRequest) -> str:
    """What a proxy's error page says: every header it was sent, as text and as a Python dict."""
    lines = "\n".join(f"{name}: {value}" for name, value in request.headers.items())
    return f"request headers:\n{lines}\nas received: {dict(request.headers)!r}"


class Marathon:
    """Lists two apps until told to fail; every failure and every PATCH answer echoes the headers."""

    def __init__(self) -> None:
        self.list_fails = False

    def __call__(self, request: HttpRequest) -> Answer:
        if request.method == "GET" and not self.list_fails:
            apps = [
                {"id": app, "instances": 2, "tasksRunning": 2, "tasksHealthy": 2, "tasksStaged": 0, "tasksUnhealthy": 0}
                for app in ("/a", "/b")
            ]
            return Answer(body=json.dumps({"apps": apps}).encode())
        if request.method == "PATCH":
            body = {"message": echo(request), "details": [{"path": "/instances", "errors": [echo(request)]}]}
            return Answer(status=422, body=json.dumps(body).encode())
        return Answer(status=502, body=echo(request).encode(), headers=(("Content-Type", "text/plain"),))


def prometheus(request: HttpRequest) -> Answer:
    body = {"status": "error", "errorType": "bad_data", "error": echo(request)}
    return Answer(status=400, body=json.dumps(body).encode())


def graphite(request: HttpRequest) -> Answer:
    series = [{"target": "load.b", "datapoints": [[100, int(NOW.timestamp())]]}]
    return Answer(body=json.dumps(series).encode())


def policy(app: str, source: str, query: str) -> Policy:
    return Policy.model_validate(
        {
            "app": app,
            "min_instances": 1,
            "max_instances": 20,
            "metrics": [{"name": "load", "source": source, "query": query, "target_per_instance": 10}],
            "scale_up": {"cooldown": "0s"},
        }
    )


class Outputs:
    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def add(self, name: str, text: str) -> None:
        self.texts[name] = self.texts.get(name, "") + text

    def leaks(self) -> dict[str, list[str]]:
        return {
            name: [s for s in SECRETS if s in text]
            for name, text in self.texts.items()
            if any(s in text for s in SECRETS)
        }


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    loggers = [LOG, logging.getLogger("autoscaler")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


@pytest.mark.parametrize("auth", ["basic", "dcos token"])
async def test_echoed_credentials_reach_no_output(auth: str, logs: io.StringIO) -> None:
    out = Outputs()
    marathon = Marathon()
    policies = {"/a": policy("/a", "prometheus", "load_a"), "/b": policy("/b", "graphite", "load.b")}
    async with (
        HostileServer(marathon) as marathon_server,
        HostileServer(prometheus) as prometheus_server,
        HostileServer(graphite) as graphite_server,
    ):
        credentials: dict[str, Any] = (
            {"username": USER, "password": PASSWORD} if auth == "basic" else {"token": DCOS_TOKEN}
        )
        target = MarathonClient(base_url=marathon_server.url, policy=POLICY, verify=False, **credentials)
        providers: dict[str, MetricsProvider] = {
            "prometheus": PrometheusProvider(
                url=prometheus_server.url, policy=POLICY, bearer_token=BEARER, verify=False
            ),
            "graphite": GraphiteProvider(
                url=graphite_server.url, policy=POLICY, basic_auth=(USER, GRAPHITE_PASSWORD), verify=False
            ),
        }
        loop = ControlLoop(policies=policies, target=target, providers=providers, clock=lambda: NOW, logger=LOG)
        status = ServiceStatus(interval=timedelta(seconds=15), started_at=NOW)
        status.set_policies(policies, [])
        metrics = SelfMetrics()

        first = await loop.tick()  # the list works: Prometheus echoes its bearer token, the PATCH echoes auth
        assert first.outcomes["/b"].code == "write_rejected"
        assert first.outcomes["/a"].code == "missing_metrics"
        out.add("explain", await explain_app("/a", policies=policies, target=target, providers=providers, now=NOW))
        marathon.list_fails = True
        for report in (first, await loop.tick()):  # then the list fails with an echo of the headers
            status.record(report)
            observe_tick(metrics, report)
        assert status.last_report is not None and status.last_report.error is not None
        try:
            await target.list_apps()
        except TargetError as exc:
            out.add("exception", f"{exc}\n{exc!r}\n{exc.__cause__!r}")
        try:
            await explain_app("/a", policies=policies, target=target, providers=providers, now=NOW)
        except TargetError as exc:
            out.add("explain", str(exc))

        async with (
            StatusServer(status=status, metrics=metrics, clock=lambda: NOW, host="127.0.0.1", port=0) as server,
            httpx.AsyncClient(base_url=server.url, timeout=5) as client,
        ):
            for path in ("/readyz", "/metrics", "/api/v1/apps", "/api/v1/apps/a", "/api/v1/apps/b", "/api/v1/summary"):
                response = await client.get(path)
                out.add(path, response.text)
        await target.aclose()
        for provider in providers.values():
            await provider.aclose()
    out.add("logs", logs.getvalue())

    # the echoes did arrive, so the outputs were exposed to them
    assert any("request headers" in text for text in out.texts.values())
    assert "HTTP 502" in out.texts["/readyz"] or "502" in out.texts["/readyz"]
    assert out.leaks() == {}
    assert "***" in out.texts["logs"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTOSCALER_MARATHON_URL", f"htp://{USER}:{PASSWORD}@marathon.mesos:8080"),
        ("AUTOSCALER_MARATHON_URL", f"{USER}:{PASSWORD}@marathon.mesos:8080"),
        ("AUTOSCALER_PROMETHEUS_URL", f"prometheus:9090?token={BEARER}"),
        ("AUTOSCALER_GRAPHITE_URL", f"graphite//{USER}:{GRAPHITE_PASSWORD}@host"),
    ],
)
def test_a_mistyped_url_setting_is_named_but_never_printed(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv("AUTOSCALER_MARATHON_URL", "http://marathon.mesos:8080")
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert name in str(caught.value)
    assert not [secret for secret in SECRETS if secret in f"{caught.value} {caught.value!r}"]
