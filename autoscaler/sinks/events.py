"""Scale actions as Graphite events, so dashboards show when and why the instance count moved.

A latency graph is hard to read without knowing that the app went from 4 to 8 instances at 20:01.
graphite-web keeps events (`POST /events/` with `what`, `tags`, `data` and `when`), and Grafana
shows them as annotations on any panel, filtered by tag. Every scale action becomes one event
tagged `autoscaler`, `scale_up`/`scale_down`, the cause and the app id, with the decision's reasons
as its data and the tick's time as its `when`, so a delayed delivery still lands at the right
place on the graph.

Like notifications, events never slow a tick: `submit` only queues (bounded, oldest dropped and
counted) and one background task posts them, through the service's one retry policy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from autoscaler.delivery import Monotonic, Outbox, OutboxStats, post_json, scrub_url_secrets
from autoscaler.errors import WireError
from autoscaler.http import RetryPolicy, make_client
from autoscaler.reports import TickReport

# graphite-web stores tags space-separated through django-tagging, whose tag names are at most
# 50 characters; spaces and commas would split one tag into several.
MAX_TAG_LENGTH = 50
DEFAULT_TAGS: tuple[str, ...] = ("autoscaler",)


def clean_tag(tag: str) -> str:
    return "".join("_" if ch.isspace() or ch in ",\"'" else ch for ch in tag)[:MAX_TAG_LENGTH]


@dataclass(frozen=True)
class ScaleEvent:
    """One scale action, ready to post."""

    app_id: str
    before: int
    after: int
    code: str
    cause: str
    reasons: tuple[str, ...]
    when: float  # epoch seconds of the tick that decided it

    def body(self, *, tags: Sequence[str]) -> dict[str, Any]:
        """graphite-web 1.1's event: tags as a list of strings, `when` in epoch seconds."""
        direction = "scale_up" if self.after > self.before else "scale_down"
        all_tags = [*tags, direction, f"cause:{self.cause}", self.app_id]
        unique = list(dict.fromkeys(clean_tag(t) for t in all_tags if t))
        return {
            "what": f"{self.app_id}: {self.before} -> {self.after} ({self.code}: {self.cause})",
            "tags": unique,
            "data": "\n".join(self.reasons),
            "when": int(self.when),
        }


def scale_events(report: TickReport) -> list[ScaleEvent]:
    """The scale actions Marathon accepted in one tick (dry runs and refused writes are not events)."""
    events = []
    for outcome in report.outcomes.values():
        decision = outcome.decision
        if outcome.scaled and decision is not None:
            events.append(
                ScaleEvent(
                    app_id=outcome.app_id,
                    before=decision.current,
                    after=decision.desired,
                    code=outcome.code,
                    cause=decision.cause,
                    reasons=tuple(decision.reasons()),
                    when=report.at.timestamp(),
                )
            )
    return events


class GraphiteEvents:
    """Posts scale actions to graphite-web's events API in the background.

    `url` is graphite-web's base URL (events go to `<url>/events/`). Call `start()` in the running
    event loop, `submit(report)` after every tick, `aclose()` on shutdown.
    """

    def __init__(  # noqa: PLR0913  the endpoint, its credentials and the delivery limits, each by keyword
        self,
        *,
        url: str,
        retry: RetryPolicy,
        logger: logging.Logger,
        tags: Sequence[str] = DEFAULT_TAGS,
        auth: tuple[str, str] | None = None,
        verify: bool | str = True,
        queue_size: int = 1000,
        rate_per_minute: float = 600.0,
        burst: int = 20,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self._url = url.rstrip("/") + "/events/"
        self._retry = retry
        self._log = logger
        self._tags = tuple(tags)
        self._client = make_client(
            base_url=url.rstrip("/"),
            policy=retry,
            verify=verify,
            auth=httpx.BasicAuth(*auth) if auth is not None else None,
        )
        self._outbox: Outbox[ScaleEvent] = Outbox(
            name="graphite-events",
            deliver=self._deliver,
            logger=logger,
            capacity=queue_size,
            rate_per_minute=rate_per_minute,
            burst=burst,
            max_batch=1,  # the API takes one event per request
            monotonic=monotonic,
        )

    @property
    def stats(self) -> OutboxStats:
        return self._outbox.stats

    def start(self) -> None:
        self._outbox.start()

    def submit(self, report: TickReport) -> None:
        """Queue one event per accepted scale action. Synchronous, O(apps)."""
        for event in scale_events(report):
            self._outbox.put(event)

    async def aclose(self, *, grace: float = 5.0) -> None:
        await self._outbox.aclose(grace=grace)
        await self._client.aclose()

    async def _deliver(self, batch: list[ScaleEvent]) -> bool:
        ok = True
        for event in batch:
            try:
                response = await post_json(self._client, self._url, event.body(tags=self._tags), retry=self._retry)
            except (httpx.HTTPError, WireError) as exc:
                self._log.warning(
                    "graphite event for %s not posted: %s: %s",
                    event.app_id,
                    type(exc).__name__,
                    scrub_url_secrets(str(exc), self._url),
                    extra={"fields": {"event": "graphite_event_failed", "app": event.app_id}},
                )
                ok = False
                continue
            if not 200 <= response.status_code < 300:
                self._log.warning(
                    "graphite event for %s refused: HTTP %d",
                    event.app_id,
                    response.status_code,
                    extra={"fields": {"event": "graphite_event_failed", "app": event.app_id}},
                )
                ok = False
        return ok


def event_tags(spec: str | None) -> tuple[str, ...]:
    """Tags from a comma- or space-separated setting; `autoscaler` is always among them."""
    extra = [t for t in (spec or "").replace(",", " ").split() if t]
    return tuple(dict.fromkeys(["autoscaler", *extra]))
