"""Telling people what the autoscaler did, and when something keeps it from doing its job.

Logs answer "why" after the fact; a chat message answers "something happened" as it happens. This
module turns each TickReport into notices: every scale action, and failures that persist (an app
held for `failure_ticks` ticks in a row by the same problem, such as missing metrics or a stuck
deployment; a metric source whose every metric is missing; Marathon unreachable), each sent once,
with a recovery notice when the problem goes away. Targets are webhooks in the formats of Slack,
DingTalk and WeCom group robots, or a documented generic JSON object.

Nothing here may slow the control loop: `Notifier.submit` is synchronous, costs O(apps) and only
appends to bounded in-memory queues (dropping the oldest notice, counted, when one is full). One
background task per target delivers, limited by a token bucket, so a slow or hanging receiver only
delays its own messages. Webhook URLs carry secrets (tokens in paths and query strings), so only
their scheme and host are ever logged.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import time
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

import httpx

from autoscaler.errors import ConfigurationError, WireError
from autoscaler.http import RetryPolicy, make_client, request
from autoscaler.loop import TickReport
from autoscaler.scrub import scrub as scrub_text
from autoscaler.scrub import url_secrets
from autoscaler.wire import decode_json

Clock = Callable[[], datetime]
Monotonic = Callable[[], float]
Format = Literal["slack", "dingtalk", "wecom", "json"]
FORMATS: tuple[Format, ...] = ("slack", "dingtalk", "wecom", "json")

# Outcome codes that mean "something outside the engine keeps this app from being managed" when
# they persist. Holds such as cooldown or within_tolerance are the engine working as intended.
DEFAULT_FAILURE_CODES = frozenset(
    {
        "missing_metrics",
        "deployment_in_progress",
        "deployment_cap",
        "app_not_found",
        "invalid_app_state",
        "write_failed",
        "write_rejected",
        "internal_error",
    }
)

# Limits of the receiving services: WeCom markdown content is at most 4096 bytes, DingTalk's text
# 20000 bytes; a message of many notices is cut, with a note of how many were left out.
_MAX_TEXT_BYTES: Mapping[Format, int] = {"slack": 30000, "dingtalk": 18000, "wecom": 4000, "json": 60000}
_MAX_REASONS = 8
_CHAT_BATCH = 10

T = TypeVar("T")


# ----------------------------------------------------------------------------------- configuration


def redact_url(url: str) -> str:
    """The URL as it may appear in logs: scheme and host only (paths and queries hold tokens)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


@dataclass(frozen=True)
class WebhookTarget:
    """One webhook: its message format, its URL (a secret) and, for DingTalk, the signing secret."""

    format: Format
    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """How the target is named in logs and stats, without its secrets."""
        return f"{self.format}:{redact_url(self.url)}"

    def __str__(self) -> str:
        return self.label


def parse_targets(spec: str, *, dingtalk_secret: str | None = None) -> tuple[WebhookTarget, ...]:
    """Targets from `format:url[,format:url...]` (e.g. `slack:https://hooks.slack.com/services/...`).

    `dingtalk_secret` signs every DingTalk target (the robot's "加签" secret, `SEC...`). Errors name
    the entry by position, never by its URL.
    """
    targets: list[WebhookTarget] = []
    for position, raw in enumerate(spec.split(","), start=1):
        entry = raw.strip()
        if not entry:
            continue
        kind, sep, url = entry.partition(":")
        kind = kind.strip().lower()
        if not sep or kind not in FORMATS:
            raise ConfigurationError(
                f"AUTOSCALER_NOTIFY_URLS: entry {position} must be FORMAT:URL with FORMAT one of {', '.join(FORMATS)}"
            )
        url = url.strip()
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"AUTOSCALER_NOTIFY_URLS: entry {position} ({kind}) needs an http(s) URL")
        fmt: Format = kind  # checked against FORMATS above
        targets.append(WebhookTarget(fmt, url, dingtalk_secret if fmt == "dingtalk" else None))
    return tuple(targets)


