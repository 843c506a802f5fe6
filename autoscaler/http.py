"""One way to talk HTTP: client construction (timeouts, TLS), bounded answers, the single retry policy.

Every HTTP client of the service (Marathon, Graphite, notifications) sends through `send`, so which
failures are retried, how long we back off and how long a request may take in total are decided here
once. Retried: connection errors, timeouts, 5xx and 429. Never retried: any other 4xx, because asking
again cannot change the answer. The total time is bounded so a tick cannot overrun.

A per-read timeout does not bound a request: an answer trickling one byte a second never trips it.
`request` therefore gives each attempt one deadline for all of it (connect, send, the whole body) and
reads the body as a stream with a running byte count, stopping at `max_response_bytes`, so neither a
slow nor a huge answer can hold a tick or the process's memory.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http.cookiejar import Cookie, CookieJar
from typing import Any, Protocol, TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from autoscaler.errors import ResponseTooLarge


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one logical request."""

    attempts: int = 3
    initial_backoff: float = 0.2
    max_backoff: float = 2.0
    total_timeout: float = 10.0
    request_timeout: float = 5.0  # one attempt as a whole: connect, send and the full body
    max_response_bytes: int = 16 * 1024 * 1024
    max_bytes_setting: str = "AUTOSCALER_MAX_RESPONSE_BYTES"  # named in the error when the limit is hit


class DeadlineExceeded(httpx.TimeoutException):
    """One attempt did not complete (connect, send, full body) within the request deadline."""


class Attempts:
    """Counts the attempts of one logical request, for messages that say how often we asked."""

    def __init__(self) -> None:
        self.count = 0

    def __str__(self) -> str:
        return f"{self.count} attempt(s)"


class Answer(Protocol):
    """What the retry policy reads of an HTTP answer: an httpx or a requests response alike."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


_A = TypeVar("_A", bound=Answer)


class RetryableStatus(Exception):
    """Raised internally for a response worth asking again (5xx, 429); carries the response."""

    def __init__(self, response: Answer) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def is_retryable(exc: BaseException) -> bool:
    """5xx/429 and transport failures, except a TLS certificate that does not verify: asking again
    cannot fix a certificate, and retrying would only hide the real error for the whole tick."""
    if isinstance(exc, httpx.TransportError):
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, ssl.SSLCertVerificationError):
                return False
            cause = cause.__cause__ or cause.__context__
        return True
    return isinstance(exc, RetryableStatus)


def _retry_after(state: RetryCallState, policy: RetryPolicy) -> float:
    """Jittered exponential backoff, stretched to a Retry-After header when one is given."""
    base = wait_exponential_jitter(
        multiplier=policy.initial_backoff, max=policy.max_backoff, jitter=policy.initial_backoff
    )(state)
    outcome = state.outcome
    if outcome is not None and outcome.failed:
        exc = outcome.exception()
        if isinstance(exc, RetryableStatus):
            header = exc.response.headers.get("Retry-After", "")
            if header.strip().isdigit():
                return float(min(max(base, float(header)), policy.max_backoff))
    return float(base)


async def send(
    make_request: Callable[[], Awaitable[_A]],
    *,
    policy: RetryPolicy,
    attempts: Attempts | None = None,
) -> _A:
    """Run `make_request` until it yields a non-retryable response or the policy gives up.

    Returns the final response (which may be a 4xx for the caller to interpret). When the last
    attempt still failed, the last response (5xx/429) is returned, or the transport error raised.
    `attempts`, when given, counts the attempts actually made.
    """
    counter = attempts if attempts is not None else Attempts()

    retried: list[_A] = []  # the last retryable answer, returned when the policy gives up

    async def attempt() -> _A:
        counter.count += 1
        response = await make_request()
        if response.status_code >= 500 or response.status_code == 429:
            retried[:] = [response]
            raise RetryableStatus(response)
        return response

    retrying = AsyncRetrying(
        retry=retry_if_exception(is_retryable),
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.total_timeout),
        wait=lambda state: _retry_after(state, policy),
        reraise=True,
    )
    try:
        return await retrying(attempt)
    except RetryableStatus:
        return retried[0]


class NoCookies(CookieJar):
    """A cookie jar that keeps nothing. None of the service's backends needs cookies, and a jar that
    keeps what answers set grows with every new name a hostile server sends, then sends it all back
    with every request. Skipping the parsing of answers' headers also saves a share of each request."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def set_cookie(self, cookie: Cookie) -> None:
        return None


