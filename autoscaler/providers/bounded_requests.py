"""Whole-request deadlines, byte limits and no redirects for the `requests` session of a library.

prometheus-api-client sends through a `requests.Session` in a worker thread and decodes the body
itself. `requests` only knows per-read timeouts: an answer trickling one byte a second keeps the
thread (and the tick waiting for it) busy for as long as it trickles, and a huge body is read into
memory whole. This module gives such a session what `autoscaler.http.read_bounded` gives httpx:

- `Deadline`: one deadline for a whole call, made in the event loop and handed to the worker
  thread. Every connection the thread uses is registered with it; `abort()` (called from the
  event loop when the deadline passes or the tick gives up) shuts those sockets down, so a read
  blocked on a trickling peer returns at once and the thread ends instead of trickling on;
- `BoundedAdapter`: connects and reads within what is left of the deadline, streams the body with a
  running byte count and stops at the limit (ResponseTooLarge), and hands the library a response
  whose `json()` is `autoscaler.wire.decode_json`, or first the caller's faster reading of the
  answer's usual shape (`usual`), which says None for any other;
- `NoRedirectSession`: redirects are never followed; the 3xx answer itself reaches the caller, so an
  answer from another address can never drive a decision.

The Deadline also keeps the last answer the adapter handed to the library (`Deadline.answer`): a
library that reports a non-200 answer only as text (prometheus-api-client does) need not be
believed, as the caller can read the status, headers and body of the answer itself.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry

from autoscaler.errors import ResponseTooLarge
from autoscaler.wire import decode_json

_CHUNK = 64 * 1024
_current = threading.local()


class DeadlineExceeded(requests.Timeout):
    """The whole call (connect, send, full body) did not finish before its deadline."""


class Deadline:
    """One call's deadline, shared by the event loop (which may abort) and the worker thread."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.aborted = False
        self.answer: requests.Response | None = None  # the last one read in full under this deadline

    def remaining(self) -> float:
        return self.expires - time.monotonic()

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Make this the deadline of the calling (worker) thread for the duration of the block."""
        _current.deadline = self
        try:
            yield
        finally:
            _current.deadline = None
            with self._lock:
                self._sockets.clear()

    def watch(self, connection: HTTPConnection) -> None:
        """Register the socket of a connection the thread uses (the socket itself: a connection
        that will close hands it to its response and forgets it); one registered after an abort is
        shut at once."""
        sock = getattr(connection, "sock", None)
        if not isinstance(sock, socket.socket):
            return  # not connected yet: connect() registers it
        with self._lock:
            self._sockets.append(sock)
            aborted = self.aborted
        if aborted:
            _shut(sock)

    def abort(self) -> None:
        """Shut down every socket of the call, so the thread's blocked read ends now."""
        with self._lock:
            self.aborted = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _deadline() -> Deadline | None:
    found = getattr(_current, "deadline", None)
    return found if isinstance(found, Deadline) else None


class _WatchedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        deadline = _deadline()
        if deadline is not None:
            deadline.watch(self)


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        deadline = _deadline()
        if deadline is not None:
            deadline.watch(self)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        deadline = _deadline()
        if deadline is not None and isinstance(connection, HTTPConnection):
            deadline.watch(connection)  # a kept-alive connection is not connected again
        return connection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        deadline = _deadline()
        if deadline is not None and isinstance(connection, HTTPConnection):
            deadline.watch(connection)
        return connection


class BoundedResponse(requests.Response):
    """A response read in full under the limits, whose `json()` is the project's guarded decoder."""

    what = "answer"
    max_bytes = 0
    setting: str | None = None
    usual: Callable[[bytes], Any] | None = None

    def json(self, **kwargs: Any) -> Any:
        if self.usual is not None and (value := self.usual(self.content)) is not None:
            return value
        return decode_json(self.content, what=self.what, max_bytes=self.max_bytes, setting=self.setting)


class BoundedAdapter(HTTPAdapter):
    """Sends with no retries of its own, within the calling thread's Deadline and a byte limit."""

    def __init__(
        self,
        *,
        what: str,
        max_bytes: int,
        setting: str,
        request_timeout: float,
        usual: Callable[[bytes], Any] | None = None,
    ) -> None:
        """`usual(body)`: the decoded value of an answer of the usual shape, None for any other
        (decoded then by `decode_json`); it must apply the byte and nesting limits itself."""
        # No retries below the project's policy (read=False: never resend a sent query).
        super().__init__(max_retries=Retry(total=0, read=False, redirect=False))
        self._usual = usual
        self._what = what
        self._max_bytes = max_bytes
        self._setting = setting
        self._request_timeout = request_timeout

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}

    def send(  # noqa: PLR0917 (the signature requests calls)
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        deadline = _deadline() or Deadline(self._request_timeout)
        remaining = min(deadline.remaining(), self._request_timeout)
        if remaining <= 0 or deadline.aborted:
            raise DeadlineExceeded(self._late(deadline), request=request)
        try:
            response = super().send(
                request, stream=True, timeout=(remaining, remaining), verify=verify, cert=cert, proxies=proxies
            )
        except requests.RequestException as exc:
            if deadline.aborted:
                raise DeadlineExceeded(self._late(deadline), request=request) from exc
            raise
        try:
            content = self._read(response, deadline)
        finally:
            response.close()
        response._content = content  # what Response.content would have read, read under the limits
        response.__class__ = BoundedResponse
        assert isinstance(response, BoundedResponse)
        response.what, response.max_bytes, response.setting = self._what, self._max_bytes, self._setting
        response.usual = self._usual
        if deadline is _deadline():
            deadline.answer = response
        return response

    def _read(self, response: requests.Response, deadline: Deadline) -> bytes:
        declared = response.headers.get("Content-Length", "")
        identity = response.headers.get("Content-Encoding", "identity").lower() in ("", "identity")
        if identity and declared.isdigit() and int(declared) > self._max_bytes:
            raise ResponseTooLarge(
                f"{self._what}: the answer declares {declared} bytes, more than the limit of "
                f"{self._max_bytes} ({self._setting})"
            )
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in response.iter_content(_CHUNK):
                if deadline.aborted or deadline.remaining() <= 0:
                    raise DeadlineExceeded(self._late(deadline))
                total += len(chunk)
                if total > self._max_bytes:
                    raise ResponseTooLarge(
                        f"{self._what}: the answer is larger than the limit of {self._max_bytes} bytes "
                        f"({self._setting}); stopped reading"
                    )
                chunks.append(chunk)
        except requests.RequestException as exc:
            if deadline.aborted:  # the event loop shut the socket: say why, not "connection reset"
                raise DeadlineExceeded(self._late(deadline)) from exc
            raise
        return b"".join(chunks)

    @staticmethod
    def _late(deadline: Deadline) -> str:
        return f"no complete answer within {deadline.seconds:g}s (AUTOSCALER_REQUEST_TIMEOUT)"


class NoRedirectSession(requests.Session):
    """A session that never follows a redirect: the 3xx answer is the answer."""

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None