@dataclass(frozen=True)
class NotifyConfig:
    """Everything the notifier needs, as simple values (mapped from AUTOSCALER_NOTIFY_* settings).

    `failure_ticks`: consecutive ticks a failure must last before it is reported (and it is then
    reported once, until it recovers). `rate_per_minute` and `burst` shape each target's token
    bucket; `queue_size` bounds each target's queue. `title` starts every message (name the cluster
    when several autoscalers share a channel).
    """

    targets: tuple[WebhookTarget, ...]
    failure_ticks: int = 3
    failure_codes: frozenset[str] = DEFAULT_FAILURE_CODES
    scale_actions: bool = True
    rate_per_minute: float = 20.0
    burst: int = 5
    queue_size: int = 100
    title: str = "marathon-autoscaler"

    def __post_init__(self) -> None:
        if self.failure_ticks < 1:
            raise ConfigurationError("AUTOSCALER_NOTIFY_FAILURE_TICKS must be at least 1")
        if self.rate_per_minute <= 0 or self.burst < 1:
            raise ConfigurationError("AUTOSCALER_NOTIFY_RATE must be above 0 (and the burst at least 1)")
        if self.queue_size < 1:
            raise ConfigurationError("AUTOSCALER_NOTIFY_QUEUE must be at least 1")


# ------------------------------------------------------------------------------------------ notices

Event = Literal["scaled", "failing", "recovered"]
Subject = Literal["app", "marathon", "metric_source"]


@dataclass(frozen=True)
class Notice:
    """One thing worth telling: a scale action, a persistent failure, or its recovery."""

    event: Event
    subject: Subject
    name: str  # the app id, the metric source's name, or "marathon"
    code: str
    at: datetime
    before: int | None = None
    after: int | None = None
    reasons: tuple[str, ...] = ()
    ticks: int = 0
    detail: str = ""

    @property
    def headline(self) -> str:
        if self.event == "scaled":
            return f"{self.name}: {self.before} -> {self.after} ({self.code}: {self.detail})"
        what = {"app": self.name, "marathon": "Marathon", "metric_source": f"metric source {self.name}"}[self.subject]
        if self.event == "failing":
            return f"{what}: {self.code} for {self.ticks} ticks"
        return f"{what}: recovered from {self.code}" + (f" (now {self.detail})" if self.detail else "")

    def lines(self) -> list[str]:
        """The reasons worth showing under the headline, capped."""
        shown = list(self.reasons[:_MAX_REASONS])
        if len(self.reasons) > _MAX_REASONS:
            shown.append(f"... {len(self.reasons) - _MAX_REASONS} more")
        if self.event == "failing" and self.detail and self.detail not in shown:
            shown.insert(0, self.detail)
        return shown

    def as_json(self, *, service: str) -> dict[str, Any]:
        """The generic JSON format, one object per notice:

        - `event`: `scaled`, `failing` (a failure persisted for `ticks` ticks) or `recovered`;
        - `subject`: `app`, `marathon` or `metric_source`; `app` / `source`: its name, else null;
        - `from`, `to`: instance counts of a scale action, else null;
        - `code`: the outcome code (`scaled_up`, `missing_metrics`, `app_not_found`, ...), for
          Marathon `marathon_unreachable` / `marathon_unauthorized`, for a source `source_down`;
          for `recovered`, the code that recovered;
        - `reasons`: the decision's reasons (or the failure's detail), as a list of strings;
        - `ticks`: consecutive ticks of a failure; `time`: the tick's time (ISO 8601, with offset);
        - `text`: one readable line; `service`: the configured title.
        """
        return {
            "event": self.event,
            "subject": self.subject,
            "app": self.name if self.subject == "app" else None,
            "source": self.name if self.subject == "metric_source" else None,
            "from": self.before,
            "to": self.after,
            "code": self.code,
            "reasons": list(self.reasons) or ([self.detail] if self.detail and self.event == "failing" else []),
            "ticks": self.ticks,
            "time": self.at.isoformat(),
            "text": self.headline,
            "service": service,
        }


