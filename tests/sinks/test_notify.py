"""Notifications against a real local webhook receiver: formats, signing, rate limits, dedupe,
bounded queues, and a tick that never waits for a receiver."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from autoscaler.core.decide import Decision
from autoscaler.core.rules import MetricEvaluation
from autoscaler.delivery import redact_url
from autoscaler.errors import ConfigurationError
from autoscaler.http import RetryPolicy
from autoscaler.ports import ScaleResult
from autoscaler.reports import AppOutcome, TickReport
from autoscaler.sinks.notify import (
    FailureTracker,
    Notice,
    Notifier,
    NotifyConfig,
    WebhookTarget,
    parse_targets,
)
from autoscaler.testing.clock import FakeClock
from autoscaler.testing.webhook import WebhookReceiver

T0 = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)
FAST = RetryPolicy(attempts=1, request_timeout=2.0, total_timeout=2.0)
LOG = logging.getLogger("test.notify")


# ------------------------------------------------------------------------------------ receiver


OK = {"errcode": 0, "errmsg": "ok"}  # what DingTalk and WeCom answer a message they took


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(answer=OK) as server:
        yield server


async def wait_for(predicate: Any, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


# ------------------------------------------------------------------------------------- reports


def metric(source: str = "prometheus", *, missing: bool = False) -> MetricEvaluation:
    if missing:
        return MetricEvaluation("cpu", source, "average", 0.6, None, None, f"missing: {source} failed: refused")
    return MetricEvaluation("cpu", source, "average", 0.6, 0.9, 6, "4 ready x 0.9 / 0.6 = 6.00, proposes 6")


def scaled(app: str, before: int, after: int, at: datetime = T0) -> AppOutcome:
    decision = Decision(
        app, at, before, after, "scaled_up" if after > before else "scaled_down", metrics=(metric(),), cause="metrics"
    )
    return AppOutcome(app, decision.code, decision.summary(), decision, ScaleResult(app, after, "scaled"))


def held(app: str, code: str, *, source: str = "prometheus", at: datetime = T0) -> AppOutcome:
    missing = code == "missing_metrics"
    decision = Decision(app, at, 4, 4, code, metrics=(metric(source, missing=missing),))
    return AppOutcome(app, code, decision.summary(), decision)


def report(*outcomes: AppOutcome, at: datetime = T0, error: str | None = None) -> TickReport:
    return TickReport(at=at, outcomes={o.app_id: o for o in outcomes}, error=error)


def notifier(
    targets: tuple[WebhookTarget, ...], *, monotonic: Callable[[], float] = time.monotonic, **config: Any
) -> Notifier:
    return Notifier(
        NotifyConfig(targets=targets, **config), retry=FAST, clock=lambda: T0, logger=LOG, monotonic=monotonic
    )


# ---------------------------------------------------------------------------------------- formats


async def test_slack_format(receiver: WebhookReceiver) -> None:
    n = notifier((WebhookTarget("slack", receiver.url("/services/T0/B0/secret")),), title="prod")
    n.start()
    n.submit(report(scaled("/shop/api", 4, 8)))
    await wait_for(lambda: len(receiver.received) == 1)
    await n.aclose()
    body = receiver.received[0].body
    assert set(body) == {"text"}
    assert body["text"].startswith("*[prod] /shop/api: 4 -&gt; 8 (scaled_up: metrics)*")
    assert "- metric cpu: 4 ready x 0.9 / 0.6 = 6.00, proposes 6" in body["text"]


async def test_dingtalk_format_and_signature(receiver: WebhookReceiver) -> None:
    secret = "SECtest0123456789"
    url = receiver.url("/robot/send") + "?access_token=tok123"
    n = notifier((WebhookTarget("dingtalk", url, secret),))
    n.start()
    n.submit(report(scaled("/shop/api", 4, 8)))
    await wait_for(lambda: len(receiver.received) == 1)
    await n.aclose()
    got = receiver.received[0]
    assert got.body["msgtype"] == "markdown"
    assert got.body["markdown"]["title"] == "[marathon-autoscaler] /shop/api: 4 -> 8 (scaled_up: metrics)"
    assert "**[marathon-autoscaler] /shop/api: 4 -> 8" in got.body["markdown"]["text"]
    assert got.query["access_token"] == "tok123"
    # the documented algorithm, computed here independently: base64(HmacSHA256(secret, ts + "\n" + secret))
    timestamp = got.query["timestamp"]
    assert timestamp == str(int(T0.timestamp() * 1000))
    expected = base64.b64encode(
        hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), digestmod=hashlib.sha256).digest()
    ).decode()
    assert got.query["sign"] == expected  # parse_qsl decoded the URL encoding once, as DingTalk does


async def test_wecom_format(receiver: WebhookReceiver) -> None:
    n = notifier((WebhookTarget("wecom", receiver.url("/cgi-bin/webhook/send") + "?key=k"),))
    n.start()
    n.submit(report(scaled("/shop/api", 8, 6)))
    await wait_for(lambda: len(receiver.received) == 1)
    await n.aclose()
    body = receiver.received[0].body
    assert body["msgtype"] == "markdown"
    assert set(body["markdown"]) == {"content"}
    assert "/shop/api: 8 -> 6 (scaled_down: metrics)" in body["markdown"]["content"]


async def test_generic_json_format(receiver: WebhookReceiver) -> None:
    n = notifier((WebhookTarget("json", receiver.url("/hook")),))
    n.start()
    n.submit(report(scaled("/shop/api", 4, 8)))
    await wait_for(lambda: len(receiver.received) == 1)
    await n.aclose()
    assert receiver.received[0].body == {
        "event": "scaled",
        "subject": "app",
        "app": "/shop/api",
        "source": None,
        "from": 4,
        "to": 8,
        "code": "scaled_up",
        "reasons": ["metric cpu: 4 ready x 0.9 / 0.6 = 6.00, proposes 6"],
        "ticks": 0,
        "time": "2026-11-11T00:00:00+00:00",
        "text": "/shop/api: 4 -> 8 (scaled_up: metrics)",
        "service": "marathon-autoscaler",
    }


async def test_chat_targets_batch_a_burst_into_few_messages(receiver: WebhookReceiver) -> None:
    n = notifier((WebhookTarget("slack", receiver.url("/hook")),), burst=1, rate_per_minute=600)
    n.start()
    n.submit(report(*(scaled(f"/app/{i}", 1, 2) for i in range(12))))
    await wait_for(lambda: sum(r.body["text"].count("-&gt;") for r in receiver.received) == 12)
    await n.aclose()
    assert len(receiver.received) <= 3  # first alone (token), the rest in batches of up to 10


async def test_dingtalk_errcode_counts_as_failure(receiver: WebhookReceiver) -> None:
    receiver.answer = {"errcode": 310000, "errmsg": "sign not match"}
    target = WebhookTarget("dingtalk", receiver.url("/hook") + "?access_token=secret-token", "SECx")
    n = notifier((target,))
    n.start()
    n.submit(report(scaled("/a", 1, 2)))
    await wait_for(lambda: n.stats()[target.label].failed == 1)
    await n.aclose()


# ------------------------------------------------------------------------------- configuration


def test_parse_targets() -> None:
    targets = parse_targets(
        "slack:https://hooks.slack.com/services/T/B/x, dingtalk:https://oapi.dingtalk.com/robot/send?access_token=t,"
        "wecom:https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k,json:http://hooks.internal:8080/x",
        dingtalk_secret="SECabc",
    )
    assert [t.format for t in targets] == ["slack", "dingtalk", "wecom", "json"]
    assert targets[1].secret == "SECabc" and targets[0].secret is None
    assert targets[1].label == "dingtalk:https://oapi.dingtalk.com/…"


@pytest.mark.parametrize("spec", ["teams:https://x.example/y", "https://x.example/y", "slack:ftp://x.example/y"])
def test_bad_targets_are_named_by_position_not_url(spec: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        parse_targets("slack:https://ok.example/a," + spec)
    assert "entry 2" in str(error.value)
    assert "x.example/y" not in str(error.value)


def test_secrets_never_appear_in_labels_or_repr() -> None:
    target = WebhookTarget("slack", "https://hooks.slack.com/services/T0/B0/topsecret?token=qs", "SECsigning")
    assert "topsecret" not in repr(target) and "SECsigning" not in repr(target)
    assert "topsecret" not in str(target) and "qs" not in redact_url(target.url)


async def test_failed_delivery_logs_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    # nothing listens on port 9 of the loopback: the connection is refused
    target = WebhookTarget("wecom", "http://127.0.0.1:9/cgi-bin/webhook/send?key=very-secret-key")
    n = notifier((target,))
    n.start()
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        n.submit(report(scaled("/a", 1, 2)))
        await wait_for(lambda: n.stats()[target.label].failed == 1)
    await n.aclose()
    assert "notification to wecom:http://127.0.0.1:9/…" in caplog.text
    assert "very-secret-key" not in caplog.text


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ConfigurationError, match="FAILURE_TICKS"):
        NotifyConfig(targets=(), failure_ticks=0)


# --------------------------------------------------------------------- rate limiting and queues


async def test_rate_limit_holds_messages_back(receiver: WebhookReceiver) -> None:
    clock = FakeClock()
    looks = [0]

    def monotonic() -> float:  # the rate limiter's time: it moves only when the test moves it
        looks[0] += 1
        return clock.seconds()

    target = WebhookTarget("json", receiver.url("/hook"))
    n = notifier((target,), burst=2, rate_per_minute=600, monotonic=monotonic)  # a token per 0.1 s
    n.start()
    n.submit(report(*(scaled(f"/app/{i}", 1, 2) for i in range(5))))
    await wait_for(lambda: len(receiver.received) == 2)
    looked = looks[0]
    await wait_for(lambda: looks[0] >= looked + 3)  # the limiter looked again and again, and no time passed
    assert len(receiver.received) == 2
    assert n.stats()[target.label].pending == 3
    clock.advance(0.15)  # time for one token (and half of the next)
    await wait_for(lambda: len(receiver.received) == 3)
    assert n.stats()[target.label].pending == 2
    await n.aclose(grace=0.1)


async def test_submit_never_waits_for_a_hanging_receiver() -> None:
    hanging = WebhookReceiver(answer=OK, hang=asyncio.Event())
    await hanging.start()
    try:
        n = notifier((WebhookTarget("json", hanging.url("/hook")),), queue_size=5, burst=100, rate_per_minute=6000)
        n.start()
        n.submit(report(scaled("/first", 1, 2)))
        await wait_for(lambda: len(hanging.received) == 1)  # the worker is now stuck in that request
        started = time.perf_counter()
        for i in range(200):
            n.submit(report(scaled(f"/app/{i}", 1, 2)))
        assert time.perf_counter() - started < 0.5
        (stats,) = n.stats().values()
        assert stats.dropped == 195
        await n.aclose(grace=0.1)
    finally:
        await hanging.stop()


# ------------------------------------------------------------------- persistent failures, dedupe


def test_failure_is_told_once_after_n_ticks_then_recovery() -> None:
    tracker = FailureTracker(failure_ticks=3)
    told: list[Notice] = []
    for tick in range(6):
        told += tracker.observe(report(held("/shop/api", "app_not_found", at=T0 + timedelta(seconds=15 * tick))))
    assert [(n.event, n.code, n.ticks) for n in told] == [("failing", "app_not_found", 3)]
    told = tracker.observe(report(held("/shop/api", "within_tolerance")))
    assert [(n.event, n.code, n.detail) for n in told] == [("recovered", "app_not_found", "within_tolerance")]
    assert tracker.observe(report(held("/shop/api", "within_tolerance"))) == []


def test_a_different_code_restarts_the_count() -> None:
    tracker = FailureTracker(failure_ticks=2)
    codes = ["write_failed", "deployment_in_progress", "write_failed", "deployment_in_progress"]
    assert [n for code in codes for n in tracker.observe(report(held("/a", code)))] == []
    told = tracker.observe(report(held("/a", "deployment_in_progress")))
    assert [(n.event, n.code) for n in told] == [("failing", "deployment_in_progress")]


def test_normal_holds_are_not_failures() -> None:
    tracker = FailureTracker(failure_ticks=1)
    for code in ("cooldown", "within_tolerance", "stabilizing", "at_max", "dry_run"):
        assert tracker.observe(report(held("/a", code))) == []


def test_marathon_unreachable_and_back() -> None:
    tracker = FailureTracker(failure_ticks=2)
    assert tracker.observe(report(error="Marathon at http://m did not answer")) == []
    (failing,) = tracker.observe(report(error="Marathon at http://m did not answer"))
    assert (failing.subject, failing.code) == ("marathon", "marathon_unreachable")
    assert "did not answer" in failing.headline + " ".join(failing.lines())
    assert tracker.observe(report(error="still down")) == []
    (recovered,) = tracker.observe(report(held("/a", "cooldown")))
    assert (recovered.event, recovered.subject) == ("recovered", "marathon")


def test_unreachable_marathon_says_nothing_about_apps() -> None:
    tracker = FailureTracker(failure_ticks=2)
    tracker.observe(report(held("/a", "missing_metrics", source="graphite")))
    tracker.observe(report(held("/b", "cooldown"), error="down"))  # no outcomes: streaks untouched
    tracker.observe(report(error="down"))
    told = tracker.observe(report(held("/a", "missing_metrics", source="graphite"), held("/b", "cooldown")))
    assert ("failing", "metric_source", "graphite") in [(n.event, n.subject, n.name) for n in told]


def test_source_down_is_one_notice_not_one_per_app() -> None:
    tracker = FailureTracker(failure_ticks=2)
    apps = [f"/app/{i}" for i in range(20)]
    told: list[Notice] = []
    for _ in range(4):
        told += tracker.observe(report(*(held(a, "missing_metrics", source="prometheus") for a in apps)))
    assert [(n.event, n.subject, n.name, n.code) for n in told] == [
        ("failing", "metric_source", "prometheus", "source_down")
    ]
    assert "all 20 metrics from prometheus are missing" in told[0].detail
    told = tracker.observe(report(*(held(a, "within_tolerance") for a in apps)))
    assert [(n.event, n.subject) for n in told] == [("recovered", "metric_source")]


def test_scale_actions_can_be_turned_off() -> None:
    tracker = FailureTracker(failure_ticks=2, scale_actions=False)
    assert tracker.observe(report(scaled("/a", 1, 2))) == []


async def test_persistent_failure_is_delivered_once_with_recovery(receiver: WebhookReceiver) -> None:
    n = notifier((WebhookTarget("json", receiver.url("/hook")),), failure_ticks=3)
    n.start()
    for tick in range(10):
        n.submit(report(held("/shop/api", "deployment_in_progress", at=T0 + timedelta(seconds=15 * tick))))
    n.submit(report(scaled("/shop/api", 4, 5)))
    await wait_for(lambda: len(receiver.received) == 3)
    await n.aclose()  # waits until every queued notice is delivered: a fourth would be among them
    events = [(r.body["event"], r.body["code"]) for r in receiver.received]
    assert events == [
        ("failing", "deployment_in_progress"),
        ("scaled", "scaled_up"),
        ("recovered", "deployment_in_progress"),
    ]
    assert receiver.received[0].body["ticks"] == 3
