"""The Marathon-compatible server on an event loop of its own thread, for tests that run processes.

Tests that start the real service as a child process cannot share their own event loop with the
fake; this wrapper runs it in a thread and lets the test call into it safely.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from autoscaler.testing.marathon import FakeMarathon, RecordedRequest

_T = TypeVar("_T")


class ThreadedMarathon:
    """The fake Marathon on an event loop of its own thread, so the test can run processes."""

    def __init__(self, *, task_start_delay: float = 0.05) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.fake = FakeMarathon(task_start_delay=task_start_delay)
        self.url: str = self._run(self.fake.start())

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def run(self, coroutine: Any) -> Any:
        """Run a coroutine on the fake's event loop (to start more servers beside it)."""
        return self._run(coroutine)

    def call(self, function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        async def inside() -> _T:
            return function(*args, **kwargs)

        result: _T = self._run(inside())
        return result

    def requests(self) -> list[RecordedRequest]:
        return self.call(list, self.fake.requests)

    def patches(self) -> list[RecordedRequest]:
        return [r for r in self.requests() if r.method == "PATCH"]

    def lists(self) -> list[RecordedRequest]:
        return [r for r in self.requests() if r.method == "GET" and r.path == "/v2/apps"]

    def stop(self) -> None:
        self._run(self.fake.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