@dataclass
class _Streak:
    code: str | None = None
    ticks: int = 0
    alerted: str | None = None  # the failure code reached the threshold (reported unless quiet)
    quiet: bool = True  # every tick of the streak was covered by a notice about its cause
    told: bool = False  # a failing notice was sent, so its recovery is worth one too


class FailureTracker:
    """Turns the sequence of TickReports into notices; pure state, no I/O, no clock.

    A failure is reported once, when the same code has held for `failure_ticks` consecutive ticks;
    a different failure code restarts the count; any non-failure outcome after a reported failure
    gives one recovery notice. Ticks that could not read Marathon say nothing about apps or metric
    sources, so they leave those streaks as they are.
    """

    def __init__(
        self,
        *,
        failure_ticks: int,
        failure_codes: frozenset[str] = DEFAULT_FAILURE_CODES,
        scale_actions: bool = True,
    ) -> None:
        self._threshold = failure_ticks
        self._codes = failure_codes
        self._scale_actions = scale_actions
        self._streaks: dict[tuple[Subject, str], _Streak] = {}

    def observe(self, report: TickReport) -> list[Notice]:
        notices: list[Notice] = []
        at = report.at
        if report.error is not None:
            code = "marathon_unauthorized" if report.auth_error else "marathon_unreachable"
            self._fail(("marathon", "marathon"), code, at=at, detail=report.error, into=notices)
            return notices
        self._ok(("marathon", "marathon"), "reachable", at=at, into=notices)

        down = self._observe_sources(report, at=at, into=notices)
        for app_id, outcome in report.outcomes.items():
            decision = outcome.decision
            if outcome.scaled and decision is not None and self._scale_actions:
                notices.append(
                    Notice(
                        "scaled",
                        "app",
                        app_id,
                        outcome.code,
                        at,
                        before=decision.current,
                        after=decision.desired,
                        reasons=tuple(decision.reasons()),
                        detail=decision.cause,
                    )
                )
            if outcome.code in self._codes:
                reasons = tuple(decision.reasons()) if decision is not None else ()
                # Metrics missing only because their source is down: the source's notice says it.
                quiet = (
                    outcome.code == "missing_metrics"
                    and decision is not None
                    and bool(decision.metrics)
                    and all(m.missing and m.source in down for m in decision.metrics)
                )
                self._fail(
                    ("app", app_id),
                    outcome.code,
                    at=at,
                    detail=outcome.detail,
                    reasons=reasons,
                    quiet=quiet,
                    into=notices,
                )
            else:
                self._ok(("app", app_id), outcome.code, at=at, into=notices)
        for key in [k for k in self._streaks if k[0] == "app" and k[1] not in report.outcomes]:
            del self._streaks[key]  # no longer managed: nothing more to say about it
        return notices

    def _observe_sources(self, report: TickReport, *, at: datetime, into: list[Notice]) -> set[str]:
        """A source is down in a tick when every metric read from it is missing; returns those."""
        missing: dict[str, list[str | None]] = {}  # per source: each metric's missing reason or None
        for outcome in report.outcomes.values():
            if outcome.decision is not None:
                for metric in outcome.decision.metrics:
                    missing.setdefault(metric.source, []).append(metric.detail if metric.missing else None)
        down: set[str] = set()
        for source, reasons in missing.items():
            if all(reason is not None for reason in reasons):
                down.add(source)
                first = next((r for r in reasons if r), "")
                detail = f"all {len(reasons)} metrics from {source} are missing; first: {first}"
                detail += fallbacks_text(report, source)
                self._fail(("metric_source", source), "source_down", at=at, detail=detail, into=into)
            else:
                self._ok(("metric_source", source), "up", at=at, into=into)
        return down

    def _fail(
        self,
        key: tuple[Subject, str],
        code: str,
        *,
        at: datetime,
        detail: str,
        into: list[Notice],
        reasons: tuple[str, ...] = (),
        quiet: bool = False,
    ) -> None:
        streak = self._streaks.setdefault(key, _Streak())
        if streak.code == code:
            streak.ticks += 1
        else:
            streak.code, streak.ticks, streak.quiet = code, 1, True
        streak.quiet = streak.quiet and quiet  # loud as soon as one tick of the streak was not covered
        if streak.ticks >= self._threshold and streak.alerted != code:
            streak.alerted = code
            if not streak.quiet:
                streak.told = True
                into.append(
                    Notice("failing", key[0], key[1], code, at, reasons=reasons, ticks=streak.ticks, detail=detail)
                )

    def _ok(self, key: tuple[Subject, str], now_code: str, *, at: datetime, into: list[Notice]) -> None:
        streak = self._streaks.pop(key, None)
        if streak is not None and streak.alerted is not None and streak.told:
            into.append(Notice("recovered", key[0], key[1], streak.alerted, at, detail=now_code))


