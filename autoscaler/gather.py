"""Asking the metric sources for one tick's queries: each distinct query once, all sources at once.

Every source's batch is bounded by its own deadline (`source_timeout`); a source that is slow, down
or broken fails only its own queries, each with a reason the decisions can name, and its outage is
logged once when it starts and once when it ends (`autoscaler.ticklog.Outages`), never per tick.
The loop and `autoscaler explain` (which asks once, so follows no outages) gather with it alike.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from autoscaler.core.model import QueryResult
from autoscaler.errors import AutoscalerError
from autoscaler.ports import MetricsProvider
from autoscaler.scrub import scrub_exception
from autoscaler.ticklog import Outages

__all__ = ["Gathered", "MetricGatherer"]


@dataclass(frozen=True)
class Gathered:
    """One tick's answers, per (source, query), and what asking cost per source."""

    results: dict[tuple[str, str], QueryResult]
    counts: dict[str, int]  # distinct queries sent
    seconds: dict[str, float]  # wall time of each source's batch
    errors: dict[str, int]  # queries that ended in an error


def _outage(results: Mapping[tuple[str, str], QueryResult]) -> str:
    """Why a source whose every query failed is down: the first error."""
    return next(result.error for result in results.values() if result.error is not None) or "no answer"


class MetricGatherer:
    """Sends a tick's queries to the configured providers."""

    def __init__(
        self,
        *,
        providers: Mapping[str, MetricsProvider],
        source_timeout: float,
        logger: logging.Logger,
        outages: Outages | None = None,  # None: a single ask, with no outage to follow across ticks
    ) -> None:
        self._providers = dict(providers)
        self._source_timeout = source_timeout
        self._log = logger
        self._outages = outages

    @property
    def providers(self) -> Mapping[str, MetricsProvider]:
        return self._providers

    async def gather(
        self,
        wanted: Mapping[str, list[str]],
        *,
        now: datetime,
        slow: list[str],
        readers: Callable[[str], int],
    ) -> Gathered:
        """Every query of `wanted` (per source) once, all sources concurrently. A source that hits its
        deadline is appended to `slow`; `readers(source)` counts the apps an outage affects."""
        seconds: dict[str, float] = {}

        async def run(source: str, queries: list[str]) -> dict[tuple[str, str], QueryResult]:
            started = time.perf_counter()
            try:
                return await self._ask(source, queries, now=now, slow=slow)
            finally:
                seconds[source] = time.perf_counter() - started

        parts = await asyncio.gather(*(run(source, queries) for source, queries in wanted.items()))
        results: dict[tuple[str, str], QueryResult] = {}
        errors: dict[str, int] = {}
        for source, part in zip(wanted, parts, strict=True):
            results.update(part)
            errors[source] = sum(1 for result in part.values() if result.error is not None)
            if self._outages is None:
                continue
            self._outages.source(
                source,
                now=now,
                error=_outage(part) if part and errors[source] == len(part) else None,
                affected=functools.partial(readers, source),
            )
        return Gathered(results, {source: len(qs) for source, qs in wanted.items()}, seconds, errors)

    async def _ask(
        self, source: str, queries: list[str], *, now: datetime, slow: list[str]
    ) -> dict[tuple[str, str], QueryResult]:
        provider = self._providers.get(source)
        if provider is None:
            message = f"no {source} source is configured (AUTOSCALER_{source.upper()}_URL)"
            return {(source, q): QueryResult(query=q, error=message) for q in queries}
        try:
            async with asyncio.timeout(self._source_timeout):
                answers = await provider.query(queries, now=now)
        except TimeoutError:
            slow.append(source)
            message = f"{source} did not answer within {self._source_timeout:g}s (AUTOSCALER_SOURCE_TIMEOUT)"
            # the outage line (one when it goes down, one when it recovers) carries this message
            self._log.debug(message, extra={"fields": {"event": "metric_source_slow", "source": source}})
            return {(source, q): QueryResult(query=q, error=message) for q in queries}
        except AutoscalerError as exc:
            return {(source, q): QueryResult(query=q, error=f"{source} failed: {exc}") for q in queries}
        except Exception as exc:  # a provider's bug fails its own queries, not the tick
            if self._outages is None or not self._outages.is_down(f"source:{source}"):  # once per outage
                fields = {"event": "metric_source_error"}
                self._log.error("metric source %s failed: %s", source, scrub_exception(exc), extra={"fields": fields})
            error = f"{source} failed: internal error: {type(exc).__name__}"
            return {(source, q): QueryResult(query=q, error=error) for q in queries}
        return {(source, q): answers.get(q, QueryResult(query=q, error="no answer")) for q in queries}
