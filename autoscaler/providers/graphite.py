"""Graphite as a metric source: the render API's newest point of each series a target matches.

A Graphite target (a metric path, a wildcard, a function like `sumSeries(...)`) is asked for over a
short recent window (`from=-<window>&until=now`, evaluated by Graphite against its own clock). The
answer is a list of series, each a list of `[value, timestamp]` buckets in which buckets without
data are null. The newest bucket usually is null, because the current interval has not been
written yet, so each series yields its last non-null point.

What the caller gets:
- one Sample per returned series, labels {"name": <the series' target>};
- a series whose buckets are all null: a Sample with value None and the last bucket's time, so the
  caller sees it as "missing" rather than not seeing it at all;
- `[]` (no series matched): no samples, which the caller treats as missing, never as zero;
- a non-numeric newest value (text, boolean, ...): a Sample with value None, reason in `error`;
- a series that is not `{"target": str, "datapoints": [[value, time], ...]}`: dropped, reason in
  `error`;
- an answer that is not JSON (an HTML error page), not a list, an HTTP error or a connection
  failure: an error naming the query, on one line.
All requests go through the project's retry policy (`autoscaler.http.send`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from autoscaler.core.model import QueryResult, Sample
from autoscaler.errors import MetricSourceError, NotJSON, WireError
from autoscaler.http import Attempts, RetryPolicy, make_client, request
from autoscaler.providers import distinct, one_line
from autoscaler.scrub import register, register_basic
from autoscaler.wire import decode_json


class _QueryFailed(Exception):
    """One query could not be answered; the message is the one-line cause."""


class GraphiteProvider:
    """Render-API queries against one graphite-web (see the module docstring for the rules)."""

    def __init__(  # noqa: PLR0913  a client's address, credentials and limits, each by keyword
        self,
        *,
        url: str,
        policy: RetryPolicy | None = None,
        name: str = "graphite",
        window: timedelta = timedelta(minutes=5),
        max_concurrency: int = 8,
        basic_auth: tuple[str, str] | None = None,
        bearer_token: str | None = None,
        headers: Mapping[str, str] | None = None,
        verify: bool | str = True,
    ) -> None:
        """`window` is how far back to look for the newest point; `verify` is True, False or the
        path of a CA bundle. `basic_auth` and `bearer_token` are alternatives."""
        if window.total_seconds() < 1:
            raise ValueError("window must be at least one second")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if basic_auth is not None and bearer_token is not None:
            raise ValueError("give basic_auth or bearer_token, not both")
        self.name = name
        self._policy = policy or RetryPolicy()
        self._window = f"-{int(window.total_seconds())}s"
        self._semaphore = asyncio.Semaphore(max_concurrency)
        all_headers = dict(headers or {})
        if bearer_token is not None:
            all_headers["Authorization"] = f"Bearer {bearer_token}"
        register([bearer_token])
        if basic_auth is not None:
            register_basic(*basic_auth)
        self._client = make_client(
            base_url=url.rstrip("/"),
            policy=self._policy,
            verify=verify,
            auth=httpx.BasicAuth(*basic_auth) if basic_auth is not None else None,
            headers=all_headers,
        )

    async def query(self, queries: Sequence[str], *, now: datetime) -> Mapping[str, QueryResult]:
        """Every distinct target once, concurrently, over the window ending now."""
        unique = distinct(queries)
        results = await asyncio.gather(*(self._latest(query, now) for query in unique))
        return dict(zip(unique, results, strict=True))

    async def range_query(
        self, query: str, *, start: datetime, end: datetime, select: str | None = None
    ) -> list[tuple[datetime, float | None]]:
        """Every bucket of one series between start and end, oldest first (null buckets as None);
        [] when nothing matched. Without `select` the target must match a single series; with it,
        the series named `select` is used (e.g. one alias of an aliasByNode wildcard).

        Raises MetricSourceError when the query fails or the series is ambiguous.
        """
        params = {"from": str(int(start.timestamp())), "until": str(int(end.timestamp()))}
        try:
            series_list = await self._render(query, params)
        except _QueryFailed as exc:
            raise MetricSourceError(f"graphite range query {query!r}: {exc}") from exc
        if select is not None:
            series_list = [s for s in series_list if isinstance(s, dict) and s.get("target") == select]
        if not series_list:
            return []
        if len(series_list) > 1:
            raise MetricSourceError(
                f"graphite range query {query!r} matched {len(series_list)} series; "
                "combine them into one (sumSeries, averageSeries, ...)"
            )
        try:
            _name, points = _series(series_list[0])
            return [(_timestamp(ts), _number(value)[0]) for value, ts in points]
        except _QueryFailed as exc:
            raise MetricSourceError(f"graphite range query {query!r}: {exc}") from exc

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _latest(self, query: str, now: datetime) -> QueryResult:
        try:
            series_list = await self._render(query, {"from": self._window, "until": "now"})
        except _QueryFailed as exc:
            return QueryResult(query=query, error=f"graphite query {query!r}: {exc}")
        samples: list[Sample] = []
        problems: list[str] = []
        for raw in series_list:
            try:
                sample, problem = _newest(raw, now)
            except _QueryFailed as exc:
                problems.append(f"dropped a series: {exc}")
                continue
            samples.append(sample)
            if problem is not None:
                problems.append(problem)
        error = f"graphite query {query!r}: {'; '.join(problems)}" if problems else None
        return QueryResult(query=query, samples=tuple(samples), error=error)

    async def _render(self, target: str, times: Mapping[str, str]) -> list[Any]:
        """The render API's JSON list for `target`; _QueryFailed with the cause otherwise."""
        params = {"target": target, "format": "json", **times}
        tries = Attempts()
        async with self._semaphore:
            try:
                response = await request(
                    self._client, "GET", "/render", policy=self._policy, params=params, attempts=tries
                )
            except httpx.TimeoutException as exc:
                raise _QueryFailed(f"timed out ({type(exc).__name__}: {exc}) (after {tries})") from exc
            except httpx.HTTPError as exc:
                why = one_line(f"cannot connect: {type(exc).__name__}: {exc}", limit=200)
                raise _QueryFailed(f"{why} (after {tries})") from exc
            except WireError as exc:
                raise _QueryFailed(str(exc)) from exc
        if response.status_code != 200:
            text = one_line(response.text, limit=200)
            raise _QueryFailed(f"HTTP {response.status_code}" + (f": {text}" if text else ""))
        try:
            body = decode_json(
                response.content,
                what="render answer",
                max_bytes=self._policy.max_response_bytes,
                setting=self._policy.max_bytes_setting,
            )
        except NotJSON as exc:
            start = one_line(response.text, limit=80)
            raise _QueryFailed(f"answer is not JSON: {start!r}") from exc
        except WireError as exc:
            raise _QueryFailed(str(exc)) from exc
        if not isinstance(body, list):
            raise _QueryFailed(f"answer is a JSON {type(body).__name__}, not a list of series")
        return body


