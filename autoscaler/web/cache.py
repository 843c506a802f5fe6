"""Responses built once and served many times: bytes with their gzip form and an ETag, kept per key
while their stamp (the status version, the metrics generation, a time bucket) stays the same.

At 10,000 apps a page of the API or /metrics costs tens of milliseconds to build; sixty clients
polling must not cost sixty builds. A build runs in the server's builder thread (never on an event
loop), once per key and stamp however many requests wait for it, and the cache is bounded in bytes
(least recently used first out).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Executor
from dataclasses import dataclass

__all__ = ["Body", "ViewCache"]

_GZIP_FROM = 1024  # smaller bodies are sent as they are
_GZIP_LEVEL = 6


@dataclass(frozen=True)
class Body:
    """A response body, its gzip form (None when not worth it) and its strong ETag (quoted)."""

    data: bytes
    content_type: str
    etag: str
    gzipped: bytes | None = None

    @staticmethod
    def of(data: bytes, content_type: str) -> Body:
        digest = hashlib.blake2b(data, digest_size=12).hexdigest()
        packed = gzip.compress(data, compresslevel=_GZIP_LEVEL, mtime=0) if len(data) >= _GZIP_FROM else None
        if packed is not None and len(packed) >= len(data):
            packed = None
        return Body(data=data, content_type=content_type, etag=f'"{digest}"', gzipped=packed)

    @property
    def gzip_etag(self) -> str:
        return self.etag[:-1] + '-gz"'

    @property
    def size(self) -> int:
        return len(self.data) + (len(self.gzipped) if self.gzipped is not None else 0)


class ViewCache:
    """Single-flight, byte-bounded cache of Bodies. Use from one event loop only."""

    def __init__(self, *, executor: Executor, max_bytes: int) -> None:
        self._executor = executor
        self._max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[Hashable, Body]] = OrderedDict()
        self._building: dict[Hashable, tuple[Hashable, asyncio.Future[Body]]] = {}
        self._bytes = 0
        self.builds = 0  # how many bodies were built (for tests and the curious)

    async def get(self, key: Hashable, stamp: Hashable, build: Callable[[], Body]) -> Body:
        entry = self._entries.get(key)
        if entry is not None and entry[0] == stamp:
            self._entries.move_to_end(key)
            return entry[1]
        flight = self._building.get(key)
        if flight is not None and flight[0] == stamp:
            return await asyncio.shield(flight[1])
        future = asyncio.get_running_loop().run_in_executor(self._executor, build)
        self._building[key] = (stamp, future)
        try:
            body = await asyncio.shield(future)
        finally:
            if self._building.get(key, (None, None))[1] is future:
                del self._building[key]
        self.builds += 1
        self._store(key, stamp, body)
        return body

    def _store(self, key: Hashable, stamp: Hashable, body: Body) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old[1].size
        if body.size > self._max_bytes:
            return  # served, not kept
        self._entries[key] = (stamp, body)
        self._bytes += body.size
        while self._bytes > self._max_bytes and self._entries:
            _, (_, evicted) = self._entries.popitem(last=False)
            self._bytes -= evicted.size

    @property
    def bytes(self) -> int:
        return self._bytes
