"""`autoscaler demo`: the real loop against a built-in Marathon and metrics source (no servers needed)."""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta

from autoscaler.cliargs import DURATION_HELP, duration_arg


def _demo(args: argparse.Namespace) -> int:
    from autoscaler.demo.run import run_demo  # noqa: PLC0415  (only the demo needs its world)

    try:
        duration = args.duration.total_seconds() if args.duration is not None else None
        interval = args.interval.total_seconds()
        asyncio.run(run_demo(duration=duration, speed=args.speed, interval=interval, port=args.port))
        return 0
    except KeyboardInterrupt:
        return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo", help="run the real loop against a built-in Marathon and metrics source (no servers needed)"
    )
    demo.add_argument(
        "--duration", type=duration_arg(), default=None, help=f"stop after this much real time ({DURATION_HELP})"
    )
    demo.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second (default 60)")
    demo.add_argument(
        "--interval",
        type=duration_arg(exclusive=True),
        default=timedelta(seconds=1),
        help=f"real time between ticks (default 1s; {DURATION_HELP})",
    )
    demo.add_argument("--port", type=int, default=8080, help="dashboard port on 127.0.0.1 (0: any free port)")
    demo.set_defaults(handler=_demo)
