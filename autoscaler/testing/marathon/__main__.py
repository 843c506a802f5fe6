"""Serve a fake Marathon until interrupted: `python -m autoscaler.testing.marathon --help`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
from pathlib import Path

from autoscaler.testing.marathon.server import FakeMarathon


async def _serve_forever(marathon: FakeMarathon) -> None:
    url = await marathon.start()
    print(f"fake Marathon listening on {url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await marathon.stop()


def main(argv: list[str] | None = None) -> None:
    """Serve a fake Marathon until interrupted (for manual tests)."""
    parser = argparse.ArgumentParser(description="Serve a fake Marathon on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--apps-file", type=Path, help='JSON file shaped {"apps": [...]}')
    parser.add_argument("--task-start-delay", type=float, default=2.0, help="seconds per task")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    marathon = FakeMarathon(port=args.port, task_start_delay=args.task_start_delay)
    if args.apps_file is not None:
        marathon.load_apps(json.loads(args.apps_file.read_text()))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(marathon))


if __name__ == "__main__":
    main()
