"""Delivering notices to webhook targets in the background, one outbox per target.

Nothing here may slow the control loop: `Notifier.submit` is synchronous, costs O(apps) and only
appends to bounded in-memory queues (autoscaler.delivery). One background task per target delivers,
limited by a token bucket, so a slow or hanging receiver only delays its own messages; only a
target's scheme and host are ever logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

import httpx

from autoscaler.delivery import Monotonic, Outbox, OutboxStats, origin, post_json, scrub_url_secrets
from autoscaler.errors import WireError
from autoscaler.http import RetryPolicy, make_client
from autoscaler.reports import TickReport
from autoscaler.sinks.notify.config import NotifyConfig, WebhookTarget
from autoscaler.sinks.notify.formats import accepted, build_body, dingtalk_sign
from autoscaler.sinks.notify.notices import FailureTracker, Notice

Clock = Callable[[], datetime]

_CHAT_BATCH = 10


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
            client = make_client(base_url=origin(target.url), policy=retry)
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
                    scrub_url_secrets(str(exc), target.url),
                    extra={"fields": {"event": "notify_failed", "target": target.label}},
                )
                return False
            ok, why = accepted(target.format, response)
            if not ok:
                self._log.warning(
                    "notification to %s refused: %s",
                    target.label,
                    scrub_url_secrets(why, target.url),
                    extra={"fields": {"event": "notify_failed", "target": target.label}},
                )
            return ok

        return deliver