# ------------------------------------------------------------------------------------------ formats


# At most this many apps are named in an outage notice's account of the fallbacks.
_MOST_FALLBACKS_NAMED = 10


def fallbacks_text(report: TickReport, source: str) -> str:
    """For an outage of `source`: which of its apps fell back (or will, and when) and to what, as
    `; fallback: /a to 10, /b to its forecast at 12:02:00 UTC, /c holds (...)`; empty without any."""
    parts = []
    for app_id, outcome in report.outcomes.items():
        decision = outcome.decision
        if decision is None or decision.fallback is None or not any(m.source == source for m in decision.metrics):
            continue
        fallback = decision.fallback
        to = f"at least {fallback.source}" if isinstance(fallback.source, int) else f"its {fallback.source}"
        if fallback.in_force:
            parts.append(f"{app_id} to {fallback.instances}")
        elif fallback.status == "waiting":
            parts.append(f"{app_id} to {to} at {fallback.in_force_from.astimezone(UTC):%H:%M:%S} UTC")
        else:
            parts.append(f"{app_id} holds ({fallback.why})")
    if not parts:
        return ""
    more = len(parts) - _MOST_FALLBACKS_NAMED
    shown = ", ".join(parts[:_MOST_FALLBACKS_NAMED]) + (f" (+{more})" if more > 0 else "")
    return f"; fallback: {shown}"


def _cut(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 20].decode(errors="ignore") + "\n... (cut)"


def render_text(notices: Sequence[Notice], *, title: str, markdown: Literal["slack", "md"]) -> str:
    """The readable text of one message with one or more notices."""

    def esc(text: str) -> str:  # Slack reads <...> as links and mentions; & < > must be escaped
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") if markdown == "slack" else text

    star = "*" if markdown == "slack" else "**"
    blocks = []
    for notice in notices:
        block = [f"{star}{esc(f'[{title}] {notice.headline}')}{star}"]
        block += [f"- {esc(line)}" for line in notice.lines()]
        blocks.append("\n".join(block))
    return "\n\n".join(blocks)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's robot signature: base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>"))."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def build_body(fmt: Format, notices: Sequence[Notice], *, title: str) -> dict[str, Any]:
    """The JSON body of one message to a target of format `fmt` (json: exactly one notice)."""
    limit = _MAX_TEXT_BYTES[fmt]
    if fmt == "slack":
        return {"text": _cut(render_text(notices, title=title, markdown="slack"), limit)}
    if fmt == "dingtalk":
        heading = notices[0].headline if len(notices) == 1 else f"{len(notices)} autoscaler events"
        text = _cut(render_text(notices, title=title, markdown="md"), limit)
        return {"msgtype": "markdown", "markdown": {"title": f"[{title}] {heading}"[:100], "text": text}}
    if fmt == "wecom":
        return {
            "msgtype": "markdown",
            "markdown": {"content": _cut(render_text(notices, title=title, markdown="md"), limit)},
        }
    (notice,) = notices
    return notice.as_json(service=title)


# ----------------------------------------------------------------------------------------- delivery


