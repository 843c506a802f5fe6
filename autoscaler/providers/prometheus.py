"""Prometheus as a metric source: instant PromQL queries at the tick's time, one Sample per series.

The project talks to Prometheus through `prometheus_api_client`. That library is blocking
(requests), so every call runs in a worker thread, with at most `max_concurrency` at once so a
policy with many queries cannot flood Prometheus or the thread pool. The library's own urllib3
retries are switched off: whether to ask again is decided by the project's one retry policy
(`autoscaler.http.send`), to which each attempt's outcome is handed as the answer our adapter
received (the library's own error for a non-200 answer is only text) or a transport error, mapped
in one place (`_answer_or_raise`). Each attempt has one deadline for all of it and a byte limit, and its JSON is
decoded by `autoscaler.wire` (see `bounded_requests`); redirects are never followed.

What a query can come back as, and what the caller gets:
- instant vector: one Sample per series (labels = the series' labels), possibly none at all;
  an empty result means "no data", never zero;
- scalar: one Sample with empty labels;
- range vector (matrix) or string: an error naming the query, since neither is one number;
- NaN, +Inf, -Inf: the Sample's value is None (missing), not an error;
- a value that is not a number at all: the Sample's value is None and the reason is in `error`;
- HTTP or connection failure: an error naming the query and the cause, on one line. A 400 for
  bad PromQL carries Prometheus' own message.

A grouped query answers one series per app, tens of thousands per tick, nearly always in one shape:
`{"metric": {label: text}, "value": [time, "number"]}`. An answer of exactly that shape is decoded
by msgspec straight into `_UsualSeries` structs (`_usual_vector`), which `_instant_samples` reads
with the fewest checks; any other answer is decoded as JSON and read series by series as before.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import httpx
import msgspec
import requests
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from autoscaler.core.frozen import assemble
from autoscaler.core.model import QueryResult, Sample
from autoscaler.errors import MetricSourceError, NotJSON, WireError
from autoscaler.http import Attempts, RetryPolicy, send
from autoscaler.providers import distinct, one_line
from autoscaler.providers.bounded_requests import BoundedAdapter, Deadline, NoRedirectSession
from autoscaler.scrub import register, register_basic
from autoscaler.wire import decode_json, decode_shaped

_T = TypeVar("_T")


class _UsualSeries(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    metric: dict[str, str]
    value: tuple[float, str]


class _UsualData(msgspec.Struct, rename="camel"):
    result_type: Literal["vector"]
    result: list[_UsualSeries]


class _UsualAnswer(msgspec.Struct):
    status: Literal["success"]
    data: _UsualData


_USUAL_ANSWER = msgspec.json.Decoder(_UsualAnswer)


class _QueryFailed(Exception):
    """One query could not be answered; the message is the one-line cause."""


class PrometheusProvider:
    """Instant queries against one Prometheus server (see the module docstring for the rules)."""

    def __init__(
        self,
        *,
        url: str,
        policy: RetryPolicy | None = None,
        name: str = "prometheus",
        max_concurrency: int = 8,
        basic_auth: tuple[str, str] | None = None,
        bearer_token: str | None = None,
        headers: Mapping[str, str] | None = None,
        verify: bool | str = True,
    ) -> None:
        """`verify` is True, False (no TLS verification) or the path of a CA bundle.

        `basic_auth` and `bearer_token` are alternatives; `headers` are sent with every request.
        """
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if basic_auth is not None and bearer_token is not None:
            raise ValueError("give basic_auth or bearer_token, not both")
        self.name = name
        self._policy = policy or RetryPolicy()
        self._semaphore = asyncio.Semaphore(max_concurrency)
        all_headers = dict(headers or {})
        if bearer_token is not None:
            all_headers["Authorization"] = f"Bearer {bearer_token}"
        register([bearer_token])
        if basic_auth is not None:
            register_basic(*basic_auth)
        session = NoRedirectSession()
        session.verify = verify
        self._client = PrometheusConnect(
            url=url.rstrip("/"),
            headers=all_headers,
            # No retries below us: RetryPolicy decides (read=False: never resend a sent query).
            retry=Retry(total=0, read=False, redirect=False),
            # Typed `tuple` and `int` by the library; requests takes None and float seconds.
            auth=basic_auth,  # type: ignore[arg-type]
            session=session,
            timeout=self._policy.request_timeout,  # type: ignore[arg-type]
        )
        max_bytes, setting = self._policy.max_response_bytes, self._policy.max_bytes_setting

        def usual(body: bytes) -> Any:
            return _usual_vector(body, what="prometheus answer", max_bytes=max_bytes, setting=setting)

        adapter = BoundedAdapter(
            what="prometheus answer",
            max_bytes=max_bytes,
            setting=setting,
            request_timeout=self._policy.request_timeout,
            usual=usual,
        )
        for prefix in (url.rstrip("/"), "http://", "https://"):  # replaces the library's own adapter
            session.mount(prefix, adapter)

    async def query(self, queries: Sequence[str], *, now: datetime) -> Mapping[str, QueryResult]:
        """Every distinct query once, concurrently, as an instant query at `now`."""
        unique = distinct(queries)
        results = await asyncio.gather(*(self._instant(query, now) for query in unique))
        return dict(zip(unique, results, strict=True))

    async def range_query(
        self,
        query: str,
        *,
        start: datetime,
        end: datetime,
        step: timedelta,
        select: Mapping[str, str] | None = None,
    ) -> list[tuple[datetime, float | None]]:
        """The points of one series of a range query, oldest first; [] when there is no such series.

        Without `select` the query must return a single series; with it, the one series whose
        labels include all of `select` is used (a grouped query serving many apps).
        Raises MetricSourceError when the query fails or the series is ambiguous.
        """
        step_text = f"{step.total_seconds():g}"
        try:
            result = await self._call(
                lambda: self._client.custom_query_range(query, start_time=start, end_time=end, step=step_text)
            )
        except _QueryFailed as exc:
            raise MetricSourceError(f"prometheus range query {query!r}: {exc}") from exc
        if not isinstance(result, list) or not all(isinstance(s, dict) for s in result):
            raise MetricSourceError(f"prometheus range query {query!r}: answer is not a list of series")
        if select is not None:
            result = [
                s
                for s in result
                if isinstance(s.get("metric"), dict) and all(s["metric"].get(k) == v for k, v in select.items())
            ]
        if not result:
            return []
        if len(result) > 1:
            raise MetricSourceError(
                f"prometheus range query {query!r} returned {len(result)} series"
                + (f" matching {dict(select)}" if select is not None else "")
                + "; aggregate it to one (sum, avg, max, ...) or select one"
            )
        values = result[0].get("values")
        if not isinstance(values, list):
            raise MetricSourceError(f"prometheus range query {query!r}: series has no 'values'")
        points: list[tuple[datetime, float | None]] = []
        for point in values:
            timestamp = _timestamp(point[0]) if isinstance(point, list) and point else None
            if timestamp is None or len(point) != 2:
                raise MetricSourceError(f"prometheus range query {query!r}: bad point {point!r}")
            value, _problem = _number(point[1])
            points.append((timestamp, value))
        return points

    async def aclose(self) -> None:
        self._client.close()

    async def _instant(self, query: str, now: datetime) -> QueryResult:
        params = {"time": f"{now.timestamp():.3f}"}
        try:
            result = await self._call(lambda: self._client.custom_query(query, params=params))
            samples, problems = _instant_samples(result)
        except _QueryFailed as exc:
            return QueryResult(query=query, error=f"prometheus query {query!r}: {exc}")
        error = f"prometheus query {query!r}: {'; '.join(problems)}" if problems else None
        return QueryResult(query=query, samples=samples, error=error)

    async def _call(self, call: Callable[[], _T]) -> _T:
        """Run one library call under the retry policy; raise _QueryFailed with the cause."""
        box: list[_T] = []
        seconds = self._policy.request_timeout

        def bounded(deadline: Deadline) -> _T:
            with deadline.active():
                return call()

        async def attempt() -> requests.Response:
            async with self._semaphore:
                deadline = Deadline(seconds)
                try:
                    async with asyncio.timeout(seconds):
                        box[:] = [await asyncio.to_thread(bounded, deadline)]
                except (TimeoutError, asyncio.CancelledError) as exc:
                    deadline.abort()  # the worker thread's read ends now instead of trickling on
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    raise httpx.TimeoutException(
                        f"no complete answer within {seconds:g}s (AUTOSCALER_REQUEST_TIMEOUT)"
                    ) from exc
                except Exception as exc:
                    return _answer_or_raise(exc, deadline.answer)
                return _answer_or_raise(None, deadline.answer)

        tries = Attempts()
        try:
            response = await send(attempt, policy=self._policy, attempts=tries)
        except httpx.TimeoutException as exc:
            raise _QueryFailed(f"timed out: {exc} (after {tries})") from exc
        except httpx.TransportError as exc:
            raise _QueryFailed(f"cannot connect: {exc} (after {tries})") from exc
        if response.status_code != 200:
            raise _QueryFailed(_describe_error_response(response))
        return box[0]


def _answer_or_raise(exc: Exception | None, answer: requests.Response | None) -> requests.Response:
    """What one attempt came to, in the retry policy's terms: the one place the library's errors are mapped.

    `answer` is what our adapter handed to the library (see `bounded_requests`). The library reports
    a non-200 answer as a PrometheusApiClientException whose only content is text, so that answer is
    returned instead, status, headers and body as they arrived. Transport failures become the
    policy's timeout and connection errors (retried); anything else about the answer is final.
    """
    if exc is None or isinstance(exc, PrometheusApiClientException):
        if answer is None:  # the library failed before sending, or changed how it reports answers
            raise _QueryFailed(one_line(str(exc) if exc else "no answer", limit=200)) from exc
        return answer
    if isinstance(exc, NotJSON | requests.exceptions.JSONDecodeError):
        raise _QueryFailed("answer is not JSON") from exc
    if isinstance(exc, WireError):
        raise _QueryFailed(str(exc)) from exc
    if isinstance(exc, requests.Timeout):
        raise httpx.TimeoutException(_cause(exc)) from exc
    if isinstance(exc, requests.ConnectionError):
        raise httpx.ConnectError(_cause(exc)) from exc
    if isinstance(exc, requests.RequestException):
        raise _QueryFailed(_cause(exc)) from exc
    if isinstance(exc, KeyError | TypeError | AttributeError):  # the library's ["data"]["result"]
        raise _QueryFailed("answer is not a Prometheus API response") from exc
    raise exc


def _describe_error_response(response: requests.Response) -> str:
    """`HTTP 400 bad_data: <Prometheus' message>`, or the start of a non-JSON body."""
    status = f"HTTP {response.status_code}"
    if 300 <= response.status_code < 400:
        return f"{status}: a redirect, not followed; set AUTOSCALER_PROMETHEUS_URL to the final address"
    try:
        body = decode_json(response.content, what="prometheus error", max_bytes=len(response.content) or 1)
    except WireError:
        text = one_line(response.text, limit=200)
        return f"{status}: {text}" if text else status
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        kind = body.get("errorType")
        prefix = f"{status} {kind}" if isinstance(kind, str) else status
        return f"{prefix}: {one_line(body['error'])}"
    return f"{status}: {one_line(response.text, limit=200)}"


def _cause(exc: requests.RequestException) -> str:
    """`ConnectionError (ConnectionRefusedError: [Errno 111] Connection refused)`: the requests error
    and the innermost exception it wraps (urllib3 nests the reason several levels deep), one line."""
    inner: BaseException = exc
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(reason, BaseException):
        inner = reason
    elif exc.args and isinstance(exc.args[0], BaseException):
        inner = exc.args[0]
    seen = {id(inner)}
    while (deeper := inner.__cause__ or inner.__context__) is not None and id(deeper) not in seen:
        seen.add(id(deeper))
        inner = deeper
    if inner is exc:
        return one_line(f"{type(exc).__name__}: {exc}", limit=200)
    return one_line(f"{type(exc).__name__} ({type(inner).__name__}: {inner})", limit=200)


def _usual_vector(body: bytes, *, what: str, max_bytes: int, setting: str) -> dict[str, Any] | None:
    """The answer as the library reads it (`["data"]["result"]`), its series `_UsualSeries`, when it
    is an instant vector of the usual shape; None for any other. WireError for a limit hit."""
    answer = decode_shaped(body, _USUAL_ANSWER, what=what, max_bytes=max_bytes, setting=setting)
    if answer is None:
        return None
    return {"status": answer.status, "data": {"resultType": answer.data.result_type, "result": answer.data.result}}


def _usual_samples(result: list[_UsualSeries], problems: list[str]) -> tuple[Sample, ...]:
    """The Samples of an instant vector decoded as `_UsualSeries`; a series whose time or number is
    unusable is read as any other series is (`_checked_sample`)."""
    samples: list[Sample] = []
    times: dict[object, datetime | None] = {}
    for series in result:
        raw_time, raw_value = series.value
        timestamp = times[raw_time] if raw_time in times else times.setdefault(raw_time, _timestamp(raw_time))
        try:
            value = float(raw_value)
        except ValueError:
            timestamp = None
        if timestamp is None:
            plain = {"metric": series.metric, "value": [raw_time, raw_value]}
            found = _checked_sample(plain, times, problems, [plain])
            if found is not None:
                samples.append(found)
            continue
        # made without the dataclass's __init__ (core.frozen): one per series, tens of thousands per tick
        fields = {"labels": series.metric, "value": value if math.isfinite(value) else None, "timestamp": timestamp}
        samples.append(assemble(Sample, fields))
    return tuple(samples)


def _instant_samples(result: Any) -> tuple[tuple[Sample, ...], list[str]]:
    """Samples of an instant query's `data.result`, and the problems met on the way.

    The library hands over only `data.result`, so the result type is recognised by its shape:
    a vector and a matrix are lists of series objects (`value` vs `values`), a scalar and a
    string are one `[time, "text"]` pair, told apart by whether the text is a number.
    """
    if not isinstance(result, list):
        raise _QueryFailed(f"unexpected result {one_line(repr(result), limit=80)}")
    if result and type(result[0]) is _UsualSeries:
        found_problems: list[str] = []
        return _usual_samples(result, found_problems), found_problems
    if len(result) == 2 and not isinstance(result[0], dict | list):
        timestamp = _timestamp(result[0])
        value, problem = _number(result[1])
        if timestamp is None:
            raise _QueryFailed(f"unexpected result {one_line(repr(result), limit=80)}")
        if problem is not None and isinstance(result[1], str):
            raise _QueryFailed("returned a string, not a number")
        sample = Sample(labels={}, value=value, timestamp=timestamp)
        return (sample,), [f"scalar: {problem}"] if problem else []
    samples: list[Sample] = []
    problems: list[str] = []
    times: dict[object, datetime | None] = {}  # every series of an instant vector has the same time
    for series in result:
        found = _plain_sample(series, times) or _checked_sample(series, times, problems, result)
        if found is not None:
            samples.append(found)
    return tuple(samples), problems


def _plain_sample(series: object, times: dict[object, datetime | None]) -> Sample | None:
    """The Sample of a series of the one usual shape, `{"metric": {str: str}, "value": [time, "number"]}`,
    found with as few checks as that shape allows (10,000 series per answer); None for any other."""
    if type(series) is not dict or len(series) != 2:  # metric and value, nothing else
        return None
    labels, point = series.get("metric"), series.get("value")
    if type(labels) is not dict or type(point) is not list or len(point) != 2:
        return None
    raw_time, raw_value = point
    if type(raw_value) is not str or not (type(raw_time) is float or type(raw_time) is int):
        return None
    timestamp = times[raw_time] if raw_time in times else times.setdefault(raw_time, _timestamp(raw_time))
    if timestamp is None or not all(type(v) is str for v in labels.values()):  # JSON keys are str already
        return None
    try:
        value = float(raw_value)
    except ValueError:
        return None
    # made without the dataclass's __init__ (core.frozen): one per series, tens of thousands per tick
    fields = {"labels": labels, "value": value if math.isfinite(value) else None, "timestamp": timestamp}
    return assemble(Sample, fields)


def _checked_sample(
    series: object, times: dict[object, datetime | None], problems: list[str], result: list[Any]
) -> Sample | None:
    """The Sample of a series of any other shape, with what is wrong with it added to `problems`;
    raises _QueryFailed when the answer as a whole is not an instant vector."""
    if not isinstance(series, dict):
        raise _QueryFailed(f"unexpected result {one_line(repr(result), limit=80)}")
    if "values" in series:
        raise _QueryFailed("returned a range vector (matrix); an instant vector is needed")
    labels = _labels(series.get("metric"))
    point = series.get("value")
    timestamp = None
    if isinstance(point, list) and len(point) == 2:
        raw_time = point[0]
        if isinstance(raw_time, int | float) and not isinstance(raw_time, bool):
            if raw_time not in times:
                times[raw_time] = _timestamp(raw_time)
            timestamp = times[raw_time]
    if labels is None or timestamp is None or not isinstance(point, list):
        problems.append(f"unreadable series {one_line(repr(series), limit=80)}")
        return None
    value, problem = _number(point[1])
    if problem is not None:
        problems.append(f"series {_selector(labels)}: {problem}")
    return Sample(labels=labels, value=value, timestamp=timestamp)


def _number(raw: object) -> tuple[float | None, str | None]:
    """A sample value as a float (None for NaN/±Inf), or None and the reason it is unusable."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None, f"value {one_line(repr(raw), limit=40)} is not a number"
    try:
        return Sample.clean(float(raw)), None
    except ValueError:
        return None, f"non-numeric value {one_line(repr(raw), limit=40)}"


def _timestamp(raw: object) -> datetime | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        return datetime.fromtimestamp(raw, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _labels(raw: object) -> dict[str, str] | None:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        return None
    return raw  # freshly parsed JSON that nothing else holds: no copy needed


def _selector(labels: Mapping[str, str]) -> str:
    """`name{a="1",b="2"}`: how Prometheus itself prints a series."""
    name = labels.get("__name__", "")
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{inner}}}"
