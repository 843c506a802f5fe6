"""The delivery machinery the outbound sinks share: the token bucket and the bounded outbox."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest

from autoscaler.delivery import Outbox, TokenBucket

LOG = logging.getLogger("test.delivery")


async def wait_for(predicate: Callable[[], bool], limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def test_token_bucket() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=1.0, burst=2, monotonic=lambda: now[0])
    assert bucket.take() == 0 and bucket.take() == 0
    assert bucket.take() == pytest.approx(1.0)
    now[0] = 0.5
    assert bucket.take() == pytest.approx(0.5)
    now[0] = 1.0
    assert bucket.take() == 0
    now[0] = 100.0  # refills only up to the burst
    assert [bucket.take() for _ in range(3)][:2] == [0, 0]


async def test_full_queue_drops_the_oldest_and_counts() -> None:
    delivered: list[int] = []
    gate = asyncio.Event()
    in_flight = asyncio.Event()

    async def deliver(batch: list[int]) -> bool:
        in_flight.set()
        await gate.wait()
        delivered.extend(batch)
        return True

    outbox: Outbox[int] = Outbox(name="t", deliver=deliver, logger=LOG, capacity=3, rate_per_minute=6000, burst=100)
    outbox.start()
    outbox.put(0)
    await asyncio.wait_for(in_flight.wait(), 5)  # 0 is now in flight, held at the gate
    for item in range(1, 7):
        outbox.put(item)
    assert outbox.stats.dropped == 3
    gate.set()
    await wait_for(lambda: len(delivered) == 4)
    await outbox.aclose()
    assert delivered == [0, 4, 5, 6]