class TokenBucket:
    """`rate` tokens per second up to `burst`; `take()` returns 0 when a token was taken, else the
    seconds until one will be there."""

    def __init__(self, *, rate: float, burst: int, monotonic: Monotonic = time.monotonic) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = monotonic
        self._last = monotonic()

    def take(self) -> float:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate


@dataclass
class OutboxStats:
    pending: int = 0
    delivered: int = 0
    failed: int = 0
    dropped: int = 0


class Outbox(Generic[T]):
    """A bounded queue drained by one background task, at most `rate_per_minute` sends.

    `put` never blocks: when the queue is full the oldest item is dropped and counted. The worker
    waits for a token, then hands up to `max_batch` queued items to `deliver` (which returns whether
    they were accepted). Failures are logged and counted; they never reach the caller of `put`.
    """

    def __init__(
        self,
        *,
        name: str,
        deliver: Callable[[list[T]], Awaitable[bool]],
        logger: logging.Logger,
        capacity: int = 100,
        rate_per_minute: float = 60.0,
        burst: int = 5,
        max_batch: int = 1,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self.name = name
        self._deliver = deliver
        self._log = logger
        self._queue: deque[T] = deque()
        self._capacity = capacity
        self._bucket = TokenBucket(rate=rate_per_minute / 60.0, burst=burst, monotonic=monotonic)
        self._max_batch = max_batch
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # nothing queued or in flight
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._in_flight = 0
        self.stats = OutboxStats()

    @property
    def pending(self) -> int:
        return len(self._queue) + self._in_flight

    def put(self, item: T) -> None:
        if len(self._queue) >= self._capacity:
            self._queue.popleft()
            self.stats.dropped += 1
            if self.stats.dropped == 1 or self.stats.dropped % 100 == 0:
                self._log.warning(
                    "%s: queue full, dropped the oldest message (%d dropped so far)",
                    self.name,
                    self.stats.dropped,
                    extra={"fields": {"event": "delivery_dropped", "target": self.name, "dropped": self.stats.dropped}},
                )
        self._queue.append(item)
        self.stats.pending = len(self._queue)
        self._idle.clear()
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"outbox {self.name}")

    async def aclose(self, *, grace: float = 5.0) -> None:
        """Deliver what is queued for up to `grace` seconds, then stop."""
        if self._task is None:
            return
        if not self._task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), grace)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            while not self._queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
            wait = self._bucket.take()
            while wait > 0:
                await asyncio.sleep(wait)
                wait = self._bucket.take()
            batch = [self._queue.popleft() for _ in range(min(self._max_batch, len(self._queue)))]
            self.stats.pending = len(self._queue)
            self._in_flight = len(batch)
            try:
                ok = await self._deliver(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # delivery must never end the worker
                self._log.warning(
                    "%s: delivery failed: %s",
                    self.name,
                    type(exc).__name__,
                    extra={"fields": {"event": "delivery_failed", "target": self.name}},
                )
                ok = False
            finally:
                self._in_flight = 0
            if ok:
                self.stats.delivered += len(batch)
            else:
                self.stats.failed += len(batch)


def scrub(text: str, url: str) -> str:
    """`text` with the URL, its path and every query value removed (they may be tokens), and every
    other credential the service knows of or that looks like one."""
    secrets = [url, *url_secrets(url)]
    for secret in sorted((s for s in secrets if len(s) > 1), key=len, reverse=True):
        text = text.replace(secret, "…")
    return scrub_text(text)


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: Mapping[str, Any],
    *,
    retry: RetryPolicy,
    params: Mapping[str, str] | None = None,
) -> httpx.Response:
    """POST a JSON body through the one retry policy; `params` are added to the URL's own query
    (httpx's `params=` would replace it, losing a webhook's access token)."""
    payload = json.dumps(body, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    target = httpx.URL(url)
    if params:
        target = target.copy_merge_params(dict(params))
    return await request(client, "POST", target, policy=retry, content=payload, headers=headers)


def _accepted(fmt: Format, response: httpx.Response) -> tuple[bool, str]:
    """Whether the receiver took the message; DingTalk and WeCom say no with 200 and an errcode."""
    if not 200 <= response.status_code < 300:
        return False, f"HTTP {response.status_code}"
    if fmt in ("dingtalk", "wecom"):
        try:
            answer = decode_json(response.content, what="the webhook's answer", max_bytes=64 * 1024)
        except WireError:
            return False, "the answer is not JSON"
        if isinstance(answer, dict) and answer.get("errcode", 0) != 0:
            return False, f"errcode {answer.get('errcode')}: {str(answer.get('errmsg', ''))[:200]}"
    return True, ""


class Notifier:
    """Notices from TickReports, delivered to webhook targets in the background.

    Call `start()` inside the running event loop, `submit(report)` after every tick (only on the
    leader when several instances run), and `aclose()` on shutdown.
    """

    def __init__(
        self,
        config: NotifyConfig,
        *,
        retry: RetryPolicy,
        clock: Clock,
        logger: logging.Logger,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self._config = config
        self._retry = retry
        self._clock = clock
        self._log = logger
        self._tracker = FailureTracker(
            failure_ticks=config.failure_ticks,
            failure_codes=config.failure_codes,
            scale_actions=config.scale_actions,
        )
        self._clients: list[httpx.AsyncClient] = []
        self._outboxes: list[Outbox[Notice]] = []
        for target in config.targets:
            client = make_client(base_url=_origin(target.url), policy=retry)
            self._clients.append(client)
            self._outboxes.append(
                Outbox(
                    name=target.label,
                    deliver=self._sender(target, client),
                    logger=logger,
                    capacity=config.queue_size,
                    rate_per_minute=config.rate_per_minute,
                    burst=config.burst,
                    max_batch=1 if target.format == "json" else _CHAT_BATCH,
                    monotonic=monotonic,
                )
            )

    @property
    def targets(self) -> tuple[WebhookTarget, ...]:
        return self._config.targets

    def stats(self) -> dict[str, OutboxStats]:
        """Per target label: pending, delivered, failed and dropped message counts."""
        return {outbox.name: outbox.stats for outbox in self._outboxes}

    def start(self) -> None:
        for outbox in self._outboxes:
            outbox.start()

    def submit(self, report: TickReport) -> None:
        """Queue the notices of one tick. Synchronous, O(apps); never waits for a receiver."""
        self.send(self._tracker.observe(report))

    def send(self, notices: Iterable[Notice]) -> None:
        for notice in notices:
            for outbox in self._outboxes:
                outbox.put(notice)

    async def aclose(self, *, grace: float = 5.0) -> None:
        """Deliver what is queued for up to `grace` seconds per target, then stop and close."""
        for outbox in self._outboxes:
            await outbox.aclose(grace=grace)
        for client in self._clients:
            await client.aclose()

    def _sender(self, target: WebhookTarget, client: httpx.AsyncClient) -> Callable[[list[Notice]], Awaitable[bool]]:
        async def deliver(notices: list[Notice]) -> bool:
            body = build_body(target.format, notices, title=self._config.title)
            params: dict[str, str] | None = None
            if target.format == "dingtalk" and target.secret:
                stamp = int(self._clock().timestamp() * 1000)
                params = {"timestamp": str(stamp), "sign": dingtalk_sign(target.secret, stamp)}
            try:
                response = await post_json(client, target.url, body, retry=self._retry, params=params)
            except (httpx.HTTPError, WireError) as exc:
                self._log.warning(
                    "notification to %s failed: %s: %s",
                    target.label,
                    type(exc).__name__,
                    scrub(str(exc), target.url),
                    extra={"fields": {"event": "notify_failed", "target": target.label}},
                )
                return False
            ok, why = _accepted(target.format, response)
            if not ok:
                self._log.warning(
                    "notification to %s refused: %s",
                    target.label,
                    scrub(why, target.url),
                    extra={"fields": {"event": "notify_failed", "target": target.label}},
                )
            return ok

        return deliver


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