def _series(raw: object) -> tuple[str, list[list[Any]]]:
    """(target, datapoints) of one render-API series, checked for shape."""
    if not isinstance(raw, dict):
        raise _QueryFailed(f"series is not an object: {one_line(repr(raw), limit=80)}")
    name, points = raw.get("target"), raw.get("datapoints")
    if not isinstance(name, str):
        raise _QueryFailed(f"series without a string 'target': {one_line(repr(raw), limit=80)}")
    if not isinstance(points, list) or not all(isinstance(p, list) and len(p) == 2 for p in points):
        raise _QueryFailed(f"series {name!r}: 'datapoints' is not a list of [value, time]")
    return name, points


def _newest(raw: object, now: datetime) -> tuple[Sample, str | None]:
    """The series' last non-null point as a Sample, and a problem with its value if any."""
    name, points = _series(raw)
    labels = {"name": name}
    if not points:
        return Sample(labels=labels, value=None, timestamp=now), None
    for value, ts in reversed(points):
        if value is not None:
            number, problem = _number(value)
            sample = Sample(labels=labels, value=number, timestamp=_timestamp(ts, name))
            return sample, f"series {name!r}: {problem}" if problem else None
    return Sample(labels=labels, value=None, timestamp=_timestamp(points[-1][1], name)), None


def _number(raw: object) -> tuple[float | None, str | None]:
    """A datapoint value as a float (None for null/NaN/±Inf), or None and why it is unusable."""
    if raw is None:
        return None, None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None, f"value {one_line(repr(raw), limit=40)} is not a number"
    return Sample.clean(float(raw)), None


def _timestamp(raw: object, name: str = "") -> datetime:
    if not isinstance(raw, bool) and isinstance(raw, int | float):
        try:
            return datetime.fromtimestamp(raw, tz=UTC)
        except (OverflowError, OSError, ValueError):
            pass
    where = f"series {name!r}: " if name else ""
    raise _QueryFailed(f"{where}timestamp {one_line(repr(raw), limit=40)} is not a number")
