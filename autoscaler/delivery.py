"""Getting messages out of the process without slowing the loop: what every outbound sink shares.

Notifications and Graphite events both turn a tick into messages for a server the service does not
control. Neither may hold up a tick, flood a receiver, or leak a secret in a log line, so both use
the same pieces, kept here so that no sink borrows another's internals:

- `Outbox`: a bounded queue (the oldest message is dropped, and counted, when it is full) drained by
  one background task under a `TokenBucket`, so a slow or hanging receiver delays only its own messages;
- `post_json`: one JSON POST through the service's one retry policy, keeping the URL's own query;
- `scrub_url_secrets` and `redact_url`: what may be logged of a webhook URL (its tokens never).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from autoscaler.http import RetryPolicy, request
from autoscaler.scrub import scrub as scrub_text
from autoscaler.scrub import url_secrets

__all__ = [
    "Monotonic",
    "Outbox",
    "OutboxStats",
    "TokenBucket",
    "origin",
    "post_json",
    "redact_url",
    "scrub_url_secrets",
]

Monotonic = Callable[[], float]

T = TypeVar("T")


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


def redact_url(url: str) -> str:
    """The URL as it may appear in logs: scheme and host only (paths and queries hold tokens)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


def origin(url: str) -> str:
    """Scheme and authority of a URL: the base a client for it is made with."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def scrub_url_secrets(text: str, url: str) -> str:
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
