"""The demo runs the real loop over HTTP and shows a campaign's floor rising before the event."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

from autoscaler.demo.run import SALE, run_demo

BEIJING = timezone(timedelta(hours=8))


async def test_flash_sale_floor_rises_before_the_sale_starts() -> None:
    out = io.StringIO()
    # 600 simulated seconds per real second: the sale's lead (20:15) comes 3.5 s after the start (19:40).
    actions = await run_demo(duration=5.5, speed=600, interval=0.2, out=out)

    lead_start = SALE.start - timedelta(minutes=15)
    floor_moves = [a for a in actions if a.app_id == "/shop/api" and a.cause == "schedule" and a.desired == 16]
    assert floor_moves, out.getvalue()[-3000:]
    first = floor_moves[0]
    assert lead_start <= first.at < SALE.start
    assert "campaign:flash-sale IN FORCE" in out.getvalue()
    assert "demo finished" in out.getvalue()


async def test_the_evening_push_floor_comes_with_its_lead() -> None:
    actions = await run_demo(duration=2.0, speed=600, interval=0.2, out=io.StringIO())
    push = [a for a in actions if a.app_id == "/push/sender" and a.cause == "schedule"]
    assert push and push[0].desired == 12
    # the evening push starts at 20:00 with a 10 minute lead
    assert datetime(2026, 11, 10, 19, 50, tzinfo=BEIJING) <= push[0].at < datetime(2026, 11, 10, 20, 0, tzinfo=BEIJING)
