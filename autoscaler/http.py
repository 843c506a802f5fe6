"""One way to talk HTTP: client construction (timeouts, TLS) and the single retry policy.

Every HTTP client of the service (Marathon, Graphite, notifications) sends through `send`, so which
failures are retried, how long we back off and how long a request may take in total are decided here
once. Retried: connection errors, timeouts, 5xx and 429. Never retried: any other 4xx, because asking
again cannot change the answer. The total time is bounded so a tick cannot overrun.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one logical request."""

    attempts: int = 3
    initial_backoff: float = 0.2
    max_backoff: float = 2.0
    total_timeout: float = 10.0
    request_timeout: float = 5.0


class RetryableStatus(Exception):
    """Raised internally for a response worth asking again (5xx, 429); carries the response."""

    def __init__(self, response: httpx.Response) -> None:
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
    make_request: Callable[[], Awaitable[httpx.Response]],
    *,
    policy: RetryPolicy,
) -> httpx.Response:
    """Run `make_request` until it yields a non-retryable response or the policy gives up.

    Returns the final response (which may be a 4xx for the caller to interpret). When the last
    attempt still failed, the last response (5xx/429) is returned, or the transport error raised.
    """

    async def attempt() -> httpx.Response:
        response = await make_request()
        if response.status_code >= 500 or response.status_code == 429:
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
    except RetryableStatus as exc:
        return exc.response


def make_client(
    *,
    base_url: str,
    policy: RetryPolicy,
    verify: bool | str = True,
    auth: httpx.Auth | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.AsyncClient:
    """An AsyncClient with a timeout on every request and TLS verification on unless told otherwise.

    `verify` may be a path to a CA bundle (a custom CA; verification stays on).
    """
    tls: bool | ssl.SSLContext = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(policy.request_timeout),
        verify=tls,
        auth=auth,
        headers=headers,
        follow_redirects=False,
    )