def make_client(
    *,
    base_url: str,
    policy: RetryPolicy,
    verify: bool | str = True,
    auth: httpx.Auth | None = None,
    headers: dict[str, str] | None = None,
    max_connections: int | None = None,
) -> httpx.AsyncClient:
    """An AsyncClient with a timeout on every request and TLS verification on unless told otherwise.

    `verify` may be a path to a CA bundle (a custom CA; verification stays on). `max_connections`
    caps the connections kept to the server (httpx's default, 100, when None).
    """
    limits = httpx.Limits(max_connections=max_connections) if max_connections else httpx.Limits()
    tls: bool | ssl.SSLContext = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(policy.request_timeout),
        verify=tls,
        auth=auth,
        headers=headers,
        follow_redirects=False,
        cookies=NoCookies(),
        limits=limits,
    )


def _without_framing(headers: httpx.Headers) -> list[tuple[str, str]]:
    """The headers of a body already read and decoded: no encoding or length to apply again."""
    framing = {"content-encoding", "content-length", "transfer-encoding"}
    return [(name, value) for name, value in headers.multi_items() if name.lower() not in framing]


async def read_bounded(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    deadline: float,
    max_bytes: int,
    setting: str = "AUTOSCALER_MAX_RESPONSE_BYTES",
) -> httpx.Response:
    """Send `request` and read its whole answer within `deadline` seconds and `max_bytes` bytes.

    Raises DeadlineExceeded (a timeout, so retried like one) when the answer is not complete in
    time, and ResponseTooLarge (never retried) as soon as the body, decoded, passes `max_bytes`:
    a compressed body is counted as it expands. The response returned holds the body in memory.
    """
    chunks: list[bytes] = []
    try:
        async with asyncio.timeout(deadline):
            response = await client.send(request, stream=True)
            try:
                declared = response.headers.get("content-length", "")
                encoded = response.headers.get("content-encoding", "identity").lower() not in ("", "identity")
                if declared.isdigit() and not encoded and int(declared) > max_bytes:
                    raise ResponseTooLarge(
                        f"{request.method} {request.url.path}: the answer declares {declared} bytes, "
                        f"more than the limit of {max_bytes} ({setting})"
                    )
                total = 0
                async for chunk in response.aiter_bytes():
                    total += len(chunk)
                    if total > max_bytes:
                        raise ResponseTooLarge(
                            f"{request.method} {request.url.path}: the answer is larger than the limit of "
                            f"{max_bytes} bytes ({setting}); stopped reading"
                        )
                    chunks.append(chunk)
            finally:
                await response.aclose()
    except TimeoutError as exc:
        raise DeadlineExceeded(
            f"no complete answer within {deadline:g}s (AUTOSCALER_REQUEST_TIMEOUT)", request=request
        ) from exc
    return httpx.Response(
        response.status_code,
        headers=_without_framing(response.headers),
        content=b"".join(chunks),
        request=request,
        extensions={"http_version": response.extensions.get("http_version", b"HTTP/1.1")},
    )


async def request(
    client: httpx.AsyncClient,
    method: str,
    url: httpx.URL | str,
    *,
    policy: RetryPolicy,
    attempts: Attempts | None = None,
    **options: Any,
) -> httpx.Response:
    """One logical request under the retry policy, each attempt bounded by `read_bounded`.

    `options` are those of `httpx.AsyncClient.build_request` (params, content, headers, ...).
    """

    def attempt() -> Awaitable[httpx.Response]:
        return read_bounded(
            client,
            client.build_request(method, url, **options),
            deadline=policy.request_timeout,
            max_bytes=policy.max_response_bytes,
            setting=policy.max_bytes_setting,
        )

    return await send(attempt, policy=policy, attempts=attempts)
